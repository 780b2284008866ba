"""Inbox of the public-body side: every delivery downloaded from eFACT is stored here (and committed)
before it is processed into a vendor bill, so a crash between the two loses nothing."""

import hashlib
import json
import logging
import threading
from contextlib import contextmanager
from datetime import timedelta

import psycopg2.errors

from odoo import _, api, fields, models
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tools import SQL

from odoo.addons.einvoice_common import compat
from odoo.addons.einvoice_common.einvoice import callpool
from odoo.addons.einvoice_common.einvoice import errors as common_errors

from ..efact import client as efact_client
from ..efact import documents
from .einvoice_credential import efact_error_text

_logger = logging.getLogger(__name__)

INBOX_STATES = [
    ("received", "Received"),
    ("processed", "Processed"),
    ("duplicate", "Duplicate"),
    ("rejected", "Rejected"),
    ("error", "Error"),
]
DONE_STATES = ("processed", "duplicate")
# pure HTTP calls overlapped per batch (downloads, DELIVERED): a few, to stay polite to the hub
DOWNLOAD_WORKERS = 8
# invoices of one batch: one create, one commit (small: a crash loses little and the next run goes on),
# and whole rounds of the concurrent calls (a batch of 25 over 8 threads waits a 4th round for 1 call)
PROCESS_BATCH = 4 * DOWNLOAD_WORKERS
RETENTION_PARAM = "l10n_efact_aoc.inbox_retention_days"
DEFAULT_RETENTION_DAYS = 400


