"""CIUS-RO on Odoo 18.0's UBL builder, which renders QWeb templates from value dicts
(`_export_invoice_vals`, `_get_partner_*_vals_list`, `_get_tax_unece_codes`...).

The rules themselves live in account_edi_xml_ubl_ro.py; ubl_ro_nodes.py does the same for 19.0."""

from odoo import models

from .account_edi_xml_ubl_ro import CREDIT_NOTE_TYPE_CODE, POSITION_KEY, SELF_BILLING_TYPE_CODE


# one class per builder on purpose: models/__init__.py loads this one on 18.0 only
class AccountEdiXmlUBLROValues(models.AbstractModel):
    _inherit = "account.edi.xml.ubl_ro"  # pylint: disable=consider-merging-classes-inherited

    # -- B2C: individual buyers ------------------------------------------------------------
    def _get_partner_party_legal_entity_vals_list(self, partner):
        # EXTENDS 'l10n_ro_edi': an individual is identified by the CNP, or by 13 zeros when it is not known
        # (BT-47, BR-RO-120).
        vals_list = super()._get_partner_party_legal_entity_vals_list(partner)
        if partner._l10n_ro_anaf_efactura_is_individual():
            for vals in vals_list:
                vals["company_id"] = partner._l10n_ro_anaf_efactura_buyer_identifier()
        return vals_list

    def _get_partner_party_tax_scheme_vals_list(self, partner, role):
        # EXTENDS 'l10n_ro_edi': an individual has no VAT scheme to declare (no empty PartyTaxScheme). A
        # foreign party's registry number is no VAT number (BR-CO-09 wants the country prefix): it stays
        # the legal id (BT-47) only.
        vals_list = super()._get_partner_party_tax_scheme_vals_list(partner, role)
        if partner._l10n_ro_anaf_efactura_is_individual():
            return []
        if partner.country_code != "RO":
            vals_list = [
                vals
                for vals in vals_list
                if (vals.get("tax_scheme_vals") or {}).get("id") != "VAT"
                or (vals.get("company_id") or "")[:2].isalpha()
            ]
        return vals_list

    def _get_partner_address_vals(self, partner):
        # EXTENDS 'l10n_ro_edi'
        vals = super()._get_partner_address_vals(partner)
        code = self._l10n_ro_anaf_efactura_foreign_subentity(partner.country_code, partner.state_id)
        if code:
            vals["country_subentity"] = code
        return vals

    # -- self-billing ------------------------------------------------------------------------
    def _export_invoice_vals(self, invoice):
        # EXTENDS 'l10n_ro_edi': the fiscal position's e-Factura category reaches the tax categories
        # (context), credit notes name the invoice they correct, and a self-billed vendor bill is an
        # invoice (389) issued by our company on the supplier's behalf.
        builder = self.with_context(**{POSITION_KEY: invoice.fiscal_position_id.id})
        vals = super(AccountEdiXmlUBLROValues, builder)._export_invoice_vals(invoice)
        self._l10n_ro_anaf_efactura_credit_note_references(invoice, vals)
        if invoice._l10n_ro_anaf_efactura_is_self_billed():
            supplier = invoice.partner_id.commercial_partner_id
            customer = invoice.company_id.partner_id.commercial_partner_id
            vals["supplier"], vals["customer"] = supplier, customer
            vals["vals"]["accounting_supplier_party_vals"] = {
                "party_vals": self._get_partner_party_vals(supplier, role="supplier"),
            }
            vals["vals"]["accounting_customer_party_vals"] = {
                "party_vals": self._get_partner_party_vals(customer, role="customer"),
            }
            if invoice.move_type == "in_refund":  # a self-billed credit note (storno autofactura)
                vals["vals"]["document_type_code"] = CREDIT_NOTE_TYPE_CODE
                vals["document_type"] = "credit_note"
                vals["main_template"] = "account_edi_ubl_cii.ubl_20_CreditNote"
            else:
                vals["vals"]["document_type_code"] = SELF_BILLING_TYPE_CODE
                vals["document_type"] = "invoice"
                vals["main_template"] = "account_edi_ubl_cii.ubl_20_Invoice"
        self._l10n_ro_anaf_efactura_outside_scope_ids(vals)
        return vals

    # -- VAT categories ----------------------------------------------------------------------
    def _get_tax_unece_codes(self, customer, supplier, tax):
        # OVERRIDES 'account_edi_ubl_cii': the category set on the tax or the fiscal position
        category = self._l10n_ro_anaf_efactura_category(tax)
        return {
            "tax_category_code": category.code,
            "tax_exemption_reason_code": category.vatex or None,
            "tax_exemption_reason": category.reason or None,
        }

    def _get_tax_category_list(self, customer, supplier, taxes):
        # EXTENDS 'account_edi_ubl_cii': no rate for O (BR-O-05), 0 for the other non-S categories
        vals_list = super()._get_tax_category_list(customer, supplier, taxes)
        for vals, tax in zip(vals_list, taxes, strict=True):
            vals["percent"] = self._l10n_ro_anaf_efactura_category(tax).percent
        return vals_list

    def _l10n_ro_anaf_efactura_outside_scope_ids(self, vals):
        """BR-O-02: a document not subject to VAT (O) carries no VAT identifier: the seller is identified
        by its tax registration id (BT-32, the CUI without RO), the buyer by its legal id (BT-47)."""
        codes = {
            subtotal["tax_category_vals"]["id"]
            for total in vals["vals"]["tax_total_vals"]
            for subtotal in total.get("tax_subtotal_vals", [])
        }
        if "O" not in codes:
            return
        for role in ("supplier", "customer"):
            party = vals["vals"][f"accounting_{role}_party_vals"]["party_vals"]
            schemes = []
            for scheme in party.get("party_tax_scheme_vals", []):
                if (scheme.get("tax_scheme_vals") or {}).get("id") != "VAT":
                    schemes.append(scheme)
                elif role == "supplier":
                    company_id = (scheme["company_id"] or "").upper().removeprefix("RO")
                    schemes.append(dict(scheme, company_id=company_id, tax_scheme_vals={"id": "NO_VAT"}))
            party["party_tax_scheme_vals"] = schemes

    # -- credit notes --------------------------------------------------------------------------
    def _l10n_ro_anaf_efactura_credit_note_references(self, invoice, vals):
        correction = self._l10n_ro_anaf_efactura_correction(invoice)
        if not correction:
            return
        origin = correction["origin"]
        if origin:
            vals["vals"]["billing_reference_vals"] = {"id": origin.name, "issue_date": origin.invoice_date}
        vals["vals"]["order_reference"] = correction["order_reference"]
        if correction["note"]:
            vals["vals"].setdefault("note_vals", []).append({"note": correction["note"]})

    # -- payment means -----------------------------------------------------------------------------
    def _get_invoice_payment_means_vals_list(self, invoice):
        # EXTENDS 'account_edi_ubl_cii'
        vals_list = super()._get_invoice_payment_means_vals_list(invoice)
        return [] if self._l10n_ro_anaf_efactura_without_payment_means(invoice) else vals_list

    def _invoice_constraints_cen_en16931_ubl(self, invoice, vals):
        # EXTENDS 'account_edi_ubl_cii': core reads the first payment means; with none, BR-61 does not apply
        means = vals["vals"]["payment_means_vals_list"]
        if means:
            return super()._invoice_constraints_cen_en16931_ubl(invoice, vals)
        vals["vals"]["payment_means_vals_list"] = [{"payment_means_code": None}]
        try:
            return super()._invoice_constraints_cen_en16931_ubl(invoice, vals)
        finally:
            vals["vals"]["payment_means_vals_list"] = means

    # -- addresses --------------------------------------------------------------------------------
    def _get_delivery_vals_list(self, invoice):
        # EXTENDS 'account_edi_ubl_cii': CIUS-RO wants a subdivision in every delivery address (BR-RO-211),
        # also abroad where Odoo has no state: the state's name, else the city.
        vals_list = super()._get_delivery_vals_list(invoice)
        for vals in vals_list:
            address = (vals.get("delivery_location_vals") or {}).get("delivery_address_vals")
            if address and not address.get("country_subentity"):
                address["country_subentity"] = address.get("city_name")
        return vals_list
