import base64
import io
import logging
import re
import uuid as uuidlib
from datetime import datetime, timedelta
from decimal import Decimal

import psycopg2
import pytz

from odoo import _, api, fields, models
from odoo.exceptions import UserError
from odoo.osv import expression
from odoo.tools import float_is_zero
from odoo.tools.misc import split_every

from odoo.addons.einvoice_common.einvoice import errors

from ..factureapp import catalogs
from ..factureapp import client as fclient
from ..factureapp import documents as cfdi

_logger = logging.getLogger(__name__)

MOVE_STATES = [
    ("to_stamp", "To stamp"),
    ("sending", "Stamping"),
    ("unknown", "Stamp outcome unknown"),
    ("error", "Stamp failed"),
    ("stamped", "Stamped"),
    ("cancel_requested", "Cancel requested"),
    ("cancelled", "Cancelled"),
    ("cancel_rejected", "Cancel rejected"),
]
LIVE = ("sending", "unknown")
SENDING_GRACE_MINUTES = 10
DESCRIPTION_LIMIT = 1000  # characters of cfdi:Concepto/@Descripcion
MAX_AUTO_RESENDS = 2  # identical bytes sent again by the job after "never received"


class L10nMxFactureappBusy(UserError):
    """Another run holds this move's attempt: report it, write nothing."""


def _dec(value, digits=6):
    return Decimal(str(round(value, digits)))


