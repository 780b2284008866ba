from odoo import api, fields, models


class ResConfigSettings(models.TransientModel):
    _inherit = "res.config.settings"

    einvoice_credential_ids = fields.Many2many(
        "einvoice.credential",
        string="E-invoicing connections",
        compute="_compute_einvoice_credential_ids",
    )
    einvoice_exchange_retention_days = fields.Integer(
        "Keep exchange log (days)",
        config_parameter="einvoice.exchange_retention_days",
        default=180,
    )

    @api.depends("company_id")
    def _compute_einvoice_credential_ids(self):
        for settings in self:
            settings.einvoice_credential_ids = self.env["einvoice.credential"].search(
                [
                    "|",
                    ("company_ids", "in", settings.company_id.id),
                    ("company_id", "=", settings.company_id.id),
                ]
            )

    def action_einvoice_open_credentials(self):
        return self.env["ir.actions.act_window"]._for_xml_id("einvoice_common.einvoice_credential_action")
