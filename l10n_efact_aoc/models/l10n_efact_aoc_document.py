import logging
from datetime import datetime, timedelta, timezone

from markupsafe import Markup

from odoo import _, api, fields, models
from odoo.exceptions import UserError
from odoo.tools import SQL

from odoo.addons.einvoice_common import compat, dbtools
from odoo.addons.einvoice_common.einvoice import errors as common_errors

from ..efact import client as efact_client
from ..efact import documents
from .einvoice_credential import efact_error_text

_logger = logging.getLogger(__name__)

HUB_STATES = [
    ("sent", "Sent"),
    ("registered", "Registered"),
    ("delivered", "Delivered"),
    ("annotated", "Annotated (RCF)"),
    ("received", "Received"),
    ("accepted", "Accepted"),
    ("recognised", "Recognised"),
    ("paid", "Paid"),
    ("rejected", "Rejected"),
]
# What an invoice shows (account.move.l10n_efact_aoc_state): the hub's state once eFACT has the invoice,
# else where the attempt stands.
MOVE_STATES = [
    ("waiting", "Waiting"),
    ("sending", "Sending"),
    ("unknown", "Outcome being confirmed"),
    ("error", "Not sent (error)"),
    *HUB_STATES,
]
# einvoice.attempt state -> invoice state while the hub's own state is not known
ATTEMPT_TO_MOVE = {
    "draft": "sending",
    "waiting": "waiting",
    "sending": "sending",
    "unknown": "unknown",
    "error": "error",
    "sent": "sent",
    "accepted": "paid",
    "rejected": "rejected",
}
# An outbound attempt in these states may be (or become) an invoice at the hub: no second submission.
OUT_LIVE_STATES = ("draft", "waiting", "sending", "unknown", "sent", "accepted")
REPORTABLE = [
    ("ANNOTATED", "Annotated"),
    ("RECEIVED", "Received"),
    ("ACCEPTED", "Accepted"),
    ("RECOGNISED", "Recognised"),
    ("PAID", "Paid"),
    ("REJECTED", "Rejected"),
]
# Report order enforced for the public-body side (REGISTERED -> ANNOTATED -> RECOGNISED -> PAID).
REPORT_RANK = {
    "ANNOTATED": 1,
    "RECEIVED": 2,
    "ACCEPTED": 3,
    "RECOGNISED": 4,
    "PAID": 5,
    "REJECTED": 6,
}
HUB_RANK = {
    "SENT": 0,
    "REGISTERED": 1,
    "DELIVERED": 2,
    "ANNOTATED": 3,
    "RECEIVED": 4,
    "ACCEPTED": 5,
    "RECOGNISED": 6,
    "PAID": 7,
    "REJECTED": 8,
}


def parse_hub_datetime(value):
    """'2024-11-05T12:03:54.000+01:00' -> naive UTC datetime (Odoo's storage)."""
    if not value:
        return False
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return False
    if moment.tzinfo:
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return moment


