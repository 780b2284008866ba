from odoo import _, api, fields, models
from odoo.exceptions import ValidationError
from odoo.tools import SQL

from ..lafactura import nit as lf_nit
from ..lafactura.documents import Refusal


class ResPartner(models.Model):
    _inherit = "res.partner"

    l10n_co_lafactura_to_review = fields.Boolean(
        "To review (LaFactura.co)",
        copy=False,
        help="Created automatically from a received document: check its data, then untick.",
    )
    l10n_co_lafactura_nit = fields.Char(
        "NIT without check digit (LaFactura.co)",
        copy=False,
        index="btree_not_null",
        help="The supplier's NIT as its documents carry it, without check digit: received documents "
        "find the supplier by it even when its VAT could not be set.",
    )

    @api.model
    def _l10n_co_lafactura_search_nit(self, value, company):
        """Commercial partner whose VAT is this NIT, with or without check digit, in any format."""
        row = self._l10n_co_lafactura_nit_row(self.env.cr, value, company.id)
        return self.browse(row[0]).commercial_partner_id if row else self.browse()

    @api.model
    def _l10n_co_lafactura_nit_row(self, cr, value, company_id):
        """(id,) of the partner with this NIT on `cr`, or None. The DV never decides: the NIT
        without it matches `vat` in any format or the NIT a received document gave."""
        candidates = tuple(lf_nit.candidates(value))
        if not candidates:
            return None
        base = lf_nit.base_of(value)
        cr.execute(
            SQL(
                """SELECT id FROM res_partner
                WHERE active
                  AND (vat IS NOT NULL AND regexp_replace(vat, '\\D', '', 'g') IN %s
                       OR l10n_co_lafactura_nit = %s)
                  AND (company_id IS NULL OR company_id = %s)
             ORDER BY (parent_id IS NULL) DESC, supplier_rank DESC, id
                LIMIT 1""",
                candidates,
                base or None,
                company_id,
            )
        )
        return cr.fetchone()

    @api.model
    def _l10n_co_lafactura_lock_nit(self, value):
        """One creator per NIT across workers, until our commit (documents of one new supplier
        processed at once must not make two partners)."""
        base = lf_nit.base_of(value) or str(value or "")
        self.env.cr.execute(SQL("SELECT pg_advisory_xact_lock(hashtext(%s))", f"lafactura:nit:{base}"))

    @api.model
    def _l10n_co_lafactura_created_elsewhere(self, value, company):
        """True when another worker committed this NIT after our snapshot (we cannot see it).

        Our lock waited for that worker's commit, but a REPEATABLE READ snapshot taken before
        still hides its partner: a fresh cursor tells, and the row is processed again at once."""
        with self.env.registry.cursor() as cr:
            return bool(self._l10n_co_lafactura_nit_row(cr, value, company.id))

    @api.model
    def _l10n_co_lafactura_find_or_create(self, party, provider, company, credential):
        """The supplier of a document: found by NIT, else created (flagged for review)."""
        Partner = self.sudo().with_company(company)
        number = party.nit or provider.id
        Partner._l10n_co_lafactura_lock_nit(number)
        found = Partner._l10n_co_lafactura_search_nit(number, company)
        if not found and provider.id and provider.id != party.nit:
            found = Partner._l10n_co_lafactura_search_nit(provider.id, company)
        if found:
            return found
        if Partner._l10n_co_lafactura_created_elsewhere(number, company):
            raise Refusal(
                "error",
                "retry",
                _("Another worker has just created the supplier %(nit)s; processed again at once.", nit=number),
            )
        if not credential.l10n_co_lafactura_create_partners:
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
        # DIAN's check digit, not the one the document wrote: a wrong DV must not make a partner
        # without NIT today and a second partner when the right DV arrives.
        try:
            vat = lf_nit.formatted(lf_nit.base_of(number)) if scheme == "31" else lf_nit.digits(number) or number
        except ValueError:  # not a NIT DIAN could issue: kept without VAT, the bill stays in draft
            vat = False
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
            "l10n_co_lafactura_nit": lf_nit.base_of(number) or number,
        }
        partner = Partner
        if values["vat"]:
            try:
                with self.env.cr.savepoint():
                    partner = Partner.create(values)
            except ValidationError:
                values["vat"] = False
        if not partner:
            values["comment"] = _("NIT from the document: %s (refused by the VAT check).", number)
            partner = Partner.create(values)
        partner.message_post(body=_("Created from a LaFactura.co document: review its data."))
        return partner
