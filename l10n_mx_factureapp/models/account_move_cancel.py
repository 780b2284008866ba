"""Cancelling a stamped CFDI with Facture APP and following its status with SAT."""

import logging

from odoo import _, fields, models
from odoo.exceptions import UserError

from odoo.addons.einvoice_common import dbtools
from odoo.addons.einvoice_common.einvoice import errors

from ..factureapp import documents as cfdi
from .helpers import _notification

_logger = logging.getLogger(__name__)


class L10nMxFactureappMoveCancel(models.AbstractModel):
    """Mixed into account.move only (its fields and methods are the invoice's)."""

    _name = "l10n_mx_factureapp.move.cancel"
    _description = "Facture APP: CFDI cancellation and SAT status"

    def _l10n_mx_factureapp_stamp_info(self):
        self.ensure_one()
        if not self.l10n_mx_factureapp_xml_id:
            raise UserError(_("Invoice %(name)s has no stamped CFDI.", name=self.display_name))
        return cfdi.stamp_info(self.l10n_mx_factureapp_xml_id.sudo().raw)

    def _l10n_mx_factureapp_cfdi_write(self, values):
        """Write on this invoice's stamped CFDI (its attempt: written by the system only)."""
        self.ensure_one()
        self.l10n_mx_factureapp_document_id.sudo().write(values)
        self.invalidate_recordset(["l10n_mx_factureapp_state", "l10n_mx_factureapp_error"])

    def _l10n_mx_factureapp_request_cancel(self, motive, replacement=None):
        """Ask Facture APP to cancel; the answer is confirmed with SAT. Returns the outcome.

        Everything Odoo needs afterwards is checked before the call: a cancellation that
        reached the PAC is never undone by a problem on our side."""
        self.ensure_one()
        self.check_access("write")
        self._l10n_mx_factureapp_cancel_check(motive, replacement)
        credential, branch = self._l10n_mx_factureapp_connection()
        credential._l10n_mx_factureapp_sat_client(record=self)
        client = credential._l10n_mx_factureapp_client(record=self)
        try:
            with client as api:
                answer = api.cancel(
                    self.l10n_mx_factureapp_uuid,
                    branch.facture_id,
                    motive,
                    replacement.l10n_mx_factureapp_uuid if motive == "01" else "",
                )
        except (errors.UnknownOutcome, errors.ProtocolError) as exc:  # it may have reached the PAC
            return self._l10n_mx_factureapp_cancel_unclear(motive, exc)
        except errors.EInvoiceError as exc:
            raise UserError(
                _(
                    "Facture APP refused the cancellation of %(name)s: %(error)s",
                    name=self.display_name,
                    error=str(exc),
                )
            ) from exc
        return self._l10n_mx_factureapp_cancel_answered(answer, motive)

    def _l10n_mx_factureapp_cancel_unclear(self, motive, exc):
        """The request may have reached Facture APP: SAT's status tells (the job keeps asking)."""
        self._l10n_mx_factureapp_cfdi_write({"cancel_state": "cancel_requested", "cancel_motive": motive})
        self.with_context(no_new_invoice=True).message_post(
            body=_(
                "The answer to the cancellation request of %(name)s was lost or could not be read (%(error)s): "
                "SAT's status will tell whether it was registered; it is checked now and by the hourly job.",
                name=self.display_name,
                error=exc.message,
            )
        )
        dbtools.commit(self.env)
        try:
            self._l10n_mx_factureapp_update_sat_status()
        except UserError as error:
            _logger.info("SAT status of move %s after an unclear cancellation not read: %s", self.id, error)
        return "unknown"

    def _l10n_mx_factureapp_cancel_check(self, motive, replacement):
        if self.l10n_mx_factureapp_state not in (
            "stamped",
            "cancel_rejected",
            "cancel_requested",
        ):
            raise UserError(
                _(
                    "Only a stamped CFDI can be cancelled (%(name)s).",
                    name=self.display_name,
                )
            )
        if motive == "01":
            if not replacement or replacement.l10n_mx_factureapp_state != "stamped":
                raise UserError(
                    _(
                        "Motive 01 needs the stamped invoice that replaces %(name)s.",
                        name=self.display_name,
                    )
                )
            if replacement.l10n_mx_factureapp_substituted_id != self:
                raise UserError(
                    _(
                        "The replacing invoice %(new)s must say it replaces %(name)s (field 'Replaces CFDI of') and be "
                        "stamped with it.",
                        new=replacement.display_name,
                        name=self.display_name,
                    )
                )

    def _l10n_mx_factureapp_cancel_answered(self, answer, motive):
        if answer.outcome in ("not_cancellable", "not_found", "rejected"):
            texts = {
                "not_cancellable": _(
                    "%(name)s cannot be cancelled while related CFDIs (credit notes, payment "
                    "complements) are valid: cancel those first.",
                    name=self.display_name,
                ),
                "not_found": _("SAT does not know the CFDI of %(name)s.", name=self.display_name),
            }
            raise UserError(
                texts.get(answer.outcome)
                or _(
                    "Facture APP refused the cancellation: %(error)s",
                    error=answer.message,
                )
            )
        self._l10n_mx_factureapp_cfdi_write(
            {"cancel_state": "cancel_requested", "cancel_motive": motive, "cancel_link": answer.link or False}
        )
        body = _(
            "Cancellation of the CFDI requested (motive %(motive)s): %(message)s",
            motive=motive,
            message=answer.message,
        )
        self.with_context(no_new_invoice=True).message_post(body=body)
        if answer.outcome == "pending_acceptance":
            self.activity_schedule(
                "mail.mail_activity_data_todo",
                summary=_("CFDI cancellation awaits the customer's acceptance"),
                note=_(
                    "Send the customer the acceptance link: %(link)s (72 hours).",
                    link=answer.link or "-",
                ),
                user_id=self.invoice_user_id.id or self.env.user.id,
            )
        dbtools.commit(self.env)  # the PAC has the request: keep it
        try:
            self._l10n_mx_factureapp_update_sat_status()
        except UserError as exc:
            _logger.info("SAT status of move %s after the cancellation request not read: %s", self.id, exc)
        return answer.outcome

    def action_l10n_mx_factureapp_sat_status(self):
        self.check_access("write")
        texts = [f"{move.display_name}: {move._l10n_mx_factureapp_update_sat_status().state}" for move in self]
        return _notification(_("SAT says: %(states)s", states=", ".join(texts)))

    def _l10n_mx_factureapp_update_sat_status(self):
        """Query SAT's ConsultaCFDIService and settle a pending cancellation."""
        self.ensure_one()
        info = self._l10n_mx_factureapp_stamp_info()
        credential, _branch = self._l10n_mx_factureapp_connection()
        try:
            status = credential._l10n_mx_factureapp_sat_client(record=self).status(
                info.uuid, info.issuer_rfc, info.receiver_rfc, info.total
            )
        except errors.EInvoiceError as exc:
            raise UserError(_("SAT's status service could not be asked: %(error)s", error=str(exc))) from exc
        self._l10n_mx_factureapp_cfdi_write(
            {
                "sat_state": status.state,
                "sat_cancellable": status.cancellable,
                "sat_cancel_status": status.cancel_status,
                "sat_efos": status.efos,
                "sat_checked_at": fields.Datetime.now(),
            }
        )
        if status.efos_listed:
            self.with_context(no_new_invoice=True).message_post(
                body=_(
                    "SAT flags a party of %(name)s in its EFOS list (ValidacionEFOS %(code)s).",
                    name=self.display_name,
                    code=status.efos,
                )
            )
        settled = status.settled_cancel
        if settled == "cancelled" and self.l10n_mx_factureapp_state != "cancelled":
            self._l10n_mx_factureapp_cancelled(credential, status)
        elif settled == "rejected" and self.l10n_mx_factureapp_state == "cancel_requested":
            self._l10n_mx_factureapp_cfdi_write({"cancel_state": "cancel_rejected"})
            self.with_context(no_new_invoice=True).message_post(
                body=_("The customer rejected the cancellation of the CFDI; it stays valid.")
            )
        return status

    def _l10n_mx_factureapp_cancelled(self, credential, status):
        self._l10n_mx_factureapp_cfdi_write({"cancel_state": "cancelled"})
        acuse = None
        try:
            with credential._l10n_mx_factureapp_client(record=self) as api:
                acuse = api.acuse(self.l10n_mx_factureapp_uuid)
        except errors.EInvoiceError as exc:
            _logger.info("Acuse of move %s not available yet: %s", self.id, exc.kind)
        attachment = self.env["ir.attachment"]
        if acuse:
            attachment = attachment.create(
                {
                    "name": f"{(self.name or 'CFDI').replace('/', '_')}_{self.l10n_mx_factureapp_uuid}_acuse.xml",
                    "raw": acuse,
                    "mimetype": "application/xml",
                    "res_model": "account.move",
                    "res_id": self.id,
                }
            )
            self._l10n_mx_factureapp_cfdi_write({"acuse_id": attachment.id})
        self.with_context(no_new_invoice=True).message_post(
            body=_(
                "SAT confirms the CFDI is cancelled (%(status)s).",
                status=status.cancel_status or status.state,
            ),
            attachment_ids=attachment.ids,
        )
        if self.state == "posted" and self.payment_state in (
            "not_paid",
            "invoicing_legacy",
        ):
            try:
                with self.env.cr.savepoint():
                    self.with_context(l10n_mx_factureapp_sat_cancelled=True).button_draft()
                    self.button_cancel()
            except UserError as exc:
                self.with_context(no_new_invoice=True).message_post(
                    body=_(
                        "The invoice could not be cancelled in Odoo automatically: %(error)s",
                        error=exc.args[0],
                    )
                )

    def action_l10n_mx_factureapp_cancel_wizard(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": _("Cancel CFDI"),
            "res_model": "l10n_mx_factureapp.cancel",
            "view_mode": "form",
            "target": "new",
            "context": {"default_move_id": self.id},
        }

    def action_l10n_mx_factureapp_download_pdf(self):
        self.ensure_one()
        self.check_access("write")  # the PDF is stored on the move
        attempt = self.l10n_mx_factureapp_document_id.sudo()
        if attempt.uuid and not attempt.pdf_id:
            attempt._l10n_mx_factureapp_fetch_pdf()
            self.invalidate_recordset(["l10n_mx_factureapp_pdf_id"])
        if not self.l10n_mx_factureapp_pdf_id:
            raise UserError(
                _(
                    "Facture APP did not provide the PDF of %(name)s.",
                    name=self.display_name,
                )
            )
        return {
            "type": "ir.actions.act_url",
            "url": f"/web/content/{self.l10n_mx_factureapp_pdf_id.id}?download=true",
            "target": "self",
        }
