import json
import logging
import queue
from datetime import timedelta

from markupsafe import Markup, escape
from psycopg2 import errors as pg_errors

from odoo import _, api, fields, models
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tools import SQL, float_round

from odoo.addons.einvoice_common import compat, dbtools
from odoo.addons.einvoice_common.einvoice import callpool
from odoo.addons.einvoice_common.einvoice import errors as common_errors

from ..lafactura import documents as lf_docs
from ..lafactura import nit as lf_nit
from . import inbox_ack

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
# Rows booked per transaction: their bills are created together; a crash loses one batch's work.
BATCH = 25
# getDocumentInfo calls in flight at once (HTTP only, in threads without ORM).
CONFIRM_THREADS = 4
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

        The webhook calls `inbox_ack.store` on its cursor directly (no ORM on the
        acknowledgement); this is the same statement for callers holding a credential record.
        """
        connection = inbox_ack.Connection(
            credential.id, credential.company_id.id, credential.l10n_co_lafactura_max_body_kb
        )
        return inbox_ack.store(self.env.cr, connection, delivery, body, remote_addr, content_type)

    # ------------------------------------------------------------------------------ process
    @api.model
    def _cron_l10n_co_lafactura_process(self, limit=50):
        """Turn received deliveries into bills: batches of BATCH rows, one commit per batch, re-trigger."""
        self._l10n_co_lafactura_fold_repeats()
        rows = self.sudo().search(self._l10n_co_lafactura_due_domain(), order="id", limit=limit)
        done = 0
        for start in range(0, len(rows), BATCH):
            # A fresh transaction (and snapshot) per batch: a row another worker finished
            # meanwhile is seen as finished, not processed twice.
            claimed = rows[start : start + BATCH]._l10n_co_lafactura_claim()
            claimed._l10n_co_lafactura_process_rows()
            done += len(claimed)
            self.env["einvoice.credential"]._einvoice_commit()
        # Deliveries that came during this run found the cron due and made no trigger of their
        # own (and Odoo drops this run's triggers when it ends): look once more.
        if len(rows) == limit or self.sudo().search_count([("state", "=", "received")], limit=1):
            self.env.ref("l10n_co_lafactura.ir_cron_l10n_co_lafactura_process").sudo()._trigger()
        return done

    @api.model
    def _l10n_co_lafactura_fold_repeats(self):
        """Repeats parked while a batch held their rows and not counted by it (they came just
        before its commit): counted now, in a transaction of their own; left for the next run
        when a worker changed those rows meanwhile."""
        try:
            with self.env.cr.savepoint(flush=False):
                inbox_ack.fold_repeats(self.env.cr)
        except pg_errors.SerializationFailure:
            _logger.info("LaFactura inbox: repeats counted at the next run (rows changed meanwhile)")
        self.env["einvoice.credential"]._einvoice_commit()
        self.invalidate_model(["delivery_count", "last_received_at"])

    @api.model
    def _l10n_co_lafactura_due_domain(self):
        return [
            "|",
            ("state", "=", "received"),
            "&",
            "&",
            "&",
            ("state", "=", "error"),
            ("reason_code", "in", RETRYABLE),
            ("attempts", "<", MAX_ATTEMPTS),
            ("next_attempt_at", "<=", fields.Datetime.now()),
        ]

    def _l10n_co_lafactura_claim(self):
        """The rows of `self` this transaction locked that are still due (others are another worker's)."""
        Credential = self.env["einvoice.credential"]
        for _attempt in range(2):
            Credential._einvoice_commit()
            try:
                locked = Credential._einvoice_lock_skip_locked(self)
                break
            except pg_errors.SerializationFailure:
                if not Credential._einvoice_can_commit():
                    raise
                self.env.cr.rollback()  # some finished by another worker this very instant: new snapshot
        else:
            return self.browse()
        locked.invalidate_recordset()
        return locked.filtered(lambda r: r.state == "received" or r.state == "error" and r.reason_code in RETRYABLE)

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
        """Process rows this transaction holds: each is checked and confirmed on its own (a
        failure is recorded on its row), then their bills are made together, invoices before
        the notes that may refer to them."""
        rows = self.filtered(lambda r: r.state in ("received", "error"))
        if not rows:
            return
        rows.flush_recordset(["attempts"])  # "Process again" has just reset them
        self.env.cr.execute(
            SQL("UPDATE l10n_co_lafactura_inbox SET attempts = attempts + 1 WHERE id IN %s", tuple(rows.ids))
        )
        rows.invalidate_recordset(["attempts"])
        rows._l10n_co_lafactura_book_rows(BookCache(self.env))
        # Repeats that came while these rows were held: counted now (rows written since we hold them)
        inbox_ack.fold_repeats(self.env.cr, rows.ids)
        rows.invalidate_recordset(["delivery_count", "last_received_at"])

    def _l10n_co_lafactura_book_rows(self, cache):
        checked, repeats = self._l10n_co_lafactura_check_many()
        confirmed = self._l10n_co_lafactura_confirm_many(checked)
        invoices = [item for item in confirmed if item[1].type == "fc"]
        notes = [item for item in confirmed if item[1].type != "fc"]
        for wave in (invoices, notes):
            if wave:
                self._l10n_co_lafactura_book_many(wave, cache)
        if repeats:  # other bodies of a document booked just now: duplicates of its bill
            repeats._l10n_co_lafactura_book_rows(cache)

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

    def _l10n_co_lafactura_failed(self, exc):
        """Record on this row why it was not booked: its state, reason code and a sentence."""
        if isinstance(exc, lf_docs.Refusal):
            self._l10n_co_lafactura_finish(exc.state, exc.code, exc.message)
            if getattr(exc, "reference_cufe", None):
                self.reference_cufe = exc.reference_cufe
        elif isinstance(exc, common_errors.EInvoiceError):
            self._l10n_co_lafactura_finish(*self._l10n_co_lafactura_service_failure(exc))
        elif isinstance(exc, UserError | ValidationError):
            self._l10n_co_lafactura_finish("error", "odoo", str(exc.args[0] if exc.args else exc))
        elif isinstance(exc, RETRY_NOW_ERRORS):
            # e.g. account_move_unique_name: another worker posted the same number first
            _logger.info("LaFactura inbox %s: concurrent update (%s), processed again", self.id, type(exc).__name__)
            self._l10n_co_lafactura_finish(
                "error",
                "retry",
                _("Another worker changed the same records at the same time; processed again at once."),
            )
        else:  # a bad document must not stop the batch; recorded on the row
            _logger.warning("LaFactura inbox %s: processing failed", self.id, exc_info=exc)
            self._l10n_co_lafactura_finish("error", "internal", _("Unexpected error: %s", exc))

    def _l10n_co_lafactura_service_failure(self, exc):
        """(state, code, reason) of a failed call to LaFactura.co."""
        if isinstance(exc, common_errors.TransientError):
            return "error", "transient", _("LaFactura.co could not be reached; retried later: %s", exc)
        if isinstance(exc, common_errors.AuthError):
            credential = self.credential_id.sudo()
            if credential.state != "error":  # written once: every document of a batch meets the same refusal
                credential.write({"state": "error", "last_error": str(exc)})
            return (
                "error",
                "auth",
                _("LaFactura.co refused the API credentials (%s): fix them, then process again.", exc),
            )
        if isinstance(exc, common_errors.RejectedError) and exc.code == "404":
            return (
                "rejected",
                "not_found",
                _("LaFactura.co does not know this CUFE: the delivery is not trusted (%s).", exc),
            )
        if isinstance(exc, common_errors.RejectedError):
            return "error", "rejected", _("LaFactura.co refused getDocumentInfo: %s", exc)
        return "error", "transient", _("LaFactura.co answered something unreadable; retried later: %s", exc)

    def _l10n_co_lafactura_check_many(self):
        """([(row, hook)] of the rows to book, rows repeating a document of the batch); duplicates
        and refusals are finished here."""
        rows = self.browse()
        hooks = {}
        for row in self:
            try:
                hooks[row] = row._l10n_co_lafactura_read_hook()
                rows |= row
            except lf_docs.Refusal as refusal:
                row._l10n_co_lafactura_failed(refusal)
        booked = rows._l10n_co_lafactura_booked({(row.company_id.id, hooks[row].cufe) for row in rows})
        checked, seen, repeats = [], set(), self.browse()
        for row in rows:
            key = (row.company_id.id, hooks[row].cufe)
            if key in seen:
                repeats |= row
                continue
            try:
                row._l10n_co_lafactura_not_booked(key, booked)
            except lf_docs.Refusal as refusal:
                row._l10n_co_lafactura_failed(refusal)
                continue
            if key in booked:
                continue
            if key[1]:
                seen.add(key)
            checked.append((row, hooks[row]))
        return checked, repeats

    def _l10n_co_lafactura_read_hook(self):
        """The hook document of this row, addressed to its company and locked for this transaction."""
        try:
            hook = lf_docs.hook_document(lf_docs.load_json(self.body or ""))
        except lf_docs.DocumentError as exc:
            raise lf_docs.Refusal("rejected", exc.code, exc.message) from exc
        self._l10n_co_lafactura_resolve_company(hook)
        if hook.cufe:
            # One document at a time per company and CUFE, across workers (released at commit);
            # never waited for, so that two batches cannot deadlock on each other's documents.
            self.env.cr.execute(
                SQL("SELECT pg_try_advisory_xact_lock(hashtext(%s))", f"lafactura:{self.company_id.id}:{hook.cufe}")
            )
            if not self.env.cr.fetchone()[0]:
                raise lf_docs.Refusal("error", "retry", _("Another worker is booking this document; processed again."))
        return hook

    def _l10n_co_lafactura_not_booked(self, key, booked):
        """Finish this row as a duplicate when its CUFE has a bill; raise Refusal when unsure."""
        existing = booked.get(key)
        if existing is None:
            return
        if not existing:
            # Booked by a worker that committed after our snapshot was taken: look again
            # in a moment, from a fresh transaction (the unique index forbids a second bill).
            raise lf_docs.Refusal(
                "error", "transient", _("Another worker has just booked this CUFE; checked again shortly.")
            )
        self._l10n_co_lafactura_finish(
            "duplicate",
            "duplicate",
            _("The document %(cufe)s was already booked as %(bill)s.", cufe=key[1][:16], bill=existing.display_name),
            existing,
        )

    def _l10n_co_lafactura_booked(self, keys):
        """{(company id, CUFE): bill} of the keys already booked; an empty recordset for the ones a
        worker committed after our snapshot was taken (two queries for the whole batch)."""
        keys = {key for key in keys if key[1]}
        if not keys:
            return {}
        Move = self.env["account.move"].sudo()
        moves = Move.search(
            [
                ("l10n_co_lafactura_cufe", "in", list({cufe for _company, cufe in keys})),
                ("company_id", "in", list({c for c, _cufe in keys})),
            ]
        )
        booked = {(m.company_id.id, m.l10n_co_lafactura_cufe): m for m in moves}
        booked = {key: move for key, move in booked.items() if key in keys}
        missing = keys - set(booked)
        if missing and self.env["einvoice.credential"]._einvoice_can_commit():
            # tests share one transaction: their snapshot sees everything
            with self.env.registry.cursor() as cr:
                cr.execute(
                    SQL(
                        "SELECT company_id, l10n_co_lafactura_cufe FROM account_move"
                        " WHERE l10n_co_lafactura_cufe IN %s",
                        tuple(cufe for _company, cufe in missing),
                    )
                )
                booked.update({key: Move for key in cr.fetchall() if key in missing})
        return booked

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

    # ------------------------------------------------------------------------------ confirm
    def _l10n_co_lafactura_confirm_many(self, checked):
        """[(row, hook, info)]: LaFactura.co's getDocumentInfo for each document that needs it."""
        asks = [
            (row, hook)
            for row, hook in checked
            if row.credential_id.sudo().l10n_co_lafactura_confirm
            and hook.type in lf_docs.KINDS
            and lf_docs.cufe_shape_ok(hook.cufe)
        ]
        answers = {}
        for credential in {row.credential_id for row, _hook in asks}:
            mine = [(row, hook) for row, hook in asks if row.credential_id == credential]
            answers.update(self._l10n_co_lafactura_ask(credential.sudo(), mine))
        confirmed = []
        for row, hook in checked:
            info = answers.get(row)
            if isinstance(info, Exception):
                row._l10n_co_lafactura_failed(info)
                continue
            if info is not None:
                row.write(
                    {
                        "dian_approved": bool(info.dian_approved),
                        "dian_messages": "\n".join(info.dian_messages()) or False,
                    }
                )
            confirmed.append((row, hook, info))
        return confirmed

    def _l10n_co_lafactura_ask(self, credential, asks):
        """{row: DocumentInfo or the exception} for [(row, hook)] of one connection.

        The calls overlap, CONFIRM_THREADS at a time (einvoice_common's callpool.py), each thread
        with a client of its own made here; the threads do HTTP only (no ORM, no cursor): the
        exchange log is written afterwards, from this thread.
        """
        try:
            clients = queue.SimpleQueue()
            for row, _hook in asks[: min(CONFIRM_THREADS, len(asks))]:
                clients.put(credential._l10n_co_lafactura_client(record=row))
        except (UserError, ValidationError) as exc:
            return {row: exc for row, _hook in asks}
        exchanges = []

        def ask(item):
            row, hook = item
            client = clients.get()
            client.transport.recorder = lambda exchange: exchanges.append((row, exchange))
            try:
                return client.get_document_info(hook.cufe)
            finally:
                clients.put(client)

        results = callpool.map_concurrently(ask, asks, workers=CONFIRM_THREADS)
        answers = {row: info if exc is None else exc for (row, _hook), (info, exc) in zip(asks, results, strict=True)}
        while not clients.empty():
            clients.get().transport.close()
        self.env["einvoice.exchange"]._einvoice_record_many(credential, exchanges)
        return answers

    # ------------------------------------------------------------------------------ book
    def _l10n_co_lafactura_book_many(self, items, cache):
        """Bills for [(row, hook, info)]: values built row by row, bills created together."""
        planned = []
        for row, hook, info in items:
            try:
                with self.env.cr.savepoint():  # a refused document leaves nothing behind
                    planned.append((row, *row._l10n_co_lafactura_book(hook, info, cache)))
            except Exception as exc:  # noqa: BLE001 - recorded on its row; the others go on
                cache.forget_partners()  # one may have been created in the savepoint just rolled back
                row._l10n_co_lafactura_failed(exc)
        groups = {}
        for entry in planned:
            groups.setdefault((entry[0].company_id, entry[1]["move_type"]), []).append(entry)
        booked = []
        for (company, move_type), group in groups.items():
            Move = (
                self.env["account.move"]
                .sudo()
                .with_company(company)
                .with_context(default_move_type=move_type, tracking_disable=True)
            )
            booked += self._l10n_co_lafactura_create_bills(Move, group, cache)
        self._l10n_co_lafactura_wake_notes(booked)

    def _l10n_co_lafactura_create_bills(self, Move, group, cache):
        """Create the bills of [(row, values, plan, partner)] in one `create` (one by one when
        that fails: the bad document alone fails); returns the rows booked."""

        def after(moves, positions):
            self._l10n_co_lafactura_complete(moves, [group[i] for i in positions], cache)

        values = [entry[1] for entry in group]
        try:
            results = dbtools.create_batch(Move, values, after)
        except Exception:  # noqa: BLE001 - a concurrency error or a bug: each document alone, recorded on its row
            results = [self._l10n_co_lafactura_create_alone(Move, values, index, after) for index in range(len(values))]
        booked = []
        for (row, _values, _plan, _partner), (move, error) in zip(group, results, strict=True):
            if error:
                row._l10n_co_lafactura_failed(error)
            else:
                row._l10n_co_lafactura_finish("processed", "", "", move)
                booked.append(row)
        return booked

    def _l10n_co_lafactura_create_alone(self, Move, values, index, after):
        try:
            return dbtools.create_batch(Move, [values[index]], lambda moves, _positions: after(moves, [index]))[0]
        except Exception as exc:  # noqa: BLE001 - recorded on its row
            return dbtools.CreateResult(Move, exc)

    def _l10n_co_lafactura_complete(self, moves, group, cache):
        """What follows the creation of bills: tax rounding, attachments and chatter, review, posting."""
        for move, (row, _values, plan, _partner) in zip(moves, group, strict=True):
            row._l10n_co_lafactura_fix_tax_rounding(move, plan, cache)
        self._l10n_co_lafactura_attach_many(moves, group)
        to_post = moves.browse()
        for move, (row, _values, plan, partner) in zip(moves, group, strict=True):
            problems = row._l10n_co_lafactura_review(move, plan, partner, cache)
            credential = row.credential_id.sudo()
            if not problems and credential.l10n_co_lafactura_auto_post and "test_mode" not in plan.warnings:
                to_post |= move
        if to_post:
            to_post.action_post()

    def _l10n_co_lafactura_wake_notes(self, booked):
        """Notes that waited for a document booked now go again."""
        keys = [(row.company_id.id, row.cufe) for row in booked if row.cufe]
        if not keys:
            return
        waiting = self.search(
            [
                ("state", "=", "error"),
                ("reason_code", "=", "original_unknown"),
                ("reference_cufe", "in", [cufe for _company, cufe in keys]),
            ]
        ).filtered(lambda r: (r.company_id.id, r.reference_cufe) in keys)
        if waiting:
            waiting.write({"state": "received", "next_attempt_at": False})
            self.env.ref("l10n_co_lafactura.ir_cron_l10n_co_lafactura_process").sudo()._trigger()

    def _l10n_co_lafactura_book(self, hook, info, cache):
        """(bill values, plan, partner) of this document; raises Refusal for anything that must not be booked."""
        credential = self.credential_id.sudo()
        company = self.company_id
        plan = lf_docs.plan(
            hook,
            info,
            company_nit=company.vat or company.partner_id.vat or "",
            company_mode=credential._l10n_co_lafactura_expected_mode(),
            tax_table=cache.tax_table(company),
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
        values = self._l10n_co_lafactura_move_values(plan, origin, credential, cache)
        partner = cache.partner(plan.ubl.supplier, hook.provider, company, credential)
        values["partner_id"] = partner.id
        values["invoice_line_ids"] = self._l10n_co_lafactura_move_lines(plan, partner, company, cache)
        return values, plan, partner

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

    def _l10n_co_lafactura_move_values(self, plan, origin, credential, cache):
        """The bill's values but its supplier and lines."""
        company = self.company_id
        test = "test_mode" in plan.warnings
        journal = cache.journal(credential, company, test)
        values = {
            "move_type": plan.move_type,
            "company_id": company.id,
            "journal_id": journal.id,
            "ref": plan.number,
            "invoice_date": plan.ubl.issue_date or fields.Date.context_today(self),
            "l10n_co_lafactura_cufe": plan.cufe,
            "l10n_co_lafactura_test_mode": test,
            "l10n_co_lafactura_mode": plan.mode if plan.mode in ("1", "2") else False,
        }
        if plan.ubl.due_date:
            values["invoice_date_due"] = plan.ubl.due_date
        currency = cache.currency(plan.ubl.currency or "COP")
        if currency and currency.active:
            values["currency_id"] = currency.id
        if plan.kind == "nc" and origin:
            values["reversed_entry_id"] = origin.id
        if plan.kind == "nd" and origin:
            values["debit_origin_id"] = origin.id
        return values

    def _l10n_co_lafactura_move_lines(self, plan, partner, company, cache):
        """Bill line commands: the document's lines, then its document-level discounts and
        charges (DIAN: they leave the tax bases alone) as lines of their own."""
        learned_account = cache.learned_account(partner, company)
        lines = []
        for line, tax_ids in plan.lines:
            line_vals = {
                "name": line.description or plan.number,
                "quantity": float(line.quantity),
                "price_unit": float(line.price_unit),
                "discount": float(line.discount_percent or 0),
                "tax_ids": [fields.Command.set(tax_ids)],
            }
            product = cache.product(line, partner, company)
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

    def _l10n_co_lafactura_review(self, move, plan, partner, cache):
        """Schedule one activity per reason the bill must stay in draft; returns the reasons."""
        problems = []
        differences = self._l10n_co_lafactura_three_way(move, plan, cache)
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
        for summary, note in problems:
            move.activity_schedule("mail.mail_activity_data_todo", summary=summary, note=note, user_id=cache.admin_id)
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

    def _l10n_co_lafactura_fix_tax_rounding(self, move, plan, cache):
        """Use the document's tax amounts where Odoo's differ only by rounding (as Odoo's UBL import does)."""
        table = cache.tax_table(move.company_id)
        tolerance = self.credential_id.sudo().l10n_co_lafactura_tax_tolerance
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

    def _l10n_co_lafactura_three_way(self, move, plan, cache):
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
            differences += self._l10n_co_lafactura_tax_differences(move, plan, cache)
        return differences

    def _l10n_co_lafactura_tax_differences(self, move, plan, cache):
        """Per DIAN tax and rate: the document's tax amount against Odoo's tax lines."""
        table = cache.tax_table(move.company_id)
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

    def _l10n_co_lafactura_attach_many(self, moves, group):
        """On each bill: the delivered body, the readable UBL and DIAN's link, and one chatter entry."""
        values, bodies = [], {}
        for move, (row, _values, plan, _partner) in zip(moves, group, strict=True):
            values += row._l10n_co_lafactura_attachment_values(move, plan)
            bodies[move.id] = row._l10n_co_lafactura_chatter_body(plan)
        self.env["ir.attachment"].sudo().create(values)
        moves._message_log_batch(bodies=bodies)

    def _l10n_co_lafactura_attachment_values(self, move, plan):
        try:
            pretty = json.dumps(json.loads(plan.hook.json_text), indent=1, ensure_ascii=False)
        except ValueError:
            pretty = plan.hook.json_text
        common = {"res_model": "account.move", "res_id": move.id, "company_id": move.company_id.id}
        return [
            {
                "name": f"lafactura_{plan.cufe[:24]}.json",
                "raw": (self.body or "").encode(),
                "mimetype": "application/json",
                **common,
            },
            {
                "name": f"ubl_{plan.number or plan.cufe[:16]}.json",
                "raw": (pretty or "").encode(),
                "mimetype": "application/json",
                **common,
            },
            {
                "name": _("DIAN verification %s", plan.number or plan.cufe[:16]),
                "type": "url",
                "url": lf_docs.dian_link(plan.cufe, plan.mode),
                **common,
            },
        ]

    def _l10n_co_lafactura_chatter_body(self, plan):
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
            ),
            _("CUFE/CUDE: %s", plan.cufe),
        ]
        if self.dian_approved:
            items.append(_("DIAN approved it (confirmed with LaFactura.co)."))
        items += [warnings[w] for w in plan.warnings if w in warnings]
        body = Markup("<br/>").join(escape(i) for i in items)
        return body + Markup('<br/><a href="%s" target="_blank" rel="noopener">%s</a>') % (
            lf_docs.dian_link(plan.cufe, plan.mode),
            _("Check it on DIAN's site"),
        )


