import base64
import io
import logging

from odoo import _, api, fields, models
from odoo.exceptions import UserError
from odoo.osv import expression

from odoo.addons.einvoice_common import dbtools
from odoo.addons.einvoice_common.einvoice import errors

from ..factureapp import catalogs
from .helpers import _notification

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


def _cfdi_field(name, string, field_type=fields.Char, **kwargs):
    """A field of the current CFDI attempt shown on the invoice (read-only, not stored)."""
    return field_type(string=string, related=f"l10n_mx_factureapp_document_id.{name}", readonly=True, **kwargs)


class AccountMove(models.Model):
    _name = "account.move"
    # cohesive groups of methods live in their own abstract models (small files, one concern each)
    _inherit = [
        "account.move",
        "einvoice.exchange.mixin",
        "l10n_mx_factureapp.move.cfdi",
        "l10n_mx_factureapp.move.cfdi.texts",
        "l10n_mx_factureapp.move.cancel",
        "l10n_mx_factureapp.move.complement",
    ]

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
