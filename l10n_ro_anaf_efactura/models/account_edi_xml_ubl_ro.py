from odoo import _, models

from ..anaf import documents, vat

SELF_BILLING_TYPE_CODE = 389  # CIUS-RO BR-RO-020: "Autofactura"
CREDIT_NOTE_TYPE_CODE = 381
POSITION_KEY = "l10n_ro_anaf_efactura_position_id"
MAX_NOTE = 300  # BR-RO-L300


class AccountEdiXmlUBLRO(models.AbstractModel):
    """Odoo's CIUS-RO builder (l10n_ro_edi), extended for individual buyers and self-billing.

    This class holds what CIUS-RO asks whatever Odoo's builder looks like: the checks before upload and
    the decisions (VAT category of a tax, credit note references, payment means, county codes). How they
    reach the XML depends on the version's UBL builder: `ubl_ro_vals.py` (value dicts, Odoo 18.0) or
    `ubl_ro_nodes.py` (node dicts, Odoo 19.0), one of which `models/__init__.py` loads."""

    _inherit = "account.edi.xml.ubl_ro"

    # -- checks before upload -----------------------------------------------------------------
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
        elif not (customer.vat or customer.company_registry) and not constraints.get(
            "ciusro_customer_tax_identifier_required"
        ):
            # 18.0's l10n_ro_edi refuses a company buyer without any identifier; 19.0's would send 13 zeros,
            # which ANAF keeps for individuals
            constraints["ciusro_customer_tax_identifier_required"] = _(
                "%(partner)s: set its VAT number or its company registry number (Company ID); ANAF identifies a "
                "company buyer by one of them.",
                partner=customer.display_name,
            )
        return constraints

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

    # -- VAT categories ----------------------------------------------------------------------
    def _l10n_ro_anaf_efactura_category(self, tax, position=None):
        """The category is what the accountant set on the tax or the fiscal position (defaults for the
        Romanian chart), never guessed from the countries: a 0 % tax to an EU buyer is not always an
        intra-community supply of goods."""
        if position is None:
            position = self.env["account.fiscal.position"].browse(self._context.get(POSITION_KEY))
        rate = tax.amount if tax.amount_type == "percent" else 0.0
        position_setting = position._l10n_ro_anaf_efactura_setting() if position else None
        return vat.resolve(rate, tax._l10n_ro_anaf_efactura_setting(), position_setting)

    # -- credit notes --------------------------------------------------------------------------
    def _l10n_ro_anaf_efactura_correction(self, invoice):
        """BT-25/BT-26: the invoice a credit note corrects. Odoo writes the reversal text ("Reversal of:
        INV/1, reason") in `ref`, which core would send as the buyer's order reference (BT-13): it is a
        note (BT-22) instead, and the order reference is the corrected invoice's own.

        None for an invoice; else {"origin": corrected invoice or None, "order_reference", "note"}."""
        if invoice.move_type not in ("out_refund", "in_refund"):
            return None
        origin = invoice.reversed_entry_id
        return {
            "origin": origin or None,
            "order_reference": (origin.ref or None) if origin else None,
            "note": invoice.ref[:MAX_NOTE] if invoice.ref else None,
        }

    # -- payment means -----------------------------------------------------------------------------
    def _l10n_ro_anaf_efactura_without_payment_means(self, invoice):
        """A credit note or a self-invoice asks the buyer for no payment to our account: without a bank
        account it carries no payment means (BG-16 is optional)."""
        asks_payment = invoice.move_type == "out_invoice" and not invoice._l10n_ro_anaf_efactura_is_self_billed()
        return not asks_payment and not invoice.partner_bank_id

    # -- addresses --------------------------------------------------------------------------------
    def _l10n_ro_anaf_efactura_foreign_subentity(self, country_code, state):
        """Odoo's foreign state codes may already carry the country ("DE-BE"), which core prefixes once
        more ("DE-DE-BE"): the code as it is then, else None (core's value stands)."""
        code = state.code or ""
        if state and country_code != "RO" and code.startswith(f"{country_code}-"):
            return code
        return None
