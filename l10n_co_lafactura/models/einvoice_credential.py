import secrets

from odoo import _, api, fields, models
from odoo.exceptions import UserError

from odoo.addons.einvoice_common.einvoice.transport import BasicAuth

from ..lafactura import client as lf_client
from ..lafactura.documents import DEFAULT_MAX_BODY
from . import inbox_ack

SECRET = "base.group_system"
WEBHOOK_ROUTE = "/l10n_co_lafactura/hook/"
DEFAULT_SHAPE = "general/ getDocumentInfo cufe POST document"


def _new_secret():
    return secrets.token_urlsafe(48)  # 64 characters, 384 bits


class EinvoiceCredential(models.Model):
    _inherit = "einvoice.credential"

    service = fields.Selection(selection_add=[("lafactura", "LaFactura.co")], ondelete={"lafactura": "cascade"})
    l10n_co_lafactura_webhook_secret = fields.Char(
        "Webhook secret",
        groups=SECRET,
        copy=False,
        readonly=True,
        help="Long random secret in the webhook URL. Regenerate it to stop the old URL at once.",
    )
    l10n_co_lafactura_webhook_url = fields.Char(
        "Webhook URL",
        compute="_compute_l10n_co_lafactura_webhook_url",
        compute_sudo=True,
        groups=SECRET,  # the URL carries the secret
        help="Give this URL to LaFactura.co support as the hook of received documents. "
        "Senders that can set headers may post to /l10n_co_lafactura/hook with the secret in "
        "the X-LaFactura-Secret header instead.",
    )
    l10n_co_lafactura_request_shape = fields.Char(
        "getDocumentInfo request",
        default=DEFAULT_SHAPE,
        help="Service path, method key, parameter name, HTTP verb and result key of getDocumentInfo "
        "(LaFactura does not publish it): e.g. 'general/ getDocumentInfo cufe POST document'.",
    )
    l10n_co_lafactura_confirm = fields.Boolean(
        "Confirm with LaFactura",
        default=True,
        help="Before booking, ask LaFactura (getDocumentInfo) for the document: it must exist, be addressed "
        "to the company and be approved by DIAN. The hook itself is not signed.",
    )
    l10n_co_lafactura_accept_test = fields.Boolean(
        "Book test documents in a test journal",
        help="Test-mode documents (mode 2, or not matching the environment) go as draft bills to the test "
        "journal instead of being only kept in the inbox. They can never be posted.",
    )
    l10n_co_lafactura_test_journal_id = fields.Many2one(
        "account.journal",
        "Test journal",
        domain="[('type', '=', 'purchase')]",
    )
    l10n_co_lafactura_journal_id = fields.Many2one(
        "account.journal",
        "Vendor bills journal",
        domain="[('type', '=', 'purchase')]",
        help="Journal of the bills created from LaFactura documents; the company's first purchase journal if empty.",
    )
    l10n_co_lafactura_auto_post = fields.Boolean(
        "Post verified bills",
        default=True,
        help="Post a bill when its three totals agree; otherwise it stays in draft with an activity.",
    )
    l10n_co_lafactura_tax_tolerance = fields.Float(
        "Tax rounding tolerance",
        default=1.0,
        help="When a tax amount computed by Odoo differs from the document's by at most this "
        "much (in the document's currency), the document's amount is used: suppliers round "
        "taxes per document or per line.",
    )
    l10n_co_lafactura_create_partners = fields.Boolean(
        "Create unknown suppliers",
        default=True,
        help="Create a supplier from the document when none has its NIT (flagged for review).",
    )
    l10n_co_lafactura_max_body_kb = fields.Integer(
        "Largest webhook body (KiB)",
        default=DEFAULT_MAX_BODY // 1024,
    )

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            if vals.get("service") == "lafactura" and not vals.get("l10n_co_lafactura_webhook_secret"):
                vals["l10n_co_lafactura_webhook_secret"] = _new_secret()
        credentials = super().create(vals_list)
        for credential in credentials.filtered(lambda c: c.service == "lafactura"):
            for company in credential.company_id | credential.company_ids:
                self.env["l10n_co_lafactura.tax.map"]._l10n_co_lafactura_ensure_defaults(company)
        return credentials

    def write(self, vals):
        result = super().write(vals)
        if "company_ids" in vals or "company_id" in vals:
            for credential in self.filtered(lambda c: c.service == "lafactura"):
                for company in credential.company_id | credential.company_ids:
                    self.env["l10n_co_lafactura.tax.map"]._l10n_co_lafactura_ensure_defaults(company)
        if vals.get("service") == "lafactura":
            for credential in self.sudo().filtered(lambda c: not c.l10n_co_lafactura_webhook_secret):
                credential.l10n_co_lafactura_webhook_secret = _new_secret()
        return result

    @api.depends("service", "l10n_co_lafactura_webhook_secret")
    def _compute_l10n_co_lafactura_webhook_url(self):
        base = self.env["ir.config_parameter"].sudo().get_param("web.base.url", "").rstrip("/")
        for credential in self:
            secret = credential.sudo().l10n_co_lafactura_webhook_secret
            credential.l10n_co_lafactura_webhook_url = (
                f"{base}{WEBHOOK_ROUTE}{secret}" if credential.service == "lafactura" and secret else False
            )

    # EXTENDS einvoice_common
    def _einvoice_default_base_url(self):
        if self.service == "lafactura" and self.environment in lf_client.BASE_URLS:
            return lf_client.BASE_URLS[self.environment]
        url = super()._einvoice_default_base_url()
        if self.service == "lafactura" and url and "facturacion.v30" not in url:
            url = url.rstrip("/") + "/facturacion.v30/"  # the sandbox serves the same paths as LaFactura
        return url

    def _einvoice_auth_kind(self):
        # EXTENDS 'einvoice_common': Basic auth for the API; the webhook's own secret is on the LaFactura tab
        return "basic" if self.service == "lafactura" else super()._einvoice_auth_kind()

    def action_l10n_co_lafactura_regenerate_secret(self):
        """New webhook secret: the old URL answers 404 from now on (administrators only)."""
        self._einvoice_check_admin()
        for credential in self.filtered(lambda c: c.service == "lafactura"):
            credential.sudo().l10n_co_lafactura_webhook_secret = _new_secret()
            credential.message_post(body=_("Webhook URL regenerated: give the new URL to LaFactura.co."))
        return True

    @api.model
    def _l10n_co_lafactura_by_secret(self, secret):
        """The active LaFactura credential whose webhook secret is `secret` (constant-time compare).

        One query: this runs on every delivery, before anything else."""
        connection = inbox_ack.find_connection(self.env.cr, secret)
        return self.browse(connection.id if connection else ())

    def _l10n_co_lafactura_expected_mode(self):
        """DIAN mode (1 production, 2 test) of the documents this connection should book."""
        self.ensure_one()
        return "2" if self.environment == "test" else "1"

    def _l10n_co_lafactura_client(self, record=None):
        self.ensure_one()
        if not self.sudo().username:
            raise UserError(
                _(
                    "Enter the LaFactura.co API user and password on the connection %(name)s.",
                    name=self.name,
                )
            )
        auth = BasicAuth(self.sudo().username, self.sudo().password)
        transport = self._einvoice_transport(auth=auth, record=record, headers=dict(lf_client.DEFAULT_HEADERS))
        shape = lf_client.RequestShape.from_text(self.l10n_co_lafactura_request_shape or DEFAULT_SHAPE)
        return lf_client.LaFacturaClient(transport, shape)