class BookCache:
    """What the bills of one batch share, looked up once: tax tables, journals, currencies,
    suppliers, their learned accounts and products."""

    def __init__(self, env):
        self.env = env
        self.memo = {}
        admin = env.ref("base.user_admin", raise_if_not_found=False)
        self.admin_id = admin.id if admin else env.uid

    def _get(self, key, compute):
        if key not in self.memo:
            self.memo[key] = compute()
        return self.memo[key]

    def tax_table(self, company):
        return self._get(
            ("tax", company.id), lambda: self.env["l10n_co_lafactura.tax.map"]._l10n_co_lafactura_table(company)
        )

    def journal(self, credential, company, test):
        return self._get(("journal", credential.id, company.id, test), lambda: self._journal(credential, company, test))

    def _journal(self, credential, company, test):
        journal = credential.l10n_co_lafactura_test_journal_id if test else credential.l10n_co_lafactura_journal_id
        if not journal:
            journal = (
                self.env["account.journal"]
                .sudo()
                .search([("company_id", "=", company.id), ("type", "=", "purchase")], limit=1)
            )
        if not journal.default_account_id:
            raise UserError(
                _(
                    "The purchase journal %(journal)s of %(company)s has no default expense account: set one.",
                    journal=journal.name or "-",
                    company=company.name,
                )
            )
        return journal

    def currency(self, name):
        Currency = self.env["res.currency"].sudo().with_context(active_test=False)
        return self._get(("currency", name), lambda: Currency.search([("name", "=", name)], limit=1))

    def partner(self, party, provider, company, credential):
        """The supplier; a partner created for this batch is reused by its other documents."""
        key = ("partner", company.id, party.nit, provider.id)
        if key not in self.memo:
            self.memo[key] = self.env["res.partner"]._l10n_co_lafactura_find_or_create(
                party, provider, company, credential
            )
        return self.memo[key]

    def forget_partners(self):
        self.memo = {key: value for key, value in self.memo.items() if key[0] not in ("partner", "account", "product")}

    def learned_account(self, partner, company):
        Inbox = self.env["l10n_co_lafactura.inbox"]
        return self._get(
            ("account", partner.id, company.id), lambda: Inbox._l10n_co_lafactura_learned_account(partner, company)
        )

    def product(self, line, partner, company):
        Inbox = self.env["l10n_co_lafactura.inbox"]
        key = ("product", partner.id, company.id, line.seller_code, line.standard_code)
        return self._get(key, lambda: Inbox._l10n_co_lafactura_find_product(line, partner, company))
