import json
import logging
from datetime import timedelta

from markupsafe import Markup, escape
from psycopg2 import errors as pg_errors

from odoo import _, api, fields, models
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tools import SQL, float_round

from odoo.addons.einvoice_common import compat
from odoo.addons.einvoice_common.einvoice import errors as common_errors

from ..lafactura import documents as lf_docs
from ..lafactura import nit as lf_nit

_logger = logging.getLogger(__name__)

STATES = [
    ("received", "Received"),
    ("processed", "Processed"),
    ("duplicate", "Duplicate"),
    ("ignored", "Ignored"),
    ("rejected", "Rejected"),
    ("error", "Error"),
]
RETRYABLE = ("transient", "original_unknown", "retry")
# Failures that say "not now" rather than "never": a concurrent worker holds or just wrote
# the same rows (posting number, CUFE, partner); the row is processed again, not left in error.
RETRY_NOW_ERRORS = (
    pg_errors.SerializationFailure,
    pg_errors.DeadlockDetected,
    pg_errors.LockNotAvailable,
    pg_errors.UniqueViolation,
)
MAX_ATTEMPTS = 10
KIND_LABELS = {"fc": "Invoice", "nc": "Credit note", "nd": "Debit note"}


class L10nCoLafacturaInbox(models.Model):
    """One delivery of LaFactura.co's hook, stored raw before anything is done with it.

    Identical bodies to the same connection are stored once (`delivery_count` counts them).
    The processor turns `received` rows into bills, idempotently on the CUFE per company.
    """

    _name = "l10n_co_lafactura.inbox"
    _inherit = ["einvoice.exchange.mixin"]
    _description = "LaFactura.co received document"
    _order = "id desc"
    _rec_name = "display_label"
    _check_company_auto = True

    credential_id = fields.Many2one("einvoice.credential", required=True, ondelete="restrict", index=True)
    company_id = fields.Many2one("res.company", required=True, index=True)
    received_at = fields.Datetime(required=True, readonly=True, index=True)
    last_received_at = fields.Datetime(readonly=True)
    delivery_count = fields.Integer(default=1, readonly=True, help="Deliveries of this exact body.")
    remote_addr = fields.Char("Remote address", readonly=True)
    content_type = fields.Char(readonly=True)
    body = fields.Text(readonly=True, help="The delivered body as received (UTF-8).")
    body_sha256 = fields.Char("Body SHA-256", required=True, readonly=True)
    body_size = fields.Integer(readonly=True)
    cufe = fields.Char("CUFE/CUDE", index=True, readonly=True)
    doc_type = fields.Selection(
        [("fc", "Invoice"), ("nc", "Credit note"), ("nd", "Debit note")],
        "Type",
        readonly=True,
    )
    doc_type_raw = fields.Char(readonly=True)
    mode = fields.Selection([("1", "Production"), ("2", "Test")], readonly=True)
    number = fields.Char(readonly=True, index=True)
    provider_vat = fields.Char("Supplier NIT", readonly=True)
    provider_name = fields.Char("Supplier", readonly=True)
    reference_cufe = fields.Char("Referenced CUFE", readonly=True, index=True)
    state = fields.Selection(STATES, required=True, default="received", index=True, readonly=True)
    reason = fields.Text(readonly=True)
    reason_code = fields.Char(readonly=True, index=True)
    move_id = fields.Many2one(
        "account.move",
        "Bill",
        readonly=True,
        index="btree_not_null",
        check_company=True,
    )
    attempts = fields.Integer(readonly=True)
    next_attempt_at = fields.Datetime(readonly=True)
    processed_at = fields.Datetime(readonly=True)
    dian_approved = fields.Boolean(readonly=True)
    dian_messages = fields.Text(readonly=True)
    display_label = fields.Char(compute="_compute_display_label")

    compat.sql_constraints(
        locals(),
        [
            (
                "unique_body",
                "unique(credential_id, body_sha256)",
                "This exact delivery is already stored.",
            ),
        ],
    )

    def _compute_display_label(self):
        for row in self:
            row.display_label = " ".join(
                p
                for p in (
                    KIND_LABELS.get(row.doc_type, ""),
                    row.number or "",
                    row.provider_name or "",
                )
                if p
            ) or _("Delivery %s", row.id)

    # ------------------------------------------------------------------------------ receive
    @api.model
    def _l10n_co_lafactura_store(self, credential, delivery, body, remote_addr="", content_type=""):
        """Store one delivery (one row per distinct body); returns (id, inserted).

        INSERT ... ON CONFLICT so concurrent identical deliveries never fail nor double. The
        same statement tells whether the processing cron is already due: during a burst only
        the first delivery creates a trigger (and wakes the cron workers), the others do one
        insert and nothing else.
        """
        keys = delivery.keys or {}
        kind = keys.get("type") if keys.get("type") in ("fc", "nc", "nd") else None
        mode = keys.get("mode") if keys.get("mode") in ("1", "2") else None
        now = fields.Datetime.now()
        uid = self.env.uid
        # ir.model.data's cached lookup: env.ref() would also query whether the cron exists
        cron_id = self.env["ir.model.data"]._xmlid_to_res_id("l10n_co_lafactura.ir_cron_l10n_co_lafactura_process")
        cron = self.env["ir.cron"].sudo().browse(cron_id)
        self.env.cr.execute(
            SQL(
                """
                WITH stored AS (
                INSERT INTO l10n_co_lafactura_inbox
                    (credential_id, company_id, received_at, last_received_at, delivery_count, remote_addr,
                     content_type, body, body_sha256, body_size, cufe, doc_type, doc_type_raw, mode, number,
                     provider_vat, provider_name, state, reason, reason_code, attempts,
                     create_uid, create_date, write_uid, write_date)
                VALUES (%s, %s, %s, %s, 1, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 0,
                        %s, %s, %s, %s)
                ON CONFLICT (credential_id, body_sha256) DO UPDATE
                    SET delivery_count = l10n_co_lafactura_inbox.delivery_count + 1,
                        last_received_at = EXCLUDED.last_received_at
                RETURNING id, (xmax = 0) AS inserted
                )
                SELECT stored.id, stored.inserted, EXISTS (
                    SELECT 1 FROM ir_cron_trigger
                     WHERE cron_id = %s AND call_at <= (clock_timestamp() AT TIME ZONE 'UTC')
                ) FROM stored
                """,
                credential.id,
                credential.company_id.id,
                now,
                now,
                (remote_addr or "")[:64],
                (content_type or "")[:128],
                body.decode("utf-8", "replace").replace("\x00", "\ufffd"),  # PostgreSQL text holds no NUL
                delivery.sha256,
                len(body),
                keys.get("cufe") or None,
                kind,
                (keys.get("type") or "")[:16] or None,
                mode,
                (keys.get("num") or "")[:64] or None,
                (keys.get("provider_id") or "")[:32] or None,
                (keys.get("provider_name") or "")[:256] or None,
                delivery.state,
                delivery.reason or None,
                delivery.code or None,
                uid,
                now,
                uid,
                now,
                cron.id,
            ),
            # Two identical deliveries at once: the loser's serialization failure makes Odoo
            # retry the request (its body is cached); no need to log the query with the body.
            log_exceptions=False,
        )
        row_id, inserted, cron_due = self.env.cr.fetchone()
        if inserted and delivery.state == "received" and not cron_due:
            cron._trigger()
        return row_id, inserted

    # ------------------------------------------------------------------------------ process
    @api.model
    def _cron_l10n_co_lafactura_process(self, limit=50):
        """Turn received deliveries into bills; batch of `limit`, commit per row, re-trigger."""
        now = fields.Datetime.now()
        domain = [
            "|",
            ("state", "=", "received"),
            "&",
            "&",
            "&",
            ("state", "=", "error"),
            ("reason_code", "in", RETRYABLE),
            ("attempts", "<", MAX_ATTEMPTS),
            ("next_attempt_at", "<=", now),
        ]
        rows = self.sudo().search(domain, order="id", limit=limit)
        # Invoices first, so notes of the same batch find their originals.
        rows = rows.sorted(lambda r: (r.doc_type != "fc", r.id))
        done = 0
        Credential = self.env["einvoice.credential"]
        for row in rows:
            # A fresh transaction (and snapshot) per row: a row another worker finished
            # meanwhile is seen as finished, not processed twice.
            Credential._einvoice_commit()
            try:
                locked = Credential._einvoice_lock_skip_locked(row)
            except pg_errors.SerializationFailure:
                if not Credential._einvoice_can_commit():
                    raise
                self.env.cr.rollback()  # finished by another worker this very instant
                continue
            if not locked:
                continue  # another worker has it
            row.invalidate_recordset()
            if not (row.state == "received" or row.state == "error" and row.reason_code in RETRYABLE):
                continue
            row._l10n_co_lafactura_process_one()
            done += 1
            Credential._einvoice_commit()
        # Deliveries that came during this run found the cron due and made no trigger of their
        # own (and Odoo drops this run's triggers when it ends): look once more.
        if len(rows) == limit or self.sudo().search_count([("state", "=", "received")], limit=1):
            self.env.ref("l10n_co_lafactura.ir_cron_l10n_co_lafactura_process").sudo()._trigger()
        return done

    def action_l10n_co_lafactura_process_again(self):
        """Process the selected rows again (rows that already made a bill are left alone).

        Rows are written by the system only: the caller's right to act on these very rows
        is checked, then the work runs as superuser. Rows a worker holds are skipped.
        """
        if not self.env.user.has_group("account.group_account_invoice"):
            raise AccessError(_("Only invoicing users may process LaFactura.co documents again."))
        self.check_access("read")
        rows = self.filtered(lambda r: not (r.state in ("processed", "duplicate") and r.move_id))
        if not rows:
            raise UserError(_("The selected documents were already booked; nothing to process again."))
        rows = self.env["einvoice.credential"]._einvoice_lock_skip_locked(rows.sudo())
        if not rows:
            raise UserError(_("These documents are being processed right now; look again in a moment."))
        rows.write(
            {
                "state": "received",
                "reason": False,
                "reason_code": False,
                "attempts": 0,
                "next_attempt_at": False,
            }
        )
        rows.sudo()._l10n_co_lafactura_process_rows()
        return True

    def _l10n_co_lafactura_process_rows(self):
        for row in self:
            row._l10n_co_lafactura_process_one()

    def _l10n_co_lafactura_finish(self, state, code="", reason="", move=None):
        values = {
            "state": state,
            "reason_code": code or False,
            "reason": reason or False,
            "processed_at": fields.Datetime.now(),
        }
        if move is not None:
            values["move_id"] = move.id
        if state == "error" and code in RETRYABLE:
            # "retry": a concurrent worker collided with us: at once (next transaction), then
            # 4, 8 ... 300 s; otherwise back off 2, 4 ... 60 minutes. The cron wakes up then.
            if code == "retry":
                delay = timedelta(seconds=0 if self.attempts <= 1 else min(300, 2**self.attempts))
            else:
                delay = timedelta(minutes=min(60, 2 ** min(self.attempts, 6)))
            values["next_attempt_at"] = fields.Datetime.now() + delay
            self.env.ref("l10n_co_lafactura.ir_cron_l10n_co_lafactura_process").sudo()._trigger(
                values["next_attempt_at"]
            )
        self.write(values)

    def _l10n_co_lafactura_process_one(self):
        """Process one row in a savepoint: a failure leaves no partial bill."""
        self.ensure_one()
        if self.state not in ("received", "error"):
            return
        self.attempts += 1
        try:
            prepared = self._l10n_co_lafactura_prepare()
            if prepared:
                # The bill in a savepoint: a failure leaves no partial bill; the exchange log stays.
                with self.env.cr.savepoint():
                    self._l10n_co_lafactura_book(*prepared)
        except lf_docs.Refusal as refusal:
            self._l10n_co_lafactura_finish(refusal.state, refusal.code, refusal.message)
            if getattr(refusal, "reference_cufe", None):
                self.reference_cufe = refusal.reference_cufe
        except common_errors.TransientError as exc:
            self._l10n_co_lafactura_finish(
                "error",
                "transient",
                _("LaFactura.co could not be reached; retried later: %s", exc),
            )
        except common_errors.AuthError as exc:
            credential = self.credential_id.sudo()
            if credential.state != "error":  # written once: every document of a batch meets the same refusal
                credential.write({"state": "error", "last_error": str(exc)})
            self._l10n_co_lafactura_finish(
                "error",
                "auth",
                _(
                    "LaFactura.co refused the API credentials (%s): fix them, then process again.",
                    exc,
                ),
            )
        except common_errors.RejectedError as exc:
            if exc.code == "404":
                self._l10n_co_lafactura_finish(
                    "rejected",
                    "not_found",
                    _(
                        "LaFactura.co does not know this CUFE: the delivery is not trusted (%s).",
                        exc,
                    ),
                )
            else:
                self._l10n_co_lafactura_finish(
                    "error",
                    "rejected",
                    _("LaFactura.co refused getDocumentInfo: %s", exc),
                )
        except common_errors.EInvoiceError as exc:
            self._l10n_co_lafactura_finish(
                "error",
                "transient",
                _("LaFactura.co answered something unreadable; retried later: %s", exc),
            )
        except (UserError, ValidationError) as exc:
            self._l10n_co_lafactura_finish("error", "odoo", str(exc.args[0] if exc.args else exc))
        except RETRY_NOW_ERRORS as exc:
            # e.g. account_move_unique_name: another worker posted the same number first
            _logger.info("LaFactura inbox %s: concurrent update (%s), processed again", self.id, type(exc).__name__)
            self._l10n_co_lafactura_finish(
                "error",
                "retry",
                _("Another worker changed the same records at the same time; processed again at once."),
            )
        except Exception as exc:  # a bad document must not stop the batch; recorded on the row
            _logger.warning("LaFactura inbox %s: processing failed", self.id, exc_info=True)
            self._l10n_co_lafactura_finish("error", "internal", _("Unexpected error: %s", exc))

    def _l10n_co_lafactura_prepare(self):
        """(hook, info) to book, or None when the row is finished (duplicate); raises Refusal."""
        credential = self.credential_id.sudo()
        company = self.company_id
        try:
            hook = lf_docs.hook_document(lf_docs.load_json(self.body or ""))
        except lf_docs.DocumentError as exc:
            raise lf_docs.Refusal("rejected", exc.code, exc.message) from exc
        self._l10n_co_lafactura_resolve_company(hook)
        company = self.company_id
        cufe = hook.cufe
        if cufe:
            # One document at a time per company and CUFE, across workers (released at commit).
            self.env.cr.execute(
                SQL(
                    "SELECT pg_advisory_xact_lock(hashtext(%s))",
                    f"lafactura:{company.id}:{cufe}",
                )
            )
        Move = self.env["account.move"].sudo().with_company(company)
        existing = (
            Move.search(
                [
                    ("company_id", "=", company.id),
                    ("l10n_co_lafactura_cufe", "=", cufe),
                ],
                limit=1,
            )
            if cufe
            else Move
        )
        if not existing and cufe and self._l10n_co_lafactura_booked_elsewhere(cufe):
            # Booked by a worker that committed after our snapshot was taken: look again
            # in a moment, from a fresh transaction (the unique index forbids a second bill).
            raise lf_docs.Refusal(
                "error",
                "transient",
                _("Another worker has just booked this CUFE; checked again shortly."),
            )
        if existing:
            self._l10n_co_lafactura_finish(
                "duplicate",
                "duplicate",
                _(
                    "The document %(cufe)s was already booked as %(bill)s.",
                    cufe=cufe[:16],
                    bill=existing.display_name,
                ),
                existing,
            )
            return None
        info = None
        if credential.l10n_co_lafactura_confirm and hook.type in lf_docs.KINDS and lf_docs.cufe_shape_ok(cufe):
            client = credential._l10n_co_lafactura_client(record=self)
            try:
                info = client.get_document_info(cufe)
            finally:
                client.transport.close()
            self.dian_approved = bool(info.dian_approved)
            self.dian_messages = "\n".join(info.dian_messages()) or False
        return hook, info

    def _l10n_co_lafactura_resolve_company(self, hook):
        """A connection serving several companies: the document goes to the one it is addressed to."""
        credential = self.credential_id.sudo()
        companies = credential.company_id | credential.company_ids
        if len(companies) < 2:
            return
        try:
            addressee = lf_docs.parse_ubl(hook.json_text).customer.nit
        except lf_docs.DocumentError:
            return  # refused later with its reason
        match = companies.filtered(lambda c: addressee and lf_nit.same(c.vat or c.partner_id.vat or "", addressee))
        if len(match) == 1 and match != self.company_id:
            self.company_id = match

    def _l10n_co_lafactura_booked_elsewhere(self, cufe):
        """True when a bill with this CUFE is committed but not visible in our snapshot."""
        if not self.env["einvoice.credential"]._einvoice_can_commit():
            return False  # tests share one transaction: the snapshot sees everything
        with self.env.registry.cursor() as cr:
            cr.execute(
                SQL(
                    "SELECT 1 FROM account_move WHERE company_id = %s AND l10n_co_lafactura_cufe = %s",
                    self.company_id.id,
                    cufe,
                )
            )
            return bool(cr.fetchone())

    def _l10n_co_lafactura_book(self, hook, info):
        """Verify the document and create its bill; raises Refusal for anything that must not be booked."""
        credential = self.credential_id.sudo()
        company = self.company_id
        cufe = hook.cufe
        table = self.env["l10n_co_lafactura.tax.map"]._l10n_co_lafactura_table(company)
        plan = lf_docs.plan(
            hook,
            info,
            company_nit=company.vat or company.partner_id.vat or "",
            company_mode=credential._l10n_co_lafactura_expected_mode(),
            tax_table=table,
            accept_test=credential.l10n_co_lafactura_accept_test and bool(credential.l10n_co_lafactura_test_journal_id),
            tolerance=company.currency_id.rounding,
        )
        origin = self.env["account.move"]
        if plan.kind in ("nc", "nd") and (plan.reference_cufe or plan.ubl.reference_number):
            origin = self._l10n_co_lafactura_find_origin(plan, company)
            if not origin:
                refusal = lf_docs.Refusal(
                    "error",
                    "original_unknown",
                    _(
                        "The %(kind)s refers to %(number)s (CUFE %(cufe)s), which has no bill here yet; it is "
                        "processed again when the original arrives.",
                        kind=KIND_LABELS[plan.kind].lower(),
                        number=plan.ubl.reference_number or "?",
                        cufe=(plan.reference_cufe or "?")[:16],
                    ),
                )
                refusal.reference_cufe = plan.reference_cufe
                raise refusal
        partner = self.env["res.partner"]._l10n_co_lafactura_find_or_create(
            plan.ubl.supplier, hook.provider, company, credential
        )
        move = self._l10n_co_lafactura_create_move(plan, partner, origin, credential)
        self._l10n_co_lafactura_finish("processed", "", "", move)
        # Notes that waited for this document can go now.
        waiting = self.search(
            [
                ("company_id", "=", company.id),
                ("state", "=", "error"),
                ("reason_code", "=", "original_unknown"),
                ("reference_cufe", "=", cufe),
            ]
        )
        if waiting:
            waiting.write({"state": "received", "next_attempt_at": False})
            self.env.ref("l10n_co_lafactura.ir_cron_l10n_co_lafactura_process").sudo()._trigger()

    def _l10n_co_lafactura_find_origin(self, plan, company):
        Move = self.env["account.move"].sudo()
        if plan.reference_cufe:
            origin = Move.search(
                [
                    ("company_id", "=", company.id),
                    ("l10n_co_lafactura_cufe", "=", plan.reference_cufe),
                ],
                limit=1,
            )
            if origin:
                return origin
        if plan.ubl.reference_number:
            candidates = Move.search(
                [
                    ("company_id", "=", company.id),
                    ("move_type", "=", "in_invoice"),
                    ("ref", "=", plan.ubl.reference_number),
                    ("state", "!=", "cancel"),
                ]
            )
            supplier_nits = lf_nit.candidates(plan.ubl.supplier.nit)
            candidates = candidates.filtered(
                lambda m: lf_nit.digits(m.partner_id.commercial_partner_id.vat) in supplier_nits
            )
            if len(candidates) == 1:
                return candidates
        return Move

    def _l10n_co_lafactura_create_move(self, plan, partner, origin, credential):
        company = self.company_id
        test = "test_mode" in plan.warnings
        journal = credential.l10n_co_lafactura_test_journal_id if test else credential.l10n_co_lafactura_journal_id
        if not journal:
            journal = (
                self.env["account.journal"]
                .sudo()
                .search(
                    [("company_id", "=", company.id), ("type", "=", "purchase")],
                    limit=1,
                )
            )
        if not journal.default_account_id:
            raise UserError(
                _(
                    "The purchase journal %(journal)s of %(company)s has no default expense account: set one.",
                    journal=journal.name or "-",
                    company=company.name,
                )
            )
        currency = (
            self.env["res.currency"]
            .sudo()
            .with_context(active_test=False)
            .search([("name", "=", plan.ubl.currency or "COP")], limit=1)
        )
        values = {
            "move_type": plan.move_type,
            "company_id": company.id,
            "journal_id": journal.id,
            "partner_id": partner.id,
            "ref": plan.number,
            "invoice_date": plan.ubl.issue_date or fields.Date.context_today(self),
            "invoice_line_ids": self._l10n_co_lafactura_move_lines(plan, partner, company),
            "l10n_co_lafactura_cufe": plan.cufe,
            "l10n_co_lafactura_test_mode": test,
            "l10n_co_lafactura_mode": plan.mode if plan.mode in ("1", "2") else False,
        }
        if plan.ubl.due_date:
            values["invoice_date_due"] = plan.ubl.due_date
        if currency and currency.active:
            values["currency_id"] = currency.id
        if plan.kind == "nc" and origin:
            values["reversed_entry_id"] = origin.id
        if plan.kind == "nd" and origin:
            values["debit_origin_id"] = origin.id
        Move = self.env["account.move"].sudo().with_company(company).with_context(default_move_type=plan.move_type)
        move = Move.create(values)
        self._l10n_co_lafactura_fix_tax_rounding(move, plan, credential.l10n_co_lafactura_tax_tolerance)
        self._l10n_co_lafactura_attach(move, plan)
        problems = self._l10n_co_lafactura_review(move, plan, partner)
        if not problems and credential.l10n_co_lafactura_auto_post and not test:
            move.action_post()
        return move

    def _l10n_co_lafactura_move_lines(self, plan, partner, company):
        """Bill line commands: the document's lines, then its document-level discounts and
        charges (DIAN: they leave the tax bases alone) as lines of their own."""
        learned_account = self._l10n_co_lafactura_learned_account(partner, company)
        lines = []
        for line, tax_ids in plan.lines:
            line_vals = {
                "name": line.description or plan.number,
                "quantity": float(line.quantity),
                "price_unit": float(line.price_unit),
                "discount": float(line.discount_percent or 0),
                "tax_ids": [fields.Command.set(tax_ids)],
            }
            product = self._l10n_co_lafactura_find_product(line, partner, company)
            if product:
                line_vals["product_id"] = product.id
            elif learned_account:
                line_vals["account_id"] = learned_account.id
            lines.append(fields.Command.create(line_vals))
        for charge, tax_ids in plan.charges:
            label = _("Charge") if charge.is_charge else _("Discount")
            line_vals = {
                "name": f"{label}: {charge.reason}" if charge.reason else label,
                "quantity": 1.0,
                "price_unit": float(charge.signed_amount),
                "tax_ids": [fields.Command.set(tax_ids)],
            }
            if learned_account:
                line_vals["account_id"] = learned_account.id
            lines.append(fields.Command.create(line_vals))
        return lines

    def _l10n_co_lafactura_review(self, move, plan, partner):
        """Schedule one activity per reason the bill must stay in draft; returns the reasons."""
        problems = []
        differences = self._l10n_co_lafactura_three_way(move, plan)
        if differences:
            items = Markup().join(Markup("<li>%s: %s / %s</li>") % difference for difference in differences)
            note = Markup("%s<ul>%s</ul>") % (_("The totals of this document do not agree (expected / found):"), items)
            problems.append((_("LaFactura.co: totals differ"), note))
        supplier = plan.ubl.supplier
        if "supplier_dv_mismatch" in plan.warnings:
            problems.append(
                (
                    _("LaFactura.co: supplier check digit"),
                    _(
                        "The document gives the NIT %(nit)s with check digit %(given)s; DIAN's check digit for "
                        "that NIT is %(right)s. The bill was matched to %(partner)s by the NIT without its check "
                        "digit and left in draft: confirm the supplier's NIT on its RUT, then post it.",
                        nit=supplier.nit,
                        given=supplier.dv,
                        right=lf_nit.check_digit(supplier.nit),
                        partner=partner.display_name,
                    ),
                )
            )
        if not partner.vat:
            problems.append(
                (
                    _("LaFactura.co: supplier without NIT"),
                    _(
                        "The NIT %(nit)s of the supplier could not be set on %(partner)s (refused by the VAT "
                        "check): set the supplier's NIT, then post the bill.",
                        nit=supplier.nit or plan.hook.provider.id,
                        partner=partner.display_name,
                    ),
                )
            )
        admin = self.env.ref("base.user_admin", raise_if_not_found=False) or self.env.user
        for summary, note in problems:
            move.activity_schedule("mail.mail_activity_data_todo", summary=summary, note=note, user_id=admin.id)
            move.message_post(body=note)
        return problems

    def _l10n_co_lafactura_find_product(self, line, partner, company):
        """The product of a line: the supplier's own code (vendor pricelist), else the GTIN barcode."""
        Product = self.env["product.product"].sudo().with_company(company)
        if line.seller_code:
            info = (
                self.env["product.supplierinfo"]
                .sudo()
                .search(
                    [
                        ("partner_id", "=", partner.commercial_partner_id.id),
                        ("product_code", "=", line.seller_code),
                        ("company_id", "in", (False, company.id)),
                    ],
                    limit=1,
                )
            )
            if info:
                return info.product_id or info.product_tmpl_id.product_variant_id
        if line.standard_code and len(line.standard_code) in (8, 12, 13, 14) and line.standard_code.isdigit():
            return Product.search(
                [
                    ("barcode", "=", line.standard_code),
                    ("company_id", "in", (False, company.id)),
                ],
                limit=1,
            )
        return Product

    def _l10n_co_lafactura_learned_account(self, partner, company):
        """The expense account of the supplier's last bill line, so new bills follow the same habit."""
        last = (
            self.env["account.move.line"]
            .sudo()
            .search(
                [
                    ("company_id", "=", company.id),
                    ("partner_id", "=", partner.commercial_partner_id.id),
                    ("move_id.move_type", "in", ("in_invoice", "in_refund")),
                    ("move_id.state", "=", "posted"),
                    ("display_type", "=", "product"),
                ],
                order="date desc, id desc",
                limit=1,
            )
        )
        return last.account_id

    def _l10n_co_lafactura_fix_tax_rounding(self, move, plan, tolerance):
        """Use the document's tax amounts where Odoo's differ only by rounding (as Odoo's UBL import does)."""
        table = self.env["l10n_co_lafactura.tax.map"]._l10n_co_lafactura_table(move.company_id)
        sign = -1 if move.is_inbound(include_receipts=True) else 1
        corrections = []
        for tax in plan.ubl.tax_totals:
            tax_id = table.lookup(tax.scheme, tax.percent)
            tax_lines = move.line_ids.filtered(lambda line, tax_id=tax_id: tax_id and line.tax_line_id.id == tax_id)
            if len(tax_lines) != 1:
                continue
            wanted = float(tax.amount)
            current = abs(tax_lines.amount_currency)
            if move.currency_id.compare_amounts(current, wanted) and abs(current - wanted) <= (tolerance or 0.0):
                corrections.append((tax_lines, sign * wanted))
        if corrections:
            with move._get_edi_creation() as move:
                for tax_line, amount in corrections:
                    tax_line.amount_currency = amount

    def _l10n_co_lafactura_three_way(self, move, plan):
        """Hook totals vs UBL totals (already in the plan) vs what Odoo computed, within rounding."""
        differences = [(f"{key} (hook / UBL)", expected, found) for key, expected, found in plan.total_differences]
        expected = lf_docs.expected_move_totals(plan.ubl.totals, plan.ubl.tax_amount)
        currency = move.currency_id
        for field_name, label in (
            ("amount_untaxed", _("Untaxed")),
            ("amount_tax", _("Taxes")),
            ("amount_total", _("Total")),
        ):
            want = float(expected[field_name])
            got = move[field_name]
            if currency.compare_amounts(want, got) != 0:
                differences.append(
                    (
                        f"{label} (UBL / Odoo)",
                        float_round(want, precision_rounding=currency.rounding),
                        got,
                    )
                )
        if differences:
            differences += self._l10n_co_lafactura_tax_differences(move, plan)
        return differences

    def _l10n_co_lafactura_tax_differences(self, move, plan):
        """Per DIAN tax and rate: the document's tax amount against Odoo's tax lines."""
        table = self.env["l10n_co_lafactura.tax.map"]._l10n_co_lafactura_table(move.company_id)
        rows = []
        for tax in plan.ubl.tax_totals:
            tax_id = table.lookup(tax.scheme, tax.percent)
            if not tax_id:
                continue
            got = abs(
                sum(move.line_ids.filtered(lambda line, t=tax_id: line.tax_line_id.id == t).mapped("amount_currency"))
            )
            if move.currency_id.compare_amounts(float(tax.amount), got):
                rows.append(
                    (
                        f"{tax.scheme} {tax.percent}% (UBL / Odoo)",
                        float(tax.amount),
                        got,
                    )
                )
        return rows

    def _l10n_co_lafactura_attach(self, move, plan):
        name = f"lafactura_{plan.cufe[:24]}.json"
        try:
            pretty = json.dumps(json.loads(plan.hook.json_text), indent=1, ensure_ascii=False)
        except ValueError:
            pretty = plan.hook.json_text
        attachments = (
            self.env["ir.attachment"]
            .sudo()
            .create(
                [
                    {
                        "name": name,
                        "raw": (self.body or "").encode(),
                        "mimetype": "application/json",
                        "res_model": "account.move",
                        "res_id": move.id,
                        "company_id": move.company_id.id,
                    },
                    {
                        "name": f"ubl_{plan.number or plan.cufe[:16]}.json",
                        "raw": (pretty or "").encode(),
                        "mimetype": "application/json",
                        "res_model": "account.move",
                        "res_id": move.id,
                        "company_id": move.company_id.id,
                    },
                ]
            )
        )
        self.env["ir.attachment"].sudo().create(
            {
                "name": _("DIAN verification %s", plan.number or plan.cufe[:16]),
                "type": "url",
                "url": lf_docs.dian_link(plan.cufe, plan.mode),
                "res_model": "account.move",
                "res_id": move.id,
                "company_id": move.company_id.id,
            }
        )
        link = lf_docs.dian_link(plan.cufe, plan.mode)
        warnings = {
            "test_mode": _("Test-mode document: booked in the test journal, never posted."),
            "supplier_dv_mismatch": _("The supplier's check digit in the document does not match its NIT."),
            "cufe_preimage_mismatch": _("The CUFE does not match the document's own pre-image note."),
        }
        items = [
            _(
                "From LaFactura.co: %(kind)s %(number)s of %(supplier)s.",
                kind=KIND_LABELS[plan.kind],
                number=plan.number,
                supplier=plan.hook.provider.name or plan.ubl.supplier.name,
            )
        ]
        items.append(_("CUFE/CUDE: %s", plan.cufe))
        if self.dian_approved:
            items.append(_("DIAN approved it (confirmed with LaFactura.co)."))
        items += [warnings[w] for w in plan.warnings if w in warnings]
        body = Markup("<br/>").join(escape(i) for i in items)
        body += Markup('<br/><a href="%s" target="_blank" rel="noopener">%s</a>') % (
            link,
            _("Check it on DIAN's site"),
        )
        move.message_post(body=body, attachment_ids=attachments.ids)
