from odoo import _, api, models

from .einvoice_credential import efact_error_text

SCHEMA_PRECHECK_LIMIT = 20  # invoices rendered for the wizard's alert; larger batches are checked when sent


class AccountMoveSend(models.AbstractModel):
    _inherit = "account.move.send"

    @api.model
    def _get_all_extra_edis(self) -> dict:
        # EXTENDS 'account'
        res = super()._get_all_extra_edis()
        res["l10n_efact_aoc"] = {
            "label": _("Send to eFACT"),
            "is_applicable": lambda move: move._l10n_efact_aoc_is_applicable(),
            "help": _("Send the signed Facturae to the Catalan public body through the AOC eFACT hub."),
        }
        return res

    @api.model
    def _get_alerts(self, moves, moves_data):
        # EXTENDS 'account'
        alerts = super()._get_alerts(moves, moves_data)
        efact_moves = moves.filtered(lambda m: "l10n_efact_aoc" in moves_data[m]["extra_edis"])
        problems = [p for move in efact_moves for p in move._l10n_efact_aoc_check()]
        if not problems and len(efact_moves) <= SCHEMA_PRECHECK_LIMIT:
            problems = [p for move in efact_moves for p in move._l10n_efact_aoc_schema_precheck()]
        if problems:
            alerts["l10n_efact_aoc_problems"] = {
                "level": "danger",
                "message": _("eFACT cannot take these invoices:\n%s", "\n".join(problems)),
            }
        return alerts

    @api.model
    def _call_web_service_after_invoice_pdf_render(self, invoices_data):
        # EXTENDS 'account'
        res = super()._call_web_service_after_invoice_pdf_render(invoices_data)
        for invoice, invoice_data in invoices_data.items():
            if "l10n_efact_aoc" not in invoice_data["extra_edis"] or invoice_data.get("error"):
                continue
            xml = (invoice_data.get("l10n_es_edi_facturae_attachment_values") or {}).get("raw")
            try:
                errors = invoice._l10n_efact_aoc_send_many({invoice: xml}).get(invoice)
            except Exception as exc:  # noqa: BLE001 - the wizard hooks must never raise
                errors = [efact_error_text(self.env, exc)]
            if errors:
                invoice_data["error"] = {
                    "error_title": _("The invoice could not be sent to eFACT:"),
                    "errors": errors,
                }
        return res
