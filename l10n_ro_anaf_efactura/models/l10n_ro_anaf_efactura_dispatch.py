"""Uploads and downloads of many invoices leave concurrently, inside the shared limiter.

einvoice.attempt's engine runs one attempt after the other: claim, intent committed, call, answer
committed. For a batch, this thread still claims each attempt (SKIP LOCKED), builds its XML once,
counts the call in PostgreSQL (`_l10n_ro_anaf_efactura_throttle`) and commits the intent; only the
HTTP call goes to a small pool of threads (einvoice_common's `einvoice/callpool.py`: no cursor, no
ORM there). When a call is back, this thread stores its exchanges and the answer the way the engine does
(`_einvoice_attempt_failed` / `_einvoice_attempt_apply`, committed, then people told). Building the
next XML overlaps the calls already out. A worker that dies with calls out leaves them `sending`: the
engine's sweep makes them unknown and they are reconciled with ANAF's list, never sent again blindly.
"""

import logging

from odoo import _, api, fields, models
from odoo.tools import SQL

from odoo.addons.einvoice_common import dbtools
from odoo.addons.einvoice_common.einvoice import callpool
from odoo.addons.einvoice_common.einvoice import errors as einvoice_errors

from ..anaf.client import AnafClient
from .l10n_ro_anaf_efactura_document import _Final

_logger = logging.getLogger(__name__)

# Calls in flight at once: ANAF answers in tens of milliseconds to seconds; a few threads hide that wait
# behind the XML building of the next invoices. 1 = one after the other (the engine's own loop).
DEFAULT_WORKERS = 4
# Context key: start the attempts and leave them to the cron (Send & Print of several invoices).
QUEUE_KEY = "l10n_ro_anaf_efactura_queue"


