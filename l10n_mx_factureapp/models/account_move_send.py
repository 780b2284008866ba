from odoo import _, api, models
from odoo.exceptions import UserError

EDI = "l10n_mx_factureapp"


class AccountMoveSend(models.AbstractModel):
    _inherit = "account.move.send"

    @api.model
    def _l10n_mx_factureapp_is_applicable(self, move):
        return (
            move._l10n_mx_factureapp_applicable()
            and move.l10n_mx_factureapp_state in (False, "to_stamp", "error", "waiting")
            and bool(self.env["einvoice.credential"]._l10n_mx_factureapp_for_company(move.company_id))
        )

    def _get_all_extra_edis(self) -> dict:
        # EXTENDS 'account'
        res = super()._get_all_extra_edis()
        res[EDI] = {
            "label": _("Stamp CFDI (Facture APP)"),
            "is_applicable": self._l10n_mx_factureapp_is_applicable,
        }
        return res

    def _get_alerts(self, moves, moves_data):
        # EXTENDS 'account'
        alerts = super()._get_alerts(moves, moves_data)
        to_stamp = moves.filtered(lambda m: EDI in moves_data[m]["extra_edis"])
        problems = []
        bad = self.env["account.move"]
        for move in to_stamp:
            if move.l10n_mx_factureapp_state == "waiting":
                continue  # its stored bytes are sent as they are: nothing is built again
            found = move._l10n_mx_factureapp_precheck()
            if found:
                bad |= move
                problems += found
        if problems:
            alerts["l10n_mx_factureapp_invalid"] = {
                "level": "danger",
                "message": _(
                    "Fix these before stamping the CFDI:\n%(problems)s",
                    problems="\n".join(problems),
                ),
                "action_text": _("View invoice(s)"),
                "action": bad._get_records_action(name=_("Check invoice(s)")),
            }
        alerts.update(self._l10n_mx_factureapp_warning_alerts(to_stamp))
        credentials = self.env["einvoice.credential"]
        for move in to_stamp:
            credentials |= credentials._l10n_mx_factureapp_for_company(move.company_id)
        empty = credentials.filtered(
            lambda c: c.l10n_mx_factureapp_credits_checked_at and c.l10n_mx_factureapp_credits <= 0
        )
        if empty:
            alerts["l10n_mx_factureapp_no_credits"] = {
                "level": "danger",
                "message": _(
                    "Facture APP reports no stamping credits left (%(names)s): buy credits, then check them "
                    "again in the connection.",
                    names=", ".join(empty.mapped("name")),
                ),
            }
        blocking = moves.filtered("l10n_mx_factureapp_blocking")
        if blocking:
            alerts["l10n_mx_factureapp_unknown"] = {
                "level": "info",
                "message": "\n".join(f"{move.display_name}: {move.l10n_mx_factureapp_error}" for move in blocking),
            }
        return alerts

    def _l10n_mx_factureapp_warning_alerts(self, to_stamp):
        """Non-blocking alerts: what will be cut, and a server that cannot make the PDF."""
        alerts = {}
        warnings = [text for move in to_stamp for text in move._l10n_mx_factureapp_warnings()]
        if warnings:
            alerts["l10n_mx_factureapp_warnings"] = {
                "level": "warning",
                "message": "\n".join(warnings),
            }
        if to_stamp and self.env["ir.actions.report"].get_wkhtmltopdf_state() in ("install", "broken"):
            alerts["l10n_mx_factureapp_no_pdf"] = {
                "level": "warning",
                "message": _(
                    "This server cannot make PDFs (wkhtmltopdf is missing or broken): the CFDI will be stamped "
                    "and kept, then the PDF step will fail. Install wkhtmltopdf, or stamp with the Stamp CFDI "
                    "button and print later."
                ),
            }
        return alerts

    def _call_web_service_before_invoice_pdf_render(self, invoices_data):
        # EXTENDS 'account'
        res = super()._call_web_service_before_invoice_pdf_render(invoices_data)
        invoices = self.env["account.move"].union(
            *(invoice for invoice, data in invoices_data.items() if EDI in data["extra_edis"])
        )
        results = invoices._l10n_mx_factureapp_stamp() if invoices else {}
        for invoice in invoices:
            error = results.get(invoice)
            if error:  # not stamped (yet): no PDF without its fiscal stamp
                invoice_data = invoices_data[invoice]
                invoice_data["error"] = {
                    "error_title": _("The CFDI could not be stamped by Facture APP")
                    if invoice.l10n_mx_factureapp_state == "error"
                    else _("The CFDI is not stamped yet"),
                    "errors": error.split("\n"),
                }
        return res

    def _prepare_invoice_pdf_report(self, invoices_data):
        # EXTENDS 'account': a PDF that cannot be made never hides a CFDI that was just stamped
        try:
            return super()._prepare_invoice_pdf_report(invoices_data)
        except UserError as exc:
            stamped = [move for move in invoices_data if move.l10n_mx_factureapp_state == "stamped"]
            if not stamped:
                raise
            raise UserError(
                _(
                    "The CFDI is stamped and kept: %(stamps)s.\nOnly the PDF could not be made: %(error)s",
                    stamps=", ".join(f"{m.display_name} (UUID {m.l10n_mx_factureapp_uuid})" for m in stamped),
                    error=exc.args[0],
                )
            ) from exc
