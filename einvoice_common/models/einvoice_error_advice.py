from odoo import api, fields, models

from .. import compat
from ..einvoice import redact


class EinvoiceErrorAdvice(models.Model):
    """What a person should do about a service's error code: looked up by code, never by text.

    Each service addon loads its rows from XML data (translatable); `code` is the service's
    code as the typed error carries it (`exc.code`).
    """

    _name = "einvoice.error.advice"
    _description = "E-invoicing error advice"
    _order = "service, code"

    service = fields.Char(required=True, index=True, help="The connection's service key (anaf, efact ...).")
    code = fields.Char(required=True, index=True)
    advice = fields.Text(required=True, translate=True)
    retry = fields.Selection(
        [("fix", "Fix the document, then send again"), ("connection", "Fix the connection"), ("later", "Try later")],
        default="fix",
        required=True,
    )

    compat.sql_constraints(
        locals(), [("service_code_unique", "unique(service, code)", "One advice per service and code.")]
    )

    @api.model
    def _einvoice_advice(self, service, code):
        if not service or not code:
            return self.browse()
        return self.sudo().search([("service", "=", service), ("code", "=", str(code))], limit=1)

    @api.model
    def _einvoice_advice_text(self, service, exc, secrets=()):
        """The advice for a typed error, then the service's own (redacted) words."""
        said = redact.snippet(str(exc), secrets)
        advice = self._einvoice_advice(service, getattr(exc, "code", None))
        if not advice:
            return said
        return f"{advice.advice}\n{said}"
