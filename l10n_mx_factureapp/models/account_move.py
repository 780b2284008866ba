import base64
import io
import logging
import re
from datetime import datetime
from decimal import ROUND_CEILING, Decimal

import pytz

from odoo import _, api, fields, models
from odoo.exceptions import UserError
from odoo.osv import expression
from odoo.tools import float_is_zero

from odoo.addons.einvoice_common import dbtools
from odoo.addons.einvoice_common.einvoice import errors
from odoo.addons.einvoice_common.models.einvoice_attempt import ACTIVE_STATES

from ..factureapp import catalogs
from ..factureapp import documents as cfdi
from .l10n_mx_factureapp_document import HOLDING_STATES

_logger = logging.getLogger(__name__)

MOVE_STATES = [
    ("to_stamp", "To stamp"),
    ("waiting", "Waiting to stamp"),
    ("sending", "Stamping"),
    ("unknown", "Stamp outcome being confirmed"),
    ("error", "Stamp failed"),
    ("stamped", "Stamped"),
    ("cancel_requested", "Cancel requested"),
    ("cancelled", "Cancelled"),
    ("cancel_rejected", "Cancel rejected"),
]
# The invoice's CFDI state from its current attempt (einvoice.attempt state -> CFDI state).
ATTEMPT_TO_MOVE = {
    "draft": "sending",
    "sending": "sending",
    "sent": "sending",
    "waiting": "waiting",
    "unknown": "unknown",
    "error": "error",
    "rejected": "error",
}
DONE = ("stamped", "cancel_requested", "cancelled", "cancel_rejected")
DESCRIPTION_LIMIT = 1000  # characters of cfdi:Concepto/@Descripcion
COMPLEMENT_INVOICE_STATES = ("stamped", "cancel_rejected")
IMPUESTO_KIND = {"001": "isr", "002": "iva", "003": "ieps"}


def _dec(value, digits=6):
    return Decimal(str(round(value, digits)))


def _cfdi_field(name, string, field_type=fields.Char, **kwargs):
    """A field of the current CFDI attempt shown on the invoice (read-only, not stored)."""
    return field_type(string=string, related=f"l10n_mx_factureapp_document_id.{name}", readonly=True, **kwargs)


