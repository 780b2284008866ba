from odoo import fields, models


class ResConfigSettings(models.TransientModel):
    _inherit = "res.config.settings"

    l10n_co_lafactura_credential_id = fields.Many2one(
        "einvoice.credential",
        "LaFactura.co connection",
        compute="_compute_l10n_co_lafactura_credential_id",
    )
    l10n_co_lafactura_webhook_url = fields.Char(
        "LaFactura.co webhook URL",
        related="l10n_co_lafactura_credential_id.l10n_co_lafactura_webhook_url",
        groups="base.group_system",
    )

    def _compute_l10n_co_lafactura_credential_id(self):
        for settings in self:
            settings.l10n_co_lafactura_credential_id = self.env["einvoice.credential"]._einvoice_for_company(
                "lafactura", settings.company_id
            )

    def action_l10n_co_lafactura_regenerate_secret(self):
        self.l10n_co_lafactura_credential_id.action_l10n_co_lafactura_regenerate_secret()
        return {"type": "ir.actions.client", "tag": "reload"}

    def action_l10n_co_lafactura_open_inbox(self):
        return self.env["ir.actions.act_window"]._for_xml_id("l10n_co_lafactura.l10n_co_lafactura_inbox_action")
