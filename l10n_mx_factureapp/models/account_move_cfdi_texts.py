"""The builder's problems as translated sentences naming the Odoo record and field to fix."""

import re

from odoo import _, models


class L10nMxFactureappMoveCfdiTexts(models.AbstractModel):
    """Mixed into account.move only (its fields and methods are the invoice's)."""

    _name = "l10n_mx_factureapp.move.cfdi.texts"
    _description = "Facture APP: CFDI problems as sentences"

    def _l10n_mx_factureapp_problem_text(self, problem):
        """A translated sentence naming the Odoo field to fix."""
        partner = self.partner_id.commercial_partner_id.display_name
        company = self.company_id.name
        params = dict(problem.params or {})
        where = problem.field or ""
        line_no = re.match(r"lines\[(\d+)\]", where)
        line = None
        if line_no:
            product_lines = self.invoice_line_ids.filtered(lambda ln: ln.display_type == "product")
            index = int(line_no.group(1)) - 1
            line = product_lines[index] if index < len(product_lines) else None
        who = company if where.startswith("issuer") else partner
        texts = {
            **self._l10n_mx_factureapp_party_texts(who, company, params),
            **self._l10n_mx_factureapp_line_texts(line.name if line else where, line),
            **self._l10n_mx_factureapp_invoice_texts(params),
        }
        code = problem.code
        return texts.get(code) or _(
            "Invoice %(name)s: %(problem)s",
            name=self.display_name,
            problem=str(problem),
        )

    def _l10n_mx_factureapp_party_texts(self, who, company, params):
        return {
            "rfc_missing": _("%(who)s: enter the RFC (Tax ID).", who=who),
            "rfc_invalid": _(
                "%(who)s: the RFC %(rfc)s is not valid.",
                who=who,
                rfc=params.get("rfc", ""),
            ),
            "name_missing": _("%(who)s: the name is missing.", who=who),
            "regimen_missing": _("%(who)s: set the fiscal regime (SAT).", who=who),
            "regimen_invalid": _("%(who)s: the fiscal regime is not in SAT's catalog.", who=who),
            "regimen_person": _(
                "%(who)s: fiscal regime %(value)s does not fit the RFC (company or individual).",
                who=who,
                value=params.get("value", ""),
            ),
            "zip_invalid": _(
                "%(who)s: the ZIP code %(zip)s is not a SAT postal code.",
                who=who,
                zip=params.get("value") or "",
            ),
            "place_invalid": _(
                "Company %(company)s / branch: the postal code %(zip)s of the place of issue is not a SAT postal code.",
                company=company,
                zip=params.get("value") or "",
            ),
            "foreign_country": _(
                "%(who)s: set the country of fiscal residence (c_Pais) of this foreign customer.",
                who=who,
            ),
        }

    def _l10n_mx_factureapp_line_texts(self, name, line):
        return {
            "clave_prod_serv": _(
                "Line %(line)s: set a valid SAT product key (ClaveProdServ) on product %(product)s.",
                line=name,
                product=line.product_id.display_name if line and line.product_id else "-",
            ),
            "clave_unidad": _(
                "Line %(line)s: set the SAT unit key (ClaveUnidad) on unit of measure %(uom)s.",
                line=name,
                uom=line.product_uom_id.name if line and line.product_uom_id else "-",
            ),
            "price_negative": _(
                "Line %(line)s has a negative price: CFDI allows no negative amounts.",
                line=name,
            ),
            "quantity": _(
                "Line %(line)s: the quantity must be positive.",
                line=name,
            ),
        }

    def _l10n_mx_factureapp_invoice_texts(self, params):
        return {
            "uso_missing": _(
                "Invoice %(name)s: choose the CFDI use (UsoCFDI).",
                name=self.display_name,
            ),
            "uso_person": _(
                "Invoice %(name)s: CFDI use %(value)s is only for individuals.",
                name=self.display_name,
                value=params.get("value", ""),
            ),
            "generic_uso": _(
                "Invoice %(name)s: a customer without RFC or abroad needs CFDI use S01.",
                name=self.display_name,
            ),
            "public_needs_global": _(
                "Invoice %(name)s: an invoice to PUBLICO EN GENERAL needs the periodicity.",
                name=self.display_name,
            ),
            "rate_missing": _(
                "Invoice %(name)s: currency %(currency)s needs an exchange rate.",
                name=self.display_name,
                currency=params.get("value", ""),
            ),
            "currency_invalid": _(
                "Invoice %(name)s: the currency is not in SAT's catalog.",
                name=self.display_name,
            ),
            "ppd_form": _(
                "Invoice %(name)s: a PPD invoice must use payment form 99.",
                name=self.display_name,
            ),
            "pue_form": _(
                "Invoice %(name)s: choose the payment form (SAT) actually used; 99 is only for PPD.",
                name=self.display_name,
            ),
            "egreso_related": _(
                "Credit note %(name)s must reverse a stamped invoice.",
                name=self.display_name,
            ),
            "total_mismatch": _(
                "Invoice %(name)s: the CFDI total %(cfdi)s does not match the invoice total "
                "%(erp)s; check the taxes and the rounding method (round globally).",
                name=self.display_name,
                cfdi=params.get("cfdi", ""),
                erp=params.get("erp", ""),
            ),
            "total_zero": _("Invoice %(name)s: the total must be positive.", name=self.display_name),
            "no_lines": _("Invoice %(name)s has no lines.", name=self.display_name),
        }
