from odoo import _, fields, models
from odoo.exceptions import UserError


class ResConfigSettings(models.TransientModel):
    _inherit = "res.config.settings"

    l10n_mx_factureapp_regimen = fields.Selection(related="company_id.l10n_mx_factureapp_regimen", readonly=False)
    l10n_mx_factureapp_branch_id = fields.Many2one(related="company_id.l10n_mx_factureapp_branch_id", readonly=False)
    l10n_mx_factureapp_tz = fields.Selection(related="company_id.l10n_mx_factureapp_tz", readonly=False)
    l10n_mx_factureapp_credential_id = fields.Many2one(
        "einvoice.credential",
        string="Facture APP connection",
        compute="_compute_l10n_mx_factureapp_credential_id",
    )
    l10n_mx_factureapp_credits = fields.Integer(related="l10n_mx_factureapp_credential_id.l10n_mx_factureapp_credits")
    l10n_mx_factureapp_credits_checked_at = fields.Datetime(
        related="l10n_mx_factureapp_credential_id.l10n_mx_factureapp_credits_checked_at"
    )

    def _compute_l10n_mx_factureapp_credential_id(self):
        for settings in self:
            settings.l10n_mx_factureapp_credential_id = self.env["einvoice.credential"]._l10n_mx_factureapp_for_company(
                settings.company_id
            )

    def _l10n_mx_factureapp_credential(self):
        credential = self.l10n_mx_factureapp_credential_id
        if not credential:
            raise UserError(_("Create a Facture APP connection for this company first."))
        return credential

    def action_l10n_mx_factureapp_sync_branches(self):
        self._l10n_mx_factureapp_credential().action_l10n_mx_factureapp_sync_branches()
        return True

    def action_l10n_mx_factureapp_check_credits(self):
        self._l10n_mx_factureapp_credential().action_l10n_mx_factureapp_check_credits()
        return True
