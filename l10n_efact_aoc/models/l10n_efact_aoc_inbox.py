"""Inbox of the public-body side: every delivery downloaded from eFACT is stored here (and committed)
before it is processed into a vendor bill, so a crash between the two loses nothing."""

import hashlib
import json
import logging
from datetime import timedelta

import psycopg2.errors

from odoo import _, api, fields, models
from odoo.exceptions import UserError, ValidationError

from odoo.addons.einvoice_common.einvoice import errors as common_errors

from ..efact import client as efact_client
from ..efact import documents
from .einvoice_credential import efact_error_text

_logger = logging.getLogger(__name__)

INBOX_STATES = [
    ("received", "Received"),
    ("processed", "Processed"),
    ("duplicate", "Duplicate"),
    ("rejected", "Rejected"),
    ("error", "Error"),
]
DONE_STATES = ("processed", "duplicate")
RETENTION_PARAM = "l10n_efact_aoc.inbox_retention_days"
DEFAULT_RETENTION_DAYS = 400


class L10nEfactAocInbox(models.Model):
    _name = "l10n_efact_aoc.inbox"
    _description = "eFACT received delivery"
    _inherit = ["einvoice.exchange.mixin"]
    _order = "id desc"
    _rec_name = "hub_id"

    company_id = fields.Many2one("res.company", required=True, index=True, readonly=True)
    credential_id = fields.Many2one("einvoice.credential", ondelete="set null", readonly=True)
    hub_id = fields.Char("eFACT id", required=True, index=True, readonly=True)
    receiver_nif = fields.Char("Receiving NIF", readonly=True)
    supplier_nif = fields.Char("Supplier NIF", readonly=True)
    supplier_name = fields.Char(readonly=True)
    number = fields.Char("Invoice number", readonly=True)
    amount = fields.Float("Amount on eFACT", digits=(16, 2), readonly=True, help="importFactura of the hub listing.")
    oficina_comptable = fields.Char("Accounting office (DIR3)", readonly=True)
    organ_gestor = fields.Char("Managing body (DIR3)", readonly=True)
    unitat_tramitadora = fields.Char("Processing unit (DIR3)", readonly=True)
    hub_data = fields.Text("eFACT invoice data (JSON)", readonly=True)
    attachment_id = fields.Many2one("ir.attachment", string="Facturae file", readonly=True, ondelete="restrict")
    attachment_ids = fields.Many2many(
        "ir.attachment",
        "l10n_efact_aoc_inbox_attachment_rel",
        "inbox_id",
        "attachment_id",
        string="Attachments",
        readonly=True,
    )
    sha256 = fields.Char("SHA-256", readonly=True, index=True)
    state = fields.Selection(INBOX_STATES, required=True, default="received", index=True, readonly=True)
    reason = fields.Text(readonly=True)
    move_id = fields.Many2one("account.move", string="Bill", ondelete="set null", readonly=True, index=True)
    document_id = fields.Many2one("l10n_efact_aoc.document", string="eFACT invoice", ondelete="set null", readonly=True)
    delivered = fields.Boolean("DELIVERED reported", readonly=True)
    attempts = fields.Integer("Processing attempts", readonly=True)

    _sql_constraints = [
        ("hub_id_unique", "unique(company_id, hub_id)", "This eFACT delivery is already in the company's inbox."),
    ]

    # -- storing -------------------------------------------------------------------------
    @api.model
    def _l10n_efact_aoc_store(self, credential, company, pending, info, xml, files):
        """Store one downloaded delivery (not processed yet). The caller commits."""
        existing = self.sudo().search([("company_id", "=", company.id), ("hub_id", "=", pending.id)], limit=1)
        Attachment = self.env["ir.attachment"].sudo()
        values = {
            "company_id": company.id,
            "credential_id": credential.id,
            "hub_id": pending.id,
            "receiver_nif": info.nif or pending.nif,
            "supplier_nif": info.supplier_nif,
            "supplier_name": info.supplier_name,
            "number": info.number,
            "amount": info.amount,
            "oficina_comptable": info.oficina_comptable or pending.oficina_comptable,
            "organ_gestor": info.organ_gestor or pending.organ_gestor,
            "unitat_tramitadora": info.unitat_tramitadora or pending.unitat_tramitadora,
            "hub_data": json.dumps(info.raw or {}, ensure_ascii=False, sort_keys=True),
            "sha256": hashlib.sha256(xml or b"").hexdigest(),
            "state": "received",
            "reason": False,
        }
        inbox = existing or self.sudo().create(values)
        if existing:
            existing.write(values)
        safe_number = (info.number or "").replace("/", "_")
        raw = Attachment.create(
            {
                "name": f"eFACT_{pending.id}_{safe_number}.xml",
                "raw": xml or b"",
                "mimetype": "application/xml",
                "res_model": self._name,
                "res_id": inbox.id,
            }
        )
        extra = Attachment.browse()
        for attachment_id, name, content, mime in files:
            extra |= Attachment.create(
                {
                    "name": name or f"attachment_{attachment_id}",
                    "raw": content,
                    "description": f"efact:{attachment_id}",
                    "mimetype": (mime or "").split(";")[0] or documents.mime_for(name),
                    "res_model": self._name,
                    "res_id": inbox.id,
                }
            )
        # late attachments stored on this row before its invoice was downloaded are kept
        tags = {f"efact:{attachment_id}" for attachment_id, *_rest in files}
        late = existing.attachment_ids.filtered(lambda a: a.description not in tags)
        inbox.write({"attachment_id": raw.id, "attachment_ids": [fields.Command.set((extra | late).ids)]})
        return inbox

    @api.model
    def _l10n_efact_aoc_late_attachment(self, credential, companies, item):
        """The late attachment `item` (eFACT /adjunts-pendents) already stored in an inbox row."""
        return (
            self.env["ir.attachment"]
            .sudo()
            .search(
                [
                    ("res_model", "=", self._name),
                    ("res_id", "in", self._l10n_efact_aoc_rows_of(companies, item.invoice_id).ids),
                    ("description", "=", f"efact:{item.id}"),
                ],
                limit=1,
            )
        )

    @api.model
    def _l10n_efact_aoc_rows_of(self, companies, hub_id):
        return self.sudo().search([("company_id", "in", companies.ids), ("hub_id", "=", hub_id)])

    @api.model
    def _l10n_efact_aoc_store_late_attachment(self, credential, companies, company, item, content, mime):
        """Store a late attachment against the inbox row of its invoice, or a row of its own (state
        received, no Facturae file) while the invoice is not downloaded yet. The caller commits."""
        rows = self._l10n_efact_aoc_rows_of(companies, item.invoice_id)
        inbox = rows.filtered(lambda r: r.company_id == company)[:1] or rows[:1]
        if not inbox:
            inbox = self.sudo().create(
                {
                    "company_id": (company or credential.company_id).id,
                    "credential_id": credential.id,
                    "hub_id": item.invoice_id,
                    "state": "received",
                    "reason": _("Attachment %s received before its invoice.", item.name),
                }
            )
        attachment = (
            self.env["ir.attachment"]
            .sudo()
            .create(
                {
                    "name": item.name or f"attachment_{item.id}",
                    "raw": content or b"",
                    "description": f"efact:{item.id}",
                    "mimetype": (mime or "").split(";")[0] or documents.mime_for(item.name),
                    "res_model": self._name,
                    "res_id": inbox.id,
                }
            )
        )
        inbox.attachment_ids = [fields.Command.link(attachment.id)]
        return attachment

    @api.model
    def _l10n_efact_aoc_store_failure(self, credential, company, pending, error):
        """A delivery that could not be downloaded: keep a row saying why (downloaded again next run)."""
        inbox = self.sudo().search([("company_id", "=", company.id), ("hub_id", "=", pending.id)], limit=1)
        values = {"state": "error", "reason": _l10n_efact_aoc_reason(self.env, error)}
        if inbox:
            inbox.write(values)
            return inbox
        return self.sudo().create(
            dict(
                values,
                company_id=company.id,
                credential_id=credential.id,
                hub_id=pending.id,
                receiver_nif=pending.nif,
                oficina_comptable=pending.oficina_comptable,
                organ_gestor=pending.organ_gestor,
                unitat_tramitadora=pending.unitat_tramitadora,
            )
        )

    # -- processing ----------------------------------------------------------------------
    def _l10n_efact_aoc_prefetched(self):
        """(pending, (info, xml, files)) rebuilt from what was stored."""
        self.ensure_one()
        pending = efact_client.PendingInvoice(
            id=self.hub_id,
            nif=self.receiver_nif or "",
            oficina_comptable=self.oficina_comptable or "",
            organ_gestor=self.organ_gestor or "",
            unitat_tramitadora=self.unitat_tramitadora or "",
        )
        info = efact_client.RcfInvoice.from_json(json.loads(self.hub_data or "{}"), self.hub_id)
        files = [
            (
                (att.description or "").removeprefix("efact:"),
                att.name,
                att.raw,
                att.mimetype,
            )
            for att in self.attachment_ids.sorted("id")
        ]
        return pending, (info, self.attachment_id.raw or b"", files)

    def _l10n_efact_aoc_process(self):
        """Turn stored deliveries into bills, one at a time, each under a row lock taken with SKIP
        LOCKED (a row another worker is processing is left to it) and committed on its own.
        Returns the rows that are done (processed or duplicate); DELIVERED is the caller's business."""
        Credential = self.env["einvoice.credential"]
        done = self.browse()
        for inbox in self.sudo():
            try:
                with self.env.cr.savepoint(flush=False):
                    locked = Credential._einvoice_lock_skip_locked(inbox)
            except psycopg2.errors.SerializationFailure:
                # changed by a worker that committed after our snapshot: it processed the row
                continue
            if not locked:
                continue
            inbox.invalidate_recordset()
            if inbox.state in DONE_STATES:
                done |= inbox
                continue
            if not inbox.attachment_id:
                continue  # never downloaded: the next pull downloads it again
            inbox._l10n_efact_aoc_process_one()
            Credential._einvoice_commit()  # the bill exists before eFACT is told DELIVERED
            if inbox.state in DONE_STATES:
                done |= inbox
        return done

    def _l10n_efact_aoc_process_one(self):
        self.ensure_one()
        Move = self.env["account.move"].sudo()
        company = self.company_id
        credential = self.credential_id
        Doc = self.env["l10n_efact_aoc.document"].sudo()
        doc = Doc.search(
            [("company_id", "=", company.id), ("direction", "=", "in"), ("hub_id", "=", self.hub_id)],
            limit=1,
        )
        self.attempts += 1
        if doc.move_id:
            self.write(
                {
                    "state": "duplicate",
                    "move_id": doc.move_id.id,
                    "document_id": doc.id,
                    "reason": _("eFACT invoice %s already has a bill: nothing created.", self.hub_id),
                }
            )
            return
        pending, prefetched = self._l10n_efact_aoc_prefetched()
        try:
            with self.env.cr.savepoint():
                if not credential:
                    raise UserError(_("The eFACT connection of this delivery was deleted."))
                doc = Move.with_company(company)._l10n_efact_aoc_import(
                    credential, company, pending, doc, prefetched=prefetched
                )
        except (common_errors.EInvoiceError, documents.DocumentError, UserError, ValidationError) as exc:
            state = "rejected" if isinstance(exc, documents.DocumentError) else "error"
            self.write({"state": state, "reason": _l10n_efact_aoc_reason(self.env, exc)})
            return
        self.write(
            {
                "state": "processed",
                "reason": doc.move_id.l10n_efact_aoc_import_warning or False,
                "move_id": doc.move_id.id,
                "document_id": doc.id,
            }
        )

    @api.model
    def _cron_l10n_efact_aoc_process(self, limit=200):
        """Process what the pull stored but did not finish (a crash, a lock held elsewhere), then
        report DELIVERED for the deliveries whose bill is committed."""
        Credential = self.env["einvoice.credential"]
        rows = self.sudo().search([("state", "=", "received"), ("attachment_id", "!=", False)], limit=limit)
        rows._l10n_efact_aoc_process()
        undelivered = self.sudo().search([("state", "in", DONE_STATES), ("delivered", "=", False)], limit=limit)
        for credential in undelivered.credential_id:
            rows = undelivered.filtered(lambda r, c=credential: r.credential_id == c)
            try:
                rows._l10n_efact_aoc_deliver(credential)
            except common_errors.EInvoiceError as exc:
                _logger.warning("eFACT DELIVERED for %s stopped: %s", credential.name, exc)
            Credential._einvoice_commit()
        self._l10n_efact_aoc_trigger_if_waiting()
        return True

    @api.model
    def _l10n_efact_aoc_retention_days(self):
        value = self.env["ir.config_parameter"].sudo().get_param(RETENTION_PARAM, DEFAULT_RETENTION_DAYS)
        try:
            return int(value)
        except (TypeError, ValueError):
            _logger.warning(
                "%s is not a number of days (%r): %s days used", RETENTION_PARAM, value, DEFAULT_RETENTION_DAYS
            )
            return DEFAULT_RETENTION_DAYS

    def _l10n_efact_aoc_bill_has_everything(self):
        """True when every file stored on this row (Facturae, attachments) is also on its bill."""
        self.ensure_one()
        if not self.move_id:
            return False
        Attachment = self.env["ir.attachment"].sudo()
        stored = Attachment.search([("res_model", "=", self._name), ("res_id", "=", self.id)])
        stored |= self.attachment_id | self.attachment_ids
        on_bill = set(
            Attachment.search([("res_model", "=", "account.move"), ("res_id", "=", self.move_id.id)]).mapped("checksum")
        )
        return all(att.checksum in on_bill for att in stored)

    @api.model
    def _cron_l10n_efact_aoc_inbox_retention(self, limit=500):
        """Delete inbox rows older than the retention (system parameter
        `l10n_efact_aoc.inbox_retention_days`, default 400 days; 0 or less keeps everything) that are
        processed or duplicate, reported DELIVERED, and whose bill exists and already has every file
        the row stored. Received, error and rejected rows are never deleted."""
        days = self._l10n_efact_aoc_retention_days()
        if days <= 0:
            return True
        cutoff = fields.Datetime.now() - timedelta(days=days)
        rows = self.sudo().search(
            [
                ("state", "in", DONE_STATES),
                ("delivered", "=", True),
                ("move_id", "!=", False),
                ("create_date", "<", cutoff),
            ],
            limit=limit,
            order="id",
        )
        removable = rows.filtered(lambda r: r._l10n_efact_aoc_bill_has_everything())
        files = removable.attachment_id | removable.attachment_ids
        removable.unlink()  # also deletes the attachments whose res_model/res_id is the row
        files.exists().unlink()
        if removable and len(rows) == limit:
            self.env.ref("l10n_efact_aoc.ir_cron_l10n_efact_aoc_inbox_retention")._trigger()
        return True

    @api.model
    def _l10n_efact_aoc_trigger_if_waiting(self):
        """Run the processing cron again soon while stored rows wait (e.g. locked by another worker)."""
        if self.sudo().search_count([("state", "=", "received"), ("attachment_id", "!=", False)], limit=1):
            self.env.ref("l10n_efact_aoc.ir_cron_l10n_efact_aoc_process_inbox")._trigger()

    def _l10n_efact_aoc_deliver(self, credential):
        """Tell eFACT DELIVERED for these done rows (one call each)."""
        api = credential._l10n_efact_aoc_rcf_client(record=credential)
        Move = self.env["account.move"]
        by_nif = Move._l10n_efact_aoc_company_by_nif(credential)
        for inbox in self:
            try:
                api.update_state(inbox.hub_id, "DELIVERED")
            except common_errors.RejectedError:
                # DELIVERED may have been accepted before our commit was lost: ask the hub
                if api.get_invoice(inbox.hub_id).state in ("", "SENT", "REGISTERED"):
                    raise
            Move._l10n_efact_aoc_mark_delivered([inbox.hub_id], by_nif)

    def action_l10n_efact_aoc_process_again(self):
        """Button: process a refused or failed delivery again from the stored file."""
        rows = self.filtered(lambda r: r.state in ("received", "rejected", "error"))
        if not rows:
            raise UserError(_("Only received, rejected or failed deliveries can be processed again."))
        missing = rows.filtered(lambda r: not r.attachment_id)
        if missing:
            raise UserError(
                _(
                    "eFACT invoice %s was never downloaded: the next pull downloads it again.",
                    ", ".join(missing.mapped("hub_id")),
                )
            )
        done = rows._l10n_efact_aoc_process()
        for credential in done.filtered(lambda r: not r.delivered).credential_id:
            done.filtered(lambda r, c=credential: r.credential_id == c and not r.delivered)._l10n_efact_aoc_deliver(
                credential
            )
        return True

    def action_l10n_efact_aoc_open_bill(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "res_model": "account.move",
            "res_id": self.move_id.id,
            "view_mode": "form",
        }


def _l10n_efact_aoc_reason(env, exc):
    if isinstance(exc, (UserError, ValidationError)):
        return str(exc.args[0])
    return efact_error_text(env, exc)