class L10nEfactAocDocument(models.Model):
    """One eFACT invoice: a submission of ours (out: an einvoice.attempt) or an invoice received as a
    public body (in: stored by the RCF pull, never an attempt; its `state` is always `inbound`).

    Written by the system only: no group may create, write or delete these rows (see the access
    rules); actions check the user's right on the invoice, then work as superuser.
    """

    _name = "l10n_efact_aoc.document"
    _description = "eFACT invoice"
    _inherit = ["einvoice.attempt"]
    _order = "id desc"
    _rec_name = "display_name"
    _einvoice_attempt_subject = "move_id"
    _einvoice_attempt_cron_xmlid = "l10n_efact_aoc.ir_cron_l10n_efact_aoc_attempts"
    _einvoice_attempt_polls = True

    direction = fields.Selection(
        [("out", "Sent as supplier"), ("in", "Received as public body")],
        required=True,
        default="out",
        index=True,
        readonly=True,
    )
    state = fields.Selection(selection_add=[("inbound", "Received as public body")], ondelete={"inbound": "cascade"})
    hub_state = fields.Selection(HUB_STATES, "eFACT state", index=True, readonly=True, copy=False)
    move_id = fields.Many2one("account.move", ondelete="set null", index=True, copy=False, readonly=True)
    company_id = fields.Many2one("res.company", required=True, index=True, readonly=True)
    credential_id = fields.Many2one("einvoice.credential", "Connection", ondelete="set null", readonly=True)
    hub_id = fields.Char("eFACT id", index=True, copy=False, readonly=True)
    number = fields.Char("Invoice number", readonly=True)
    series = fields.Char(readonly=True)
    amount = fields.Float("Amount on eFACT", digits=(16, 2), readonly=True)
    supplier_nif = fields.Char("Supplier NIF", readonly=True)
    supplier_name = fields.Char(readonly=True)
    receiver_nif = fields.Char("Receiver NIF", readonly=True)
    receiver_name = fields.Char(readonly=True)
    oficina_comptable = fields.Char("Accounting office (DIR3)", readonly=True)
    organ_gestor = fields.Char("Managing body (DIR3)", readonly=True)
    unitat_tramitadora = fields.Char("Processing unit (DIR3)", readonly=True)
    registry_number = fields.Char("Registration number", readonly=True)
    registry_date = fields.Datetime("Registration date", readonly=True)
    rcf_number = fields.Char("Accounting registry number (RCF)", readonly=True)
    reject_code = fields.Char("Rejection code", readonly=True)
    reject_reason = fields.Text("Rejection reason", readonly=True)
    payment_date = fields.Date(readonly=True)
    delivered_reported = fields.Boolean(readonly=True, help="DELIVERED was accepted by eFACT (public-body side).")
    attachment_id = fields.Many2one("ir.attachment", string="Facturae file", ondelete="set null", readonly=True)
    receipt_id = fields.Many2one("ir.attachment", string="Electronic receipt", ondelete="set null", readonly=True)
    history_ids = fields.One2many("l10n_efact_aoc.history", "document_id", string="State history", readonly=True)
    report_ids = fields.One2many("l10n_efact_aoc.report", "document_id", string="Reports to eFACT", readonly=True)

    compat.sql_constraints(
        locals(),
        [
            (
                "hub_id_unique",
                "unique(company_id, direction, hub_id)",
                "This eFACT invoice is already linked to another document of the company.",
            ),
        ],
    )

    @api.model_create_multi
    def create(self, vals_list):
        # EXTENDS 'base': a received invoice is not an attempt (the engine never picks it)
        for vals in vals_list:
            if vals.get("direction") == "in":
                vals["state"] = "inbound"
        return super().create(vals_list)

    @api.depends("hub_id", "number", "state")
    def _compute_display_name(self):
        for doc in self:
            doc.display_name = f"eFACT {doc.hub_id or '-'} {doc.number or ''}".strip()

    def _l10n_efact_aoc_move_state(self):
        """The state an invoice shows: the hub's once eFACT has it, else the attempt's."""
        self.ensure_one()
        if self.hub_state and self.state in ("sent", "accepted", "rejected", "inbound"):
            return self.hub_state
        return ATTEMPT_TO_MOVE.get(self.state, False)

    # -- einvoice.attempt hooks (outbound) --------------------------------------------
    def _einvoice_attempt_build_payload(self):
        """The signed Facturae and the exact POST /factura body, built once for this attempt."""
        return self.move_id._l10n_efact_aoc_build_submission(self)

    def _einvoice_attempt_call(self, payload):
        credential = self.credential_id
        try:
            return self._l10n_efact_aoc_client().send_invoice(raw=payload, reference=self.move_id.name or self.number)
        except common_errors.AuthError as exc:
            credential._l10n_efact_aoc_mark(exc)  # a person must fix the connection; the attempt waits
            raise

    def _einvoice_attempt_read_answer(self, answer):
        """A Factura (answer of the submission, of the lookup or of a poll) or a pending State."""
        if isinstance(answer, efact_client.State):
            return {"state": self._l10n_efact_aoc_attempt_state(answer.code)}
        if not isinstance(answer, efact_client.Invoice) or not answer.id:
            raise TypeError(f"unexpected answer {type(answer).__name__}")
        if self.hub_id and answer.id != self.hub_id:
            raise ValueError(f"eFACT answered about invoice {answer.id}, not {self.hub_id}")
        self._l10n_efact_aoc_apply_supplier_invoice(answer, post=False)
        code = answer.state.code if answer.state else ""
        return {
            "state": self._l10n_efact_aoc_attempt_state(code),
            "service_reference": answer.id,
            "message": self._l10n_efact_aoc_answer_text(code),
        }

    @api.model
    def _l10n_efact_aoc_attempt_state(self, code):
        """The hub's final states end the attempt; any other state of an invoice eFACT holds is `sent`."""
        return {"REJECTED": "rejected", "PAID": "accepted"}.get(code or "", "sent")

    def _l10n_efact_aoc_answer_text(self, code):
        if code == "REJECTED":
            return _(
                "Rejected: %(code)s %(reason)s. Correct the invoice and send it again.",
                code=self.reject_code or "",
                reason=self.reject_reason or "",
            )
        return False

    def _einvoice_attempt_lookup(self):
        """The hub's invoice matching this submission's business key, or None when eFACT never got it."""
        known = self.search(
            [("direction", "=", "out"), ("company_id", "=", self.company_id.id), ("hub_id", "!=", False)]
        ).mapped("hub_id")
        return self._l10n_efact_aoc_client().find_submission(
            self.number,
            self.series or "",
            self.receiver_nif,
            known_ids=known,
            supplier_nif=self.company_id._l10n_efact_aoc_nif(),
        )

    def _einvoice_attempt_poll(self):
        """The hub's current state: its progress is stored; the attempt ends on REJECTED or PAID."""
        if not self.hub_id:
            return None
        invoice = self._l10n_efact_aoc_client().get_invoice(self.hub_id)
        code = invoice.state.code if invoice.state else ""
        if code in efact_client.FINAL_STATES:
            return invoice
        self._l10n_efact_aoc_apply_supplier_invoice(invoice)
        return None

    def _einvoice_attempt_backoff(self, checks):
        if self.state == "sent":  # pending states bring news; the poll is the safety net: 6 h, 12 h, 24 h
            return timedelta(hours=6) * (2 ** min(checks, 2))
        return super()._einvoice_attempt_backoff(checks)

    def _einvoice_attempt_error_text(self, exc):
        return efact_error_text(self.env, exc)

    def _einvoice_attempt_service_label(self):
        return "eFACT"  # "Outcome being confirmed with eFACT, next check at ..."

    def _einvoice_attempt_notify(self, previous_state):
        move = self.move_id.with_context(no_new_invoice=True)
        if not move:
            return
        if self.state == "sent" and previous_state == "unknown":
            move.message_post(
                body=_(
                    "eFACT had received the invoice (id %s) although the answer was lost; no second submission "
                    "was made.",
                    self.hub_id,
                )
            )
        elif self.state == "sent" and self.attempts > 1:
            move.message_post(
                body=_(
                    "eFACT never received the first submission: the same file was sent again, unchanged (eFACT id %s).",
                    self.hub_id,
                )
            )
        elif self.state == "sent":
            move.message_post(body=Markup("%s <b>%s</b>") % (_("Sent to eFACT with id"), self.hub_id))
        elif self.state in ("accepted", "rejected"):
            self._l10n_efact_aoc_post_state(self.history_ids.sorted(lambda h: (h.date or h.create_date, h.id))[-1:])
        elif self.state == "unknown":
            move.message_post(body=_("eFACT's answer is unclear: %s", self.einvoice_attempt_status))
        elif self.state == "waiting" and self.waiting_reason == "connection":
            move.message_post(body=_("Waiting for the eFACT connection: %s", self.message or ""))
            if self.credential_id and not self.credential_id.sudo().activity_ids:
                self.credential_id._einvoice_admin_activity(self.message)  # an administrator fixes it
        elif self.state == "error":
            move.message_post(body=_("Not sent to eFACT: %s", self.message or ""))

    def _l10n_efact_aoc_store_facturae(self, facturae, xml, filename):
        """What the submission's Facturae says (number, parties, DIR3 units) and the file itself."""
        self.ensure_one()
        attachment = self.env["ir.attachment"].create(
            {"name": filename, "raw": xml, "mimetype": "application/xml", "res_model": self._name, "res_id": self.id}
        )
        invoice = facturae.invoice
        self.write(
            {
                "attachment_id": attachment.id,
                "number": invoice.number,
                "series": invoice.series,
                "amount": float(invoice.total),
                "supplier_nif": facturae.seller_nif,
                "receiver_nif": facturae.buyer_nif,
                "receiver_name": facturae.buyer_name,
                "oficina_comptable": facturae.centre("01"),
                "organ_gestor": facturae.centre("02"),
                "unitat_tramitadora": facturae.centre("03"),
            }
        )

    # -- state application -----------------------------------------------------------
    def _l10n_efact_aoc_apply_state(self, state, post=True):
        """Apply a hub State (efact.client.State) to the document; returns True if new."""
        self.ensure_one()
        code = state.code or ""
        if not code or code.lower() not in dict(HUB_STATES):
            return False
        when = parse_hub_datetime(state.date)
        known = self.history_ids.filtered(lambda h: h.code == code and h.date == when)
        if known:
            known.sudo().write(
                {
                    key: value
                    for key in ("registry_number", "rcf_number", "reject_code", "reject_reason", "payment_date")
                    if (value := getattr(state, key)) and not known[0][key]
                }
            )
            return False
        self.env["l10n_efact_aoc.history"].sudo().create(
            {
                "document_id": self.id,
                "code": code,
                "date": when,
                "registry_number": state.registry_number,
                "rcf_number": state.rcf_number,
                "reject_code": state.reject_code,
                "reject_reason": state.reject_reason,
                "payment_date": state.payment_date or False,
            }
        )
        self.sudo().write(self._l10n_efact_aoc_state_values(state, when))
        if post and self.move_id:
            self._l10n_efact_aoc_post_state(state)
        return True

    def _l10n_efact_aoc_state_values(self, state, when):
        code, values = state.code, {}
        current = (self.hub_state or "").upper()
        if code == "REJECTED" or current not in HUB_RANK or HUB_RANK[code] >= HUB_RANK[current]:
            values["hub_state"] = code.lower()
        if state.registry_number:
            values["registry_number"] = state.registry_number
            values["registry_date"] = parse_hub_datetime(state.registry_date) or when
        if state.rcf_number:
            values["rcf_number"] = state.rcf_number
        if code == "REJECTED":
            values.update(reject_code=state.reject_code, reject_reason=state.reject_reason)
        if code == "PAID" and state.payment_date:
            values["payment_date"] = state.payment_date
        return values

    def _l10n_efact_aoc_post_state(self, state):
        """Tell the invoice's followers (`state`: a hub State or a history row)."""
        move = self.move_id
        if not state or not move:
            return
        label = dict(HUB_STATES).get(state.code.lower(), state.code)
        details = []
        if state.registry_number:
            details.append(_("registration number %s", state.registry_number))
        if state.rcf_number:
            details.append(_("accounting registry number %s", state.rcf_number))
        if state.code == "PAID" and state.payment_date:
            details.append(_("paid on %s", state.payment_date))
        if state.code == "REJECTED":
            details.append(
                _("reason: %(code)s %(reason)s", code=state.reject_code or "", reason=state.reject_reason or "")
            )
        body = Markup("%s <b>%s</b>") % (_("eFACT state:"), label)
        if details:
            body += Markup(" (%s)") % ", ".join(details)
        move.with_context(no_new_invoice=True).message_post(body=body)
        if state.code == "REJECTED" and self.direction == "out":
            move.activity_schedule(
                "mail.mail_activity_data_todo",
                summary=_("eFACT: invoice rejected"),
                note=_(
                    "The public body rejected %(name)s: %(reason)s. Correct it and send a new invoice.",
                    name=move.name,
                    reason=state.reject_reason or state.reject_code or "-",
                ),
                user_id=(move.invoice_user_id or self.env.user).id,
            )

    def _l10n_efact_aoc_apply_supplier_invoice(self, invoice, post=True):
        """Store the supplier API `Factura` answer (after a send, a lookup, a poll or a refresh)."""
        self.ensure_one()
        values = {
            "hub_id": invoice.id,
            "service_reference": invoice.id,
            "number": invoice.number or self.number,
            "series": invoice.series,
            "amount": invoice.amount,
            "receiver_nif": invoice.receiver_nif,
            "receiver_name": invoice.receiver_name,
            "oficina_comptable": invoice.dir3.oficina_comptable if invoice.dir3 else False,
            "organ_gestor": invoice.dir3.organ_gestor if invoice.dir3 else False,
            "unitat_tramitadora": invoice.dir3.unitat_tramitadora if invoice.dir3 else False,
        }
        if invoice.registry_number:
            values.update(
                registry_number=invoice.registry_number, registry_date=parse_hub_datetime(invoice.registry_date)
            )
        for key in ("rcf_number", "payment_date", "reject_code", "reject_reason"):
            if getattr(invoice, key):
                values[key] = getattr(invoice, key)
        self.sudo().write(values)
        state = invoice.state
        if state and state.code:
            if state.code == "REJECTED" and not state.reject_reason:
                state.reject_code, state.reject_reason = invoice.reject_code, invoice.reject_reason
            if state.code == "PAID" and invoice.payment_date:
                state.payment_date = invoice.payment_date  # the payer's date over the state's date (fallback)
            self._l10n_efact_aoc_apply_state(state, post=post)

    def _l10n_efact_aoc_client(self):
        self.ensure_one()
        if not self.credential_id:
            raise UserError(_("The eFACT document %s has no connection.", self.display_name))
        if self.direction == "out":
            return self.credential_id._l10n_efact_aoc_supplier_client(record=self)
        return self.credential_id._l10n_efact_aoc_rcf_client(record=self)

    # -- pending states (supplier side) --------------------------------------------------
    @api.model
    def _l10n_efact_aoc_apply_pending(self, credential, companies, item):
        """One pending state of the hub: applied to its submission (claimed, SKIP LOCKED). True when it
        may be deleted on the hub: applied, or about an invoice none of our submissions is or may be."""
        doc = self.sudo().search(
            [("direction", "=", "out"), ("hub_id", "=", item.invoice_id), ("company_id", "in", companies.ids)],
            limit=1,
        )
        if not doc:
            # a submission committed after this run began, or one whose lost answer the lookup must find
            # among these states: keep them for the next run
            return not self._l10n_efact_aoc_may_claim_pending(credential, item.invoice_id)
        try:
            with self.env.cr.savepoint(flush=False):
                claimed = dbtools.lock_skip_locked(doc)
        except dbtools.CONCURRENCY_ERRORS:
            claimed = None  # changed by a worker that committed after this run began
        if not claimed:
            return False  # being sent or checked by another worker: the next run applies it
        doc.invalidate_recordset()
        doc._l10n_efact_aoc_apply_state(item.state)
        doc._l10n_efact_aoc_conclude()
        return True

    @api.model
    def _l10n_efact_aoc_may_claim_pending(self, credential, hub_id):
        """True when a submission of `credential` is this hub invoice, or may still have to be found among
        the pending states (read on a fresh snapshot: what committed after this run began counts too)."""
        with dbtools.own_env(self.env) as env:
            env.cr.execute(
                SQL(
                    """SELECT 1 FROM l10n_efact_aoc_document
                        WHERE direction = 'out' AND credential_id = %s
                          AND (hub_id = %s OR state IN ('draft', 'waiting', 'sending', 'unknown'))
                        LIMIT 1""",
                    credential.id,
                    hub_id,
                )
            )
            return bool(env.cr.fetchone())

    def _l10n_efact_aoc_conclude(self):
        """A sent submission whose hub state became final (REJECTED, PAID) ends its attempt. The caller
        holds the row (claimed) or it is claimed here."""
        self.ensure_one()
        final = self._l10n_efact_aoc_attempt_state((self.hub_state or "").upper())
        if self.state != "sent" or final == "sent":
            return
        try:
            with self.env.cr.savepoint(flush=False):
                claimed = dbtools.lock_skip_locked(self, SQL("state = 'sent'"))
        except dbtools.CONCURRENCY_ERRORS:
            claimed = None
        if not claimed:
            return  # another worker holds it; its poll concludes it
        self.sudo()._einvoice_attempt_set(final, self._l10n_efact_aoc_answer_text(final.upper()))

    @api.model
    def _l10n_efact_aoc_drain_states(self, credential):
        """Apply the hub's pending states of every company NIF the connection serves (one request per
        NIF, logged against that company), deleting each on the hub only after our commit."""
        companies = (credential.company_ids | credential.company_id).sudo()
        for company in companies.filtered("vat"):
            api = credential._l10n_efact_aoc_supplier_client(record=company)

            def apply(item, company=company):
                done = self._l10n_efact_aoc_apply_pending(credential, company, item)
                dbtools.commit(self.env)
                return done

            efact_client.drain_pending_states(api, apply, supplier_nif=company._l10n_efact_aoc_nif())

    @api.model
    def _cron_l10n_efact_aoc_attempts(self, limit=100):
        """The one cron of the supplier side: send, reconcile and poll submissions (einvoice.attempt),
        then apply the hub's pending states."""
        done = self._einvoice_attempt_cron(limit=limit)
        Credential = self.env["einvoice.credential"].sudo()
        for credential in Credential.search([("service", "=", "efact"), ("l10n_efact_aoc_role_supplier", "=", True)]):
            try:
                self._l10n_efact_aoc_drain_states(credential)
                credential._l10n_efact_aoc_mark()
            except UserError as exc:
                _logger.warning("eFACT connection %s skipped: %s", credential.name, exc.args[0])
            except common_errors.EInvoiceError as exc:
                _logger.warning("eFACT pending states of %s: %s", credential.name, exc)
                credential._l10n_efact_aoc_mark(exc)
            dbtools.commit(self.env)
        return done

    # -- user actions ----------------------------------------------------------------
    def _l10n_efact_aoc_checked_sudo(self):
        """The documents as superuser, once the user is shown allowed to change their invoices."""
        self.check_access("read")
        self.move_id.check_access("write")
        return self.sudo()

    def action_l10n_efact_aoc_refresh(self):
        """Ask eFACT for the invoice and its full state history."""
        for doc in self._l10n_efact_aoc_checked_sudo().filtered("hub_id"):
            try:
                api = doc._l10n_efact_aoc_client()
                if doc.direction == "out":
                    info = api.get_invoice(doc.hub_id)
                    doc._l10n_efact_aoc_check_owner(info)
                    doc._l10n_efact_aoc_apply_supplier_invoice(info)
                    states = api.get_history(doc.hub_id)
                else:
                    states = api.get_states(doc.hub_id)
                for state in states:
                    doc._l10n_efact_aoc_apply_state(state, post=False)
                if doc.direction == "out":
                    doc._l10n_efact_aoc_conclude()
            except common_errors.EInvoiceError as exc:
                raise UserError(
                    _(
                        "eFACT could not be asked about %(doc)s: %(error)s",
                        doc=doc.display_name,
                        error=efact_error_text(self.env, exc),
                    )
                ) from exc
        return True

    def action_l10n_efact_aoc_download_receipt(self):
        self.ensure_one()
        if not self.hub_id:
            raise UserError(_("This invoice has no eFACT id yet."))
        self = self._l10n_efact_aoc_checked_sudo()  # noqa: PLW0642 - rights checked, system writes below
        try:
            api = self._l10n_efact_aoc_client()
            info = api.get_invoice(self.hub_id)
            self._l10n_efact_aoc_check_owner(info)
            pdf = api.get_receipt(self.hub_id)
        except common_errors.EInvoiceError as exc:
            raise UserError(_("eFACT did not give the receipt: %s", efact_error_text(self.env, exc))) from exc
        attachment = self.env["ir.attachment"].create(
            {
                "name": f"eFACT_receipt_{self.hub_id}.pdf",
                "raw": pdf,
                "mimetype": "application/pdf",
                "res_model": self.move_id._name if self.move_id else self._name,
                "res_id": self.move_id.id if self.move_id else self.id,
            }
        )
        self.receipt_id = attachment
        if self.move_id:
            self.move_id.with_context(no_new_invoice=True).message_post(
                body=_("eFACT electronic receipt downloaded."),
                attachment_ids=attachment.ids,
            )
        return {
            "type": "ir.actions.act_url",
            "url": f"/web/content/{attachment.id}?download=true",
            "target": "new",
        }

    def _l10n_efact_aoc_check_owner(self, info):
        """Refuse to store anything about a hub invoice whose NIF is not this document's company's (a shared
        connection serves several companies; a document must not fetch another company's files)."""
        self.ensure_one()
        own = self.company_id._l10n_efact_aoc_nif()
        theirs = (
            info.supplier_nif
            if self.direction == "out"
            else getattr(info, "nif", "") or getattr(info, "receiver_nif", "")
        )
        if not own or documents.normalize_nif(theirs) != own:
            raise UserError(
                _(
                    "eFACT invoice %(id)s belongs to NIF %(nif)s, not to %(company)s: nothing was stored.",
                    id=self.hub_id,
                    nif=theirs or "-",
                    company=self.company_id.name,
                )
            )

    def action_l10n_efact_aoc_reconcile(self):
        """Check now with eFACT (a submission being confirmed, waiting or sent): the engine's own step."""
        docs = self._l10n_efact_aoc_checked_sudo().filtered(
            lambda d: d.direction == "out" and d.state in ("waiting", "unknown", "sent")
        )
        # no write here: a row this request changed would be locked until its end, and the engine's own
        # cursor would skip it; the engine's step does not depend on next_check
        docs._einvoice_attempt_process()
        return True

    def action_view_move(self):
        self.ensure_one()
        return self.move_id._get_records_action() if self.move_id else False


