from odoo import models

MENUS = ("l10n_co_lafactura.menu_l10n_co_lafactura_inbox", "l10n_co_lafactura.menu_l10n_co_lafactura_tax_map")


class IrUiMenu(models.Model):
    _inherit = "ir.ui.menu"

    # EXTENDS 'base'
    def _load_menus_blacklist(self):
        """LaFactura.co's menus only for users of a Colombian company (as account does for its audit trail)."""
        res = super()._load_menus_blacklist()
        if not any(company.account_fiscal_country_id.code == "CO" for company in self.env.user.company_ids):
            res += [menu.id for menu in (self.env.ref(xmlid, raise_if_not_found=False) for xmlid in MENUS) if menu]
        return res
