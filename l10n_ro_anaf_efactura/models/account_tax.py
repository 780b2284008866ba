from odoo import api, fields, models

from odoo.addons.account.models.chart_template import template

from ..anaf import vat

_CATEGORY_HELP = (
    "VAT category sent to ANAF (BT-118/BT-151). Empty: S for a non-zero rate; a 0 % tax needs a "
    "category here or on the fiscal position before its invoices can be sent."
)
_VATEX_HELP = "Exemption reason code (BT-121). Empty: the code the category implies (AE, K, G, O)."
_REASON_HELP = "Exemption reason text (BT-120, at most 100 characters), the legal mention printed on the invoice."


class AccountTax(models.Model):
    _inherit = "account.tax"

    l10n_ro_anaf_efactura_category = fields.Selection(
        vat.CATEGORIES, string="e-Factura VAT category", help=_CATEGORY_HELP
    )
    l10n_ro_anaf_efactura_vatex = fields.Selection(
        [(code, f"{code} - {label}") for code, label in vat.VATEX_CODES],
        string="e-Factura exemption code",
        help=_VATEX_HELP,
    )
    l10n_ro_anaf_efactura_reason = fields.Char(
        "e-Factura exemption reason", size=vat.MAX_REASON, translate=True, help=_REASON_HELP
    )

    def _l10n_ro_anaf_efactura_setting(self):
        return vat.Setting(
            self.l10n_ro_anaf_efactura_category or "",
            self.l10n_ro_anaf_efactura_vatex or "",
            self.l10n_ro_anaf_efactura_reason or "",
        )

    @api.model
    def _l10n_ro_anaf_efactura_set_chart_defaults(self, companies=None):
        """Give the Romanian chart's taxes their category where the accountant has set none
        (installing this addon on a database whose chart is already loaded)."""
        companies = companies or self.env["res.company"].search([("chart_template", "=", "ro")])
        for company in companies:
            for name, (category, vatex, reason) in vat.RO_CHART_DEFAULTS.items():
                tax = self.env.ref(f"account.{company.id}_{name}", raise_if_not_found=False)
                if tax and not tax.l10n_ro_anaf_efactura_category:
                    tax.write(_default_vals(category, vatex, reason))

    @api.model
    def _l10n_ro_anaf_efactura_demo_tax(self, company):
        """The demo's 21 % sale tax (VAT is 21 % since 2025-08-01, Law 141/2025; the chart still ships
        19 %): a copy of the chart's standard tax with its own label and its own 21 % tax group, so
        the invoice does not print "VAT 19%"."""
        Tax = self.with_company(company)
        domain = [*Tax._check_company_domain(company), ("type_tax_use", "=", "sale"), ("amount_type", "=", "percent")]
        tax = Tax.search([*domain, ("amount", "=", 21)], limit=1)
        source = company.account_sale_tax_id
        if tax or not source:
            return tax
        group = source.tax_group_id
        if group and "21" not in (group.name or ""):
            group = group.copy({"name": "VAT 21%"})
            if self.env["res.lang"]._lang_get("ro_RO"):
                group.with_context(lang="ro_RO").name = "TVA 21%"
        tax = source.copy(
            {
                "name": "TVA 21%",
                "amount": 21,
                "description": "21%",
                "invoice_label": "TVA 21%",
                "tax_group_id": group.id,
            }
        )
        return tax


def _default_vals(category, vatex, reason):
    return {
        "l10n_ro_anaf_efactura_category": category,
        "l10n_ro_anaf_efactura_vatex": vatex or False,
        "l10n_ro_anaf_efactura_reason": reason,
    }


class AccountFiscalPosition(models.Model):
    _inherit = "account.fiscal.position"

    l10n_ro_anaf_efactura_category = fields.Selection(
        vat.CATEGORIES,
        string="e-Factura VAT category",
        help="For taxes of this position's invoices that have no e-Factura category of their own.",
    )
    l10n_ro_anaf_efactura_vatex = fields.Selection(
        [(code, f"{code} - {label}") for code, label in vat.VATEX_CODES],
        string="e-Factura exemption code",
        help=_VATEX_HELP,
    )
    l10n_ro_anaf_efactura_reason = fields.Char(
        "e-Factura exemption reason", size=vat.MAX_REASON, translate=True, help=_REASON_HELP
    )

    def _l10n_ro_anaf_efactura_setting(self):
        return vat.Setting(
            self.l10n_ro_anaf_efactura_category or "",
            self.l10n_ro_anaf_efactura_vatex or "",
            self.l10n_ro_anaf_efactura_reason or "",
        )


class AccountChartTemplate(models.AbstractModel):
    _inherit = "account.chart.template"

    @template("ro", "account.tax")
    def _get_ro_l10n_ro_anaf_efactura_account_tax(self):
        # the e-Factura categories of the Romanian chart's taxes, set as the chart is loaded; only those this
        # version's chart has (a name it lacks would be a new, incomplete tax)
        chart_taxes = self._parse_csv("ro", "account.tax")
        return {name: _default_vals(*values) for name, values in vat.RO_CHART_DEFAULTS.items() if name in chart_taxes}
