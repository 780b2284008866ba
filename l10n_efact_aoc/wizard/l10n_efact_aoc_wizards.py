from odoo import _, fields, models
from odoo.exceptions import UserError

from odoo.addons.einvoice_common.einvoice import errors as common_errors

from ..efact import documents
from ..models.einvoice_credential import efact_error_text


class L10nEfactAocRejectWizard(models.TransientModel):
    _name = "l10n_efact_aoc.reject.wizard"
    _description = "Reject an invoice received through eFACT"

    move_id = fields.Many2one("account.move", required=True)
    reject_code = fields.Char("Rejection code", help="Optional, in your own coding.")
    reject_reason = fields.Text("Reason", required=True, help="Told to the supplier.")

    def action_reject(self):
        self.ensure_one()
        move = self.move_id
        doc = move._l10n_efact_aoc_in_document()
        if not doc:
            raise UserError(_("%s was not received through eFACT.", move.display_name))
        if doc.hub_state == "paid" or doc.report_ids.filtered(lambda r: r.state == "PAID" and r.status != "error"):
            raise UserError(
                _(
                    "%s is paid: eFACT does not allow rejecting a paid invoice.",
                    move.display_name,
                )
            )
        if not (self.reject_reason or "").strip():
            raise UserError(_("Give the reason of the rejection: the supplier will read it."))
        move._l10n_efact_aoc_queue(
            "REJECTED",
            reject_code=self.reject_code or False,
            reject_reason=self.reject_reason.strip(),
        )
        move.with_context(no_new_invoice=True).message_post(
            body=_("Rejection queued for eFACT: %s", self.reject_reason.strip())
        )
        if move.state == "draft":
            move.button_cancel()
        return {"type": "ir.actions.act_window_close"}


class L10nEfactAocLinkWizard(models.TransientModel):
    _name = "l10n_efact_aoc.link.wizard"
    _description = "Link a bill to an eFACT invoice (FTP era)"

    move_id = fields.Many2one("account.move", required=True)
    hub_id = fields.Char(
        "eFACT id",
        required=True,
        help="The hub id: 4th part of the FTP file name, or HubId of the DeliveryFeedback file.",
    )

    def action_link(self):
        self.ensure_one()
        move, hub_id = self.move_id, (self.hub_id or "").strip()
        company = move.company_id
        Doc = self.env["l10n_efact_aoc.document"]
        if Doc.search_count(
            [
                ("company_id", "=", company.id),
                ("direction", "=", "in"),
                ("hub_id", "=", hub_id),
            ]
        ):
            raise UserError(
                _(
                    "eFACT invoice %s is already linked to a bill of this company.",
                    hub_id,
                )
            )
        credential = move._l10n_efact_aoc_credential("rcf")
        if not credential:
            raise UserError(_("No eFACT connection receives invoices for %s.", company.name))
        try:
            api = credential._l10n_efact_aoc_rcf_client(record=move)
            info = api.get_invoice(hub_id)
            states = api.get_states(hub_id)
        except common_errors.EInvoiceError as exc:
            raise UserError(
                _(
                    "eFACT does not confirm invoice %(id)s: %(error)s",
                    id=hub_id,
                    error=efact_error_text(self.env, exc),
                )
            ) from exc
        if documents.normalize_nif(info.nif) != company._l10n_efact_aoc_nif():
            raise UserError(
                _(
                    "eFACT invoice %(id)s is addressed to %(nif)s, not to %(company)s.",
                    id=hub_id,
                    nif=info.nif,
                    company=company.name,
                )
            )
        move.check_access("write")
        self._l10n_efact_aoc_link_document(credential, info, states)
        move.with_context(no_new_invoice=True).message_post(
            body=_(
                "Linked by hand to eFACT invoice %(id)s (state %(state)s).",
                id=hub_id,
                state=info.state,
            )
        )
        if move.state == "posted":
            move._l10n_efact_aoc_on_post()
        return {"type": "ir.actions.act_window_close"}

    def _l10n_efact_aoc_link_document(self, credential, info, states):
        """The received-invoice document of the bill (made by the system once the user's right to change
        the bill is checked), its hub history, and the reports the hub already has marked done."""
        move, hub_id = self.move_id, (self.hub_id or "").strip()
        doc = (
            self.env["l10n_efact_aoc.document"]
            .sudo()
            .create(
                {
                    "direction": "in",
                    "move_id": move.id,
                    "company_id": move.company_id.id,
                    "credential_id": credential.id,
                    "hub_id": hub_id,
                    "hub_state": "registered",
                    "number": info.number,
                    "amount": info.amount,
                    "supplier_nif": info.supplier_nif,
                    "supplier_name": info.supplier_name,
                    "receiver_nif": info.nif,
                    "receiver_name": info.name,
                    "registry_number": info.registry_number,
                    "oficina_comptable": info.oficina_comptable,
                    "organ_gestor": info.organ_gestor,
                    "unitat_tramitadora": info.unitat_tramitadora,
                    "rcf_number": info.rcf_number,
                    "delivered_reported": True,
                }
            )
        )
        for state in states:
            doc._l10n_efact_aoc_apply_state(state, post=False)
        for code in ("ANNOTATED", "RECEIVED", "ACCEPTED", "RECOGNISED", "PAID", "REJECTED"):
            if doc.history_ids.filtered(lambda h, code=code: h.code == code):  # not reported again
                self.env["l10n_efact_aoc.report"].sudo().create(
                    {
                        "document_id": doc.id,
                        "state": code,
                        "status": "done",
                        "rcf_number": doc.rcf_number if code == "ANNOTATED" else False,
                    }
                )
        return doc
