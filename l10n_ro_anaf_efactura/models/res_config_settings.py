from odoo import fields, models


class ResConfigSettings(models.TransientModel):
    _inherit = "res.config.settings"

    l10n_ro_anaf_efactura_validate_first = fields.Boolean(
        related="company_id.l10n_ro_anaf_efactura_validate_first", readonly=False
    )
    l10n_ro_anaf_efactura_anaf_pdf = fields.Boolean(related="company_id.l10n_ro_anaf_efactura_anaf_pdf", readonly=False)
    l10n_ro_anaf_efactura_purchase_journal_id = fields.Many2one(
        related="company_id.l10n_ro_anaf_efactura_purchase_journal_id", readonly=False
    )
    l10n_ro_anaf_efactura_callback_url = fields.Char(
        "ANAF callback URL", compute="_compute_l10n_ro_anaf_efactura_callback_url"
    )

    def _compute_l10n_ro_anaf_efactura_callback_url(self):
        url = self.env["ir.config_parameter"].sudo().get_param("web.base.url", "").rstrip("/")
        for settings in self:
            settings.l10n_ro_anaf_efactura_callback_url = url + "/l10n_ro_anaf_efactura/callback"

    def action_l10n_ro_anaf_efactura_authenticate(self):
        """ "Authenticate with ANAF" from the company's settings: the connection serving it."""
        self.ensure_one()
        return self.company_id.action_l10n_ro_anaf_efactura_authenticate()
