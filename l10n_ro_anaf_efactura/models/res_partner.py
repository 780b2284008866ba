from odoo import _, api, fields, models
from odoo.exceptions import ValidationError

from ..anaf import documents


class ResPartner(models.Model):
    _inherit = "res.partner"

    l10n_ro_anaf_efactura_cnp = fields.Char(
        "CNP",
        size=13,
        help="Personal numeric code of an individual buyer, sent to ANAF's e-Factura as the buyer's identifier. "
        "Leave it empty when it is not known: 13 zeros are sent instead.",
    )

    @api.constrains("l10n_ro_anaf_efactura_cnp")
    def _check_l10n_ro_anaf_efactura_cnp(self):
        for partner in self:
            cnp = partner.l10n_ro_anaf_efactura_cnp
            if cnp and not documents.valid_cnp(cnp):
                raise ValidationError(
                    _(
                        "%(cnp)s is not a valid CNP (13 digits with a check digit); leave it empty if unknown.",
                        cnp=cnp,
                    )
                )

    def _l10n_ro_anaf_efactura_is_individual(self):
        """An individual buyer (B2C): a person without VAT number nor company registry."""
        self.ensure_one()
        partner = self.commercial_partner_id
        return not partner.is_company and not partner.vat and not partner.company_registry

    def _l10n_ro_anaf_efactura_buyer_identifier(self):
        """The CNP when known, else the 13-zero placeholder ANAF accepts for individuals."""
        self.ensure_one()
        return (self.commercial_partner_id.l10n_ro_anaf_efactura_cnp or "").strip() or documents.CNP_UNKNOWN
