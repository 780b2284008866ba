from odoo import _, api, fields, models

from odoo.addons.einvoice_common import compat

from ..lafactura.documents import TaxTable

SCHEMES = [
    ("01", "01 IVA"),
    ("04", "04 INC"),
    ("03", "03 ICA"),
    ("32", "32 ICL"),
    ("34", "34 IBUA"),
    ("05", "05 ReteIVA"),
    ("06", "06 ReteRenta"),
    ("07", "07 ReteICA"),
    ("ZZ", "ZZ No aplica"),
]
# (scheme, percent, l10n_co purchase tax template xmlid)
DEFAULTS = [
    ("01", 19.0, "l10n_co_tax_1"),
    ("01", 5.0, "l10n_co_tax_0"),
    ("01", 0.0, "l10n_co_tax_7"),
]


class L10nCoLafacturaTaxMap(models.Model):
    """Which purchase tax a DIAN tax (scheme + rate) of a received document becomes."""

    _name = "l10n_co_lafactura.tax.map"
    _description = "LaFactura.co tax mapping"
    _order = "company_id, scheme, percent"
    _check_company_auto = True

    company_id = fields.Many2one("res.company", required=True, default=lambda self: self.env.company, index=True)
    scheme = fields.Selection(SCHEMES, "DIAN tax", required=True, default="01")
    # defaults, never NULL: the unique constraint below treats NULLs as all different
    any_rate = fields.Boolean("Any rate", default=False, help="Match every rate of this tax scheme.")
    percent = fields.Float("Rate (%)", digits=(16, 2), default=0.0)
    action = fields.Selection(
        [("tax", "Apply the purchase tax"), ("ignore", "Ignore (no tax on the bill)")],
        required=True,
        default="tax",
    )
    tax_id = fields.Many2one(
        "account.tax",
        "Purchase tax",
        check_company=True,
        domain="[('type_tax_use', '=', 'purchase'), ('company_id', 'parent_of', company_id)]",
    )

    compat.sql_constraints(
        locals(),
        [
            (
                "unique_rate",
                "unique(company_id, scheme, any_rate, percent)",
                "This DIAN tax and rate is already mapped.",
            ),
        ],
    )

    @api.constrains("action", "tax_id")
    def _check_tax(self):
        for row in self:
            if row.action == "tax" and not row.tax_id:
                from odoo.exceptions import ValidationError

                raise ValidationError(
                    _(
                        "Choose the purchase tax of %(scheme)s, or ignore it.",
                        scheme=row.scheme,
                    )
                )

    @api.model
    def _l10n_co_lafactura_table(self, company):
        rows = self.sudo().search([("company_id", "=", company.id)])
        return TaxTable(
            (
                row.scheme,
                None if row.any_rate else row.percent,
                row.tax_id.id if row.action == "tax" else False,
            )
            for row in rows
        )

    @api.model
    def _l10n_co_lafactura_ensure_defaults(self, company):
        """IVA 19/5/0 % to the l10n_co purchase taxes, and INC 8 % to a non-deductible tax."""
        if self.sudo().search_count([("company_id", "=", company.id)]):
            return
        template = self.env["account.chart.template"].with_company(company)
        values = []
        for scheme, percent, xmlid in DEFAULTS:
            tax = template.ref(xmlid, raise_if_not_found=False)
            if tax:
                values.append(
                    {
                        "company_id": company.id,
                        "scheme": scheme,
                        "percent": percent,
                        "tax_id": tax.id,
                    }
                )
        inc = self._l10n_co_lafactura_inc_tax(company, 8.0)
        if inc:
            values.append(
                {
                    "company_id": company.id,
                    "scheme": "04",
                    "percent": 8.0,
                    "tax_id": inc.id,
                }
            )
        self.sudo().create(values)

    @api.model
    def _l10n_co_lafactura_inc_tax(self, company, percent):
        """A purchase INC tax without account: the buyer cannot deduct INC, so it is part of the cost."""
        template = self.env["account.chart.template"].with_company(company)
        group = template.ref(f"tax_group_inc_{int(percent)}", raise_if_not_found=False)
        if not group or not template.ref("l10n_co_tax_1", raise_if_not_found=False):
            return self.env["account.tax"]
        Tax = self.env["account.tax"].sudo().with_company(company)
        name = _("INC %(rate)s%% (non-deductible)", rate=int(percent))
        existing = Tax.search(
            [
                ("company_id", "=", company.id),
                ("name", "=", name),
                ("type_tax_use", "=", "purchase"),
            ],
            limit=1,
        )
        if existing:
            return existing
        return Tax.create(
            {
                "name": name,
                "company_id": company.id,
                "amount": percent,
                "amount_type": "percent",
                "type_tax_use": "purchase",
                "tax_group_id": group.id,
                "country_id": company.account_fiscal_country_id.id or self.env.ref("base.co").id,
            }
        )
