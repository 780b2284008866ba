from odoo import _, models

from ..anaf import documents

SELF_BILLING_TYPE_CODE = 389  # CIUS-RO BR-RO-020: "Autofactura"
CREDIT_NOTE_TYPE_CODE = 381


class AccountEdiXmlUBLRO(models.AbstractModel):
    """Odoo's CIUS-RO builder (l10n_ro_edi), extended for individual buyers and self-billing."""

    _inherit = "account.edi.xml.ubl_ro"

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
        # EXTENDS 'l10n_ro_edi': an individual has no VAT scheme to declare (no empty PartyTaxScheme).
        vals_list = super()._get_partner_party_tax_scheme_vals_list(partner, role)
        if partner._l10n_ro_anaf_efactura_is_individual():
            return []
        return vals_list

    # -- self-billing ------------------------------------------------------------------------
    def _export_invoice_vals(self, invoice):
        # EXTENDS 'l10n_ro_edi': a self-billed vendor bill is an invoice (389) issued by our company on the
        # supplier's behalf: the supplier is the seller, our company the buyer.
        vals = super()._export_invoice_vals(invoice)
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
        return vals

    def _export_invoice_constraints(self, invoice, vals):
        # EXTENDS 'l10n_ro_edi': individuals need no VAT/registry (the CNP or 13 zeros is used), but a CNP,
        # when entered, must be a valid one.
        constraints = super()._export_invoice_constraints(invoice, vals)
        customer = vals["customer"].commercial_partner_id
        if customer._l10n_ro_anaf_efactura_is_individual():
            constraints.pop("ciusro_customer_tax_identifier_required", None)
            cnp = customer.l10n_ro_anaf_efactura_cnp
            if cnp and not documents.valid_cnp(cnp):
                constraints["l10n_ro_anaf_efactura_customer_cnp"] = _(
                    "%(partner)s: the CNP %(cnp)s is not valid (13 digits with a check digit); correct it or "
                    "leave it empty to send 13 zeros.",
                    partner=customer.display_name,
                    cnp=cnp,
                )
        return constraints
