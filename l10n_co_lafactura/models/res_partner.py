from odoo import _, api, fields, models
from odoo.exceptions import ValidationError
from odoo.tools import SQL

from ..lafactura import nit as lf_nit


class ResPartner(models.Model):
    _inherit = "res.partner"

    l10n_co_lafactura_to_review = fields.Boolean(
        "To review (LaFactura.co)",
        copy=False,
        help="Created automatically from a received document: check its data, then untick.",
    )

    @api.model
    def _l10n_co_lafactura_search_nit(self, value, company):
        """Commercial partner whose VAT is this NIT, with or without check digit, in any format."""
        candidates = tuple(lf_nit.candidates(value))
        if not candidates:
            return self.browse()
        self.env.cr.execute(
            SQL(
                """SELECT id FROM res_partner
                WHERE active AND vat IS NOT NULL
                  AND regexp_replace(vat, '\\D', '', 'g') IN %s
                  AND (company_id IS NULL OR company_id = %s)
             ORDER BY (parent_id IS NULL) DESC, supplier_rank DESC, id
                LIMIT 1""",
                candidates,
                company.id,
            )
        )
        row = self.env.cr.fetchone()
        return self.browse(row[0]).commercial_partner_id if row else self.browse()

    @api.model
    def _l10n_co_lafactura_find_or_create(self, party, provider, company, credential):
        """The supplier of a document: found by NIT, else created (flagged for review)."""
        Partner = self.sudo().with_company(company)
        found = Partner._l10n_co_lafactura_search_nit(party.nit or provider.id, company)
        if not found and provider.id and provider.id != party.nit:
            found = Partner._l10n_co_lafactura_search_nit(provider.id, company)
        if found:
            return found
        if not credential.l10n_co_lafactura_create_partners:
            from ..lafactura.documents import Refusal

            raise Refusal(
                "error",
                "unknown_supplier",
                _(
                    "No supplier has the NIT %(nit)s; create it (or allow creating suppliers), then process again.",
                    nit=party.nit or provider.id,
                ),
            )
        scheme = party.scheme_name or "31"
        id_type = self.env.ref(lf_nit.ID_TYPE_XMLIDS.get(scheme, "l10n_co.rut"), raise_if_not_found=False)
        number = party.nit or provider.id
        vat = lf_nit.formatted(number, party.dv or None) if scheme == "31" else lf_nit.digits(number) or number
        values = {
            "name": party.name or provider.name or number,
            "is_company": party.additional_account_id != "2",
            "vat": vat,
            "l10n_latam_identification_type_id": id_type.id if id_type else False,
            "country_id": self.env.ref("base.co").id if scheme != "50" else False,
            "email": party.email or provider.email or False,
            "phone": party.telephone or provider.telephone or False,
            "supplier_rank": 1,
            "l10n_co_lafactura_to_review": True,
        }
        try:
            with self.env.cr.savepoint():
                partner = Partner.create(values)
        except ValidationError:
            values["vat"] = False
            values["comment"] = _("NIT from the document: %s (refused by the VAT check).", number)
            partner = Partner.create(values)
        partner.message_post(body=_("Created from a LaFactura.co document: review its data."))
        return partner