class L10nEfactAocInbox(models.Model):
    _name = "l10n_efact_aoc.inbox"
    _description = "eFACT received delivery"
    _inherit = ["einvoice.exchange.mixin"]
    _order = "id desc"
    _rec_name = "hub_id"

    company_id = fields.Many2one("res.company", required=True, index=True, readonly=True)
    credential_id = fields.Many2one("einvoice.credential", ondelete="set null", readonly=True)
    hub_id = fields.Char("eFACT id", required=True, index=True, readonly=True)
    receiver_nif = fields.Char("Receiving NIF", readonly=True)
    supplier_nif = fields.Char("Supplier NIF", readonly=True)
    supplier_name = fields.Char(readonly=True)
    number = fields.Char("Invoice number", readonly=True)
    amount = fields.Float("Amount on eFACT", digits=(16, 2), readonly=True, help="importFactura of the hub listing.")
    oficina_comptable = fields.Char("Accounting office (DIR3)", readonly=True)
    organ_gestor = fields.Char("Managing body (DIR3)", readonly=True)
    unitat_tramitadora = fields.Char("Processing unit (DIR3)", readonly=True)
    hub_data = fields.Text("eFACT invoice data (JSON)", readonly=True)
    attachment_id = fields.Many2one("ir.attachment", string="Facturae file", readonly=True, ondelete="restrict")
    attachment_ids = fields.Many2many(
        "ir.attachment",
        "l10n_efact_aoc_inbox_attachment_rel",
        "inbox_id",
        "attachment_id",
        string="Attachments",
        readonly=True,
    )
    sha256 = fields.Char("SHA-256", readonly=True, index=True)
    state = fields.Selection(INBOX_STATES, required=True, default="received", index=True, readonly=True)
    reason = fields.Text(readonly=True)
    move_id = fields.Many2one("account.move", string="Bill", ondelete="set null", readonly=True, index=True)
    document_id = fields.Many2one("l10n_efact_aoc.document", string="eFACT invoice", ondelete="set null", readonly=True)
    delivered = fields.Boolean("DELIVERED reported", readonly=True)
    attempts = fields.Integer("Processing attempts", readonly=True)

    compat.sql_constraints(
        locals(),
        [
            ("hub_id_unique", "unique(company_id, hub_id)", "This eFACT delivery is already in the company's inbox."),
        ],
    )

    # -- claiming and storing ---------------------------------------------------------------
    @api.model
    def _l10n_efact_aoc_insert_rows(self, credential, rows):
        """INSERT ... ON CONFLICT DO NOTHING the inbox rows of `rows` [(company, pending)] in one statement
        (the caller commits). False when a concurrent run was inserting some of them at the same time."""
        if not rows:
            return True
        cr = self.env.cr
        fields_ = ("company_id", "credential_id", "hub_id", "receiver_nif", "oficina_comptable", "organ_gestor")
        fields_ += ("unitat_tramitadora",)
        values = SQL(", ").join(
            SQL(
                "(%s, %s, %s, %s, %s, %s, %s, 'received', false, 0, %s, %s, %s, %s)",
                company.id,
                credential.id,
                pending.id,
                pending.nif or None,
                pending.oficina_comptable or None,
                pending.organ_gestor or None,
                pending.unitat_tramitadora or None,
                self.env.uid,
                self.env.uid,
                fields.Datetime.now(),
                fields.Datetime.now(),
            )
            for company, pending in rows
        )
        try:
            with cr.savepoint(flush=False):
                cr.execute(  # a conflict with a concurrent run is expected: not logged as an error
                    SQL(
                        """INSERT INTO l10n_efact_aoc_inbox (%s, state, delivered, attempts, create_uid, write_uid,
                                                             create_date, write_date)
                           VALUES %s ON CONFLICT (company_id, hub_id) DO NOTHING""",
                        SQL(", ").join(SQL.identifier(name) for name in fields_),
                        values,
                    ),
                    log_exceptions=False,
                )
        except psycopg2.errors.SerializationFailure:
            return False
        return True

    @api.model
    def _l10n_efact_aoc_lock_where(self, condition):
        """Rows matching `condition` this transaction could lock (SKIP LOCKED); a row changed by a run
        that committed after our snapshot is left to that run."""
        cr = self.env.cr
        self.flush_model()
        try:
            with cr.savepoint(flush=False):
                cr.execute(
                    SQL("SELECT id FROM l10n_efact_aoc_inbox WHERE %s ORDER BY id FOR UPDATE SKIP LOCKED", condition),
                    log_exceptions=False,
                )
                ids = [row[0] for row in cr.fetchall()]
        except psycopg2.errors.SerializationFailure:
            return self.browse()
        rows = self.sudo().browse(ids)
        rows.invalidate_recordset()
        return rows

    def _l10n_efact_aoc_check_nif(self, nif):
        """Refuse to store on this row what eFACT addresses to another NIF than its company's."""
        self.ensure_one()
        expected = self.company_id._l10n_efact_aoc_nif()
        if nif and documents.normalize_nif(nif) != expected:
            raise documents.DocumentError(
                _(
                    "eFACT invoice %(id)s is addressed to NIF %(nif)s, not to %(company)s (%(expected)s): nothing "
                    "was stored.",
                    id=self.hub_id,
                    nif=nif,
                    company=self.company_id.name,
                    expected=expected,
                )
            )

    def _l10n_efact_aoc_store(self, info, xml, files):
        """Store one downloaded delivery on this claimed row (not processed yet). The caller commits."""
        self.ensure_one()
        self._l10n_efact_aoc_check_nif(info.nif)
        Attachment = self.env["ir.attachment"].sudo()
        safe_number = (info.number or "").replace("/", "_")
        stored = Attachment.create(
            [
                {
                    "name": f"eFACT_{self.hub_id}_{safe_number}.xml",
                    "raw": xml or b"",
                    "mimetype": "application/xml",
                    "res_model": self._name,
                    "res_id": self.id,
                },
                *(
                    {
                        "name": name or f"attachment_{attachment_id}",
                        "raw": content,
                        "description": f"efact:{attachment_id}",
                        "mimetype": (mime or "").split(";")[0] or documents.mime_for(name),
                        "res_model": self._name,
                        "res_id": self.id,
                    }
                    for attachment_id, name, content, mime in files
                ),
            ]
        )
        # late attachments stored on this row before its invoice was downloaded are kept
        tags = {f"efact:{attachment_id}" for attachment_id, *_rest in files}
        late = self.attachment_ids.filtered(lambda a: a.description not in tags)
        self.sudo().write(
            {
                "receiver_nif": info.nif or self.receiver_nif,
                "supplier_nif": info.supplier_nif,
                "supplier_name": info.supplier_name,
                "number": info.number,
                "amount": info.amount,
                "oficina_comptable": info.oficina_comptable or self.oficina_comptable,
                "organ_gestor": info.organ_gestor or self.organ_gestor,
                "unitat_tramitadora": info.unitat_tramitadora or self.unitat_tramitadora,
                "hub_data": json.dumps(info.raw or {}, ensure_ascii=False, sort_keys=True),
                "sha256": hashlib.sha256(xml or b"").hexdigest(),
                "state": "received",
                "reason": False,
                "attachment_id": stored[0].id,
                "attachment_ids": [fields.Command.set((stored[1:] | late).ids)],
            }
        )
        return self

    @api.model
    def _l10n_efact_aoc_download_many(self, api, recorder, rows, pendings):
        """Download the deliveries of these claimed rows (invoice data, Facturae, attachments) in a
        small thread pool of pure HTTP calls (no ORM in the threads; their exchange-log rows are
        written afterwards, each against its row), then store each one (or why it failed) and
        commit. Returns the first auth or transient error, which stops the run after this."""
        by_hub = {row.hub_id: row for row in rows}
        expected = {row.hub_id: row.company_id._l10n_efact_aoc_nif() for row in rows}

        def fetch(pending):  # in a worker thread: HTTP only, plain values (no ORM read)
            recorder.record = by_hub[pending.id]
            info = api.get_invoice(pending.id)
            if info.nif and documents.normalize_nif(info.nif) != expected[pending.id]:
                return info, None, []  # refused on this row below, nothing else downloaded
            xml = api.get_facturae(pending.id)
            return (
                info,
                xml,
                [(att_id, name, *api.get_attachment(pending.id, att_id)) for att_id, name in info.attachments],
            )

        with recorder.buffered():
            results = callpool.map_concurrently(fetch, pendings, workers=DOWNLOAD_WORKERS, stop=_stops_the_run)
        stop = None
        for pending, (result, exc) in zip(pendings, results, strict=True):
            row = by_hub[pending.id]
            if result is None and exc is None:
                continue  # not tried after refused credentials: the next run downloads it
            try:
                if exc is not None:
                    raise exc
                row._l10n_efact_aoc_check_nif(result[0].nif)
                row._l10n_efact_aoc_store(*result)
            except (common_errors.EInvoiceError, documents.DocumentError) as error:
                state = "rejected" if isinstance(error, documents.DocumentError) else "error"
                row.sudo().write({"state": state, "reason": _l10n_efact_aoc_reason(self.env, error), "attempts": 0})
                if _stops_the_run(error):
                    stop = stop or error
        self.env["einvoice.credential"]._einvoice_commit()  # stored before anything is processed
        return stop

    # -- pulling ----------------------------------------------------------------------------
    @api.model
    def _l10n_efact_aoc_rcf_session(self, credential, company=None):
        """One RCF client (one HTTP session) for a whole run, logging each call against the row being
        handled (`recorder.record`), else against `company` (the company served), else the connection."""
        api = credential._l10n_efact_aoc_rcf_client(record=company or credential)
        recorder = _RowRecorder(self.env, credential, company)
        api.transport.recorder = recorder
        return api, recorder

    @api.model
    def _l10n_efact_aoc_pull(self, credential, nif=None, oficina_comptable=None, limit=None, chunk=PROCESS_BATCH):
        """Store first, process second, one pending invoice at a time (no threads), with one pending
        list per company NIF the connection serves (logged against that company): see `_pull_nif`.
        Returns (delivered ids, refused or skipped ids)."""
        by_nif = self.env["account.move"]._l10n_efact_aoc_company_by_nif(credential)
        nif = documents.normalize_nif(nif or credential.l10n_efact_aoc_filter_nif or "")
        if nif and nif not in by_nif:
            _logger.warning("eFACT connection %s: NIF filter %s is no company of the connection", credential.name, nif)
        if oficina_comptable is None:
            oficina_comptable = credential.l10n_efact_aoc_filter_oficina or None
        delivered, refused = [], []
        for served in [n for n in ([nif] if nif else sorted(by_nif)) if n in by_nif]:
            left = None if limit is None else limit - len(delivered) - len(refused)
            if left is not None and left <= 0:
                break
            done, skipped = self._l10n_efact_aoc_pull_nif(credential, by_nif, served, oficina_comptable, left, chunk)
            delivered += done
            refused += skipped
        if delivered:
            self.env["l10n_efact_aoc.report"]._l10n_efact_aoc_trigger()  # the ANNOTATED reports queued
        return delivered, refused

    @api.model
    def _l10n_efact_aoc_pull_nif(self, credential, by_nif, nif, oficina_comptable, limit, chunk):
        """The pending invoices addressed to `nif`, `chunk` at a time: claim their rows, download and
        store them (commit), process them into bills (commit), report DELIVERED for the committed
        bills. An item of another NIF in the answer is left for its own company's request."""
        api, recorder = self._l10n_efact_aoc_rcf_session(credential, by_nif[nif])
        cache = {}

        def process_batch(items):
            mine = [p for p in items if documents.normalize_nif(p.nif) == nif]
            return self._l10n_efact_aoc_receive_batch(api, recorder, credential, by_nif[nif], mine, cache)

        def deliver(hub_ids):
            self._l10n_efact_aoc_deliver_hub_ids(api, recorder, by_nif, hub_ids)

        return efact_client.drain_pending_batches(
            api,
            process_batch,
            nif=nif,
            oficina_comptable=oficina_comptable,
            deliver=deliver,
            chunk=chunk,
            limit=limit,
        )

    @api.model
    def _l10n_efact_aoc_receive_batch(self, api, recorder, credential, company, pendings, cache):
        """A batch of pending invoices of `company`: their rows created if missing (committed) and
        claimed (SKIP LOCKED: a row another run holds is left to it), the deliveries not stored yet
        downloaded and stored (committed), then processed into bills (committed). Returns the hub
        ids whose bill is committed and whose DELIVERED is due."""
        if not pendings:
            return []
        self._l10n_efact_aoc_insert_rows(credential, [(company, p) for p in pendings])
        # the rows exist for every run; and the lock below reads a fresh snapshot (a row another run
        # changed since an older one would fail the whole batch's lock)
        self.env["einvoice.credential"]._einvoice_commit()
        ids = tuple(p.id for p in pendings)
        rows = self._l10n_efact_aoc_lock_where(SQL("company_id = %s AND hub_id IN %s", company.id, ids))
        claimed = set(rows.mapped("hub_id"))
        fetch = [p for p in pendings if p.id in claimed]
        stored = {row.hub_id for row in rows if row.attachment_id}
        error = self._l10n_efact_aoc_download_many(api, recorder, rows, [p for p in fetch if p.id not in stored])
        if error:
            raise error
        done = rows._l10n_efact_aoc_process(cache, trigger=False)  # the pull triggers once at its end
        return [row.hub_id for row in done if not row.delivered]

    @api.model
    def _l10n_efact_aoc_deliver_hub_ids(self, api, recorder, by_nif, hub_ids):
        """Report DELIVERED for the done rows of `hub_ids`, each under its row lock (a row another run
        holds or already reported is skipped), then record it (commit). Raises the first error after
        recording the others."""
        if not hub_ids:
            return
        rows = self._l10n_efact_aoc_lock_where(
            SQL(
                "hub_id IN %s AND company_id IN %s AND state IN %s AND NOT delivered",
                tuple(hub_ids),
                tuple({c.id for c in by_nif.values()}),
                DONE_STATES,
            )
        )

        def patch(item):  # in a worker thread: HTTP only, plain values (no ORM read)
            row, hub_id = item
            recorder.record = row
            try:
                api.update_state(hub_id, "DELIVERED")
            except common_errors.RejectedError:
                # DELIVERED may have been accepted before our commit was lost: ask the hub
                if api.get_invoice(hub_id).state in ("", "SENT", "REGISTERED"):
                    raise
            return True

        with recorder.buffered():
            items = [(row, row.hub_id) for row in rows]
            results = callpool.map_concurrently(patch, items, workers=DOWNLOAD_WORKERS, stop=_auth_refused)
        delivered, error, unexpected = self.browse(), None, None
        for row, (done, exc) in zip(rows, results, strict=True):
            if done:
                delivered |= row
            elif isinstance(exc, common_errors.EInvoiceError):
                # this one waits for the next run; an auth error is the one worth reporting
                error = exc if exc.kind == "auth" or error is None else error
            elif exc is not None:  # else not tried after refused credentials: the next run
                unexpected = unexpected or exc
        delivered._l10n_efact_aoc_mark_delivered()  # what the hub accepted is recorded whatever else failed
        error = unexpected or error
        self.env["einvoice.credential"]._einvoice_commit()
        if error:
            raise error

    def _l10n_efact_aoc_mark_delivered(self):
        """Record DELIVERED on these rows, their eFACT documents and their state history."""
        if not self:
            return
        self.sudo().write({"delivered": True})
        docs = self.document_id.sudo().filtered(lambda d: not d.delivered_reported)
        docs.filtered(lambda d: d.hub_state in ("registered", "sent", False)).write({"hub_state": "delivered"})
        docs.write({"delivered_reported": True})
        now = fields.Datetime.now()
        self.env["l10n_efact_aoc.history"].sudo().create(
            [{"document_id": doc.id, "code": "DELIVERED", "date": now} for doc in docs]
        )

    @api.model
    def _l10n_efact_aoc_late_attachment(self, credential, companies, item):
        """The late attachment `item` (eFACT /adjunts-pendents) already stored in an inbox row."""
        return (
            self.env["ir.attachment"]
            .sudo()
            .search(
                [
                    ("res_model", "=", self._name),
                    ("res_id", "in", self._l10n_efact_aoc_rows_of(companies, item.invoice_id).ids),
                    ("description", "=", f"efact:{item.id}"),
                ],
                limit=1,
            )
        )

    @api.model
    def _l10n_efact_aoc_rows_of(self, companies, hub_id):
        return self.sudo().search([("company_id", "in", companies.ids), ("hub_id", "=", hub_id)])

    @api.model
    def _l10n_efact_aoc_late_attachment_company(self, api, companies, item):
        """The company a late attachment belongs to: that of its invoice's row, else the one owning the
        NIF eFACT gives for its invoice (never a guess)."""
        row = self._l10n_efact_aoc_rows_of(companies, item.invoice_id)[:1]
        if row:
            return row.company_id
        nif = documents.normalize_nif(api.get_invoice(item.invoice_id).nif)
        return companies.filtered(lambda c: c.vat and c._l10n_efact_aoc_nif() == nif)[:1]

    @api.model
    def _l10n_efact_aoc_store_late_attachment(self, credential, company, item, content, mime):
        """Store a late attachment against the inbox row of its invoice in `company`, or a row of its
        own (state received, no Facturae file) while the invoice is not downloaded yet. The caller
        commits."""
        inbox = self._l10n_efact_aoc_rows_of(company, item.invoice_id)[:1]
        if not inbox:
            inbox = self.sudo().create(
                {
                    "company_id": company.id,
                    "credential_id": credential.id,
                    "hub_id": item.invoice_id,
                    "state": "received",
                    "reason": _("Attachment %s received before its invoice.", item.name),
                }
            )
        attachment = (
            self.env["ir.attachment"]
            .sudo()
            .create(
                {
                    "name": item.name or f"attachment_{item.id}",
                    "raw": content or b"",
                    "description": f"efact:{item.id}",
                    "mimetype": (mime or "").split(";")[0] or documents.mime_for(item.name),
                    "res_model": self._name,
                    "res_id": inbox.id,
                }
            )
        )
        inbox.attachment_ids = [fields.Command.link(attachment.id)]
        return attachment

    # -- processing ----------------------------------------------------------------------
    def _l10n_efact_aoc_prefetched(self):
        """(pending, (info, xml, files)) rebuilt from what was stored."""
        self.ensure_one()
        pending = efact_client.PendingInvoice(
            id=self.hub_id,
            nif=self.receiver_nif or "",
            oficina_comptable=self.oficina_comptable or "",
            organ_gestor=self.organ_gestor or "",
            unitat_tramitadora=self.unitat_tramitadora or "",
        )
        info = efact_client.RcfInvoice.from_json(json.loads(self.hub_data or "{}"), self.hub_id)
        own = self._l10n_efact_aoc_own_files()
        files = [
            (
                (att.description or "").removeprefix("efact:"),
                att.name,
                att.raw,
                att.mimetype,
            )
            for att in (self.attachment_ids & own).sorted("id")
        ]
        return pending, (info, (self.attachment_id & own).raw or b"", files)

    def _l10n_efact_aoc_own_files(self):
        """The files the system stored for this row (attached to the row itself): only those are ever
        copied onto a bill, whatever else a link may point to."""
        self.ensure_one()
        return (
            (self.attachment_id | self.attachment_ids)
            .sudo()
            .filtered(lambda a: a.res_model == self._name and a.res_id == self.id)
        )

    def _l10n_efact_aoc_process(self, cache=None, trigger=True):
        """Turn stored deliveries into bills, under row locks taken with SKIP LOCKED (a row another
        worker is processing is left to it), `PROCESS_BATCH` bills of a company per create, each
        batch committed on its own. Returns the rows that are done (processed or duplicate);
        DELIVERED is the caller's business. `cache`: lookups kept for a whole run (see
        account.move._l10n_efact_aoc_prepare_import)."""
        Credential = self.env["einvoice.credential"]
        cache = {} if cache is None else cache
        if not self:
            return self
        # a row changed by a worker that committed after our snapshot was processed by it
        rows = self._l10n_efact_aoc_lock_where(SQL("id IN %s", tuple(self.ids)))
        rows = rows.with_context(l10n_efact_aoc_no_report_trigger=True)
        done = rows.filtered(lambda r: r.state in DONE_STATES)
        todo = rows.filtered(lambda r: r.state not in DONE_STATES and r.attachment_id)  # else: the next pull
        for company in todo.company_id:
            of_company = todo.filtered(lambda r, c=company: r.company_id == c)
            for start in range(0, len(of_company), PROCESS_BATCH):
                batch = of_company[start : start + PROCESS_BATCH]
                batch._l10n_efact_aoc_process_batch(company, cache)
                Credential._einvoice_commit()  # the bills exist before eFACT is told DELIVERED
                done |= batch.filtered(lambda r: r.state in DONE_STATES)
        if done and trigger:
            self.env["l10n_efact_aoc.report"]._l10n_efact_aoc_trigger()  # ANNOTATED queued: once per batch
        return done.with_env(self.env)

    def _l10n_efact_aoc_process_batch(self, company, cache):
        """These locked rows of `company`: each parsed and checked on its own (a refusal fails that
        row only), then all their bills in one create (see account.move._l10n_efact_aoc_create_bills)."""
        Move = self.env["account.move"].sudo().with_company(company)
        docs = (
            self.env["l10n_efact_aoc.document"]
            .sudo()
            .search(
                [("company_id", "=", company.id), ("direction", "=", "in"), ("hub_id", "in", self.mapped("hub_id"))]
            )
        )
        doc_of = {doc.hub_id: doc for doc in reversed(docs)}  # the first one in the model's order
        prepared, waiting = [], self.browse()
        for row in self:
            doc = doc_of.get(row.hub_id, self.env["l10n_efact_aoc.document"])
            if doc.move_id:
                row.write(
                    {
                        "attempts": row.attempts + 1,
                        "state": "duplicate",
                        "move_id": doc.move_id.id,
                        "document_id": doc.id,
                        "reason": _("eFACT invoice %s already has a bill: nothing created.", row.hub_id),
                    }
                )
                continue
            pending, prefetched = row._l10n_efact_aoc_prefetched()
            try:
                with self.env.cr.savepoint():  # a supplier created for a refused file is undone with it
                    if not row.credential_id:
                        raise UserError(_("The eFACT connection of this delivery was deleted."))
                    result = Move._l10n_efact_aoc_prepare_import(
                        row.credential_id, company, pending, doc, prefetched=prefetched, cache=cache
                    )
            except (common_errors.EInvoiceError, documents.DocumentError, UserError, ValidationError) as exc:
                for key in [key for key in cache if key[0] == "partner"]:  # one may be undone with the savepoint
                    del cache[key]
                row._l10n_efact_aoc_failed(exc)
                continue
            if isinstance(result, dict):
                prepared.append(result)
                waiting |= row
            else:
                row._l10n_efact_aoc_processed(result)
        for row, (doc, error) in zip(waiting, Move._l10n_efact_aoc_create_bills(company, prepared), strict=True):
            if error:
                row._l10n_efact_aoc_failed(error)
            else:
                row._l10n_efact_aoc_processed(doc)

    def _l10n_efact_aoc_failed(self, exc):
        state = "rejected" if isinstance(exc, documents.DocumentError) else "error"
        self.write({"attempts": self.attempts + 1, "state": state, "reason": _l10n_efact_aoc_reason(self.env, exc)})

    def _l10n_efact_aoc_processed(self, doc):
        self.write(
            {
                "attempts": self.attempts + 1,
                "state": "processed",
                "reason": doc.move_id.l10n_efact_aoc_import_warning or False,
                "move_id": doc.move_id.id,
                "document_id": doc.id,
            }
        )

    @api.model
    def _cron_l10n_efact_aoc_process(self, limit=200):
        """Process what the pull stored but did not finish (a crash, a lock held elsewhere), then
        report DELIVERED for the deliveries whose bill is committed."""
        Credential = self.env["einvoice.credential"]
        rows = self.sudo().search([("state", "=", "received"), ("attachment_id", "!=", False)], limit=limit)
        rows._l10n_efact_aoc_process()
        undelivered = self.sudo().search([("state", "in", DONE_STATES), ("delivered", "=", False)], limit=limit)
        for credential in undelivered.credential_id:
            rows = undelivered.filtered(lambda r, c=credential: r.credential_id == c)
            try:
                rows._l10n_efact_aoc_deliver(credential)
            except common_errors.EInvoiceError as exc:
                _logger.warning("eFACT DELIVERED for %s stopped: %s", credential.name, exc)
            Credential._einvoice_commit()
        self._l10n_efact_aoc_trigger_if_waiting()
        return True

    @api.model
    def _l10n_efact_aoc_retention_days(self):
        value = self.env["ir.config_parameter"].sudo().get_param(RETENTION_PARAM, DEFAULT_RETENTION_DAYS)
        try:
            return int(value)
        except (TypeError, ValueError):
            _logger.warning(
                "%s is not a number of days (%r): %s days used", RETENTION_PARAM, value, DEFAULT_RETENTION_DAYS
            )
            return DEFAULT_RETENTION_DAYS

    def _l10n_efact_aoc_bill_has_everything(self):
        """True when every file stored on this row (Facturae, attachments) is also on its bill."""
        self.ensure_one()
        if not self.move_id:
            return False
        Attachment = self.env["ir.attachment"].sudo()
        stored = Attachment.search([("res_model", "=", self._name), ("res_id", "=", self.id)])
        stored |= self.attachment_id | self.attachment_ids
        on_bill = set(
            Attachment.search([("res_model", "=", "account.move"), ("res_id", "=", self.move_id.id)]).mapped("checksum")
        )
        return all(att.checksum in on_bill for att in stored)

    @api.model
    def _cron_l10n_efact_aoc_inbox_retention(self, limit=500):
        """Delete inbox rows older than the retention (system parameter
        `l10n_efact_aoc.inbox_retention_days`, default 400 days; 0 or less keeps everything) that are
        processed or duplicate, reported DELIVERED, and whose bill exists and already has every file
        the row stored. Received, error and rejected rows are never deleted."""
        days = self._l10n_efact_aoc_retention_days()
        if days <= 0:
            return True
        cutoff = fields.Datetime.now() - timedelta(days=days)
        rows = self.sudo().search(
            [
                ("state", "in", DONE_STATES),
                ("delivered", "=", True),
                ("move_id", "!=", False),
                ("create_date", "<", cutoff),
            ],
            limit=limit,
            order="id",
        )
        removable = rows.filtered(lambda r: r._l10n_efact_aoc_bill_has_everything())
        files = removable.attachment_id | removable.attachment_ids
        removable.unlink()  # also deletes the attachments whose res_model/res_id is the row
        files.exists().unlink()
        if removable and len(rows) == limit:
            self.env.ref("l10n_efact_aoc.ir_cron_l10n_efact_aoc_inbox_retention")._trigger()
        return True

    @api.model
    def _l10n_efact_aoc_trigger_if_waiting(self):
        """Run the processing cron again soon while stored rows wait (e.g. locked by another worker)."""
        if self.sudo().search_count([("state", "=", "received"), ("attachment_id", "!=", False)], limit=1):
            self.env.ref("l10n_efact_aoc.ir_cron_l10n_efact_aoc_process_inbox")._trigger()

    def _l10n_efact_aoc_deliver(self, credential):
        """Tell eFACT DELIVERED for these done rows of `credential`."""
        api, recorder = self._l10n_efact_aoc_rcf_session(credential)
        by_nif = self.env["account.move"]._l10n_efact_aoc_company_by_nif(credential)
        self._l10n_efact_aoc_deliver_hub_ids(api, recorder, by_nif, self.mapped("hub_id"))

    def action_l10n_efact_aoc_process_again(self):
        """Button: process a refused or failed delivery again from the stored file. The rows are the
        system's: the caller must be a billing user who can read THESE rows (their company) and create
        bills; the work then runs as superuser."""
        if not self.env.user.has_group("account.group_account_invoice"):
            raise AccessError(_("Only billing users can process eFACT deliveries again."))
        self.check_access("read")
        self.env["account.move"].check_access("create")
        rows = self.sudo().filtered(lambda r: r.state in ("received", "rejected", "error"))
        if not rows:
            raise UserError(_("Only received, rejected or failed deliveries can be processed again."))
        missing = rows.filtered(lambda r: not r.attachment_id)
        if missing:
            raise UserError(
                _(
                    "eFACT invoice %s was never downloaded: the next pull downloads it again.",
                    ", ".join(missing.mapped("hub_id")),
                )
            )
        done = rows._l10n_efact_aoc_process()
        for credential in done.filtered(lambda r: not r.delivered).credential_id:
            done.filtered(lambda r, c=credential: r.credential_id == c and not r.delivered)._l10n_efact_aoc_deliver(
                credential
            )
        return True

    def action_l10n_efact_aoc_open_bill(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "res_model": "account.move",
            "res_id": self.move_id.id,
            "view_mode": "form",
        }


