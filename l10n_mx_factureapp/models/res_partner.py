from odoo import _, api, fields, models
from odoo.exceptions import ValidationError

from ..factureapp import catalogs

# ISO 3166 alpha-2 -> alpha-3 (c_Pais) for the usual trade partners; others are entered by hand.
ALPHA3 = {
    "US": "USA",
    "CA": "CAN",
    "ES": "ESP",
    "FR": "FRA",
    "DE": "DEU",
    "IT": "ITA",
    "GB": "GBR",
    "PT": "PRT",
    "NL": "NLD",
    "BE": "BEL",
    "CH": "CHE",
    "AT": "AUT",
    "SE": "SWE",
    "NO": "NOR",
    "DK": "DNK",
    "FI": "FIN",
    "IE": "IRL",
    "PL": "POL",
    "RO": "ROU",
    "CN": "CHN",
    "JP": "JPN",
    "KR": "KOR",
    "IN": "IND",
    "BR": "BRA",
    "AR": "ARG",
    "CL": "CHL",
    "CO": "COL",
    "PE": "PER",
    "EC": "ECU",
    "VE": "VEN",
    "UY": "URY",
    "PY": "PRY",
    "BO": "BOL",
    "GT": "GTM",
    "CR": "CRI",
    "PA": "PAN",
    "SV": "SLV",
    "HN": "HND",
    "NI": "NIC",
    "DO": "DOM",
    "CU": "CUB",
    "AU": "AUS",
    "NZ": "NZL",
    "IL": "ISR",
    "TR": "TUR",
    "RU": "RUS",
    "ZA": "ZAF",
    "SG": "SGP",
    "TW": "TWN",
    "HK": "HKG",
    "PH": "PHL",
    "TH": "THA",
    "VN": "VNM",
    "MY": "MYS",
    "ID": "IDN",
}


class ResPartner(models.Model):
    _inherit = "res.partner"

    l10n_mx_factureapp_regimen = fields.Selection(catalogs.REGIMEN_FISCAL, string="Fiscal regime (SAT)")
    l10n_mx_factureapp_uso_cfdi = fields.Selection(
        catalogs.USO_CFDI,
        string="Default CFDI use",
        help="UsoCFDI proposed on this customer's invoices.",
    )
    l10n_mx_factureapp_payment_form = fields.Selection(
        catalogs.FORMA_PAGO,
        string="Default payment form (SAT)",
        help="FormaPago proposed on PUE invoices.",
    )
    l10n_mx_factureapp_residence = fields.Char(
        "Fiscal residence (c_Pais)",
        compute="_compute_l10n_mx_factureapp_residence",
        store=True,
        readonly=False,
        size=3,
        help="ISO alpha-3 country of fiscal residence of a foreign customer (ResidenciaFiscal).",
    )
    l10n_mx_factureapp_foreign_tax_id = fields.Char(
        "Foreign tax ID",
        help="Tax registration number abroad (NumRegIdTrib); the VAT number when empty.",
    )

    @api.depends("country_id")
    def _compute_l10n_mx_factureapp_residence(self):
        for partner in self:
            code = partner.country_id.code
            if code and code != "MX":
                partner.l10n_mx_factureapp_residence = ALPHA3.get(code, partner.l10n_mx_factureapp_residence)
            else:
                partner.l10n_mx_factureapp_residence = False

    def _l10n_mx_factureapp_rfc(self):
        """The RFC to write: the partner's, or the generic one (foreign / without RFC)."""
        self.ensure_one()
        partner = self.commercial_partner_id
        if partner.country_id and partner.country_id.code != "MX":
            return catalogs.RFC_GENERIC_FOREIGN
        vat = (partner.vat or "").strip().upper().replace(" ", "").replace("-", "")
        if vat.startswith("MX") and len(vat) in (14, 15):
            vat = vat[2:]
        return vat or catalogs.RFC_GENERIC_NATIONAL

    @api.constrains("vat", "country_id", "l10n_mx_factureapp_regimen")
    def _check_l10n_mx_factureapp_fiscal_data(self):
        for partner in self:
            if partner.country_id.code != "MX" or not partner.vat:
                continue
            rfc = partner._l10n_mx_factureapp_rfc()
            person = catalogs.rfc_person_type(rfc)
            if person is None:
                raise ValidationError(
                    _(
                        "%(rfc)s is not a valid RFC: 3 (companies) or 4 (individuals) letters, the date as YYMMDD "
                        "and a 3-character homoclave, e.g. EKU9003173C9.",
                        rfc=rfc,
                    )
                )
            regime = partner.l10n_mx_factureapp_regimen
            if regime and person in ("moral", "fisica"):
                allowed = catalogs.REGIMEN_MORAL if person == "moral" else catalogs.REGIMEN_FISICA
                if regime not in allowed:
                    raise ValidationError(
                        _(
                            "Fiscal regime %(regime)s does not apply to RFC %(rfc)s (%(kind)s).",
                            regime=regime,
                            rfc=rfc,
                            kind=_("company") if person == "moral" else _("individual"),
                        )
                    )

    @api.constrains("zip", "country_id")
    def _check_l10n_mx_factureapp_zip(self):
        for partner in self:
            if partner.country_id.code == "MX" and partner.zip and partner.vat:
                if not catalogs.is_known("c_CodigoPostal", partner.zip.strip()):
                    raise ValidationError(
                        _(
                            "%(zip)s is not a SAT postal code (c_CodigoPostal).",
                            zip=partner.zip,
                        )
                    )

    @api.constrains("l10n_mx_factureapp_residence")
    def _check_l10n_mx_factureapp_residence(self):
        for partner in self.filtered("l10n_mx_factureapp_residence"):
            if not catalogs.is_known("c_Pais", partner.l10n_mx_factureapp_residence):
                raise ValidationError(
                    _(
                        "%(code)s is not a SAT country code (c_Pais, ISO alpha-3 such as USA).",
                        code=partner.l10n_mx_factureapp_residence,
                    )
                )
