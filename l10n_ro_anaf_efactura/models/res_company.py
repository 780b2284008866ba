from odoo import fields, models


class ResCompany(models.Model):
    _inherit = "res.company"

    l10n_ro_anaf_efactura_validate_first = fields.Boolean(
        "Validate at ANAF before upload",
        help="Ask ANAF's validare service first, so an invalid XML costs no upload.",
    )
    l10n_ro_anaf_efactura_anaf_pdf = fields.Boolean(
        "ANAF's PDF for received bills",
        default=True,
        help="Attach ANAF's rendering (transformare) to received bills whose XML carries no PDF.",
    )
    l10n_ro_anaf_efactura_last_sync = fields.Datetime(
        "Last SPV synchronisation",
        readonly=True,
        help="Received messages are listed from this moment (ANAF keeps them 60 days).",
    )
    l10n_ro_anaf_efactura_purchase_journal_id = fields.Many2one(
        "account.journal",
        "Journal of received e-Factura bills",
        domain="[('type', '=', 'purchase')]",
        help="Empty: the first purchase journal of the company.",
    )

    def action_l10n_ro_anaf_efactura_authenticate(self):
        self.ensure_one()
        credential = self.env["einvoice.credential"]._l10n_ro_anaf_efactura_for_company(self)
        if not credential:
            return self.env["ir.actions.act_window"]._for_xml_id("einvoice_common.einvoice_credential_action")
        return credential.action_l10n_ro_anaf_efactura_authenticate()
