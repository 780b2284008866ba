from odoo import _, api, fields, models
from odoo.exceptions import ValidationError

from ..factureapp import catalogs


class ProductTemplate(models.Model):
    _inherit = "product.template"

    l10n_mx_factureapp_clave_prod_serv = fields.Char(
        "SAT product key (ClaveProdServ)",
        size=8,
        help="8-digit key of SAT's c_ClaveProdServ catalog, e.g. 80111600 for temporary personnel services.",
    )

    @api.constrains("l10n_mx_factureapp_clave_prod_serv")
    def _check_l10n_mx_factureapp_clave_prod_serv(self):
        for product in self.filtered("l10n_mx_factureapp_clave_prod_serv"):
            if not catalogs.is_known("c_ClaveProdServ", product.l10n_mx_factureapp_clave_prod_serv):
                raise ValidationError(
                    _(
                        "%(key)s is not in SAT's product and service catalog (c_ClaveProdServ).",
                        key=product.l10n_mx_factureapp_clave_prod_serv,
                    )
                )


class UomUom(models.Model):
    _inherit = "uom.uom"

    l10n_mx_factureapp_clave_unidad = fields.Char(
        "SAT unit key (ClaveUnidad)",
        help="Key of SAT's c_ClaveUnidad catalog, e.g. H87 (piece), E48 (service).",
    )

    @api.constrains("l10n_mx_factureapp_clave_unidad")
    def _check_l10n_mx_factureapp_clave_unidad(self):
        for uom in self.filtered("l10n_mx_factureapp_clave_unidad"):
            if not catalogs.is_known("c_ClaveUnidad", uom.l10n_mx_factureapp_clave_unidad):
                raise ValidationError(
                    _(
                        "%(key)s is not in SAT's unit catalog (c_ClaveUnidad).",
                        key=uom.l10n_mx_factureapp_clave_unidad,
                    )
                )
