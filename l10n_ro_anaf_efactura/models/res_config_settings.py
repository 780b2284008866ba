from odoo import api, fields, models

from .einvoice_credential import callback_url


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
        "ANAF callback URL", compute="_compute_l10n_ro_anaf_efactura_connection"
    )
    l10n_ro_anaf_efactura_credential_id = fields.Many2one(
        "einvoice.credential", "ANAF connection", compute="_compute_l10n_ro_anaf_efactura_connection"
    )
    l10n_ro_anaf_efactura_credential_state = fields.Selection(
        related="l10n_ro_anaf_efactura_credential_id.state", string="ANAF connection state"
    )

    @api.depends("company_id")
    def _compute_l10n_ro_anaf_efactura_connection(self):
        url = callback_url(self.env)  # the same value the connection form shows
        Credential = self.env["einvoice.credential"]
        for settings in self:
            settings.l10n_ro_anaf_efactura_callback_url = url
            settings.l10n_ro_anaf_efactura_credential_id = Credential._l10n_ro_anaf_efactura_for_company(
                settings.company_id
            )

    def button_l10n_ro_edi_generate_token(self):
        # EXTENDS 'l10n_ro_edi': one way to authenticate, through the ANAF connection (its callback, its tokens).
        return self.action_l10n_ro_anaf_efactura_authenticate()

    def action_l10n_ro_anaf_efactura_authenticate(self):
        """ "Authenticate with ANAF" from the company's settings: the connection serving it."""
        self.ensure_one()
        return self.company_id.action_l10n_ro_anaf_efactura_authenticate()
