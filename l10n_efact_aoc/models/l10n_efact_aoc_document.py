import hashlib
import logging
from datetime import datetime, timezone

from markupsafe import Markup

from odoo import _, api, fields, models
from odoo.exceptions import AccessError, UserError

from odoo.addons.einvoice_common import compat
from odoo.addons.einvoice_common.einvoice import errors as common_errors

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
STATES = [
    ("sending", "Sending"),
    ("unknown", "Sent, outcome unknown"),
    ("error", "Not sent (error)"),
    *HUB_STATES,
]
REPORTABLE = [
    ("ANNOTATED", "Annotated"),
    ("RECEIVED", "Received"),
    ("ACCEPTED", "Accepted"),
    ("RECOGNISED", "Recognised"),
    ("PAID", "Paid"),
    ("REJECTED", "Rejected"),
]
# What ties a document to a hub invoice, a company and a move: written by the system only (a user who
# could point a document at any hub id would fetch another company's receipt or unlock a second send).
SYSTEM_FIELDS = frozenset(
    {
        "payload_attachment_id",
        "payload_sha256",
        "resends",
        "direction",
        "move_id",
        "company_id",
        "credential_id",
        "hub_id",
        "state",
        "attachment_id",
        "receipt_id",
        "supplier_nif",
        "receiver_nif",
    }
)
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
    """One eFACT invoice: a submission of ours (out) or an invoice received as a public body (in)."""

    _name = "l10n_efact_aoc.document"
    _description = "eFACT invoice"
    _inherit = ["einvoice.exchange.mixin"]
    _order = "id desc"
    _rec_name = "display_name"

    direction = fields.Selection(
        [("out", "Sent as supplier"), ("in", "Received as public body")],
        required=True,
        default="out",
        index=True,
    )
    move_id = fields.Many2one("account.move", ondelete="set null", index=True, copy=False)
    company_id = fields.Many2one("res.company", required=True, index=True)
    credential_id = fields.Many2one("einvoice.credential", ondelete="set null")
    hub_id = fields.Char("eFACT id", index=True, copy=False)
    state = fields.Selection(STATES, required=True, default="sending", index=True)
    message = fields.Text()
    number = fields.Char("Invoice number")
    series = fields.Char()
    amount = fields.Float("Amount on eFACT", digits=(16, 2))
    supplier_nif = fields.Char("Supplier NIF")
    supplier_name = fields.Char()
    receiver_nif = fields.Char("Receiver NIF")
    receiver_name = fields.Char()
    oficina_comptable = fields.Char("Accounting office (DIR3)")
    organ_gestor = fields.Char("Managing body (DIR3)")
    unitat_tramitadora = fields.Char("Processing unit (DIR3)")
    registry_number = fields.Char("Registration number")
    registry_date = fields.Datetime("Registration date")
    rcf_number = fields.Char("Accounting registry number (RCF)")
    reject_code = fields.Char("Rejection code")
    reject_reason = fields.Text("Rejection reason")
    payment_date = fields.Date()
    delivered_reported = fields.Boolean(help="DELIVERED was accepted by eFACT (public-body side).")
    attachment_id = fields.Many2one("ir.attachment", string="Facturae file", ondelete="set null")
    receipt_id = fields.Many2one("ir.attachment", string="Electronic receipt", ondelete="set null")
    payload_attachment_id = fields.Many2one(
        "ir.attachment", string="Submitted request", ondelete="restrict", readonly=True, copy=False
    )
    payload_sha256 = fields.Char("SHA-256 of the submitted request", readonly=True, copy=False)
    resends = fields.Integer(
        readonly=True, copy=False, help="Times the stored request was sent again because eFACT never got it."
    )
    history_ids = fields.One2many("l10n_efact_aoc.history", "document_id", string="State history")
    report_ids = fields.One2many("l10n_efact_aoc.report", "document_id", string="Reports to eFACT")

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
        # EXTENDS 'base': documents are made by sending, receiving or linking (each checks the user's
        # rights on the invoice first), never directly by an invoicing user (administrators may repair)
        if not self.env.is_system():
            raise AccessError(_("eFACT documents are created by Odoo only, when an invoice is sent or received."))
        return super().create(vals_list)

    def write(self, vals):
        # EXTENDS 'base'
        if not self.env.is_system() and SYSTEM_FIELDS.intersection(vals):
            raise AccessError(
                _(
                    "These fields of an eFACT document are written by Odoo only: %s",
                    ", ".join(sorted(SYSTEM_FIELDS.intersection(vals))),
                )
            )
        return super().write(vals)

    @api.depends("hub_id", "number", "state")
    def _compute_display_name(self):
        for doc in self:
            doc.display_name = f"eFACT {doc.hub_id or '-'} {doc.number or ''}".strip()

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
                    for key, value in (
                        ("registry_number", state.registry_number),
                        ("rcf_number", state.rcf_number),
                        ("reject_code", state.reject_code),
                        ("reject_reason", state.reject_reason),
                        ("payment_date", state.payment_date),
                    )
                    if value and not known[0][key]
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
        values = {}
        current = (self.state or "").upper()
        if code == "REJECTED" or current not in HUB_RANK or HUB_RANK[code] >= HUB_RANK[current]:
            values["state"] = code.lower()
        if state.registry_number:
            values["registry_number"] = state.registry_number
            values["registry_date"] = parse_hub_datetime(state.registry_date) or when
        if state.rcf_number:
            values["rcf_number"] = state.rcf_number
        if code == "REJECTED":
            values.update(reject_code=state.reject_code, reject_reason=state.reject_reason)
        if code == "PAID" and state.payment_date:
            values["payment_date"] = state.payment_date
        self.write(values)
        if post and self.move_id:
            self._l10n_efact_aoc_post_state(state)
        return True

    def _l10n_efact_aoc_post_state(self, state):
        move = self.move_id
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
                _(
                    "reason: %(code)s %(reason)s",
                    code=state.reject_code or "",
                    reason=state.reject_reason or "",
                )
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

    def _l10n_efact_aoc_apply_supplier_invoice(self, invoice):
        """Store the supplier API `Factura` answer (after a send or a refresh)."""
        self.ensure_one()
        self.write(
            {
                "hub_id": invoice.id,
                "number": invoice.number or self.number,
                "series": invoice.series,
                "amount": invoice.amount,
                "receiver_nif": invoice.receiver_nif,
                "receiver_name": invoice.receiver_name,
                "oficina_comptable": invoice.dir3.oficina_comptable if invoice.dir3 else False,
                "organ_gestor": invoice.dir3.organ_gestor if invoice.dir3 else False,
                "unitat_tramitadora": invoice.dir3.unitat_tramitadora if invoice.dir3 else False,
                "message": False,
            }
        )
        if invoice.registry_number:
            self.write(
                {
                    "registry_number": invoice.registry_number,
                    "registry_date": parse_hub_datetime(invoice.registry_date),
                }
            )
        if invoice.rcf_number:
            self.rcf_number = invoice.rcf_number
        if invoice.payment_date:
            self.payment_date = invoice.payment_date
        if invoice.reject_reason or invoice.reject_code:
            self.write(
                {
                    "reject_code": invoice.reject_code,
                    "reject_reason": invoice.reject_reason,
                }
            )
        if invoice.state and invoice.state.code:
            if invoice.state.code == "REJECTED" and not invoice.state.reject_reason:
                invoice.state.reject_code, invoice.state.reject_reason = (
                    invoice.reject_code,
                    invoice.reject_reason,
                )
            if invoice.state.code == "PAID" and not invoice.state.payment_date:
                invoice.state.payment_date = invoice.payment_date
            self._l10n_efact_aoc_apply_state(invoice.state)

    def _l10n_efact_aoc_client(self):
        self.ensure_one()
        if not self.credential_id:
            raise UserError(_("The eFACT document %s has no connection.", self.display_name))
        if self.direction == "out":
            return self.credential_id._l10n_efact_aoc_supplier_client(record=self)
        return self.credential_id._l10n_efact_aoc_rcf_client(record=self)

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
                    doc._l10n_efact_aoc_apply_supplier_invoice(api.get_invoice(doc.hub_id))
                    states = api.get_history(doc.hub_id)
                else:
                    states = api.get_states(doc.hub_id)
                for state in states:
                    doc._l10n_efact_aoc_apply_state(state, post=False)
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
        """Settle submissions whose outcome is unknown by asking eFACT."""
        for doc in self._l10n_efact_aoc_checked_sudo().filtered(
            lambda d: d.direction == "out" and d.state in ("unknown", "sending")
        ):
            doc._l10n_efact_aoc_reconcile()
        return True

    def _l10n_efact_aoc_reconcile(self):
        self.ensure_one()
        known = self.search(
            [
                ("direction", "=", "out"),
                ("company_id", "=", self.company_id.id),
                ("hub_id", "!=", False),
            ]
        ).mapped("hub_id")
        try:
            found = self._l10n_efact_aoc_client().find_submission(
                self.number, self.series or "", self.receiver_nif, known_ids=known
            )
        except common_errors.EInvoiceError as exc:
            self.message = _("Could not reconcile with eFACT yet: %s", efact_error_text(self.env, exc))
            return False
        if found:
            self._l10n_efact_aoc_apply_supplier_invoice(found)
            if self.move_id:
                self.move_id.with_context(no_new_invoice=True).message_post(
                    body=_(
                        "eFACT had received the invoice (id %s) although the answer was lost; no second "
                        "submission was made.",
                        found.id,
                    )
                )
        elif self.payload_attachment_id and not self.resends:
            self._l10n_efact_aoc_resend()
        else:
            self.write(
                {
                    "state": "error",
                    "message": _(
                        "eFACT has no trace of this submission: it did not arrive. You can send the invoice again."
                    ),
                }
            )
        return True

    # -- submission (exact bytes stored first, resent unchanged) -----------------------
    def _l10n_efact_aoc_store_payload(self, payload):
        self.ensure_one()
        attachment = (
            self.env["ir.attachment"]
            .sudo()
            .create(
                {
                    "name": f"eFACT_request_{(self.number or str(self.id)).replace('/', '_')}.json",
                    "raw": payload,
                    "mimetype": "application/json",
                    "res_model": self._name,
                    "res_id": self.id,
                }
            )
        )
        self.sudo().write(
            {"payload_attachment_id": attachment.id, "payload_sha256": hashlib.sha256(payload).hexdigest()}
        )

    def _l10n_efact_aoc_payload(self):
        """The stored request, checked against the hash recorded before the first call."""
        self.ensure_one()
        payload = self.payload_attachment_id.raw or b""
        if not payload or hashlib.sha256(payload).hexdigest() != self.payload_sha256:
            raise UserError(_("The stored eFACT request of %s does not match its hash.", self.display_name))
        return payload

    def _l10n_efact_aoc_resend(self):
        """eFACT never received the submission: send the same bytes once more (intent committed first)."""
        self.ensure_one()
        self.sudo().write({"state": "sending", "resends": self.resends + 1})
        if self.move_id:
            self.move_id.with_context(no_new_invoice=True).message_post(
                body=_("eFACT never received the submission: the same file is sent again, unchanged.")
            )
        self.env["einvoice.credential"]._einvoice_commit()
        return self._l10n_efact_aoc_submit()

    def _l10n_efact_aoc_submit(self):
        """Call POST /factura with the stored bytes; the answer is committed at once. Returns an error
        text for a clear refusal, else False (sent, or unknown: reconciled before anything is resent)."""
        self.ensure_one()
        doc, move = self.sudo(), self.move_id
        Credential = self.env["einvoice.credential"]
        try:
            result = doc.credential_id._l10n_efact_aoc_supplier_client(record=doc).send_invoice(
                raw=doc._l10n_efact_aoc_payload(), reference=move.name or doc.number
            )
        except common_errors.UnknownOutcome as exc:
            doc.write({"state": "unknown", "message": efact_error_text(self.env, exc)})
            move.with_context(no_new_invoice=True).message_post(
                body=_(
                    "eFACT did not answer the submission: it will be checked with eFACT before anything is sent again."
                )
            )
            Credential._einvoice_commit()
            return False
        except common_errors.EInvoiceError as exc:
            doc.write({"state": "error", "message": efact_error_text(self.env, exc)})
            doc.credential_id._l10n_efact_aoc_mark(exc)
            Credential._einvoice_commit()
            return _("eFACT refused %(name)s: %(error)s", name=move.name, error=efact_error_text(self.env, exc))
        doc._l10n_efact_aoc_apply_supplier_invoice(result)
        move.with_context(no_new_invoice=True).message_post(
            body=Markup("%s <b>%s</b>") % (_("Sent to eFACT with id"), result.id)
        )
        Credential._einvoice_commit()
        return False

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
            # a refused report needs a person (or a new credential) - keep it queued if auth, stop if rejected
            self.write(
                {
                    "error": efact_error_text(self.env, exc),
                    "status": "error" if isinstance(exc, common_errors.RejectedError) else "pending",
                }
            )
            if isinstance(exc, common_errors.RejectedError) and doc.move_id:
                doc.move_id.activity_schedule(
                    "mail.mail_activity_data_todo",
                    summary=_("eFACT refused a state report"),
                    note=_(
                        "eFACT refused %(state)s: %(error)s",
                        state=self.state,
                        error=efact_error_text(self.env, exc),
                    ),
                    user_id=(doc.move_id.invoice_user_id or self.env.user).id,
                )
            return False
        except common_errors.EInvoiceError as exc:
            self.error = efact_error_text(self.env, exc)
            return False
        self.write({"status": "done", "error": False})
        doc.write({"state": self.state.lower()})
        if self.state == "ANNOTATED":
            doc.rcf_number = self.rcf_number
        if self.state == "PAID":
            doc.payment_date = self.payment_date
        if self.state == "REJECTED":
            doc.write({"reject_code": self.reject_code, "reject_reason": self.reject_reason})
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
        return True

    @api.model
    def _l10n_efact_aoc_trigger(self):
        """Run the report cron soon (once for a batch of queued reports)."""
        cron = self.env.ref("l10n_efact_aoc.ir_cron_l10n_efact_aoc_send_reports", raise_if_not_found=False)
        if cron:
            cron.sudo()._trigger()

    @api.model
    def _cron_l10n_efact_aoc_send_reports(self, limit=200):
        """Send queued life-cycle reports in order, committing each."""
        self.env["account.move"]._l10n_efact_aoc_queue_paid_reports()
        Credential = self.env["einvoice.credential"]
        # DELIVERED (or a link by hand) first: an ANNOTATED would otherwise mark it downloaded silently
        reports = self.search(
            [
                ("status", "=", "pending"),
                ("document_id.hub_id", "!=", False),
                ("document_id.delivered_reported", "=", True),
            ],
            order="id",
            limit=limit,
        )
        reports = Credential._einvoice_lock_skip_locked(reports)
        sent = 0
        for report in reports.sorted(lambda r: (r.document_id.id, r.rank, r.id)):
            try:
                with self.env.cr.savepoint():
                    sent += bool(report._l10n_efact_aoc_send())
            except Exception as exc:
                _logger.warning("eFACT report %s failed: %s", report.id, exc, exc_info=True)
                report.error = efact_error_text(self.env, exc)
                continue
            Credential._einvoice_commit()
        if len(reports) == limit:
            self.env.ref("l10n_efact_aoc.ir_cron_l10n_efact_aoc_send_reports")._trigger()
        return sent