class AccountMove(models.Model):
    _name = "account.move"
    _inherit = ["account.move", "einvoice.exchange.mixin"]

    l10n_mx_factureapp_document_ids = fields.One2many(
        "l10n_mx_factureapp.document", "move_id", string="Stamping attempts", copy=False
    )
    # Computed, never stored: the stamping engine writes attempts on its own cursor and must never
    # have to lock (or conflict on) the invoice row a caller's transaction may hold.
    l10n_mx_factureapp_document_id = fields.Many2one(
        "l10n_mx_factureapp.document",
        string="Current CFDI attempt",
        compute="_compute_l10n_mx_factureapp_document_id",
        search="_search_l10n_mx_factureapp_document_id",
        help="The latest stamping attempt of this invoice (of its global invoice when it is part of one).",
    )
    l10n_mx_factureapp_state = fields.Selection(
        MOVE_STATES,
        string="CFDI state",
        compute="_compute_l10n_mx_factureapp_state",
        search="_search_l10n_mx_factureapp_state",
    )
    l10n_mx_factureapp_error = fields.Text("CFDI status", compute="_compute_l10n_mx_factureapp_state")
    l10n_mx_factureapp_refusal = fields.Text(
        "CFDI not sent because", copy=False, readonly=True, help="The data to fix found before anything was sent."
    )
    l10n_mx_factureapp_blocking = fields.Boolean(
        "CFDI outcome being confirmed",
        related="l10n_mx_factureapp_document_id.einvoice_attempt_blocking",
        help="Stamping or outcome unknown: nothing new is built and nothing is resent until Facture APP is asked.",
    )
    l10n_mx_factureapp_uuid = _cfdi_field("uuid", "Fiscal folio (UUID)")
    l10n_mx_factureapp_stamped_at = _cfdi_field("stamped_at", "Stamped on", fields.Datetime)
    l10n_mx_factureapp_sat_certificate = _cfdi_field("sat_certificate", "SAT certificate")
    l10n_mx_factureapp_xml_id = _cfdi_field("stamped_xml_id", "Stamped CFDI", fields.Many2one)
    l10n_mx_factureapp_pdf_id = _cfdi_field("pdf_id", "Facture APP PDF", fields.Many2one)
    l10n_mx_factureapp_acuse_id = _cfdi_field("acuse_id", "Cancellation acuse", fields.Many2one)
    l10n_mx_factureapp_verification_url = _cfdi_field("verification_url", "SAT verification link")
    l10n_mx_factureapp_sat_state = _cfdi_field("sat_state", "SAT state")
    l10n_mx_factureapp_sat_cancellable = _cfdi_field("sat_cancellable", "SAT: cancellable")
    l10n_mx_factureapp_sat_cancel_status = _cfdi_field("sat_cancel_status", "SAT: cancellation status")
    l10n_mx_factureapp_sat_efos = _cfdi_field("sat_efos", "SAT: EFOS validation")
    l10n_mx_factureapp_sat_checked_at = _cfdi_field("sat_checked_at", "SAT checked on", fields.Datetime)
    l10n_mx_factureapp_cancel_motive = _cfdi_field("cancel_motive", "Cancellation motive", fields.Selection)
    l10n_mx_factureapp_cancel_link = _cfdi_field("cancel_link", "Receiver acceptance link")
    l10n_mx_factureapp_qr = fields.Binary("QR code", compute="_compute_l10n_mx_factureapp_qr")
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

    # ------------------------------------------------------------------ the current CFDI
    @api.depends(
        "l10n_mx_factureapp_document_ids.state",
        "l10n_mx_factureapp_global_lead_id.l10n_mx_factureapp_document_ids.state",
    )
    def _compute_l10n_mx_factureapp_document_id(self):
        for move in self:
            subject = move.l10n_mx_factureapp_global_lead_id or move
            attempts = subject.sudo().l10n_mx_factureapp_document_ids.filtered(lambda d: d.kind != "P")
            move.l10n_mx_factureapp_document_id = attempts.sorted("id", reverse=True)[:1].id

    @api.depends(
        "state",
        "move_type",
        "l10n_mx_factureapp_refusal",
        "l10n_mx_factureapp_document_id.state",
        "l10n_mx_factureapp_document_id.cancel_state",
        "l10n_mx_factureapp_document_id.message",
        "l10n_mx_factureapp_document_id.next_check",
    )
    def _compute_l10n_mx_factureapp_state(self):
        for move in self:
            attempt = move.l10n_mx_factureapp_document_id.sudo()
            if move.l10n_mx_factureapp_refusal and not attempt.einvoice_attempt_blocking:
                move.l10n_mx_factureapp_state = "error" if move.state == "posted" else attempt and "error"
                move.l10n_mx_factureapp_error = move.l10n_mx_factureapp_refusal
                continue
            if not attempt:
                applicable = move.state == "posted" and move._l10n_mx_factureapp_applicable()
                move.l10n_mx_factureapp_state = "to_stamp" if applicable else False
                move.l10n_mx_factureapp_error = False
                continue
            if attempt.state == "accepted":
                move.l10n_mx_factureapp_state = attempt.cancel_state or "stamped"
            else:
                move.l10n_mx_factureapp_state = ATTEMPT_TO_MOVE[attempt.state]
            move.l10n_mx_factureapp_error = attempt._l10n_mx_factureapp_outcome()

    def _search_l10n_mx_factureapp_document_id(self, operator, value):
        """Any attempt of the invoice or of its global invoice (the current one is the latest)."""
        return [
            "|",
            ("l10n_mx_factureapp_document_ids", operator, value),
            ("l10n_mx_factureapp_global_lead_id.l10n_mx_factureapp_document_ids", operator, value),
        ]

    def _search_l10n_mx_factureapp_state(self, operator, value):
        """Invoices whose current attempt (their global invoice's) gives the CFDI state(s) asked."""
        if operator not in ("=", "!=", "in", "not in"):
            raise UserError(_("Unsupported search on the CFDI state."))
        # a collection for "in" (19.0 passes an OrderedSet), a single value otherwise
        wanted = {value} if isinstance(value, str) or not hasattr(value, "__iter__") else set(value)
        self.env["l10n_mx_factureapp.document"].flush_model()
        self.env.cr.execute(
            """SELECT DISTINCT ON (move_id) move_id, state, cancel_state FROM l10n_mx_factureapp_document
                WHERE kind != 'P' ORDER BY move_id, id DESC"""
        )
        rows = self.env.cr.fetchall()
        ids = [
            move_id
            for move_id, state, cancel in rows
            if (cancel or "stamped" if state == "accepted" else ATTEMPT_TO_MOVE[state]) in wanted
        ]
        domain = ["|", "&", ("l10n_mx_factureapp_global_lead_id", "=", False), ("id", "in", ids)]
        domain += [("l10n_mx_factureapp_global_lead_id", "in", ids)]
        if "error" in wanted:  # refused before anything was sent
            domain = expression.OR([domain, [("l10n_mx_factureapp_refusal", "!=", False)]])
        if wanted & {False, "to_stamp"}:  # no attempt yet
            fresh = [("l10n_mx_factureapp_global_lead_id", "=", False), ("id", "not in", [row[0] for row in rows])]
            if False not in wanted:  # "to stamp": posted Mexican customer invoices only
                fresh += [("state", "=", "posted"), ("move_type", "in", ("out_invoice", "out_refund"))]
                fresh += [("country_code", "=", "MX")]
            domain = expression.OR([domain, fresh])
        return domain if operator in ("=", "in") else ["!", *domain]

    def button_draft(self):
        # EXTENDS 'account'
        guarded = self.browse() if self.env.context.get("l10n_mx_factureapp_sat_cancelled") else self
        for move in guarded:
            if move.l10n_mx_factureapp_state in DONE + ("sending", "unknown", "waiting"):
                raise UserError(
                    _(
                        "Invoice %(name)s has a stamped (or possibly stamped) CFDI: cancel it with SAT first.",
                        name=move.display_name,
                    )
                )
        return super().button_draft()

    # ------------------------------------------------------------------ fiscal data -> CFDI
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

    # ------------------------------------------------------------------ stamping (einvoice.attempt)
    def action_l10n_mx_factureapp_stamp(self):
        self.check_access("write")  # before any call to Facture APP
        results = self._l10n_mx_factureapp_stamp()
        failed = {m: e for m, e in results.items() if e}
        if failed and len(self) == 1 and self.l10n_mx_factureapp_state in ("error", False, "to_stamp"):
            raise UserError(next(iter(failed.values())))
        return True

    def action_l10n_mx_factureapp_reconcile(self):
        """Check now: ask Facture APP about the live attempts (nothing new is built)."""
        self.check_access("write")
        self._l10n_mx_factureapp_check_live()
        stamped = self.filtered(lambda m: m.l10n_mx_factureapp_state == "stamped")
        if stamped:
            return _notification(
                _("Stamp found at Facture APP for %(names)s.", names=", ".join(stamped.mapped("display_name")))
            )
        texts = [
            f"{move.display_name}: {move.l10n_mx_factureapp_error}" for move in self if move.l10n_mx_factureapp_error
        ]
        return _notification("\n".join(texts) or _("Facture APP has no stamp for these invoices yet."), "warning")

    def _l10n_mx_factureapp_check_live(self):
        """Move the live attempts of these moves one step on now (look up, or send the stored bytes)."""
        live = self.env["l10n_mx_factureapp.document"].sudo()._einvoice_attempt_live(self)
        if live:
            live._einvoice_attempt_process()
            self._l10n_mx_factureapp_see_answers()
        return live

    def _l10n_mx_factureapp_see_answers(self):
        """See what the engine committed on its own cursor: a new snapshot (commit) and no value
        computed before (the CFDI state of an invoice is computed from its attempts)."""
        dbtools.commit(self.env)
        self.env.invalidate_all()

    def _l10n_mx_factureapp_stamp(self):
        """Stamp each move. Returns {move: translated text or False (stamped)}.

        A move with a live attempt is checked now, never rebuilt: its stamp is looked up, or its
        stored bytes are sent again when Facture APP never got them. The others are checked and
        built here (nothing is created for bad data), then stamped through einvoice.attempt."""
        dbtools.commit(self.env)  # the engine's own cursor sees what this transaction wrote (a payment, a global)
        live = self._l10n_mx_factureapp_check_live()
        jobs = []
        for move in self - live.move_id:
            if move.l10n_mx_factureapp_state in DONE:
                continue
            jobs.append((move, move._l10n_mx_factureapp_build, {}))
        results = self._l10n_mx_factureapp_start(jobs)
        for move in self - self.browse([m.id for m in results]):
            results[move] = move.l10n_mx_factureapp_error or False
        return results

    @api.model
    def _l10n_mx_factureapp_start(self, jobs):
        """Start one attempt per (move, build, extra values): the pre-CFDI is built ONCE, here, and
        its bytes go with the attempt. Returns {move: text} for the moves refused before sending."""
        dbtools.commit(self.env)  # the engine's own cursor must see what this transaction wrote
        refused, values_list, payloads = {}, [], []
        for move, build, extra in jobs:
            try:
                xml = build()
            except UserError as exc:
                refused[move] = exc.args[0]
                continue
            values_list.append(move._l10n_mx_factureapp_attempt_values(**extra))
            payloads.append((move.id, xml))
        self._l10n_mx_factureapp_note_refusals(refused, [move_id for move_id, _xml in payloads])
        if values_list:
            Document = self.env["l10n_mx_factureapp.document"].with_context(l10n_mx_factureapp_payloads=tuple(payloads))
            _attempts, texts = Document._einvoice_attempt_start(values_list)
            refused.update({self.browse(move.id): "\n".join(lines) for move, lines in texts.items()})
        self._l10n_mx_factureapp_see_answers()
        return refused

    @api.model
    def _l10n_mx_factureapp_note_refusals(self, refused, started_ids):
        """Keep on the invoice why it was not sent (data to fix); clear it once an attempt starts."""
        for move, text in refused.items():
            if move.l10n_mx_factureapp_refusal != text:
                move._l10n_mx_factureapp_write({"l10n_mx_factureapp_refusal": text})
        self.browse(started_ids).filtered("l10n_mx_factureapp_refusal")._l10n_mx_factureapp_write(
            {"l10n_mx_factureapp_refusal": False}
        )
        dbtools.commit(self.env)

    def _l10n_mx_factureapp_attempt_values(self, kind=None, credential=None, branch=None, **extra):
        self.ensure_one()
        if credential is None:
            credential = self.env["einvoice.credential"]._l10n_mx_factureapp_for_company(self.company_id)
        branch = branch or self.l10n_mx_factureapp_branch_id or self.company_id.l10n_mx_factureapp_branch_id
        return {
            "move_id": self.id,
            "kind": kind or ("E" if self.move_type == "out_refund" else "I"),
            "credential_id": credential.id,
            "branch_id": branch.id,
            **extra,
        }

    def _l10n_mx_factureapp_write(self, values):
        """Write CFDI fields only: the journal entry does not change, so its balance check and
        line synchronisation (the costly part of writing a move) are skipped."""
        return self.with_context(check_move_validity=False, skip_invoice_sync=True).write(values)

    def _l10n_mx_factureapp_service_error_text(self, exc, credential):
        if isinstance(exc, errors.AuthError):
            credential._l10n_mx_factureapp_note_auth_error(exc)
            return _(
                "Facture APP refused the credentials of %(conn)s (HTTP 401): fix them in the connection.",
                conn=credential.name,
            )
        if exc.code == "FA402":
            credential._l10n_mx_factureapp_note_no_credits()
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
            return _("Facture APP could not be reached; nothing was stamped yet (%(error)s).", error=exc.message)
        if isinstance(exc, errors.ProtocolError):
            return _("Facture APP answered something unreadable: %(error)s", error=exc.message)
        return _("Facture APP rejected %(name)s: %(error)s", name=self.display_name, error=str(exc))

    @api.model
    def _cron_l10n_mx_factureapp_follow(self, limit=50):
        """Finish queued bulk runs and follow cancellations (stamping attempts have their own job)."""
        queued = self.search([("l10n_mx_factureapp_bulk_queued", "=", True)], limit=limit * 10)
        if queued:
            queued._l10n_mx_factureapp_stamp_bulk()
        pending = (
            self.env["l10n_mx_factureapp.document"]
            .sudo()
            .search([("cancel_state", "=", "cancel_requested")], limit=limit)
        )
        for move in pending.move_id:
            try:
                move._l10n_mx_factureapp_update_sat_status()
            except UserError as exc:
                _logger.info("SAT status of move %s not updated: %s", move.id, exc)
            dbtools.commit(self.env)
        if len(pending) == limit or self.search_count([("l10n_mx_factureapp_bulk_queued", "=", True)]):
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
            moves._l10n_mx_factureapp_write({"l10n_mx_factureapp_bulk_queued": True})
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
        return _notification(message)

    def _l10n_mx_factureapp_stamp_bulk(self):
        """Stamp through ZIP files of `chunk_size` pre-CFDIs (einvoice.attempt discipline, see
        `l10n_mx_factureapp.document._l10n_mx_factureapp_zip_start`). Returns {move: text}."""
        Document = self.env["l10n_mx_factureapp.document"]
        live = Document.sudo()._einvoice_attempt_live(self)  # looked up by the attempts' job first
        todo = self - live.move_id
        if self.filtered("l10n_mx_factureapp_bulk_queued"):
            self.filtered("l10n_mx_factureapp_bulk_queued")._l10n_mx_factureapp_write(
                {"l10n_mx_factureapp_bulk_queued": False}
            )
        dbtools.commit(self.env)
        groups, refused = {}, {}  # (credential, branch) -> {move: pre-CFDI}
        Credential = self.env["einvoice.credential"]
        credentials = {company: Credential._l10n_mx_factureapp_for_company(company) for company in todo.company_id}
        for move in todo:
            try:
                credential, branch = move._l10n_mx_factureapp_connection(credentials[move.company_id])
                groups.setdefault((credential, branch), {})[move] = move._l10n_mx_factureapp_build(credential)
            except UserError as exc:
                refused[move] = exc.args[0]
        self._l10n_mx_factureapp_note_refusals(refused, [m.id for payloads in groups.values() for m in payloads])
        for (credential, branch), payloads in groups.items():
            moves = list(payloads)
            size = credential.l10n_mx_factureapp_chunk_size or 100
            for start in range(0, len(moves), size):
                chunk = {move: payloads[move] for move in moves[start : start + size]}
                refused.update(Document._l10n_mx_factureapp_zip_start(chunk, credential, branch))
        self._l10n_mx_factureapp_see_answers()
        return refused

    # ------------------------------------------------------------------ cancellation & SAT
    def _l10n_mx_factureapp_stamp_info(self):
        self.ensure_one()
        if not self.l10n_mx_factureapp_xml_id:
            raise UserError(_("Invoice %(name)s has no stamped CFDI.", name=self.display_name))
        return cfdi.stamp_info(self.l10n_mx_factureapp_xml_id.sudo().raw)

    def _l10n_mx_factureapp_cfdi_write(self, values):
        """Write on this invoice's stamped CFDI (its attempt: written by the system only)."""
        self.ensure_one()
        self.l10n_mx_factureapp_document_id.sudo().write(values)
        self.invalidate_recordset(["l10n_mx_factureapp_state", "l10n_mx_factureapp_error"])

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
        self._l10n_mx_factureapp_cfdi_write({"cancel_state": "cancel_requested", "cancel_motive": motive})
        self.with_context(no_new_invoice=True).message_post(
            body=_(
                "The answer to the cancellation request of %(name)s was lost or could not be read (%(error)s): "
                "SAT's status will tell whether it was registered; it is checked now and by the hourly job.",
                name=self.display_name,
                error=exc.message,
            )
        )
        dbtools.commit(self.env)
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
        self._l10n_mx_factureapp_cfdi_write(
            {"cancel_state": "cancel_requested", "cancel_motive": motive, "cancel_link": answer.link or False}
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
        dbtools.commit(self.env)  # the PAC has the request: keep it
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
        self._l10n_mx_factureapp_cfdi_write(
            {
                "sat_state": status.state,
                "sat_cancellable": status.cancellable,
                "sat_cancel_status": status.cancel_status,
                "sat_efos": status.efos,
                "sat_checked_at": fields.Datetime.now(),
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
            self._l10n_mx_factureapp_cfdi_write({"cancel_state": "cancel_rejected"})
            self.with_context(no_new_invoice=True).message_post(
                body=_("The customer rejected the cancellation of the CFDI; it stays valid.")
            )
        return status

    def _l10n_mx_factureapp_cancelled(self, credential, status):
        self._l10n_mx_factureapp_cfdi_write({"cancel_state": "cancelled"})
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
            self._l10n_mx_factureapp_cfdi_write({"acuse_id": attachment.id})
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
        attempt = self.l10n_mx_factureapp_document_id.sudo()
        if attempt.uuid and not attempt.pdf_id:
            attempt._l10n_mx_factureapp_fetch_pdf()
            self.invalidate_recordset(["l10n_mx_factureapp_pdf_id"])
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

    # ------------------------------------------------------------------ payments complement (CFDI type P)
    # The entry that pays is an `account.payment`'s move or a bank statement line's move; whichever
    # way it got reconciled with stamped PPD invoices (payment wizard, outstanding credits on the
    # invoice, bank reconciliation), `account.partial.reconcile` flags it and a job stamps it.

    def _l10n_mx_factureapp_needs_complement(self):
        """This move is a stamped PPD customer invoice: payments of it need a complement."""
        self.ensure_one()
        return (
            self.move_type == "out_invoice"
            and self.l10n_mx_factureapp_payment_method == "PPD"
            and self.l10n_mx_factureapp_state in COMPLEMENT_INVOICE_STATES
        )

    def _l10n_mx_factureapp_is_payer(self):
        """This move is a payment (wizard, outstanding credit) or a bank statement line."""
        self.ensure_one()
        return (
            self.move_type == "entry"
            and self.state == "posted"
            and bool(self.origin_payment_id or self.statement_line_id)
        )

    def _l10n_mx_factureapp_payment_applications(self):
        """{invoice: {"amount": paid in the invoice currency, "amount_payment": in this entry's
        currency, "first_partial": id of its first reconciliation}} for each stamped PPD invoice
        this entry pays, in reconciliation order."""
        self.ensure_one()
        lines = self.line_ids.filtered(lambda line: line.account_type == "asset_receivable")
        applications = {}
        for partial in lines.matched_debit_ids.sorted("id"):
            invoice = partial.debit_move_id.move_id
            if invoice == self or not invoice._l10n_mx_factureapp_needs_complement():
                continue
            if not partial.debit_amount_currency:
                continue  # an exchange difference, not a payment
            entry = applications.setdefault(
                invoice, {"amount": 0.0, "amount_payment": 0.0, "first_partial": partial.id}
            )
            entry["amount"] += partial.debit_amount_currency
            entry["amount_payment"] += partial.credit_amount_currency
        return applications

    def _l10n_mx_factureapp_covered_invoices(self):
        """Invoices already in a stamped (or possibly stamped) complement of this entry."""
        self.ensure_one()
        return (
            self.sudo()
            .l10n_mx_factureapp_document_ids.filtered(lambda d: d.kind == "P" and d.state in HOLDING_STATES)
            .invoice_ids.sudo(False)
        )

    def _l10n_mx_factureapp_pending_applications(self):
        self.ensure_one()
        covered = self._l10n_mx_factureapp_covered_invoices()
        return {
            invoice: entry
            for invoice, entry in self._l10n_mx_factureapp_payment_applications().items()
            if invoice not in covered
        }

    def _l10n_mx_factureapp_applications_of(self, invoices):
        """The applications of this entry to `invoices` (those a complement attempt reports)."""
        self.ensure_one()
        return {inv: entry for inv, entry in self._l10n_mx_factureapp_payment_applications().items() if inv in invoices}

    def _l10n_mx_factureapp_payment_currency(self):
        lines = self.line_ids.filtered(lambda line: line.account_type == "asset_receivable")
        return lines.currency_id[:1] or self.currency_id

    def _l10n_mx_factureapp_installment(self, invoice, first_partial_id):
        """(NumParcialidad, ImpSaldoAnt) of `invoice` for this entry: counted from the invoice's
        reconciliations made before this entry's, so the numbers are right whatever order the
        complements are stamped in."""
        lines = invoice.line_ids.filtered(lambda line: line.account_type == "asset_receivable")
        earlier = lines.matched_credit_ids.filtered(lambda p: p.id < first_partial_id and p.debit_amount_currency)
        payers = earlier.credit_move_id.move_id.filtered(lambda m: m != self and m._l10n_mx_factureapp_is_payer())
        paid_before = sum(earlier.mapped("debit_amount_currency"))
        return len(payers) + 1, invoice.amount_total - paid_before

    @api.model
    def _l10n_mx_factureapp_invoice_tax_bases(self, invoice):
        """[(cfdi.Tax, base)] of a whole invoice, as its CFDI states them (to prorate per payment)."""
        data = invoice._l10n_mx_factureapp_invoice_data()
        totals = cfdi.compute(data)
        taxes = []
        for (impuesto, factor, rate), (base, _amount) in totals.traslados.items():
            tax = cfdi.Tax(IMPUESTO_KIND[impuesto], factor, Decimal(rate) if rate else Decimal(0))
            taxes.append((tax, base))
        for impuesto in totals.retenciones:
            kind = IMPUESTO_KIND[impuesto]
            withheld = [
                (line, tax) for line in data.lines for tax in line.taxes if tax.withholding and tax.kind == kind
            ]
            base = sum(
                (cfdi.d(line.quantity) * cfdi.d(line.unit_price) - cfdi.d(line.discount) for line, _tax in withheld),
                Decimal(0),
            )
            taxes.append((cfdi.Tax(kind, "Tasa", withheld[0][1].rate, withholding=True), cfdi.rnd(base, 2)))
        return taxes

    def _l10n_mx_factureapp_paid_document(self, invoice, entry, payment_currency):
        info = invoice._l10n_mx_factureapp_stamp_info()
        installment, balance_before = self._l10n_mx_factureapp_installment(invoice, entry["first_partial"])
        equivalence = Decimal(1)
        if invoice.currency_id != payment_currency:
            equivalence = _equivalence(entry["amount"], entry["amount_payment"])
        digits = invoice.currency_id.decimal_places
        return cfdi.PaidDocument(
            uuid=info.uuid,
            currency=invoice.currency_id.name,
            amount_paid=_dec(entry["amount"], digits),
            balance_before=_dec(balance_before, digits),
            installment=installment,
            total=Decimal(info.total),
            taxes=self._l10n_mx_factureapp_invoice_tax_bases(invoice),
            series=info.series,
            number=info.number,
            equivalence=equivalence,
        )

    def _l10n_mx_factureapp_payment_rate(self, currency):
        """TipoCambioP: MXN per unit of the payment currency, as booked on this entry."""
        if currency.name == "MXN":
            return None
        lines = self.line_ids.filtered(lambda line: line.account_type == "asset_receivable")
        amount_currency = sum(lines.mapped("amount_currency"))
        balance = sum(lines.mapped("balance"))
        if amount_currency:
            return _dec(balance / amount_currency, 6)
        rate = self.company_id.currency_id._get_conversion_rate(
            currency, self.company_id.currency_id, self.company_id, self.date
        )
        return _dec(rate, 6) if rate else None

    def _l10n_mx_factureapp_payment_form_code(self):
        payment = self.origin_payment_id
        form = payment.l10n_mx_factureapp_payment_form if payment else False
        if not form and self.statement_line_id:
            form = self.statement_line_id.partner_id.commercial_partner_id.l10n_mx_factureapp_payment_form
        return form if form and form != "99" else "03"

    def _l10n_mx_factureapp_payment_data(self, applications=None):
        self.ensure_one()
        if applications is None:
            applications = self._l10n_mx_factureapp_pending_applications()
        if not applications:
            raise UserError(
                _(
                    "Payment %(name)s pays no stamped PPD invoice without a complement: no payment complement is "
                    "needed.",
                    name=self.display_name,
                )
            )
        invoices = self.env["account.move"].union(*applications)
        if len(invoices.partner_id.commercial_partner_id) > 1:
            raise UserError(
                _(
                    "Payment %(name)s pays invoices of several customers (%(customers)s): a payment complement has "
                    "one receiver. Split the payment per customer.",
                    name=self.display_name,
                    customers=", ".join(invoices.partner_id.commercial_partner_id.mapped("display_name")),
                )
            )
        invoice0 = invoices[0]
        branch = invoice0.l10n_mx_factureapp_branch_id or self.company_id.l10n_mx_factureapp_branch_id
        place = (branch.zip or self.company_id.zip or "").strip()
        currency = self._l10n_mx_factureapp_payment_currency()
        docs = [
            self._l10n_mx_factureapp_paid_document(invoice, entry, currency) for invoice, entry in applications.items()
        ]
        amount = sum(entry["amount_payment"] for entry in applications.values())
        payment = self.origin_payment_id
        operation = (payment.memo if payment else self.statement_line_id.payment_ref) or ""
        series, number = self._l10n_mx_factureapp_series_number()
        return cfdi.Payment(
            date=fields.Datetime.to_datetime(self.date or fields.Date.context_today(self)).replace(hour=12),
            issuer=invoice0._l10n_mx_factureapp_issuer(),
            receiver=invoice0._l10n_mx_factureapp_receiver(place, "CP01"),
            place=place,
            payment_form=self._l10n_mx_factureapp_payment_form_code(),
            currency=currency.name,
            amount=_dec(amount, currency.decimal_places),
            documents=docs,
            rate=self._l10n_mx_factureapp_payment_rate(currency),
            operation=operation,
            date_issued=self._l10n_mx_factureapp_local_now(),
            series=series,
            number=number,
        )

    def _l10n_mx_factureapp_build_payment(self, applications=None):
        try:
            xml = cfdi.build_payment(self._l10n_mx_factureapp_payment_data(applications))
        except cfdi.CfdiError as exc:
            raise UserError(
                _(
                    "The payment complement of %(name)s cannot be built: %(problems)s",
                    name=self.display_name,
                    problems="\n".join(self._l10n_mx_factureapp_problem_text(p) for p in exc.problems),
                )
            ) from exc
        problems = cfdi.xsd_errors(xml)
        if problems:
            raise UserError(
                _(
                    "The payment complement of %(name)s does not pass the SAT schema:\n%(errors)s",
                    name=self.display_name,
                    errors="\n".join(problems),
                )
            )
        return xml

    def _l10n_mx_factureapp_stamp_payment(self):
        """Stamp the complement of the invoices this entry pays that no complement of it covers yet.
        A live attempt is checked now (looked up, or its stored bytes sent); nothing new is built
        meanwhile. Returns a translated text, or False."""
        self.ensure_one()
        dbtools.commit(self.env)  # the engine's own cursor must see this payment
        live = self._l10n_mx_factureapp_check_live()
        if not live:
            applications = self._l10n_mx_factureapp_pending_applications()
            if not applications:
                return False
            invoices = self.env["account.move"].union(*applications)
            move_branch = invoices[:1].l10n_mx_factureapp_branch_id
            if move_branch and not self.l10n_mx_factureapp_branch_id:
                self.l10n_mx_factureapp_branch_id = move_branch

            def build():
                return self._l10n_mx_factureapp_build_payment(applications)

            extra = {"kind": "P", "invoice_ids": [(6, 0, invoices.ids)]}
            refused = self._l10n_mx_factureapp_start([(self, build, extra)])
            if refused.get(self):
                return refused[self]
        attempt = self._l10n_mx_factureapp_complement_attempt()
        return attempt._l10n_mx_factureapp_outcome() if attempt else False

    def _l10n_mx_factureapp_complement_attempt(self):
        attempts = self.sudo().l10n_mx_factureapp_document_ids.filtered(lambda d: d.kind == "P")
        return attempts.sorted("id", reverse=True)[:1]

    def _l10n_mx_factureapp_process_complement(self):
        """Stamp this entry's complement, record the outcome on it; never raises. Returns the error."""
        self.ensure_one()
        try:
            error = self._l10n_mx_factureapp_stamp_payment()
        except UserError as exc:
            error = exc.args[0]
        attempt = self._l10n_mx_factureapp_complement_attempt()
        live = attempt.state in ACTIVE_STATES
        values = {
            "l10n_mx_factureapp_complement_pending": bool(live or self._l10n_mx_factureapp_pending_applications()),
            # a live attempt is followed by the attempts' job; anything else waits for a person
            "l10n_mx_factureapp_complement_error": error if error and not live else False,
        }
        if any(self[key] != value for key, value in values.items()):
            self._l10n_mx_factureapp_write(values)
        if error and not live:
            self.with_context(no_new_invoice=True).message_post(
                body=_("The payment complement could not be stamped: %(error)s", error=error)
            )
        return error

    def action_l10n_mx_factureapp_stamp_payment(self):
        self.check_access("write")
        for move in self:
            live = self.env["l10n_mx_factureapp.document"].sudo()._einvoice_attempt_live(move)
            if not live and not move._l10n_mx_factureapp_pending_applications():
                raise UserError(
                    _(
                        "%(name)s pays no stamped PPD invoice without a complement: nothing to stamp.",
                        name=move.display_name,
                    )
                )
            error = move._l10n_mx_factureapp_process_complement()
            attempt = move._l10n_mx_factureapp_complement_attempt()
            if error and attempt.state not in ACTIVE_STATES:
                raise UserError(error)
        return True

    @api.model
    def _cron_l10n_mx_factureapp_complements(self, limit=50):
        """Stamp the complements of entries flagged when they were reconciled with stamped PPD invoices."""
        moves = self.env["account.move"].search(
            [
                ("l10n_mx_factureapp_complement_pending", "=", True),
                ("l10n_mx_factureapp_complement_error", "=", False),
            ],
            limit=limit,
            order="id",
        )
        for move in dbtools.lock_skip_locked(moves):
            move._l10n_mx_factureapp_process_complement()
            dbtools.commit(self.env)  # one payment at a time
        if len(moves) == limit:
            self.env.ref("l10n_mx_factureapp.ir_cron_l10n_mx_factureapp_complements").sudo()._trigger()

    def _l10n_mx_factureapp_flag_payers(self):
        """Flag the payments of this (just stamped) PPD invoice that were reconciled before its stamp."""
        lines = self.line_ids.filtered(lambda line: line.account_type == "asset_receivable")
        payers = lines.matched_credit_ids.credit_move_id.move_id.filtered(lambda m: m._l10n_mx_factureapp_is_payer())
        if payers:
            payers.write({"l10n_mx_factureapp_complement_pending": True, "l10n_mx_factureapp_complement_error": False})
            self.env.ref("l10n_mx_factureapp.ir_cron_l10n_mx_factureapp_complements").sudo()._trigger()


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


def _equivalence(invoice_amount, payment_amount):
    """EquivalenciaDR: units of the invoice currency per unit of the payment currency, rounded up at
    10 decimals so that ImpPagado / EquivalenciaDR never exceeds the amount actually paid."""
    if not payment_amount:
        return Decimal(1)
    value = Decimal(str(invoice_amount)) / Decimal(str(payment_amount))
    return value.quantize(Decimal("0.0000000001"), rounding=ROUND_CEILING)