class L10nEfactAocHistory(models.Model):
    _name = "l10n_efact_aoc.history"
    _description = "eFACT state history"
    _order = "date, id"

    document_id = fields.Many2one("l10n_efact_aoc.document", required=True, ondelete="cascade", index=True)
    company_id = fields.Many2one(related="document_id.company_id", store=True, index=True)
    code = fields.Char("State", required=True)
    date = fields.Datetime()
    registry_number = fields.Char()
    rcf_number = fields.Char("RCF number")
    reject_code = fields.Char()
    reject_reason = fields.Text()
    payment_date = fields.Date()


class L10nEfactAocReport(models.Model):
    """A life-cycle state the public body must report to eFACT; retried until accepted."""

    _name = "l10n_efact_aoc.report"
    _description = "eFACT state report (queued)"
    _order = "document_id, rank, id"

    document_id = fields.Many2one("l10n_efact_aoc.document", required=True, ondelete="cascade", index=True)
    move_id = fields.Many2one(related="document_id.move_id")
    company_id = fields.Many2one(related="document_id.company_id", store=True)
    state = fields.Selection(REPORTABLE, required=True)
    rank = fields.Integer(compute="_compute_rank", store=True)
    status = fields.Selection(
        [("pending", "Queued"), ("done", "Accepted"), ("error", "Refused")],
        default="pending",
        required=True,
        index=True,
    )
    rcf_number = fields.Char()
    payment_date = fields.Date()
    reject_code = fields.Char()
    reject_reason = fields.Text()
    attempts = fields.Integer()
    error = fields.Text()

    @api.depends("state")
    def _compute_rank(self):
        for report in self:
            report.rank = REPORT_RANK.get(report.state, 0)

    def _l10n_efact_aoc_send(self):
        """Send one queued report (the earlier ones of its document must be accepted)."""
        self.ensure_one()
        doc = self.document_id
        blocking = doc.report_ids.filtered(lambda r: r.rank < self.rank and r.status != "done" and r.id != self.id)
        if blocking:
            return False
        self.attempts += 1
        try:
            doc._l10n_efact_aoc_client().update_state(
                doc.hub_id,
                self.state,
                rcf_number=self.rcf_number,
                payment_date=self.payment_date and fields.Date.to_string(self.payment_date),
                reject_code=self.reject_code,
                reject_reason=self.reject_reason,
            )
        except (common_errors.RejectedError, common_errors.AuthError) as exc:
            self._l10n_efact_aoc_refused(exc)
            return False
        except common_errors.EInvoiceError as exc:
            self.error = efact_error_text(self.env, exc)
            return False
        self._l10n_efact_aoc_accepted()
        return True

    def _l10n_efact_aoc_refused(self, exc):
        """A refused report needs a person (or a new credential): kept queued on auth, stopped if rejected."""
        doc = self.document_id
        rejected = isinstance(exc, common_errors.RejectedError)
        self.write({"error": efact_error_text(self.env, exc), "status": "error" if rejected else "pending"})
        if rejected and doc.move_id:
            doc.move_id.activity_schedule(
                "mail.mail_activity_data_todo",
                summary=_("eFACT refused a state report"),
                note=_("eFACT refused %(state)s: %(error)s", state=self.state, error=efact_error_text(self.env, exc)),
                user_id=(doc.move_id.invoice_user_id or self.env.user).id,
            )

    def _l10n_efact_aoc_accepted(self):
        """eFACT accepted the report: the document, its history and the bill's chatter say so."""
        doc = self.document_id
        self.write({"status": "done", "error": False})
        values = {"hub_state": self.state.lower()}
        if self.state == "ANNOTATED":
            values["rcf_number"] = self.rcf_number
        if self.state == "PAID":
            values["payment_date"] = self.payment_date
        if self.state == "REJECTED":
            values.update(reject_code=self.reject_code, reject_reason=self.reject_reason)
        doc.sudo().write(values)
        self.env["l10n_efact_aoc.history"].sudo().create(
            {
                "document_id": doc.id,
                "code": self.state,
                "date": fields.Datetime.now(),
                "rcf_number": self.rcf_number,
                "payment_date": self.payment_date,
                "reject_code": self.reject_code,
                "reject_reason": self.reject_reason,
            }
        )
        if doc.move_id and self.state != "ANNOTATED":  # the registry number is in the bill's import entry
            doc.move_id.with_context(no_new_invoice=True).message_post(
                body=_(
                    "eFACT accepted the state %(state)s%(extra)s.",
                    state=self.state,
                    extra=(
                        f" ({self.rcf_number})"
                        if self.rcf_number
                        else f" ({self.payment_date})"
                        if self.payment_date
                        else ""
                    ),
                )
            )

    @api.model
    def _l10n_efact_aoc_trigger(self):
        """Run the report cron soon (once for a batch of queued reports)."""
        cron = self.env.ref("l10n_efact_aoc.ir_cron_l10n_efact_aoc_send_reports", raise_if_not_found=False)
        if cron:
            cron.sudo()._trigger()

    @api.model
    def _cron_l10n_efact_aoc_send_reports(self, limit=200):
        """Send queued life-cycle reports in order, committing each."""
        try:
            with self.env.cr.savepoint():
                self.env["account.move"]._l10n_efact_aoc_queue_paid_reports()
        except dbtools.CONCURRENCY_ERRORS as exc:  # another worker or server is queuing them right now: theirs
            _logger.info("eFACT PAID reports queued by another worker (%s)", type(exc).__name__)
        Credential = self.env["einvoice.credential"]
        # DELIVERED (or a link by hand) first: an ANNOTATED would otherwise mark it downloaded silently
        reports = self.sudo().search(
            [
                ("status", "=", "pending"),
                ("document_id.hub_id", "!=", False),
                ("document_id.delivered_reported", "=", True),
            ],
            order="id",
            limit=limit,
        )
        try:
            with self.env.cr.savepoint(flush=False):
                reports = Credential._einvoice_lock_skip_locked(reports)
        except dbtools.CONCURRENCY_ERRORS:
            return 0  # another worker or server changed them since our snapshot: it is sending them
        sent = 0
        for report in reports.sorted(lambda r: (r.document_id.id, r.rank, r.id)):
            try:
                with self.env.cr.savepoint():
                    sent += bool(report._l10n_efact_aoc_send())
            except dbtools.CONCURRENCY_ERRORS:
                # another server changed this report's document since our snapshot: every later write of
                # this transaction could fail the same way, so stop here; the next run picks up the rest
                if not dbtools.can_commit(self.env):
                    raise
                self.env.cr.rollback()
                self.env.ref("l10n_efact_aoc.ir_cron_l10n_efact_aoc_send_reports")._trigger()
                return sent
            except Exception as exc:
                _logger.warning("eFACT report %s failed: %s", report.id, exc, exc_info=True)
                report.error = efact_error_text(self.env, exc)
                continue
            Credential._einvoice_commit()
        if len(reports) == limit:
            self.env.ref("l10n_efact_aoc.ir_cron_l10n_efact_aoc_send_reports")._trigger()
        return sent