class AccountMove(models.Model):
    _name = "account.move"
    _inherit = [
        "account.move",
        "einvoice.exchange.mixin",
        "l10n_mx_factureapp.payment.mixin",
    ]

    l10n_mx_factureapp_state = fields.Selection(MOVE_STATES, string="CFDI state", copy=False, tracking=True, index=True)
    l10n_mx_factureapp_document_ids = fields.One2many(
        "l10n_mx_factureapp.document", "move_id", string="Stamping attempts", copy=False
    )
    l10n_mx_factureapp_uuid = fields.Char("Fiscal folio (UUID)", copy=False, index=True, readonly=True)
    l10n_mx_factureapp_stamped_at = fields.Datetime(
        "Stamped on",
        copy=False,
        readonly=True,
        help="FechaTimbrado of the fiscal stamp (time of central Mexico, as SAT writes it).",
    )
    l10n_mx_factureapp_sat_certificate = fields.Char("SAT certificate", copy=False, readonly=True)
    l10n_mx_factureapp_xml_id = fields.Many2one("ir.attachment", string="Stamped CFDI", copy=False, readonly=True)
    l10n_mx_factureapp_pdf_id = fields.Many2one("ir.attachment", string="Facture APP PDF", copy=False, readonly=True)
    l10n_mx_factureapp_acuse_id = fields.Many2one(
        "ir.attachment", string="Cancellation acuse", copy=False, readonly=True
    )
    l10n_mx_factureapp_verification_url = fields.Char("SAT verification link", copy=False, readonly=True)
    l10n_mx_factureapp_qr = fields.Binary("QR code", compute="_compute_l10n_mx_factureapp_qr")
    l10n_mx_factureapp_error = fields.Text("CFDI error", copy=False, readonly=True)
    l10n_mx_factureapp_branch_id = fields.Many2one(
        "l10n_mx_factureapp.branch",
        string="Facture APP branch",
        compute="_compute_l10n_mx_factureapp_branch_id",
        store=True,
        readonly=False,
    )
    l10n_mx_factureapp_uso_cfdi = fields.Selection(
        catalogs.USO_CFDI,
        string="CFDI use",
        compute="_compute_l10n_mx_factureapp_uso_cfdi",
        store=True,
        readonly=False,
        copy=False,
    )
    l10n_mx_factureapp_payment_method = fields.Selection(
        catalogs.METODO_PAGO,
        string="Payment method (SAT)",
        compute="_compute_l10n_mx_factureapp_payment_method",
        store=True,
        readonly=False,
        copy=False,
        help="PUE when the invoice is due within its month, PPD otherwise (computed from the payment terms).",
    )
    l10n_mx_factureapp_payment_form = fields.Selection(
        catalogs.FORMA_PAGO,
        string="Payment form (SAT)",
        compute="_compute_l10n_mx_factureapp_payment_form",
        store=True,
        readonly=False,
        copy=False,
    )
    l10n_mx_factureapp_export = fields.Selection(catalogs.EXPORTACION, string="Export (SAT)", default="01")
    l10n_mx_factureapp_periodicity = fields.Selection(
        catalogs.PERIODICIDAD,
        string="Global invoice periodicity",
        default="04",
        help="For invoices to PUBLICO EN GENERAL (InformacionGlobal).",
    )
    l10n_mx_factureapp_substituted_id = fields.Many2one(
        "account.move",
        string="Replaces CFDI of",
        copy=False,
        help="This invoice replaces the stamped invoice given here (relation 04); cancel that one with motive 01.",
    )
    l10n_mx_factureapp_sat_state = fields.Char("SAT state", copy=False, readonly=True)
    l10n_mx_factureapp_sat_cancellable = fields.Char("SAT: cancellable", copy=False, readonly=True)
    l10n_mx_factureapp_sat_cancel_status = fields.Char("SAT: cancellation status", copy=False, readonly=True)
    l10n_mx_factureapp_sat_efos = fields.Char("SAT: EFOS validation", copy=False, readonly=True)
    l10n_mx_factureapp_sat_checked_at = fields.Datetime("SAT checked on", copy=False, readonly=True)
    l10n_mx_factureapp_cancel_motive = fields.Selection(
        catalogs.MOTIVO_CANCELACION,
        string="Cancellation motive",
        copy=False,
        readonly=True,
    )
    l10n_mx_factureapp_cancel_link = fields.Char("Receiver acceptance link", copy=False, readonly=True)
    l10n_mx_factureapp_bulk_queued = fields.Boolean("Queued for bulk stamping", copy=False, index=True)
    l10n_mx_factureapp_complement_pending = fields.Boolean(
        "Payment complement to stamp",
        copy=False,
        index=True,
        help="Set when this payment was reconciled with a stamped PPD invoice; a job stamps its complement.",
    )
    l10n_mx_factureapp_complement_error = fields.Text("Payment complement error", copy=False, readonly=True)
    l10n_mx_factureapp_enabled = fields.Boolean(
        compute="_compute_l10n_mx_factureapp_enabled",
        help="Mexican company with an active Facture APP connection: the CFDI buttons and tab show.",
    )

    @api.depends("company_id", "country_code")
    def _compute_l10n_mx_factureapp_enabled(self):
        Credential = self.env["einvoice.credential"]
        served = {}
        for move in self:
            company = move.company_id
            if company.id not in served:
                served[company.id] = company.country_code == "MX" and bool(
                    Credential._l10n_mx_factureapp_for_company(company)
                )
            move.l10n_mx_factureapp_enabled = served[company.id]

    def _einvoice_exchange_domain(self):
        # EXTENDS 'einvoice_common': stamping calls are logged on the move's attempts
        domain = super()._einvoice_exchange_domain()
        attempts = self.l10n_mx_factureapp_document_ids
        if not attempts:
            return domain
        return expression.OR(
            [
                domain,
                [("res_model", "=", attempts._name), ("res_id", "in", attempts.ids)],
            ]
        )

    def _compute_einvoice_exchange_count(self):
        # EXTENDS 'einvoice_common': the move's own calls plus those of its stamping attempts
        Exchange = self.env["einvoice.exchange"].sudo()
        own = dict(
            Exchange._read_group(
                [("res_model", "=", self._name), ("res_id", "in", self.ids)],
                ["res_id"],
                ["__count"],
            )
        )
        attempts = self.l10n_mx_factureapp_document_ids
        by_attempt = (
            dict(
                Exchange._read_group(
                    [
                        ("res_model", "=", attempts._name),
                        ("res_id", "in", attempts.ids),
                    ],
                    ["res_id"],
                    ["__count"],
                )
            )
            if attempts
            else {}
        )
        for move in self:
            move.einvoice_exchange_count = own.get(move.id, 0) + sum(
                by_attempt.get(doc.id, 0) for doc in move.l10n_mx_factureapp_document_ids
            )

    # ------------------------------------------------------------------ computes
    def _l10n_mx_factureapp_applicable(self):
        self.ensure_one()
        return self.country_code == "MX" and self.move_type in (
            "out_invoice",
            "out_refund",
        )

    @api.depends("journal_id", "company_id")
    def _compute_l10n_mx_factureapp_branch_id(self):
        for move in self:
            move.l10n_mx_factureapp_branch_id = (
                move.journal_id.l10n_mx_factureapp_branch_id or move.company_id.l10n_mx_factureapp_branch_id
            )

    @api.depends("partner_id", "move_type")
    def _compute_l10n_mx_factureapp_uso_cfdi(self):
        for move in self:
            if move.move_type not in ("out_invoice", "out_refund"):
                move.l10n_mx_factureapp_uso_cfdi = False
                continue
            partner = move.partner_id.commercial_partner_id
            rfc = partner._l10n_mx_factureapp_rfc() if partner else ""
            if rfc in (catalogs.RFC_GENERIC_NATIONAL, catalogs.RFC_GENERIC_FOREIGN):
                move.l10n_mx_factureapp_uso_cfdi = "S01"
            elif move.move_type == "out_refund":
                move.l10n_mx_factureapp_uso_cfdi = "G02"
            else:
                move.l10n_mx_factureapp_uso_cfdi = partner.l10n_mx_factureapp_uso_cfdi or "G03"

    @api.depends("invoice_date", "invoice_date_due", "invoice_payment_term_id", "move_type")
    def _compute_l10n_mx_factureapp_payment_method(self):
        for move in self:
            if move.move_type not in ("out_invoice", "out_refund"):
                move.l10n_mx_factureapp_payment_method = False
                continue
            start = move.invoice_date or fields.Date.context_today(move)
            due = move.invoice_date_due or start
            later = (due.year, due.month) > (start.year, start.month)
            move.l10n_mx_factureapp_payment_method = "PPD" if later and move.move_type == "out_invoice" else "PUE"

    @api.depends("l10n_mx_factureapp_payment_method", "partner_id")
    def _compute_l10n_mx_factureapp_payment_form(self):
        for move in self:
            if move.move_type not in ("out_invoice", "out_refund"):
                move.l10n_mx_factureapp_payment_form = False
                continue
            if move.l10n_mx_factureapp_payment_method == "PPD":
                move.l10n_mx_factureapp_payment_form = "99"
            else:
                form = move.partner_id.commercial_partner_id.l10n_mx_factureapp_payment_form
                move.l10n_mx_factureapp_payment_form = form if form and form != "99" else "03"

    @api.depends("l10n_mx_factureapp_verification_url")
    def _compute_l10n_mx_factureapp_qr(self):
        for move in self:
            move.l10n_mx_factureapp_qr = False
            if move.l10n_mx_factureapp_verification_url:
                try:
                    import qrcode

                    image = qrcode.make(move.l10n_mx_factureapp_verification_url, box_size=4, border=2)
                    buffer = io.BytesIO()
                    image.save(buffer, format="PNG")
                    move.l10n_mx_factureapp_qr = base64.b64encode(buffer.getvalue())
                except ImportError:
                    _logger.debug("qrcode is not installed: no QR image for move %s", move.id)

    # ------------------------------------------------------------------ posting
    def _post(self, soft=True):
        # EXTENDS 'account'
        posted = super()._post(soft=soft)
        for move in posted:
            if move._l10n_mx_factureapp_applicable() and not move.l10n_mx_factureapp_state:
                move.l10n_mx_factureapp_state = "to_stamp"
        return posted

    def button_draft(self):
        # EXTENDS 'account'
        guarded = self.browse() if self.env.context.get("l10n_mx_factureapp_sat_cancelled") else self
        for move in guarded:
            if move.l10n_mx_factureapp_state in (
                "stamped",
                "cancel_requested",
                "sending",
                "unknown",
                "cancel_rejected",
            ):
                raise UserError(
                    _(
                        "Invoice %(name)s has a stamped (or possibly stamped) CFDI: cancel it with SAT first.",
                        name=move.display_name,
                    )
                )
        return super().button_draft()

    # ------------------------------------------------------------------ fiscal data -> CFDI
    def _l10n_mx_factureapp_connection(self):
        """(credential, branch) used to stamp this move; UserError saying what to configure."""
        self.ensure_one()
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
        for line in self.invoice_line_ids.filtered(lambda ln: ln.display_type == "product"):
            quantity = line.quantity
            if float_is_zero(quantity, precision_digits=6):
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

    def _l10n_mx_factureapp_check_and_build(self):
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
            self._l10n_mx_factureapp_connection()
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
            if len(text) > DESCRIPTION_LIMIT:
                warnings.append(
                    _(
                        "Invoice %(name)s, line %(line)s: the description has %(count)s characters; the CFDI keeps "
                        "the first %(limit)s (SAT's limit for Descripcion). Shorten it to choose what is kept.",
                        name=self.display_name,
                        line=text[:40] + "…",
                        count=len(text),
                        limit=DESCRIPTION_LIMIT,
                    )
                )
        return warnings

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

    def _l10n_mx_factureapp_build(self):
        """The pre-CFDI bytes, XSD-validated; UserError listing every problem."""
        self.ensure_one()
        problems, xml = self._l10n_mx_factureapp_check_and_build()
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

    # ------------------------------------------------------------------ stamping
    def action_l10n_mx_factureapp_stamp(self):
        self.check_access("write")  # before any call to Facture APP
        results = self._l10n_mx_factureapp_stamp()
        failed = {m: e for m, e in results.items() if e}
        if failed and len(self) == 1:
            raise UserError(next(iter(failed.values())))
        return True

    def _l10n_mx_factureapp_stamp(self):
        """Stamp each move one by one. Returns {move: translated error or False}.

        A move that another run holds (locked, or with an attempt in flight) is reported and
        left untouched: writing on it would conflict with the run that owns it."""
        Credential = self.env["einvoice.credential"]
        results = {}
        locked = Credential._einvoice_lock_skip_locked(self)
        for move in self - locked:
            results[move] = _(
                "Invoice %(name)s is being stamped by another process.",
                name=move.display_name,
            )
        for move in locked:
            try:
                results[move] = move._l10n_mx_factureapp_stamp_one()
                if move.l10n_mx_factureapp_global_lead_id == move:
                    move._l10n_mx_factureapp_sync_global_members()
            except L10nMxFactureappBusy as exc:
                results[move] = exc.args[0]
            except UserError as exc:
                move.l10n_mx_factureapp_error = exc.args[0]
                results[move] = exc.args[0]
        return results

    def _l10n_mx_factureapp_live_attempt(self, kind=None):
        attempts = self.sudo().l10n_mx_factureapp_document_ids.filtered(  # written by the system only
            lambda d: d.state in LIVE and (kind is None or (d.kind == "P") == (kind == "P"))
        )
        return attempts.sorted("id", reverse=True)[:1]

    def _l10n_mx_factureapp_stamp_one(self, kind=None, build=None, invoices=None):
        """Stamp this move (an invoice, or a payment's move with `kind='P'` paying `invoices`).

        While an attempt may be alive nothing new is built: it is looked up first, and only
        when Facture APP does not know it are its exact bytes sent again."""
        self.ensure_one()
        credential, branch = self._l10n_mx_factureapp_connection()
        live = self._l10n_mx_factureapp_live_attempt(kind)
        if live:
            if live.state == "sending":
                if live.create_date > fields.Datetime.now() - timedelta(minutes=SENDING_GRACE_MINUTES):
                    raise L10nMxFactureappBusy(
                        _(
                            "Invoice %(name)s is being stamped right now; try again in a few minutes.",
                            name=self.display_name,
                        )
                    )
                live.state = "unknown"  # a call that never came back (worker killed): same as a lost answer
            if self._l10n_mx_factureapp_reconcile(live, credential):
                return False
            return self._l10n_mx_factureapp_resend(live, credential, branch)
        if kind != "P" and self.l10n_mx_factureapp_state == "stamped":
            return False
        xml = build() if build else self._l10n_mx_factureapp_build()
        series, number = self._l10n_mx_factureapp_series_number()
        doc = self.env["l10n_mx_factureapp.document"]._l10n_mx_factureapp_create_attempt(
            self, xml, kind or ("E" if self.move_type == "out_refund" else "I"), credential, branch, series, number
        )
        if doc.kind == "P":
            doc.invoice_ids = invoices
        return self._l10n_mx_factureapp_send(doc, xml, credential, branch)

    def _l10n_mx_factureapp_resend(self, live, credential, branch):
        """Send the exact bytes of `live` again (Facture APP said it never got them)."""
        xml = live._l10n_mx_factureapp_payload()  # the same bytes, never rebuilt
        live.state = "retried"
        branch = live.branch_id or branch
        doc = self.env["l10n_mx_factureapp.document"]._l10n_mx_factureapp_create_attempt(
            self, xml, live.kind, credential, branch, live.series, live.number, retry_of=live
        )
        if doc.kind == "P":
            doc.invoice_ids = live.invoice_ids
        return self._l10n_mx_factureapp_send(doc, xml, credential, branch)

    def _l10n_mx_factureapp_send(self, doc, xml, credential, branch):
        """Record the intent, call, keep the answer. Returns False or the translated problem.

        Only a clear refusal is an error; anything else that leaves the outcome unclear (lost
        or unreadable answer, a success without the stamped XML) is *unknown* and looked up."""
        Credential = self.env["einvoice.credential"]
        if doc.kind != "P":
            self._l10n_mx_factureapp_write({"l10n_mx_factureapp_state": "sending"})
        try:
            client = credential._l10n_mx_factureapp_client(record=doc)
        except UserError as exc:  # the connection is not usable: nothing was sent
            self._l10n_mx_factureapp_attempt_failed(doc, "error", exc.args[0], "connection")
            return exc.args[0]
        Credential._einvoice_commit()  # the intent and the exact bytes survive a crash during the call
        with client as api:
            try:
                stamped = api.stamp(xml, branch.facture_id, reference=self.name or "").xml
                cfdi.stamp_info(stamped)  # a stamped CFDI we can read, or the outcome is unclear
            except (errors.AuthError, errors.RejectedError, errors.TransientError) as exc:
                message = self._l10n_mx_factureapp_service_error_text(exc, credential)
                self._l10n_mx_factureapp_attempt_failed(doc, "error", message, exc.code or exc.kind)
                return message
            except psycopg2.Error:
                raise
            except Exception as exc:  # noqa: BLE001 - after a non-idempotent call, unclear means unknown
                _logger.info("Facture APP stamp of move %s has an unclear outcome: %r", self.id, exc)
                message = self._l10n_mx_factureapp_unknown_text(exc)
                self._l10n_mx_factureapp_attempt_failed(doc, "unknown", message)
                self.with_context(no_new_invoice=True).message_post(body=message)
                Credential._einvoice_commit()
                return message
            self._l10n_mx_factureapp_store_stamp(doc, stamped, api)
        Credential._einvoice_commit()
        return False

    def _l10n_mx_factureapp_unknown_text(self, exc):
        if isinstance(exc, errors.UnknownOutcome):
            return _(
                "Facture APP may have stamped %(name)s but the answer was lost (%(error)s). The outcome is being "
                "confirmed with Facture APP: the stamp is looked up before anything is sent again.",
                name=self.display_name,
                error=exc.message,
            )
        return _(
            "Facture APP answered the stamping of %(name)s in a way that could not be read (%(error)s). The "
            "outcome is being confirmed with Facture APP: the stamp is looked up before anything is sent again.",
            name=self.display_name,
            error=str(exc)[:200],
        )

    def _l10n_mx_factureapp_write(self, values):
        """Write CFDI fields only: the journal entry does not change, so its balance check and
        line synchronisation (the costly part of writing a move) are skipped."""
        return self.with_context(check_move_validity=False, skip_invoice_sync=True).write(values)

    def _l10n_mx_factureapp_attempt_failed(self, doc, state, message, code=False):
        doc.write({"state": state, "message": message, "error_code": code})
        if doc.kind != "P":
            self._l10n_mx_factureapp_write({"l10n_mx_factureapp_state": state, "l10n_mx_factureapp_error": message})
        self.env["einvoice.credential"]._einvoice_commit()

    def _l10n_mx_factureapp_service_error_text(self, exc, credential):
        if isinstance(exc, errors.AuthError):
            credential._l10n_mx_factureapp_note_auth_error(exc)
            return _(
                "Facture APP refused the credentials of %(conn)s (HTTP 401): fix them in the connection.",
                conn=credential.name,
            )
        if exc.code == "FA402":
            credential = credential.sudo()  # accountants may read connections, not write them
            credential.write(
                {
                    "l10n_mx_factureapp_credits": 0,
                    "l10n_mx_factureapp_credits_checked_at": fields.Datetime.now(),
                }
            )
            credential._einvoice_admin_activity(
                _(
                    "Facture APP has no stamping credits left for %(conn)s.",
                    conn=credential.name,
                )
            )
            return _(
                "Facture APP has no stamping credits left: buy credits, then stamp %(name)s again.",
                name=self.display_name,
            )
        if exc.code == "FA404":
            return _(
                "Facture APP does not know branch %(branch)s: sync the branches.",
                branch=self.l10n_mx_factureapp_branch_id.display_name or "",
            )
        if isinstance(exc, errors.TransientError):
            return _(
                "Facture APP could not be reached; nothing was stamped. Try again later (%(error)s).",
                error=exc.message,
            )
        if isinstance(exc, errors.ProtocolError):
            return _(
                "Facture APP answered something unreadable: %(error)s",
                error=exc.message,
            )
        return _(
            "Facture APP rejected %(name)s: %(error)s",
            name=self.display_name,
            error=str(exc),
        )

    def _l10n_mx_factureapp_store_stamp(self, doc, xml, api=None):
        """Keep the stamped XML (with its TFD) on the attempt and commit it at once, then show
        UUID, date, certificate and link on the move: nothing afterwards can roll the stamp back."""
        Credential = self.env["einvoice.credential"]
        info = cfdi.stamp_info(xml)
        attachment = self.env["ir.attachment"].create(
            {
                "name": f"{(self.name or 'CFDI').replace('/', '_')}_{info.uuid}.xml",
                "raw": xml,
                "mimetype": "application/xml",
                "res_model": "account.move",
                "res_id": self.id,
                "description": _("Stamped CFDI %(uuid)s", uuid=info.uuid),
            }
        )
        doc.write({"state": "stamped", "uuid": info.uuid, "message": False, "stamped_xml_id": attachment.id})
        Credential._einvoice_commit()
        if doc.kind == "P":
            self.with_context(no_new_invoice=True).message_post(
                body=_("Payment complement stamped: UUID %(uuid)s.", uuid=info.uuid),
                attachment_ids=attachment.ids,
            )
            return
        self._l10n_mx_factureapp_show_stamp(doc)
        self.with_context(no_new_invoice=True).message_post(
            body=_("CFDI stamped by Facture APP: UUID %(uuid)s.", uuid=info.uuid),
            attachment_ids=attachment.ids,
        )
        Credential._einvoice_commit()  # shown before anything else (PDF, mail) may fail
        if api is not None:
            self._l10n_mx_factureapp_fetch_pdf(api)
        if self._l10n_mx_factureapp_needs_complement():
            self._l10n_mx_factureapp_flag_payers()  # paid before it was stamped

    def _l10n_mx_factureapp_show_stamp(self, doc):
        """Copy the committed stamp of `doc` onto the move. A concurrent write on the move (another
        run reporting it busy) makes this transaction retry, never lose the stamp."""
        info = cfdi.stamp_info(doc.stamped_xml_id.raw)
        values = {
            "l10n_mx_factureapp_state": "stamped",
            "l10n_mx_factureapp_uuid": info.uuid,
            "l10n_mx_factureapp_stamped_at": _stamp_datetime(info.stamped_at),
            "l10n_mx_factureapp_sat_certificate": info.sat_certificate,
            "l10n_mx_factureapp_xml_id": doc.stamped_xml_id.id,
            "l10n_mx_factureapp_verification_url": cfdi.verification_url(info),
            "l10n_mx_factureapp_error": False,
            "l10n_mx_factureapp_bulk_queued": False,
        }
        can_retry = self.env["einvoice.credential"]._einvoice_can_commit()
        for tries in range(3):
            try:
                self._l10n_mx_factureapp_write(values)
                self.env.flush_all()
                return
            except psycopg2.errors.SerializationFailure:
                if not can_retry or tries == 2:
                    raise
                _logger.info("Move %s changed concurrently; showing its stamp again", self.id)
                self.env.cr.rollback()  # only this projection is lost: the attempt is committed

    def _l10n_mx_factureapp_fetch_pdf(self, api):
        try:
            pdf = api.pdf(self.l10n_mx_factureapp_uuid)
        except errors.EInvoiceError as exc:
            _logger.info("Facture APP PDF of move %s not fetched: %s", self.id, exc.kind)
            return
        self.l10n_mx_factureapp_pdf_id = self.env["ir.attachment"].create(
            {
                "name": f"{(self.name or 'CFDI').replace('/', '_')}_{self.l10n_mx_factureapp_uuid}.pdf",
                "raw": pdf,
                "mimetype": "application/pdf",
                "res_model": "account.move",
                "res_id": self.id,
            }
        )

    def _l10n_mx_factureapp_reconcile(self, doc, credential):
        """Ask Facture APP whether `doc` was stamped (by its UUID, or its series and number).
        True when the stamp was found and stored. Raises UserError when the service cannot
        be asked: nothing may be resent before it answers."""
        try:
            with credential._l10n_mx_factureapp_client(record=doc) as api:
                uuid = doc.uuid
                if not uuid:
                    issuer = (self.company_id.vat or "").upper()
                    found = api.find(doc.series, doc.number, issuer)
                    if found is None:
                        doc.message = _("Not found at Facture APP: the same XML will be sent again.")
                        return False
                    uuid = found.uuid
                xml = api.xml(uuid)
                info = cfdi.stamp_info(xml)
                if info.uuid != uuid.upper():
                    return False
                if doc.kind != "P" and self.l10n_mx_factureapp_state != "stamped":
                    self._l10n_mx_factureapp_store_stamp(doc, xml, api)
                else:
                    doc.write({"state": "stamped", "uuid": info.uuid})
                self.with_context(no_new_invoice=True).message_post(
                    body=_(
                        "The stamp of %(name)s was found at Facture APP (UUID %(uuid)s); nothing was resent.",
                        name=self.display_name,
                        uuid=info.uuid,
                    )
                )
                return True
        except errors.EInvoiceError as exc:
            raise UserError(
                _(
                    "Facture APP could not be asked whether %(name)s was stamped (%(error)s): nothing was resent. "
                    "Try again later.",
                    name=self.display_name,
                    error=str(exc),
                )
            ) from exc

    def action_l10n_mx_factureapp_reconcile(self):
        self.check_access("write")
        found = self.browse()
        for move in self:
            live = move._l10n_mx_factureapp_live_attempt()
            if live:
                credential, _branch = move._l10n_mx_factureapp_connection()
                if move._l10n_mx_factureapp_reconcile(live, credential):
                    found |= move
        if found:
            return _notification(_("Stamp found at Facture APP for %(names)s.", names=", ".join(found.mapped("name"))))
        return _notification(_("Facture APP has no stamp for these invoices yet."), "warning")

    def _l10n_mx_factureapp_follow_attempt(self, doc):
        """Settle an attempt whose outcome is unknown: look it up, and when Facture APP never got
        it, send its exact bytes again (automatically, up to MAX_AUTO_RESENDS times)."""
        self.ensure_one()
        if not self.env["einvoice.credential"]._einvoice_lock_skip_locked(self):
            return  # a person or another worker is on it right now
        doc.invalidate_recordset()
        if doc.state not in LIVE:
            return
        doc.state = "unknown"
        credential, branch = self._l10n_mx_factureapp_connection()
        if self._l10n_mx_factureapp_reconcile(doc, credential):
            return
        if doc._l10n_mx_factureapp_resend_count() < MAX_AUTO_RESENDS:
            self._l10n_mx_factureapp_resend(doc, credential, branch)
            return
        message = _(
            "Facture APP still does not know the CFDI of %(name)s after it was sent %(count)s times: nothing "
            "was stamped. Check the connection, then stamp it again.",
            name=self.display_name,
            count=MAX_AUTO_RESENDS + 1,
        )
        self._l10n_mx_factureapp_attempt_failed(doc, "error", message, "not_found")

    @api.model
    def _cron_l10n_mx_factureapp_follow(self, limit=50):
        """Reconcile attempts with an unknown outcome, finish queued bulk runs, follow cancellations."""
        Credential = self.env["einvoice.credential"]
        stale = fields.Datetime.now() - timedelta(minutes=SENDING_GRACE_MINUTES)
        docs = (
            self.env["l10n_mx_factureapp.document"]
            .sudo()
            .search(
                [
                    "|",
                    ("state", "=", "unknown"),
                    "&",
                    ("state", "=", "sending"),
                    ("create_date", "<", stale),
                ],
                limit=limit,
            )
        )
        for doc in docs:
            try:
                doc.move_id._l10n_mx_factureapp_follow_attempt(doc)
            except UserError as exc:
                _logger.info("Facture APP reconciliation of move %s postponed: %s", doc.move_id.id, exc)
            Credential._einvoice_commit()
        queued = self.search([("l10n_mx_factureapp_bulk_queued", "=", True)], limit=limit * 10)
        if queued:
            queued._l10n_mx_factureapp_stamp_bulk()
        pending = self.search([("l10n_mx_factureapp_state", "=", "cancel_requested")], limit=limit)
        for move in pending:
            try:
                move._l10n_mx_factureapp_update_sat_status()
            except UserError as exc:
                _logger.info("SAT status of move %s not updated: %s", move.id, exc)
            Credential._einvoice_commit()
        if (
            len(docs) == limit
            or len(pending) == limit
            or self.search_count([("l10n_mx_factureapp_bulk_queued", "=", True)])
        ):
            self.env.ref("l10n_mx_factureapp.ir_cron_l10n_mx_factureapp_follow")._trigger()

    # ------------------------------------------------------------------ bulk (ZIP)
    def action_l10n_mx_factureapp_stamp_bulk(self):
        self.check_access("write")
        moves = self.filtered(
            lambda m: (
                m._l10n_mx_factureapp_applicable()
                and m.state == "posted"
                and m.l10n_mx_factureapp_state in (False, "to_stamp", "error")
            )
        )
        if not moves:
            raise UserError(_("Select posted Mexican customer invoices that are not stamped yet."))
        credential = self.env["einvoice.credential"]._l10n_mx_factureapp_for_company(moves[:1].company_id)
        chunk = credential.l10n_mx_factureapp_chunk_size or 100 if credential else 100
        if len(moves) > 2 * chunk and not self.env.context.get("l10n_mx_factureapp_now"):
            moves.l10n_mx_factureapp_bulk_queued = True
            self.env.ref("l10n_mx_factureapp.ir_cron_l10n_mx_factureapp_follow")._trigger()
            message = _(
                "%(count)s invoices are queued for bulk stamping; they are stamped in the background.",
                count=len(moves),
            )
        else:
            moves._l10n_mx_factureapp_stamp_bulk()
            stamped = moves.filtered(lambda m: m.l10n_mx_factureapp_state == "stamped")
            message = _(
                "%(ok)s of %(count)s invoices stamped; the others show their reason.",
                ok=len(stamped),
                count=len(moves),
            )
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {"message": message, "type": "info", "sticky": False},
        }

    def _l10n_mx_factureapp_stamp_bulk(self):
        """Stamp through ZIP files of `chunk_size` pre-CFDIs; each file's result lands on its invoice."""
        Credential = self.env["einvoice.credential"]
        moves = Credential._einvoice_lock_skip_locked(self)
        groups = {}  # (credential, branch) -> [move ids]
        for move in moves:
            try:
                credential, branch = move._l10n_mx_factureapp_connection()
            except UserError as exc:
                move.write(
                    {
                        "l10n_mx_factureapp_error": exc.args[0],
                        "l10n_mx_factureapp_state": "error",
                        "l10n_mx_factureapp_bulk_queued": False,
                    }
                )
                continue
            if move._l10n_mx_factureapp_live_attempt():
                continue  # an attempt may be alive: the follow-up cron reconciles it first
            groups.setdefault((credential, branch), []).append(move.id)
        for (credential, branch), move_ids in groups.items():
            for ids in split_every(credential.l10n_mx_factureapp_chunk_size or 100, move_ids):
                self.browse(ids)._l10n_mx_factureapp_stamp_zip(credential, branch)
                Credential._einvoice_commit()

    def _l10n_mx_factureapp_stamp_zip(self, credential, branch):
        """One ZIP for these moves: intent and bytes committed, one call, each file's result on its move.
        Only a clear refusal is an error; anything unclear leaves the attempts unknown (looked up)."""
        Credential = self.env["einvoice.credential"]
        batch = uuidlib.uuid4().hex
        files, docs = self._l10n_mx_factureapp_zip_attempts(credential, branch, batch)
        if not docs:
            return
        Credential._einvoice_commit()  # intent and exact bytes recorded before the call
        with credential._l10n_mx_factureapp_client(record=docs[0]) as api:
            try:
                report = api.stamp_zip(fclient.make_zip(files), branch.facture_id, sent_names=files, reference=batch)
                stamped = (
                    fclient.read_zip(api.download(report.download_url))
                    if any(i.ok for i in report.items.values()) and report.download_url
                    else {}
                )
            except (errors.AuthError, errors.RejectedError, errors.TransientError) as exc:
                for doc in docs:
                    message = doc.move_id._l10n_mx_factureapp_service_error_text(exc, credential)
                    doc.move_id._l10n_mx_factureapp_attempt_failed(doc, "error", message, exc.code or exc.kind)
                return
            except psycopg2.Error:
                raise
            except Exception as exc:  # noqa: BLE001 - after a non-idempotent call, unclear means unknown
                _logger.info("Facture APP bulk %s has an unclear outcome: %r", batch, exc)
                message = _(
                    "The bulk stamping answer was lost or could not be read (%(error)s); the stamps will be looked "
                    "up before anything is resent.",
                    error=str(exc)[:200],
                )
                for doc in docs:
                    doc.move_id._l10n_mx_factureapp_attempt_failed(doc, "unknown", message)
                return
            if report.unknown:
                _logger.warning(
                    "Facture APP bulk report %s names files that were not sent: %s",
                    batch,
                    ", ".join(report.unknown[:20]),
                )
            for doc in docs:
                doc.move_id._l10n_mx_factureapp_zip_result(doc, report.items.get(doc.bulk_filename), stamped, api)

    def _l10n_mx_factureapp_zip_attempts(self, credential, branch, batch):
        """Build each move's pre-CFDI and record its attempt; ({file name: bytes}, attempts)."""
        Document = self.env["l10n_mx_factureapp.document"].sudo()  # attempts: written by the system only
        files, docs = {}, Document
        for move in self:
            try:
                xml = move._l10n_mx_factureapp_build()
            except UserError as exc:
                move.write(
                    {
                        "l10n_mx_factureapp_error": exc.args[0],
                        "l10n_mx_factureapp_state": "error",
                        "l10n_mx_factureapp_bulk_queued": False,
                    }
                )
                continue
            series, number = move._l10n_mx_factureapp_series_number()
            kind = "E" if move.move_type == "out_refund" else "I"
            doc = Document._l10n_mx_factureapp_create_attempt(
                move, xml, kind, credential, branch, series, number, channel="bulk"
            )
            doc.write({"bulk_filename": f"{doc.id}.xml", "bulk_batch": batch})
            files[doc.bulk_filename] = xml
            docs |= doc
        docs.move_id._l10n_mx_factureapp_write(
            {"l10n_mx_factureapp_state": "sending", "l10n_mx_factureapp_bulk_queued": False}
        )
        return files, docs

    def _l10n_mx_factureapp_zip_result(self, doc, item, stamped, api):
        """Record what the bulk report says of this move's file."""
        if item is None:
            message = _("The bulk report does not mention this invoice; its stamp will be looked up.")
            self._l10n_mx_factureapp_attempt_failed(doc, "unknown", message)
        elif item.ok:
            xml = stamped.get(doc.bulk_filename)
            if xml is None:
                try:
                    xml = api.xml(item.uuid)
                except errors.EInvoiceError:
                    doc.uuid = item.uuid
                    message = _("Stamped as %(uuid)s; its XML will be fetched.", uuid=item.uuid)
                    self._l10n_mx_factureapp_attempt_failed(doc, "unknown", message)
                    return
            self._l10n_mx_factureapp_store_stamp(doc, xml)
        else:
            message = _(
                "Facture APP rejected %(name)s: [%(code)s] %(error)s",
                name=self.display_name,
                code=item.code,
                error=errors_describe(item.code, item.message),
            )
            self._l10n_mx_factureapp_attempt_failed(doc, "error", message, item.code)

    # ------------------------------------------------------------------ cancellation & SAT
    def _l10n_mx_factureapp_stamp_info(self):
        self.ensure_one()
        if not self.l10n_mx_factureapp_xml_id:
            raise UserError(_("Invoice %(name)s has no stamped CFDI.", name=self.display_name))
        return cfdi.stamp_info(self.l10n_mx_factureapp_xml_id.raw)

    def _l10n_mx_factureapp_request_cancel(self, motive, replacement=None):
        """Ask Facture APP to cancel; the answer is confirmed with SAT. Returns the outcome.

        Everything Odoo needs afterwards is checked before the call: a cancellation that
        reached the PAC is never undone by a problem on our side."""
        self.ensure_one()
        self.check_access("write")
        self._l10n_mx_factureapp_cancel_check(motive, replacement)
        credential, branch = self._l10n_mx_factureapp_connection()
        credential._l10n_mx_factureapp_sat_client(record=self)
        client = credential._l10n_mx_factureapp_client(record=self)
        try:
            with client as api:
                answer = api.cancel(
                    self.l10n_mx_factureapp_uuid,
                    branch.facture_id,
                    motive,
                    replacement.l10n_mx_factureapp_uuid if motive == "01" else "",
                )
        except (errors.UnknownOutcome, errors.ProtocolError) as exc:  # it may have reached the PAC
            return self._l10n_mx_factureapp_cancel_unclear(motive, exc)
        except errors.EInvoiceError as exc:
            raise UserError(
                _(
                    "Facture APP refused the cancellation of %(name)s: %(error)s",
                    name=self.display_name,
                    error=str(exc),
                )
            ) from exc
        return self._l10n_mx_factureapp_cancel_answered(answer, motive)

    def _l10n_mx_factureapp_cancel_unclear(self, motive, exc):
        """The request may have reached Facture APP: SAT's status tells (the job keeps asking)."""
        self._l10n_mx_factureapp_write(
            {"l10n_mx_factureapp_state": "cancel_requested", "l10n_mx_factureapp_cancel_motive": motive}
        )
        self.with_context(no_new_invoice=True).message_post(
            body=_(
                "The answer to the cancellation request of %(name)s was lost or could not be read (%(error)s): "
                "SAT's status will tell whether it was registered; it is checked now and by the hourly job.",
                name=self.display_name,
                error=exc.message,
            )
        )
        self.env["einvoice.credential"]._einvoice_commit()
        try:
            self._l10n_mx_factureapp_update_sat_status()
        except UserError as error:
            _logger.info("SAT status of move %s after an unclear cancellation not read: %s", self.id, error)
        return "unknown"

    def _l10n_mx_factureapp_cancel_check(self, motive, replacement):
        if self.l10n_mx_factureapp_state not in (
            "stamped",
            "cancel_rejected",
            "cancel_requested",
        ):
            raise UserError(
                _(
                    "Only a stamped CFDI can be cancelled (%(name)s).",
                    name=self.display_name,
                )
            )
        if motive == "01":
            if not replacement or replacement.l10n_mx_factureapp_state != "stamped":
                raise UserError(
                    _(
                        "Motive 01 needs the stamped invoice that replaces %(name)s.",
                        name=self.display_name,
                    )
                )
            if replacement.l10n_mx_factureapp_substituted_id != self:
                raise UserError(
                    _(
                        "The replacing invoice %(new)s must say it replaces %(name)s (field 'Replaces CFDI of') and be "
                        "stamped with it.",
                        new=replacement.display_name,
                        name=self.display_name,
                    )
                )

    def _l10n_mx_factureapp_cancel_answered(self, answer, motive):
        if answer.outcome in ("not_cancellable", "not_found", "rejected"):
            texts = {
                "not_cancellable": _(
                    "%(name)s cannot be cancelled while related CFDIs (credit notes, payment "
                    "complements) are valid: cancel those first.",
                    name=self.display_name,
                ),
                "not_found": _("SAT does not know the CFDI of %(name)s.", name=self.display_name),
            }
            raise UserError(
                texts.get(answer.outcome)
                or _(
                    "Facture APP refused the cancellation: %(error)s",
                    error=answer.message,
                )
            )
        self.write(
            {
                "l10n_mx_factureapp_state": "cancel_requested",
                "l10n_mx_factureapp_cancel_motive": motive,
                "l10n_mx_factureapp_cancel_link": answer.link or False,
            }
        )
        body = _(
            "Cancellation of the CFDI requested (motive %(motive)s): %(message)s",
            motive=motive,
            message=answer.message,
        )
        self.with_context(no_new_invoice=True).message_post(body=body)
        if answer.outcome == "pending_acceptance":
            self.activity_schedule(
                "mail.mail_activity_data_todo",
                summary=_("CFDI cancellation awaits the customer's acceptance"),
                note=_(
                    "Send the customer the acceptance link: %(link)s (72 hours).",
                    link=answer.link or "-",
                ),
                user_id=self.invoice_user_id.id or self.env.user.id,
            )
        self.env["einvoice.credential"]._einvoice_commit()  # the PAC has the request: keep it
        try:
            self._l10n_mx_factureapp_update_sat_status()
        except UserError as exc:
            _logger.info("SAT status of move %s after the cancellation request not read: %s", self.id, exc)
        return answer.outcome

    def action_l10n_mx_factureapp_sat_status(self):
        self.check_access("write")
        texts = [f"{move.display_name}: {move._l10n_mx_factureapp_update_sat_status().state}" for move in self]
        return _notification(_("SAT says: %(states)s", states=", ".join(texts)))

    def _l10n_mx_factureapp_update_sat_status(self):
        """Query SAT's ConsultaCFDIService and settle a pending cancellation."""
        self.ensure_one()
        info = self._l10n_mx_factureapp_stamp_info()
        credential, _branch = self._l10n_mx_factureapp_connection()
        try:
            status = credential._l10n_mx_factureapp_sat_client(record=self).status(
                info.uuid, info.issuer_rfc, info.receiver_rfc, info.total
            )
        except errors.EInvoiceError as exc:
            raise UserError(_("SAT's status service could not be asked: %(error)s", error=str(exc))) from exc
        self.write(
            {
                "l10n_mx_factureapp_sat_state": status.state,
                "l10n_mx_factureapp_sat_cancellable": status.cancellable,
                "l10n_mx_factureapp_sat_cancel_status": status.cancel_status,
                "l10n_mx_factureapp_sat_efos": status.efos,
                "l10n_mx_factureapp_sat_checked_at": fields.Datetime.now(),
            }
        )
        if status.efos_listed:
            self.with_context(no_new_invoice=True).message_post(
                body=_(
                    "SAT flags a party of %(name)s in its EFOS list (ValidacionEFOS %(code)s).",
                    name=self.display_name,
                    code=status.efos,
                )
            )
        settled = status.settled_cancel
        if settled == "cancelled" and self.l10n_mx_factureapp_state != "cancelled":
            self._l10n_mx_factureapp_cancelled(credential, status)
        elif settled == "rejected" and self.l10n_mx_factureapp_state == "cancel_requested":
            self.l10n_mx_factureapp_state = "cancel_rejected"
            self.with_context(no_new_invoice=True).message_post(
                body=_("The customer rejected the cancellation of the CFDI; it stays valid.")
            )
        return status

    def _l10n_mx_factureapp_cancelled(self, credential, status):
        self.l10n_mx_factureapp_state = "cancelled"
        acuse = None
        try:
            with credential._l10n_mx_factureapp_client(record=self) as api:
                acuse = api.acuse(self.l10n_mx_factureapp_uuid)
        except errors.EInvoiceError as exc:
            _logger.info("Acuse of move %s not available yet: %s", self.id, exc.kind)
        attachment = self.env["ir.attachment"]
        if acuse:
            attachment = attachment.create(
                {
                    "name": f"{(self.name or 'CFDI').replace('/', '_')}_{self.l10n_mx_factureapp_uuid}_acuse.xml",
                    "raw": acuse,
                    "mimetype": "application/xml",
                    "res_model": "account.move",
                    "res_id": self.id,
                }
            )
            self.l10n_mx_factureapp_acuse_id = attachment
        self.with_context(no_new_invoice=True).message_post(
            body=_(
                "SAT confirms the CFDI is cancelled (%(status)s).",
                status=status.cancel_status or status.state,
            ),
            attachment_ids=attachment.ids,
        )
        if self.state == "posted" and self.payment_state in (
            "not_paid",
            "invoicing_legacy",
        ):
            try:
                with self.env.cr.savepoint():
                    self.with_context(l10n_mx_factureapp_sat_cancelled=True).button_draft()
                    self.button_cancel()
            except UserError as exc:
                self.with_context(no_new_invoice=True).message_post(
                    body=_(
                        "The invoice could not be cancelled in Odoo automatically: %(error)s",
                        error=exc.args[0],
                    )
                )

    def action_l10n_mx_factureapp_cancel_wizard(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": _("Cancel CFDI"),
            "res_model": "l10n_mx_factureapp.cancel",
            "view_mode": "form",
            "target": "new",
            "context": {"default_move_id": self.id},
        }

    def action_l10n_mx_factureapp_download_pdf(self):
        self.ensure_one()
        self.check_access("write")  # the PDF is stored on the move
        if not self.l10n_mx_factureapp_pdf_id:
            credential, _branch = self._l10n_mx_factureapp_connection()
            with credential._l10n_mx_factureapp_client(record=self) as api:
                self._l10n_mx_factureapp_fetch_pdf(api)
        if not self.l10n_mx_factureapp_pdf_id:
            raise UserError(
                _(
                    "Facture APP did not provide the PDF of %(name)s.",
                    name=self.display_name,
                )
            )
        return {
            "type": "ir.actions.act_url",
            "url": f"/web/content/{self.l10n_mx_factureapp_pdf_id.id}?download=true",
            "target": "self",
        }

    # ------------------------------------------------------------------ demo
    @api.model
    def _l10n_mx_factureapp_demo_invoices(self, company_ids):
        """Two draft invoices for the demo company (demo data only)."""
        company = self.env["res.company"].browse(company_ids).exists()
        partner = self.env.ref("l10n_mx_factureapp.demo_partner_ure", raise_if_not_found=False)
        product = self.env.ref("l10n_mx_factureapp.demo_product_service", raise_if_not_found=False)
        journal = company and self.env["account.journal"].search(
            [("company_id", "=", company.id), ("type", "=", "sale")], limit=1
        )
        if not (company and partner and product and journal):
            return
        tax = company.account_sale_tax_id
        for quantity in (1, 3):
            self.with_company(company).create(
                {
                    "move_type": "out_invoice",
                    "partner_id": partner.id,
                    "journal_id": journal.id,
                    "invoice_line_ids": [
                        (
                            0,
                            0,
                            {
                                "product_id": product.id,
                                "quantity": quantity,
                                "price_unit": 1500.0,
                                "tax_ids": [(6, 0, tax.ids)],
                            },
                        )
                    ],
                }
            )


def _notification(message, kind="info"):
    """A client action that tells the user what a button did."""
    return {
        "type": "ir.actions.client",
        "tag": "display_notification",
        "params": {
            "message": message,
            "type": kind,
            "sticky": False,
            "next": {"type": "ir.actions.client", "tag": "soft_reload"},
        },
    }


def _stamp_datetime(text):
    """TFD's FechaTimbrado (local time of Mexico, no zone) as a naive datetime, or False."""
    try:
        local = datetime.fromisoformat(text[:19]) if text else None
    except ValueError:
        return False
    if local is None:
        return False
    return pytz.timezone("America/Mexico_City").localize(local).astimezone(pytz.utc).replace(tzinfo=None)


def errors_describe(code, message):
    from ..factureapp import errors as ferrors

    return ferrors.describe(code, message).message


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
