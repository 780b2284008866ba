from datetime import timedelta

from odoo import api, fields, models, tools

REFRESH_DAYS = 20  # ANAF issues 90-day access tokens: renewed 20 days before they expire


class L10nRoAnafEfacturaSettings(models.Model):
    """ANAF's settings of one connection (einvoice.service.settings), kept off `einvoice.credential`."""

    _name = "l10n_ro_anaf_efactura.settings"
    _inherit = ["einvoice.service.settings"]
    _description = "ANAF e-Factura settings of a connection"

    l10n_ro_anaf_efactura_refresh_days = fields.Integer(
        "Refresh days before expiry",
        default=REFRESH_DAYS,
        help="The access token is renewed this many days before it expires (ANAF issues 90-day tokens).",
    )
    l10n_ro_anaf_efactura_coverage = fields.Text(
        "CIF coverage",
        readonly=True,
        help="Which companies' CIFs ANAF accepts for this connection, last checked.",
    )
    l10n_ro_anaf_efactura_callback_url = fields.Char(related="credential_id.l10n_ro_anaf_efactura_callback_url")

    @api.model_create_multi
    def create(self, vals_list):
        # EXTENDS 'base': the cached renewal margins follow the settings
        self.env.registry.clear_cache()
        return super().create(vals_list)

    def write(self, vals):
        # EXTENDS 'base'
        self.env.registry.clear_cache()
        return super().write(vals)

    def unlink(self):
        # EXTENDS 'base'
        self.env.registry.clear_cache()
        return super().unlink()

    @api.model
    def _l10n_ro_anaf_efactura_refresh_margin(self, credential):
        """How long before expiry the token of `credential` is renewed. Read before every call to ANAF
        (cached; nothing is created here: a billing user's send reads it too)."""
        return timedelta(days=self._l10n_ro_anaf_efactura_refresh_days(credential.id) or 0)

    @api.model
    @tools.ormcache("credential_id")
    def _l10n_ro_anaf_efactura_refresh_days(self, credential_id):
        settings = self.sudo().search([("credential_id", "=", credential_id)], limit=1)
        return settings.l10n_ro_anaf_efactura_refresh_days if settings else REFRESH_DAYS