class L10nRoAnafEfacturaDocument(models.Model):
    _inherit = "l10n_ro_anaf_efactura.document"

    @api.model
    def _l10n_ro_anaf_efactura_workers(self):
        value = self.env["ir.config_parameter"].sudo().get_param("l10n_ro_anaf_efactura.concurrent_calls")
        try:
            return max(1, int(value or DEFAULT_WORKERS))
        except ValueError:
            return DEFAULT_WORKERS

    def _einvoice_attempt_run(self):
        # EXTENDS 'einvoice_common': same claims, intents, answers and commits; the uploads of a batch overlap
        if self.env.context.get(QUEUE_KEY):
            return self._l10n_ro_anaf_efactura_queue()
        workers = self._l10n_ro_anaf_efactura_workers()
        uploads = self.filtered(lambda a: a.state in ("draft", "waiting"))
        if len(uploads) < 2 or workers < 2:
            return super()._einvoice_attempt_run()
        uploads._l10n_ro_anaf_efactura_upload_concurrently(workers)
        return super(L10nRoAnafEfacturaDocument, self - uploads)._einvoice_attempt_run()

    def _l10n_ro_anaf_efactura_queue(self):
        """The attempts are created (drafts, due now): the send cron uploads them, triggered at once."""
        cron = self.env.ref(self._einvoice_attempt_cron_xmlid, raise_if_not_found=False)
        if cron and self:
            cron.sudo()._trigger()

    def _l10n_ro_anaf_efactura_guarded(self, step, *args):
        """Run one step of one attempt as the engine's loop does: a failure is this attempt's alone."""
        result = self.browse()
        try:
            result = step(*args) or self.browse()
        except Exception as exc:
            if not dbtools.uses_own_cursor(self.env):
                raise
            self.env.cr.rollback()
            if dbtools.is_concurrency_error(exc):  # another worker holds or changed it: theirs
                _logger.info("%s %s skipped: busy in another worker (%s)", self._name, self.id, type(exc).__name__)
            else:
                _logger.warning("%s %s: step failed", self._name, self.id, exc_info=True)
                self._einvoice_attempt_later(_("Unexpected error, tried again later: %(error)s", error=exc))
        dbtools.commit(self.env)
        return result

    def _l10n_ro_anaf_efactura_thread_client(self, token, exchanges, calls=1):
        """A client for one call in a thread: the token read here, `calls` already counted by the limiter,
        exchanges kept in memory (stored by this thread afterwards)."""
        transport = self.credential_id._einvoice_transport(
            auth=callpool.FixedBearer(token),
            record=self,
            throttle=callpool.CountedCalls(calls, einvoice_errors.QuotaError),
        )
        transport.recorder = exchanges.append
        return AnafClient(transport)

    def _l10n_ro_anaf_efactura_token(self, tokens):
        credential = self.credential_id
        if credential not in tokens:
            tokens[credential] = credential._einvoice_access_token()
        return tokens[credential]

    def _l10n_ro_anaf_efactura_store_exchanges(self, exchanges):
        """The exchange log rows of the calls a thread made for this attempt (einvoice_common, one create)."""
        self.env["einvoice.exchange"]._einvoice_record_many(self.credential_id, [(self, e) for e in exchanges])

    # -- uploads ---------------------------------------------------------------------------------
    def _l10n_ro_anaf_efactura_upload_concurrently(self, workers):
        tokens = {}
        with callpool.Dispatcher(workers) as pool:
            for attempt in self:
                for (done, previous), outcome in pool.room():
                    done._l10n_ro_anaf_efactura_guarded(
                        done._l10n_ro_anaf_efactura_record_upload, previous, outcome, tokens
                    )
                attempt._l10n_ro_anaf_efactura_guarded(attempt._l10n_ro_anaf_efactura_dispatch_upload, pool, tokens)
            for (done, previous), outcome in pool.drain():
                done._l10n_ro_anaf_efactura_guarded(
                    done._l10n_ro_anaf_efactura_record_upload, previous, outcome, tokens
                )

    def _l10n_ro_anaf_efactura_dispatch_upload(self, pool, tokens):
        """Claim, build once, count the call, commit the intent; then only the upload goes to a thread.
        Anything unusual before the call (no connection, no token, data to fix) takes the engine's own path."""
        if not dbtools.lock_skip_locked(self, SQL("state IN ('draft', 'waiting')")):
            return
        self.invalidate_recordset()
        previous = self.state
        if not self.payload_attachment_id and not self._einvoice_attempt_prepare():
            return self._einvoice_attempt_commit_and_notify(previous)
        try:
            payload = self._einvoice_attempt_payload()
            self._l10n_ro_anaf_efactura_check_connection()
            token = self._l10n_ro_anaf_efactura_token(tokens)
            self.credential_id._l10n_ro_anaf_efactura_throttle("upload", {})
        except einvoice_errors.QuotaError as exc:
            self._einvoice_attempt_failed(exc)
            return self._einvoice_attempt_commit_and_notify(previous)
        except Exception:  # noqa: BLE001 - the engine's path records what is wrong (nothing was sent)
            return self._einvoice_attempt_send()
        now = fields.Datetime.now()
        self._einvoice_attempt_set("sending", sending_since=now, attempts=self.attempts + 1, next_check=now)
        dbtools.commit(self.env)  # the intent: from here on, a crash leaves 'sending', swept to unknown
        exchanges = []
        client = self._l10n_ro_anaf_efactura_thread_client(token, exchanges)
        cif, options = self._cif(), self._l10n_ro_anaf_efactura_upload_kwargs()

        def upload():
            try:
                return client.upload(payload, cif, **options)
            finally:
                client.transport.close()

        pool.submit((self, previous), upload, exchanges)

    def _l10n_ro_anaf_efactura_upload_kwargs(self):
        return {
            "standard": self.standard,
            "b2c": self.b2c,
            "extern": self.extern,
            "autofactura": self.autofactura,
            "reference": self.move_id.name,
        }

    def _l10n_ro_anaf_efactura_record_upload(self, previous, outcome, tokens):
        """The engine's answer handling: refusal -> error, not sent -> waiting, unclear -> unknown."""
        self._l10n_ro_anaf_efactura_store_exchanges(outcome.exchanges)
        dbtools.commit(self.env)  # the call happened: its exchanges stay even if recording the answer fails
        error, answer = outcome.error, outcome.answer
        if isinstance(error, einvoice_errors.AuthError) and error.status == 401:
            # the token was refused before ANAF took the file: refreshed (under the connection's lock) and
            # sent from here, as the engine would; the next uploads read the new token
            tokens.pop(self.credential_id, None)
            try:
                answer, error = self._einvoice_attempt_call(self._einvoice_attempt_payload()), None
            except Exception as exc:  # noqa: BLE001 - recorded on the attempt below
                error = exc
        if error is not None:
            self._einvoice_attempt_failed(error)
        else:
            self._einvoice_attempt_apply(answer)
        self._einvoice_attempt_commit_and_notify(previous)

    # -- downloads of the answers ANAF's list names -------------------------------------------------
    def _l10n_ro_anaf_efactura_conclude_many(self, listed):
        """Download the signed ZIPs of the attempts `listed` answers ({index: message}) and conclude them."""
        found = self.filtered(lambda d: d.index in listed)
        workers = self._l10n_ro_anaf_efactura_workers()
        concluded = self.browse()
        try:
            token = found[:1] and found[:1]._l10n_ro_anaf_efactura_token({})
        except einvoice_errors.EInvoiceError:
            token = None
        if len(found) < 2 or workers < 2 or not token:
            for document in found:
                concluded |= document._l10n_ro_anaf_efactura_conclude_listed(listed[document.index])
            return concluded
        with callpool.Dispatcher(workers) as pool:
            for document in found:
                for (done, message), outcome in pool.room():
                    concluded |= done._l10n_ro_anaf_efactura_record_download(message, outcome)
                document._l10n_ro_anaf_efactura_dispatch_download(pool, listed[document.index], token)
            for (done, message), outcome in pool.drain():
                concluded |= done._l10n_ro_anaf_efactura_record_download(message, outcome)
        return concluded

    def _l10n_ro_anaf_efactura_dispatch_download(self, pool, message, token):
        try:  # ANAF's 10 downloads per message and day, then the per-minute window
            self.credential_id._l10n_ro_anaf_efactura_throttle("download", {"id": str(message.id)})
        except einvoice_errors.EInvoiceError as exc:
            _logger.info("ANAF download %s postponed: %s", message.id, exc)
            return
        exchanges = []
        client = self._l10n_ro_anaf_efactura_thread_client(token, exchanges)
        reference = self.move_id.name

        def download():
            try:
                return client.download(message.id, reference=reference)
            finally:
                client.transport.close()

        pool.submit((self, message), download, exchanges)

    def _l10n_ro_anaf_efactura_record_download(self, message, outcome):
        """Conclude the attempt (claimed now: another worker may have concluded it meanwhile)."""
        self._l10n_ro_anaf_efactura_store_exchanges(outcome.exchanges)
        dbtools.commit(self.env)
        error = outcome.error
        if isinstance(error, einvoice_errors.AuthError) and error.status == 401:
            return self._l10n_ro_anaf_efactura_conclude_listed(message)  # refreshed and downloaded from here
        if error is not None:
            if not isinstance(error, einvoice_errors.EInvoiceError):
                raise error
            _logger.info("ANAF download %s postponed: %s", message.id, error)
            return self.browse()
        if not dbtools.lock_skip_locked(self, SQL("state = 'sent'")):
            return self.browse()
        result = "nok" if message.filter_code == "E" or outcome.answer.is_error_document else "ok"
        self._l10n_ro_anaf_efactura_conclude(_Final(result, message.id, outcome.answer))
        return self
