from odoo import _, models

from ..anaf import documents, vat

SELF_BILLING_TYPE_CODE = 389  # CIUS-RO BR-RO-020: "Autofactura"
CREDIT_NOTE_TYPE_CODE = 381
POSITION_KEY = "l10n_ro_anaf_efactura_position_id"
MAX_NOTE = 300  # BR-RO-L300


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
        # EXTENDS 'l10n_ro_edi': Odoo's foreign state codes may already carry the country ("DE-BE"), which
        # core prefixed once more ("DE-DE-BE").
        vals = super()._get_partner_address_vals(partner)
        code = partner.state_id.code or ""
        if partner.state_id and partner.country_code != "RO" and code.startswith(f"{partner.country_code}-"):
            vals["country_subentity"] = code
        return vals

    # -- self-billing ------------------------------------------------------------------------
    def _export_invoice_vals(self, invoice):
        # EXTENDS 'l10n_ro_edi': the fiscal position's e-Factura category reaches the tax categories
        # (context), credit notes name the invoice they correct, and a self-billed vendor bill is an
        # invoice (389) issued by our company on the supplier's behalf.
        builder = self.with_context(**{POSITION_KEY: invoice.fiscal_position_id.id})
        vals = super(AccountEdiXmlUBLRO, builder)._export_invoice_vals(invoice)
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

    def _export_invoice_constraints(self, invoice, vals):
        # EXTENDS 'l10n_ro_edi': individuals need no VAT/registry (the CNP or 13 zeros is used), but a CNP,
        # when entered, must be a valid one.
        constraints = super()._export_invoice_constraints(invoice, vals)
        # CIUS-RO has no rule asking for a buyer or order reference (that is a Peppol rule)
        constraints.pop("peppol_en16931_ubl_buyer_ref_po_ref", None)
        self._l10n_ro_anaf_efactura_address_constraints(vals, constraints)
        constraints.update(self._l10n_ro_anaf_efactura_tax_constraints(invoice))
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

    # -- VAT categories ----------------------------------------------------------------------
    def _l10n_ro_anaf_efactura_category(self, tax, position=None):
        if position is None:
            position = self.env["account.fiscal.position"].browse(self._context.get(POSITION_KEY))
        rate = tax.amount if tax.amount_type == "percent" else 0.0
        position_setting = position._l10n_ro_anaf_efactura_setting() if position else None
        return vat.resolve(rate, tax._l10n_ro_anaf_efactura_setting(), position_setting)

    def _get_tax_unece_codes(self, customer, supplier, tax):
        # OVERRIDES 'account_edi_ubl_cii': the category is what the accountant set on the tax or the fiscal
        # position (defaults for the Romanian chart), never guessed from the countries: a 0 % tax to an EU
        # buyer is not always an intra-community supply of goods.
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

    def _l10n_ro_anaf_efactura_tax_constraints(self, invoice):
        """A 0 % tax without category, or a category without its reason: name the tax to configure."""
        constraints = {}
        lines = invoice.invoice_line_ids.filtered(lambda x: x.display_type == "product")
        position = invoice.fiscal_position_id
        for tax in lines.tax_ids.flatten_taxes_hierarchy().filtered(lambda t: t.amount_type != "fixed"):
            category = self._l10n_ro_anaf_efactura_category(tax, position)
            if category.code in vat.NEEDS_REASON and not (category.vatex or category.reason):
                constraints[f"l10n_ro_anaf_efactura_tax_category_{tax.id}"] = _(
                    "Tax '%(tax)s': set its e-Factura VAT category (reverse charge, exempt, intra-community "
                    "supply, export, not subject to VAT) and, for an exemption, the VATEX code or the legal "
                    "reason, in the tax's Advanced Options (or on the fiscal position %(position)s).",
                    tax=tax.display_name,
                    position=position.display_name or _("of the invoice"),
                )
        return constraints

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
        """BT-25/BT-26: the invoice a credit note corrects. Odoo writes the reversal text ("Reversal of:
        INV/1, reason") in `ref`, which core would send as the buyer's order reference (BT-13): it is a
        note (BT-22) instead, and the order reference is the corrected invoice's own."""
        if invoice.move_type not in ("out_refund", "in_refund"):
            return
        origin = invoice.reversed_entry_id
        if origin:
            vals["vals"]["billing_reference_vals"] = {"id": origin.name, "issue_date": origin.invoice_date}
        vals["vals"]["order_reference"] = (origin.ref or None) if origin else None
        if invoice.ref:
            notes = vals["vals"].setdefault("note_vals", [])
            notes.append({"note": invoice.ref[:MAX_NOTE]})

    # -- payment means -----------------------------------------------------------------------------
    def _get_invoice_payment_means_vals_list(self, invoice):
        # EXTENDS 'account_edi_ubl_cii': a credit note or a self-invoice asks the buyer for no payment
        # to our account: without a bank account it carries no payment means (BG-16 is optional).
        vals_list = super()._get_invoice_payment_means_vals_list(invoice)
        asks_payment = invoice.move_type == "out_invoice" and not invoice._l10n_ro_anaf_efactura_is_self_billed()
        if not asks_payment and not invoice.partner_bank_id:
            return []
        return vals_list

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
    def _l10n_ro_anaf_efactura_address_constraints(self, vals, constraints):
        """A county only for Romanian addresses (BR-RO-110/111): a foreign buyer needs no state, even where
        Odoo has none for the country."""
        for role in ("supplier", "customer"):
            partner = vals[role]
            key = f"ciusro_{role}_state_id_required"
            if partner.country_code != "RO":
                constraints.pop(key, None)
            elif constraints.get(key):
                constraints[key] = _(
                    "%(partner)s: set the county (State) of this Romanian address; ANAF needs it (for "
                    "Bucharest also the sector as the city, e.g. SECTOR1).",
                    partner=partner.display_name,
                )

    def _get_delivery_vals_list(self, invoice):
        # EXTENDS 'account_edi_ubl_cii': CIUS-RO wants a subdivision in every delivery address (BR-RO-211),
        # also abroad where Odoo has no state: the state's name, else the city.
        vals_list = super()._get_delivery_vals_list(invoice)
        for vals in vals_list:
            address = (vals.get("delivery_location_vals") or {}).get("delivery_address_vals")
            if address and not address.get("country_subentity"):
                address["country_subentity"] = address.get("city_name")
        return vals_list
