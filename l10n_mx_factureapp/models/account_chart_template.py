from odoo import api, models

from odoo.addons.einvoice_common import compat

SAT_DECIMALS = 6  # CFDI 4.0 carries quantities and unit prices with up to 6 decimals
PRECISIONS = ("product.decimal_price", compat.QUANTITY_PRECISION_XMLID)


class AccountChartTemplate(models.AbstractModel):
    _inherit = "account.chart.template"

    def _post_load_data(self, template_code, company, template_data):
        # EXTENDS 'account': a Mexican company keeps the decimals SAT accepts
        result = super()._post_load_data(template_code, company, template_data)
        if template_code == "mx":
            self._l10n_mx_factureapp_raise_precisions()
        return result

    @api.model
    def _l10n_mx_factureapp_raise_precisions(self):
        """Raise "Product Price" and "Product Unit of Measure" to 6 decimals (never lower them):
        otherwise prices such as 12.345678 are rounded before the CFDI is built."""
        for xmlid in PRECISIONS:
            precision = self.env.ref(xmlid, raise_if_not_found=False)
            if precision and precision.digits < SAT_DECIMALS:
                precision.sudo().digits = SAT_DECIMALS


def post_init_hook(env):
    if env["res.company"].search_count([("account_fiscal_country_id.code", "=", "MX")]):
        env["account.chart.template"]._l10n_mx_factureapp_raise_precisions()
