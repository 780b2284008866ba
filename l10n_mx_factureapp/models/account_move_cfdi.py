"""The invoice's fiscal data as a CFDI 4.0 (documents.Invoice), checked and built once."""

import re
from datetime import datetime

import pytz

from odoo import _, api, fields, models
from odoo.exceptions import UserError
from odoo.tools import float_is_zero

from ..factureapp import catalogs
from ..factureapp import documents as cfdi
from .helpers import _dec


class L10nMxFactureappMoveCfdi(models.AbstractModel):
    """Mixed into account.move only (its fields and methods are the invoice's)."""

    _name = "l10n_mx_factureapp.move.cfdi"
    _description = "Facture APP: an invoice as a CFDI"

    def _l10n_mx_factureapp_connection(self, credential=None):
        """(credential, branch) used to stamp this move; UserError saying what to configure.
        `credential`: the company's connection when the caller looked it up already (a batch)."""
        self.ensure_one()
        if credential is None:
            credential = self.env["einvoice.credential"]._l10n_mx_factureapp_for_company(self.company_id)
        if not credential:
            raise UserError(
                _(
                    "No Facture APP connection serves company %(company)s: create one in Settings > Invoicing > "
                    "E-invoicing.",
                    company=self.company_id.name,
                )
            )
        branch = self.l10n_mx_factureapp_branch_id or self.company_id.l10n_mx_factureapp_branch_id
        if not branch:
            raise UserError(
                _(
                    "No Facture APP branch for %(name)s: sync the branches of the connection and choose a default "
                    "branch for the company or the journal.",
                    name=self.display_name,
                )
            )
        return credential, branch

    def _l10n_mx_factureapp_local_now(self):
        """Now, in the time zone of the place of issue: the branch's, else the zone of its postal
        code when that is not central time (SAT checks Fecha there), else the company's."""
        branch = self.l10n_mx_factureapp_branch_id or self.company_id.l10n_mx_factureapp_branch_id
        place_zone = catalogs.postal_code_tz((branch.zip or self.company_id.zip or "").strip())
        place_zone = "" if place_zone == catalogs.DEFAULT_ZONE else place_zone
        tz = pytz.timezone(branch.tz or place_zone or self.company_id.l10n_mx_factureapp_tz or "America/Mexico_City")
        return datetime.now(pytz.utc).astimezone(tz).replace(tzinfo=None, microsecond=0)

    def _l10n_mx_factureapp_series_number(self):
        prefix = re.sub(r"[^A-Za-z0-9]", "", self.sequence_prefix or self.journal_id.code or "")[:25]
        number = str(self.sequence_number or "") or re.sub(r"[|]", "", self.name or "")[-40:]
        return prefix, number

    def _l10n_mx_factureapp_issuer(self):
        company = self.company_id
        return cfdi.Party(
            rfc=(company.vat or "").strip().upper(),
            name=company.name or "",
            regimen=company.l10n_mx_factureapp_regimen or "",
        )

    def _l10n_mx_factureapp_receiver(self, place, uso):
        partner = self.partner_id.commercial_partner_id
        rfc = partner._l10n_mx_factureapp_rfc()
        if rfc in (catalogs.RFC_GENERIC_NATIONAL, catalogs.RFC_GENERIC_FOREIGN):
            name = partner.name or ""
            if rfc == catalogs.RFC_GENERIC_NATIONAL and name.strip().upper() == catalogs.PUBLICO_EN_GENERAL:
                name = catalogs.PUBLICO_EN_GENERAL
            return cfdi.Party(
                rfc=rfc,
                name=name.upper(),
                regimen="616",
                zip=place,
                uso_cfdi=uso,
                foreign_country=partner.l10n_mx_factureapp_residence or ""
                if rfc == catalogs.RFC_GENERIC_FOREIGN
                else "",
                foreign_tax_id=(partner.l10n_mx_factureapp_foreign_tax_id or partner.vat or "")
                if rfc == catalogs.RFC_GENERIC_FOREIGN
                else "",
            )
        return cfdi.Party(
            rfc=rfc,
            name=_sat_name(partner.name or ""),
            regimen=partner.l10n_mx_factureapp_regimen or "",
            zip=(partner.zip or "").strip(),
            uso_cfdi=uso,
        )

    @api.model
    def _l10n_mx_factureapp_taxes(self, taxes):
        result = []
        for tax in taxes.flatten_taxes_hierarchy():
            kind = tax.l10n_mx_tax_type or "iva"
            factor = tax.l10n_mx_factor_type or "Tasa"
            result.append(
                cfdi.Tax(
                    kind=kind,
                    factor=factor,
                    rate=_dec(abs(tax.amount) / 100.0) if factor == "Tasa" else _dec(abs(tax.amount)),
                    withholding=tax.amount < 0,
                    affects_base=tax.include_base_amount,
                )
            )
        return result

    def _l10n_mx_factureapp_lines(self):
        lines = []
        for line in self.invoice_line_ids:  # not filtered(): its records prefetch only this invoice's taxes
            quantity = line.quantity
            if line.display_type != "product" or float_is_zero(quantity, precision_digits=6):
                continue
            # The price as entered, with the line's subtotal: the builder sends that price (and
            # Descuento) when quantity x price gives the subtotal and back-computes it only when it
            # must (a price with tax included), with a warning.
            lines.append(
                cfdi.Line(
                    description=line.name or line.product_id.display_name or "",
                    quantity=_dec(quantity),
                    unit_price=_dec(line.price_unit),
                    subtotal=_dec(line.price_subtotal),
                    discount_percent=_dec(line.discount or 0.0),
                    clave_prod_serv=line.product_id.product_tmpl_id.l10n_mx_factureapp_clave_prod_serv or "",
                    clave_unidad=line.product_uom_id.l10n_mx_factureapp_clave_unidad or "",
                    unit_name=line.product_uom_id.name or "",
                    product_code=line.product_id.default_code or "",
                    taxes=self._l10n_mx_factureapp_taxes(line.tax_ids),
                )
            )
        return lines

    def _l10n_mx_factureapp_invoice_data(self):
        """A documents.Invoice for this move (no checks)."""
        self.ensure_one()
        branch = self.l10n_mx_factureapp_branch_id or self.company_id.l10n_mx_factureapp_branch_id
        place = (branch.zip or self.company_id.zip or "").strip()
        uso = self.l10n_mx_factureapp_uso_cfdi or ""
        receiver = self._l10n_mx_factureapp_receiver(place, uso)
        currency = self.currency_id.name
        rate = None
        if currency != "MXN" and self.invoice_currency_rate:
            rate = _dec(1.0 / self.invoice_currency_rate, 6)
        related = []
        if self.move_type == "out_refund" and self.reversed_entry_id.l10n_mx_factureapp_uuid:
            related.append(("01", [self.reversed_entry_id.l10n_mx_factureapp_uuid]))
        if self.l10n_mx_factureapp_substituted_id.l10n_mx_factureapp_uuid:
            related.append(("04", [self.l10n_mx_factureapp_substituted_id.l10n_mx_factureapp_uuid]))
        global_info = None
        if receiver.rfc == catalogs.RFC_GENERIC_NATIONAL and receiver.name == catalogs.PUBLICO_EN_GENERAL:
            date = self.invoice_date or fields.Date.context_today(self)
            periodicity = self.l10n_mx_factureapp_periodicity or "04"
            months = f"{12 + (date.month + 1) // 2:02d}" if periodicity == "05" else f"{date.month:02d}"
            global_info = (periodicity, months, date.year)
        series, number = self._l10n_mx_factureapp_series_number()
        return cfdi.Invoice(
            kind="E" if self.move_type == "out_refund" else "I",
            date=self._l10n_mx_factureapp_local_now(),
            issuer=self._l10n_mx_factureapp_issuer(),
            receiver=receiver,
            lines=self._l10n_mx_factureapp_lines(),
            place=place,
            currency=currency,
            rate=rate,
            series=series,
            number=number,
            payment_method=self.l10n_mx_factureapp_payment_method or "PUE",
            payment_form=self.l10n_mx_factureapp_payment_form or "99",
            payment_terms=self.invoice_payment_term_id.name or "",
            export=self.l10n_mx_factureapp_export or "01",
            related=related,
            global_info=global_info,
            expected_total=_dec(self.amount_total, 2),
        )

    def _l10n_mx_factureapp_precheck(self):
        """Translated problems that can be known before anything is sent (alerts, buttons)."""
        return self._l10n_mx_factureapp_check_and_build()[0]

    def _l10n_mx_factureapp_check_and_build(self, credential=None):
        """(translated problems, pre-CFDI bytes or None): the checks build the CFDI once."""
        self.ensure_one()
        problems = []
        lead = self.l10n_mx_factureapp_global_lead_id
        if lead and lead != self:
            problems.append(
                _(
                    "Invoice %(name)s is part of the global invoice %(lead)s: stamp it or look it up there.",
                    name=self.display_name,
                    lead=lead.display_name,
                )
            )
        if self.state != "posted":
            problems.append(
                _(
                    "Invoice %(name)s is not posted: post it before stamping.",
                    name=self.display_name,
                )
            )
        if self.l10n_mx_factureapp_state in (
            "stamped",
            "cancel_requested",
            "cancelled",
            "cancel_rejected",
        ):
            problems.append(_("Invoice %(name)s is already stamped.", name=self.display_name))
        problems += self._l10n_mx_factureapp_precheck_amounts()
        if problems:
            return problems, None
        try:
            self._l10n_mx_factureapp_connection(credential)
            return problems, cfdi.build_invoice(self._l10n_mx_factureapp_invoice_data())
        except UserError as exc:
            problems.append(exc.args[0])
        except cfdi.CfdiError as exc:
            problems += [self._l10n_mx_factureapp_problem_text(p) for p in exc.problems]
        return problems, None

    def _l10n_mx_factureapp_precheck_amounts(self):
        """Lines, currency rate and credit-note origin problems."""
        problems = []
        for line in self.invoice_line_ids.filtered(lambda ln: ln.display_type == "product"):
            if line.price_subtotal < 0 or line.quantity < 0:
                problems.append(
                    _(
                        "Invoice %(name)s has a negative line (%(line)s): CFDI allows no negative amounts; lower the "
                        "other lines or use a discount.",
                        name=self.display_name,
                        line=line.name or "",
                    )
                )
        if self.currency_id != self.company_id.currency_id and not self.env["res.currency.rate"].search_count(
            [
                ("currency_id", "=", self.currency_id.id),
                ("company_id", "in", [False, self.company_id.id]),
                ("name", "<=", self.invoice_date or fields.Date.context_today(self)),
            ]
        ):
            problems.append(
                _(
                    "Currency %(currency)s has no exchange rate on or before %(date)s: add one before stamping.",
                    currency=self.currency_id.name,
                    date=self.invoice_date or fields.Date.context_today(self),
                )
            )
        if self.move_type == "out_refund" and not self.reversed_entry_id.l10n_mx_factureapp_uuid:
            problems.append(
                _(
                    "Credit note %(name)s must reverse a stamped invoice (its CFDI is related with relation 01).",
                    name=self.display_name,
                )
            )
        return problems

    def _l10n_mx_factureapp_warnings(self):
        """Translated facts the accountant should know before stamping, that do not block it."""
        self.ensure_one()
        warnings = []
        for line in self.invoice_line_ids.filtered(lambda ln: ln.display_type == "product"):
            text = " ".join((line.name or "").split())
            if len(text) > cfdi.DESCRIPTION_LIMIT:
                warnings.append(
                    _(
                        "Invoice %(name)s, line %(line)s: the description has %(count)s characters; the CFDI keeps "
                        "the first %(limit)s (SAT's limit for Descripcion). Shorten it to choose what is kept.",
                        name=self.display_name,
                        line=text[:40] + "…",
                        count=len(text),
                        limit=cfdi.DESCRIPTION_LIMIT,
                    )
                )
        return warnings

    def _l10n_mx_factureapp_build(self, credential=None):
        """The pre-CFDI bytes, XSD-validated; UserError listing every problem."""
        self.ensure_one()
        problems, xml = self._l10n_mx_factureapp_check_and_build(credential)
        if problems:
            raise UserError("\n".join(problems))
        xsd = cfdi.xsd_errors(xml)
        if xsd:
            raise UserError(
                _(
                    "The CFDI of %(name)s does not pass the SAT schema:\n%(errors)s",
                    name=self.display_name,
                    errors="\n".join(xsd),
                )
            )
        return xml


def _sat_name(name):
    """SAT's registered name: upper case, without the company-type suffix."""
    text = " ".join((name or "").upper().split())
    return (
        re.sub(
            r",?\s+(S\.?\s?A\.?\s?P?\.?I?\.?\s?(DE\s+)?C\.?\s?V\.?|S\.?\s?DE\s+R\.?\s?L\.?(\s+DE\s+C\.?\s?V\.?)?"
            r"|S\.?\s?C\.?|A\.?\s?C\.?)$",
            "",
            text,
        ).strip()
        or text
    )
