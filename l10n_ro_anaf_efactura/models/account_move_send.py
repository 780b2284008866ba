from odoo import _, api, models
from odoo.exceptions import UserError

from odoo.addons.einvoice_common.einvoice.errors import EInvoiceError

from .l10n_ro_anaf_efactura_document import LIVE_STATES

EDI_KEY = "ro_edi"  # l10n_ro_edi's key: we take over its checkbox so the user sees one SPV path


class AccountMoveSend(models.AbstractModel):
    _inherit = "account.move.send"

    @api.model
    def _l10n_ro_anaf_efactura_is_applicable(self, move):
        return move._l10n_ro_anaf_efactura_is_candidate()

    @api.model
    def _get_all_extra_edis(self) -> dict:
        # EXTENDS 'l10n_ro_edi': same checkbox, our complete flow behind it.
        res = super()._get_all_extra_edis()
        res[EDI_KEY] = {
            "label": _("Send e-Factura to ANAF (SPV)"),
            "is_applicable": self._l10n_ro_anaf_efactura_is_applicable,
            "help": _("Uploaded once; its status is followed automatically and ANAF's signed ZIP archived."),
        }
        return res

    def _get_alerts(self, moves, moves_data):
        # EXTENDS 'account'
        alerts = super()._get_alerts(moves, moves_data)
        chosen = moves.filtered(lambda m: EDI_KEY in (moves_data[m].get("extra_edis") or ()))
        if not chosen:
            return alerts
        Credential = self.env["einvoice.credential"]
        no_connection = chosen.filtered(lambda m: not Credential._l10n_ro_anaf_efactura_for_company(m.company_id))
        if no_connection:
            alerts["l10n_ro_anaf_efactura_no_connection"] = {
                "level": "danger",
                "message": _(
                    "No ANAF connection serves the company of %(moves)s: add one in Settings > Invoicing > "
                    "E-invoicing.",
                    moves=", ".join(no_connection.mapped("name")),
                ),
            }
        live = chosen.filtered(lambda m: m.l10n_ro_anaf_efactura_state in LIVE_STATES)
        if live:
            alerts["l10n_ro_anaf_efactura_live"] = {
                "level": "info",
                "message": _(
                    "%(moves)s are already at ANAF or waiting for ANAF; they are not sent twice.",
                    moves=", ".join(live.mapped("name")),
                ),
            }
        return alerts

    def _call_web_service_after_invoice_pdf_render(self, invoices_data):
        # EXTENDS 'l10n_ro_edi': replace its single upload by ours (intent, reconciliation, status cron).
        ours = {}
        for invoice, invoice_data in invoices_data.items():
            if EDI_KEY in (invoice_data.get("extra_edis") or ()):
                ours[invoice] = invoice_data
                invoice_data["extra_edis"] = {k for k in invoice_data["extra_edis"] if k != EDI_KEY}
        super()._call_web_service_after_invoice_pdf_render(invoices_data)
        for invoice_data in ours.values():
            invoice_data["extra_edis"] = set(invoice_data["extra_edis"]) | {EDI_KEY}
        candidates = self.env["account.move"].union(*ours).filtered(lambda m: m._l10n_ro_anaf_efactura_is_candidate())
        if not candidates:
            return
        try:
            # one invoice is uploaded at once (the wizard shows ANAF's refusal); several go to the send cron,
            # which uploads them concurrently, and the request (or account's sending cron) does not wait for ANAF
            errors = candidates._l10n_ro_anaf_efactura_send(queue=len(candidates) > 1)
        except (UserError, EInvoiceError) as exc:  # the contract never raises; the wizard shows what might
            errors = {move: [exc.args[0] if isinstance(exc, UserError) else str(exc)] for move in candidates}
        for move, messages in errors.items():
            ours[move]["error"] = {
                "error_title": _("The e-Factura of %(move)s was not sent to ANAF:", move=move.name),
                "errors": messages,
            }