def _auth_refused(exc):
    return isinstance(exc, common_errors.EInvoiceError) and exc.kind == "auth"


def _stops_the_run(exc):
    """Refused credentials or an unreachable hub: the other calls of the run would fail the same way."""
    return isinstance(exc, common_errors.EInvoiceError) and exc.kind in ("auth", "transient")


def _l10n_efact_aoc_reason(env, exc):
    if isinstance(exc, (UserError, ValidationError)):
        return str(exc.args[0])
    return efact_error_text(env, exc)


class _RowRecorder:
    """Exchange-log callback of one RCF run: each call is written against `record` (the inbox row
    being handled, per thread) or, when none, against the company served (else the connection).
    Inside `buffered()` the calls made by worker threads are kept and written by the caller's
    thread at its end: no ORM in the threads."""

    def __init__(self, env, credential, company=None):
        self.env = env
        self.credential = credential
        self.company = company
        self._local = threading.local()
        self._buffer = None

    @property
    def record(self):
        return getattr(self._local, "record", None)

    @record.setter
    def record(self, value):
        self._local.record = value

    @contextmanager
    def buffered(self):
        self._buffer = []
        try:
            yield
        finally:
            kept, self._buffer = self._buffer, None
            self.env["einvoice.exchange"]._einvoice_record_many(self.credential, kept)

    def __call__(self, exchange):
        record = self.record or self.company or self.credential
        if self._buffer is not None:
            self._buffer.append((record, exchange))  # list.append is atomic: safe from threads
        else:
            self._write(record, exchange)

    def _write(self, record, exchange):
        self.env["einvoice.exchange"]._einvoice_recorder(self.credential, record)(exchange)
