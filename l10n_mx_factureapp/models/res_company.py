from odoo import _, api, fields, models
from odoo.exceptions import ValidationError

from odoo.addons.base.models.res_partner import _tz_get

from ..factureapp import catalogs


class ResCompany(models.Model):
    _inherit = "res.company"

    l10n_mx_factureapp_regimen = fields.Selection(catalogs.REGIMEN_FISCAL, string="Fiscal regime (SAT)")
    l10n_mx_factureapp_branch_id = fields.Many2one(
        "l10n_mx_factureapp.branch",
        string="Default Facture APP branch",
        help="Branch (sucursal) used to stamp, unless the journal names another one.",
    )
    l10n_mx_factureapp_tz = fields.Selection(
        _tz_get,
        string="Time zone of the place of issue",
        default="America/Mexico_City",
        help="CFDI dates are written in the local time of the place of issue (LugarExpedicion).",
    )

    @api.constrains("l10n_mx_factureapp_regimen", "vat")
    def _check_l10n_mx_factureapp_regimen(self):
        for company in self.filtered(lambda c: c.l10n_mx_factureapp_regimen and c.vat):
            person = catalogs.rfc_person_type(company.vat.upper())
            allowed = catalogs.REGIMEN_MORAL if person == "moral" else catalogs.REGIMEN_FISICA
            if person in ("moral", "fisica") and company.l10n_mx_factureapp_regimen not in allowed:
                raise ValidationError(
                    _(
                        "Fiscal regime %(regime)s does not apply to RFC %(rfc)s.",
                        regime=company.l10n_mx_factureapp_regimen,
                        rfc=company.vat,
                    )
                )
