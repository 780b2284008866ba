"""CIUS-RO on Odoo 19.0's UBL builder, which builds the document as node dicts (`_get_invoice_node`,
`_add_invoice_*_nodes`, `_get_party_node`, tax categories as grouping keys) rendered by `dict_to_xml`.

The rules themselves live in account_edi_xml_ubl_ro.py; ubl_ro_vals.py does the same for 18.0. The XML
both produce is the same document, checked by ANAF's CIUS-RO stylesheet in the tests."""

from odoo import models

from .account_edi_xml_ubl_ro import CREDIT_NOTE_TYPE_CODE

NO_VAT = "NO_VAT"  # any scheme but VAT: a registry number is not a VAT identifier (BR-CO-09)


def _as_list(node):
    if not node:
        return []
    return node if isinstance(node, list) else [node]


def _text(node, *path):
    for key in path:
        node = (node or {}).get(key)
    return (node or {}).get("_text")


# one class per builder on purpose: models/__init__.py loads this one on 19.0 only
class AccountEdiXmlUBLRONodes(models.AbstractModel):
    _inherit = "account.edi.xml.ubl_ro"  # pylint: disable=consider-merging-classes-inherited

    # -- the document ----------------------------------------------------------------------
    def _add_invoice_config_vals(self, vals):
        # EXTENDS 'account_edi_ubl_cii': a vendor bill of our self-billing journal is an invoice (389) or a
        # credit note (381) issued by our company on the supplier's behalf. Core 19.0 swaps the parties
        # itself, but only for its own journal flag and never makes a credit note of a vendor refund.
        res = super()._add_invoice_config_vals(vals)
        invoice = vals["invoice"]
        if invoice._l10n_ro_anaf_efactura_is_self_billed():
            vals["process_type"] = "selfbilling"
            vals["supplier"] = invoice.partner_id.commercial_partner_id
            vals["customer"] = invoice.company_id.partner_id.commercial_partner_id
            if invoice.move_type == "in_refund":  # a self-billed credit note (storno autofactura)
                vals["document_type"] = "credit_note"
        return res

    def _get_invoice_node(self, vals):
        # EXTENDS 'account_edi_ubl_cii'
        document_node = super()._get_invoice_node(vals)
        self._l10n_ro_anaf_efactura_outside_scope_ids(document_node)
        return document_node

    def _add_invoice_header_nodes(self, document_node, vals):
        # EXTENDS 'l10n_ro_edi': CIUS-RO knows one credit note type (381, core says 261 when self-billed);
        # credit notes name the invoice they correct.
        super()._add_invoice_header_nodes(document_node, vals)
        if vals["document_type"] == "credit_note":
            document_node["cbc:CreditNoteTypeCode"] = {"_text": CREDIT_NOTE_TYPE_CODE}
        correction = self._l10n_ro_anaf_efactura_correction(vals["invoice"])
        if not correction:
            return
        origin = correction["origin"]
        if origin:
            document_node["cac:BillingReference"] = {
                "cac:InvoiceDocumentReference": {
                    "cbc:ID": {"_text": origin.name},
                    "cbc:IssueDate": {"_text": origin.invoice_date},
                }
            }
        order = document_node.get("cac:OrderReference")
        if correction["order_reference"] and order:
            order["cbc:ID"] = {"_text": correction["order_reference"]}
        else:
            document_node["cac:OrderReference"] = {}  # empty: not rendered (core reads it as a dict)
        if correction["note"]:
            document_node["cbc:Note"] = [*_as_list(document_node.get("cbc:Note")), {"_text": correction["note"]}]

    # -- parties ---------------------------------------------------------------------------------
    def _get_party_node(self, vals):
        # EXTENDS 'l10n_ro_edi': an individual is identified by the CNP, or by 13 zeros when it is not known
        # (BT-47, BR-RO-120), and declares no VAT scheme. A company without VAT number is identified by its
        # registry number (core 19.0 sends 13 zeros for such a buyer), which is no VAT identifier; abroad
        # it is the legal id (BT-47) only.
        party_node = super()._get_party_node(vals)
        partner = vals["partner"].commercial_partner_id
        legal_entity = party_node["cac:PartyLegalEntity"]
        if partner._l10n_ro_anaf_efactura_is_individual():
            party_node["cac:PartyTaxScheme"] = None
            legal_entity["cbc:CompanyID"] = {"_text": partner._l10n_ro_anaf_efactura_buyer_identifier()}
        elif not (partner.vat and len(partner.vat) > 1) and partner.company_registry:
            legal_entity["cbc:CompanyID"] = {"_text": partner.company_registry}
            party_node["cac:PartyTaxScheme"] = (
                [{"cbc:CompanyID": {"_text": partner.company_registry}, "cac:TaxScheme": {"cbc:ID": {"_text": NO_VAT}}}]
                if partner.country_code == "RO"
                else None
            )
        return party_node

    def _get_address_node(self, vals):
        # EXTENDS 'l10n_ro_edi'
        address_node = super()._get_address_node(vals)
        partner = vals["partner"]
        is_bank = partner._name == "res.bank"
        state = partner.state if is_bank else partner.state_id
        country = partner.country if is_bank else partner.country_id
        code = self._l10n_ro_anaf_efactura_foreign_subentity(country.code, state)
        if code:
            address_node["cbc:CountrySubentity"] = {"_text": code}
        return address_node

    def _add_invoice_delivery_nodes(self, document_node, vals):
        # EXTENDS 'account_edi_ubl_cii': CIUS-RO wants a subdivision in every delivery address (BR-RO-211),
        # also abroad where Odoo has no state: the state's name, else the city.
        res = super()._add_invoice_delivery_nodes(document_node, vals)
        address = ((document_node.get("cac:Delivery") or {}).get("cac:DeliveryLocation") or {}).get("cac:Address")
        if address and not _text(address, "cbc:CountrySubentity"):
            address["cbc:CountrySubentity"] = {"_text": _text(address, "cbc:CityName")}
        return res

    def _l10n_ro_anaf_efactura_outside_scope_ids(self, document_node):
        """BR-O-02: a document not subject to VAT (O) carries no VAT identifier: the seller is identified
        by its tax registration id (BT-32, the CUI without RO), the buyer by its legal id (BT-47)."""
        codes = {
            _text(category, "cbc:ID")
            for total in _as_list(document_node.get("cac:TaxTotal"))
            for subtotal in _as_list(total.get("cac:TaxSubtotal"))
            for category in _as_list(subtotal.get("cac:TaxCategory"))
        }
        if "O" not in codes:
            return
        for role, tag in (("supplier", "cac:AccountingSupplierParty"), ("customer", "cac:AccountingCustomerParty")):
            party = document_node[tag]["cac:Party"]
            schemes = []
            for scheme in _as_list(party.get("cac:PartyTaxScheme")):
                if _text(scheme, "cac:TaxScheme", "cbc:ID") != "VAT":
                    schemes.append(scheme)
                elif role == "supplier":
                    company_id = (_text(scheme, "cbc:CompanyID") or "").upper().removeprefix("RO")
                    schemes.append(
                        {"cbc:CompanyID": {"_text": company_id}, "cac:TaxScheme": {"cbc:ID": {"_text": NO_VAT}}}
                    )
            party["cac:PartyTaxScheme"] = schemes or None

    # -- VAT categories ----------------------------------------------------------------------
    def _ubl_default_tax_category_grouping_key(self, base_line, tax_data, vals, currency):
        # EXTENDS 'account_edi_ubl_cii': the category set on the tax or the invoice's fiscal position; no
        # rate for O (BR-O-05), 0 for the other non-S categories.
        grouping_key = super()._ubl_default_tax_category_grouping_key(base_line, tax_data, vals, currency)
        invoice = vals.get("invoice")
        if grouping_key and tax_data and invoice:
            category = self._l10n_ro_anaf_efactura_category(tax_data["tax"], invoice.fiscal_position_id)
            grouping_key.update(
                tax_category_code=category.code,
                tax_exemption_reason_code=category.vatex or None,
                tax_exemption_reason=category.reason or None,
                percent=category.percent,
            )
        return grouping_key

    # -- payment means -----------------------------------------------------------------------------
    def _add_invoice_payment_means_nodes(self, document_node, vals):
        # EXTENDS 'account_edi_ubl_cii': none where nothing is asked (see above); to a bank account it is a
        # credit transfer (30) as on 18.0, where core 19.0 says "standing agreement" (57) for every document
        # but a customer invoice (a self-invoice is paid to the supplier's account, a credit note to the
        # buyer's).
        res = super()._add_invoice_payment_means_nodes(document_node, vals)
        invoice = vals["invoice"]
        if self._l10n_ro_anaf_efactura_without_payment_means(invoice):
            document_node["cac:PaymentMeans"] = None
        elif invoice.partner_bank_id and _text(document_node.get("cac:PaymentMeans"), "cbc:PaymentMeansCode") == 57:
            document_node["cac:PaymentMeans"]["cbc:PaymentMeansCode"] = {"_text": 30, "name": "credit transfer"}
        return res

    def _invoice_constraints_cen_en16931_ubl(self, invoice, vals):
        # EXTENDS 'account_edi_ubl_cii': core reads the payment means code; with none, BR-61 does not apply
        document_node = vals["document_node"]
        means = document_node.get("cac:PaymentMeans")
        if means:
            return super()._invoice_constraints_cen_en16931_ubl(invoice, vals)
        document_node["cac:PaymentMeans"] = {"cbc:PaymentMeansCode": {"_text": None}}
        try:
            return super()._invoice_constraints_cen_en16931_ubl(invoice, vals)
        finally:
            document_node["cac:PaymentMeans"] = means
