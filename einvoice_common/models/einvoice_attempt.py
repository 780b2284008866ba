"""One outbound attempt, once: the state machine every sending service inherits.

See readme/ATTEMPT.md for the states, the hooks and the invariant.
"""

import hashlib
import logging
import zlib
from datetime import timedelta

from odoo import _, api, fields, models
from odoo.exceptions import UserError, ValidationError
from odoo.tools import SQL, format_datetime

from .. import dbtools
from ..einvoice import errors, redact

_logger = logging.getLogger(__name__)

STATES = [
    ("draft", "To send"),
    ("waiting", "Waiting"),
    ("sending", "Sending"),
    ("unknown", "Outcome being confirmed"),
    ("sent", "Sent"),
    ("accepted", "Accepted"),
    ("rejected", "Rejected"),
    ("error", "Not sent"),
]
WAITING_REASONS = [
    ("connection", "Waiting for the connection"),
    ("quota", "Waiting for the service's quota"),
    ("service", "Waiting for the service"),
]
# States the engine works on (the cron picks them when next_check is due).
ACTIVE_STATES = ("draft", "waiting", "sending", "unknown", "sent")
# While an attempt may be alive at the service, no new payload is built and no resend offered.
BLOCKING_STATES = ("sending", "unknown")
# What a readable answer may map to.
ANSWER_STATES = ("sent", "accepted", "rejected", "error")
FINAL_STATES = ("accepted", "rejected", "error")


def _now():
    return fields.Datetime.now()


class EinvoiceAttempt(models.AbstractModel):
    """One attempt to deliver one document to one service, from intent to final answer.

    The service addon's model inherits this and supplies the hooks marked HOOK; the
    engine methods (`_einvoice_attempt_start`, `_einvoice_attempt_process`,
    `_einvoice_attempt_cron`) own the invariant and must not be overridden.
    """

    _name = "einvoice.attempt"
    _description = "E-invoicing outbound attempt"
    _inherit = ["einvoice.exchange.mixin"]

    # The field naming the document this attempt is about (one live attempt per document).
    _einvoice_attempt_subject = "move_id"
    # The ir.cron (xml id) running `_einvoice_attempt_cron` for the concrete model.
    _einvoice_attempt_cron_xmlid = None
    # True when the service gives a final answer later (then `sent` is polled).
    _einvoice_attempt_polls = False

    state = fields.Selection(STATES, required=True, default="draft", index=True, readonly=True, copy=False)
    waiting_reason = fields.Selection(WAITING_REASONS, readonly=True, copy=False)
    credential_id = fields.Many2one("einvoice.credential", "Connection", ondelete="restrict", readonly=True)
    payload_attachment_id = fields.Many2one("ir.attachment", "Sent file", readonly=True, copy=False)
    payload_sha256 = fields.Char("SHA-256 of the sent file", readonly=True, index=True, copy=False)
    sending_since = fields.Datetime(readonly=True, copy=False)
    next_check = fields.Datetime(index=True, readonly=True, copy=False)
    attempts = fields.Integer("Calls made", readonly=True, copy=False)
    checks = fields.Integer("Checks since the last change", readonly=True, copy=False)
    service_reference = fields.Char("Reference at the service", readonly=True, index=True, copy=False)
    message = fields.Text(readonly=True, copy=False)
    einvoice_attempt_blocking = fields.Boolean(
        "Being confirmed", compute="_compute_einvoice_attempt_status", help="Sending or outcome unknown."
    )
    einvoice_attempt_status = fields.Char("Status", compute="_compute_einvoice_attempt_status")

    # -- HOOKS (supplied by the service addon) -----------------------------------------------
    def _einvoice_attempt_build_payload(self):
        """HOOK. Return (payload bytes, file name). Called once per attempt, before any call.

        Raise UserError for data the user must fix: the attempt ends in error, nothing sent.
        """
        raise NotImplementedError

    def _einvoice_attempt_call(self, payload):
        """HOOK. Send `payload` (the exact stored bytes) and return the service's answer.

        Raise the transport's typed errors; raise errors.QuotaError when a limiter says not now.
        """
        raise NotImplementedError

    def _einvoice_attempt_read_answer(self, answer):
        """HOOK. Return the values to store from an answer (of a call, lookup or poll).

        Include "state" (one of sent / accepted / rejected / error) or override
        `_einvoice_attempt_map_state`. Raise anything when the answer is not what the
        service documents: the attempt becomes unknown and is reconciled, never error.
        """
        raise NotImplementedError

    def _einvoice_attempt_map_state(self, answer, values):
        """HOOK (optional). The state an answer means; None means "not clear": unknown."""
        return values.pop("state", None)

    def _einvoice_attempt_lookup(self):
        """HOOK. Ask the service for this attempt by business key (number, hash ...).

        Return the answer when the service has it (read by `_einvoice_attempt_read_answer`),
        None when it never received it. Raise when the service cannot tell now.
        """
        raise NotImplementedError

    def _einvoice_attempt_poll(self):
        """HOOK (with _einvoice_attempt_polls). The final answer for a sent attempt, or None."""
        raise NotImplementedError

    def _einvoice_attempt_absence_is_final(self):
        """HOOK (optional). True when "not found" by the lookup proves the service never got it."""
        return True

    def _einvoice_attempt_notify(self, previous_state):
        """HOOK (optional). Tell people (chatter, activity) once the new state is committed.

        Runs on the engine's cursor: post messages, never write the subject document.
        """

    def _einvoice_attempt_error_text(self, exc):
        """HOOK (optional). The text a person reads for a typed error (advice by code)."""
        Advice = self.env["einvoice.error.advice"]
        return Advice._einvoice_advice_text(self._einvoice_attempt_service_key(), exc, self._einvoice_attempt_secrets())

    def _einvoice_attempt_credential(self):
        """HOOK (optional). The connection to call through."""
        return self.credential_id

    def _einvoice_attempt_stale_after(self):
        """HOOK (optional). A 'sending' row older than this lost its worker: outcome unknown."""
        return timedelta(minutes=15)

    def _einvoice_attempt_backoff(self, checks):
        """HOOK (optional). Delay before the next check or try: 2 min doubling, at most 6 h."""
        return min(timedelta(minutes=2) * (2 ** min(checks, 12)), timedelta(hours=6))

    def _einvoice_attempt_service_label(self):
        credential = self._einvoice_attempt_credential()
        if credential:
            selection = dict(credential._fields["service"]._description_selection(self.env))
            return selection.get(credential.service, credential.service)
        return self._description

    def _einvoice_attempt_service_key(self):
        credential = self._einvoice_attempt_credential()
        return credential.service if credential else ""

    # -- computes -------------------------------------------------------------------------------
    @api.depends("state", "next_check", "waiting_reason", "message")
    def _compute_einvoice_attempt_status(self):
        for attempt in self:
            attempt.einvoice_attempt_blocking = attempt.state in BLOCKING_STATES
            attempt.einvoice_attempt_status = attempt._einvoice_attempt_status_text()

    def _einvoice_attempt_status_text(self):
        when = format_datetime(self.env, self.next_check) if self.next_check else _("the next run")
        service = self._einvoice_attempt_service_label()
        if self.state in BLOCKING_STATES:
            return _("Outcome being confirmed with %(service)s, next check at %(when)s.", service=service, when=when)
        if self.state == "waiting":
            reason = dict(self._fields["waiting_reason"]._description_selection(self.env)).get(self.waiting_reason)
            return _("%(reason)s; next try at %(when)s.", reason=reason or _("Waiting"), when=when)
        return self.message or ""

    # -- payload --------------------------------------------------------------------------------
    def _einvoice_attempt_store_payload(self, payload, filename):
        self.ensure_one()
        if not isinstance(payload, bytes) or not payload:
            raise UserError(
                _("%(service)s: nothing to send for %(name)s.", service=self._description, name=self.display_name)
            )
        attachment = self.env["ir.attachment"].create(
            {"name": filename, "raw": payload, "res_model": self._name, "res_id": self.id}
        )
        self.write({"payload_attachment_id": attachment.id, "payload_sha256": hashlib.sha256(payload).hexdigest()})

    def _einvoice_attempt_payload(self):
        """The exact bytes stored before the first call, checked against their hash."""
        self.ensure_one()
        data = self.payload_attachment_id.raw or b""
        if not data or hashlib.sha256(data).hexdigest() != self.payload_sha256:
            raise UserError(_("The stored file of %(name)s does not match its hash.", name=self.display_name))
        return data

    # -- engine: start ----------------------------------------------------------------------------
    @api.model
    def _einvoice_attempt_start(self, values_list):
        """Create one draft attempt per values (each naming its subject) and process them now.

        Returns (attempts, {subject: [error texts]}): the send contract of Send & Print and
        list actions. A subject with a live attempt gets no new one (its status is the text).
        Runs on its own cursor: the intent and the answers survive the caller's rollback.
        """
        subject = self._einvoice_attempt_subject
        comodel = self.env[self._fields[subject].comodel_name]
        comodel.browse([values[subject] for values in values_list]).check_access("write")
        ids, refused = [], {}
        with dbtools.own_env(self.env) as env:
            Attempt = env[self._name].sudo()
            for values in values_list:
                try:
                    with env.cr.savepoint():
                        ids.append(Attempt._einvoice_attempt_create_one(values).id)
                except UserError as exc:
                    refused[values[subject]] = [str(exc)]
            dbtools.commit(env)
            Attempt.browse(ids)._einvoice_attempt_run()
            outcome = {a[subject].id: a._einvoice_attempt_errors() for a in Attempt.browse(ids)}
        self.browse(ids).invalidate_recordset()
        errors_by_id = {key: texts for key, texts in {**outcome, **refused}.items() if texts}
        return self.browse(ids), {comodel.browse(key): texts for key, texts in errors_by_id.items()}

    def _einvoice_attempt_errors(self):
        """The error texts of this attempt for the send contract (none while it may succeed)."""
        self.ensure_one()
        if self.state in ("error", "rejected"):
            return [self.message or dict(STATES)[self.state]]
        return []

    @api.model
    def _einvoice_attempt_create_one(self, values):
        """Create a draft attempt under an advisory lock on its subject: one live attempt each."""
        subject_id = values[self._einvoice_attempt_subject]
        key = zlib.crc32(self._name.encode()) - 2**31
        self.env.cr.execute(SQL("SELECT pg_advisory_xact_lock(%s, %s)", key, subject_id))
        live = self.search([(self._einvoice_attempt_subject, "=", subject_id), ("state", "in", ACTIVE_STATES)])
        if live:
            raise UserError(live[0]._einvoice_attempt_live_text())
        return self.create(dict(values, state="draft", next_check=_now()))

    def _einvoice_attempt_live_text(self):
        self.ensure_one()
        name = self[self._einvoice_attempt_subject].display_name
        return _("%(name)s: %(status)s", name=name, status=self._einvoice_attempt_status_text())

    @api.model
    def _einvoice_attempt_live(self, subjects):
        """The live attempts of `subjects` (a view shows no send button while one exists)."""
        return self.search([(self._einvoice_attempt_subject, "in", subjects.ids), ("state", "in", ACTIVE_STATES)])

    # -- engine: run -----------------------------------------------------------------------------
    def _einvoice_attempt_process(self):
        """Process these attempts now (a button "check now", the cron): own cursor, per-record commit."""
        with dbtools.own_env(self.env) as env:
            self.with_env(env).sudo()._einvoice_attempt_run()
        self.invalidate_recordset()

    def _einvoice_attempt_run(self):
        for attempt in self:
            try:
                attempt._einvoice_attempt_step()
            except Exception as exc:
                if not dbtools.uses_own_cursor(self.env):
                    raise
                self.env.cr.rollback()
                if dbtools.is_concurrency_error(exc):  # another worker holds or changed it: theirs
                    _logger.info(
                        "%s %s skipped: busy in another worker (%s)", self._name, attempt.id, type(exc).__name__
                    )
                else:
                    _logger.warning("%s %s: step failed", self._name, attempt.id, exc_info=True)
                    attempt._einvoice_attempt_later(_("Unexpected error, tried again later: %(error)s", error=exc))
            dbtools.commit(self.env)

    def _einvoice_attempt_step(self):
        """Claim this attempt (SKIP LOCKED, state re-checked) and move it one step on."""
        self.ensure_one()
        claimed = dbtools.lock_skip_locked(self, SQL("state IN %s", ("draft", "waiting", "unknown", "sent")))
        if not claimed:
            return
        self.invalidate_recordset()
        if self.state in ("draft", "waiting"):
            self._einvoice_attempt_send()
        elif self.state == "unknown":
            self._einvoice_attempt_reconcile()
        elif self.state == "sent" and self._einvoice_attempt_polls:
            self._einvoice_attempt_check_sent()

    def _einvoice_attempt_set(self, state, message=None, **values):
        """Write a new state; `checks` counts the checks made in the same state (backoff)."""
        values["state"] = state
        values.setdefault("checks", 0 if state != self.state else self.checks)
        if message is not None:
            values["message"] = redact.snippet(message, self._einvoice_attempt_secrets(), limit=4000)
        if state != "waiting":
            values.setdefault("waiting_reason", False)
        if state in FINAL_STATES:
            values["next_check"] = False
        self.write(values)

    def _einvoice_attempt_secrets(self):
        credential = self._einvoice_attempt_credential()
        return credential._einvoice_secrets() if credential else []

    def _einvoice_attempt_commit_and_notify(self, previous_state):
        """The state is committed first: nothing a notification does can roll it back."""
        dbtools.commit(self.env)
        if previous_state == self.state:
            return
        try:
            self._einvoice_attempt_notify(previous_state)
        except Exception:  # noqa: BLE001 - telling people must never undo what the service said
            _logger.warning("%s %s: notification failed", self._name, self.id, exc_info=True)
            self.env.cr.rollback()
        dbtools.commit(self.env)

    # -- engine: send -----------------------------------------------------------------------------
    def _einvoice_attempt_send(self):
        """draft/waiting -> sending (intent committed) -> the answer, committed at once."""
        previous = self.state
        if not self.payload_attachment_id and not self._einvoice_attempt_prepare():
            return self._einvoice_attempt_commit_and_notify(previous)
        if not self._einvoice_attempt_credential():
            self._einvoice_attempt_set(
                "waiting",
                _("No %(service)s connection serves this company yet.", service=self._description),
                waiting_reason="connection",
                next_check=_now() + self._einvoice_attempt_backoff(4),
            )
            return self._einvoice_attempt_commit_and_notify(previous)
        try:
            payload = self._einvoice_attempt_payload()
        except UserError as exc:
            self._einvoice_attempt_set("error", str(exc))
            return self._einvoice_attempt_commit_and_notify(previous)
        now = _now()
        self._einvoice_attempt_set("sending", sending_since=now, attempts=self.attempts + 1, next_check=now)
        dbtools.commit(self.env)  # the intent: a crash from here on leaves 'sending', swept to unknown
        try:
            answer = self._einvoice_attempt_call(payload)
        except Exception as exc:  # noqa: BLE001 - every outcome is recorded on the attempt
            self._einvoice_attempt_failed(exc)
        else:
            self._einvoice_attempt_apply(answer)
        return self._einvoice_attempt_commit_and_notify(previous)

    def _einvoice_attempt_prepare(self):
        """Build and store the payload once; False (attempt in error) when the data is wrong."""
        try:
            payload, filename = self._einvoice_attempt_build_payload()
            self._einvoice_attempt_store_payload(payload, filename)
        except errors.RejectedError as exc:
            self._einvoice_attempt_set("error", self._einvoice_attempt_error_text(exc))
            return False
        except (UserError, ValidationError) as exc:
            self._einvoice_attempt_set("error", str(exc))
            return False
        return True

    def _einvoice_attempt_failed(self, exc):
        """Map a failed call: refusal -> error; auth/quota/not sent -> waiting; anything else -> unknown."""
        if isinstance(exc, errors.RejectedError):
            self._einvoice_attempt_set("error", self._einvoice_attempt_error_text(exc))
        elif isinstance(exc, errors.AuthError) or (
            isinstance(exc, UserError) and not isinstance(exc, errors.EInvoiceError)
        ):
            self._einvoice_attempt_wait("connection", exc)
        elif isinstance(exc, errors.QuotaError):
            self._einvoice_attempt_wait("quota", exc, delay=timedelta(seconds=exc.retry_after or 60))
        elif isinstance(exc, errors.TransientError):
            self._einvoice_attempt_wait("service", exc)
        else:
            if not isinstance(exc, errors.EInvoiceError):
                _logger.warning("%s %s: unexpected error during the call", self._name, self.id, exc_info=exc)
            self._einvoice_attempt_unknown(
                _(
                    "The answer of %(service)s could not be read (%(error)s).",
                    service=self._einvoice_attempt_service_label(),
                    error=exc,
                )
            )

    def _einvoice_attempt_wait(self, reason, exc, delay=None):
        """Nothing reached the service: wait (same attempt, same bytes) and try again later."""
        text = exc.args[0] if isinstance(exc, UserError) and exc.args else self._einvoice_attempt_error_text(exc)
        self._einvoice_attempt_set(
            "waiting",
            text,
            waiting_reason=reason,
            next_check=_now() + (delay or self._einvoice_attempt_backoff(self.checks + 2)),
            checks=self.checks + 1,
        )

    def _einvoice_attempt_unknown(self, message):
        self._einvoice_attempt_set(
            "unknown", message, next_check=_now() + self._einvoice_attempt_backoff(0), sending_since=False
        )

    def _einvoice_attempt_apply(self, answer):
        """Store what an answer says; anything unclear is an unknown outcome, never an error."""
        try:
            values = dict(self._einvoice_attempt_read_answer(answer) or {})
            state = self._einvoice_attempt_map_state(answer, values)
        except errors.RejectedError as exc:
            return self._einvoice_attempt_set("error", self._einvoice_attempt_error_text(exc))
        except Exception as exc:  # noqa: BLE001 - an unreadable answer after a call is "unknown"
            return self._einvoice_attempt_unknown(
                _(
                    "%(service)s answered in a form Odoo does not understand (%(error)s); "
                    "the outcome is checked with the service.",
                    service=self._einvoice_attempt_service_label(),
                    error=exc,
                )
            )
        if state not in ANSWER_STATES:
            return self._einvoice_attempt_unknown(
                _(
                    "%(service)s's answer does not say whether the document was received; "
                    "the outcome is checked with the service.",
                    service=self._einvoice_attempt_service_label(),
                )
            )
        if state == "sent":
            values.setdefault(
                "next_check", _now() + self._einvoice_attempt_backoff(0) if self._einvoice_attempt_polls else False
            )
        values.setdefault("sending_since", False)
        return self._einvoice_attempt_set(state, values.pop("message", None), **values)

    # -- engine: reconcile and poll ----------------------------------------------------------------
    def _einvoice_attempt_reconcile(self):
        """unknown -> what the service has; resend the SAME bytes only if it never got them."""
        previous = self.state
        try:
            found = self._einvoice_attempt_lookup()
        except Exception as exc:  # noqa: BLE001 - cannot tell now: stays unknown, checked later
            self._einvoice_attempt_later(
                _("Checking with the service failed (%(error)s).", error=self._einvoice_attempt_error_text(exc))
            )
            return self._einvoice_attempt_commit_and_notify(previous)
        if found is not None:
            self._einvoice_attempt_apply(found)
            return self._einvoice_attempt_commit_and_notify(previous)
        if not self._einvoice_attempt_absence_is_final():
            self._einvoice_attempt_later(None)
            return self._einvoice_attempt_commit_and_notify(previous)
        self._einvoice_attempt_set(
            "waiting",
            _(
                "%(service)s never received the file: it is sent again, unchanged.",
                service=self._einvoice_attempt_service_label(),
            ),
            waiting_reason="service",
            next_check=_now(),
        )
        # No commit here: the claim's row lock is kept until the intent ('sending') is committed.
        return self._einvoice_attempt_send()

    def _einvoice_attempt_check_sent(self):
        previous = self.state
        try:
            answer = self._einvoice_attempt_poll()
        except Exception as exc:  # noqa: BLE001 - a sent document stays sent whatever happens here
            self._einvoice_attempt_later(self._einvoice_attempt_error_text(exc))
            return self._einvoice_attempt_commit_and_notify(previous)
        if answer is None:
            self._einvoice_attempt_later(None)
        else:
            self._einvoice_attempt_apply(answer)
        return self._einvoice_attempt_commit_and_notify(previous)

    def _einvoice_attempt_later(self, message):
        """Same state, next check after a growing delay."""
        values = {"checks": self.checks + 1, "next_check": _now() + self._einvoice_attempt_backoff(self.checks + 1)}
        if message:
            values["message"] = redact.snippet(message, self._einvoice_attempt_secrets(), limit=4000)
        self.write(values)

    # -- engine: cron ---------------------------------------------------------------------------------
    @api.model
    def _einvoice_attempt_cron(self, limit=100):
        """The one cron entry point: sweep stale sends, then process what is due; re-trigger."""
        self._einvoice_attempt_sweep_stale(limit)
        due = self.search(
            [("state", "in", ACTIVE_STATES), ("next_check", "<=", _now())], limit=limit, order="next_check, id"
        )
        due._einvoice_attempt_process()
        self._einvoice_attempt_schedule(more=len(due) == limit)
        return len(due)

    @api.model
    def _einvoice_attempt_sweep_stale(self, limit=100):
        """A 'sending' row older than the stale delay lost its worker: its call may have arrived."""
        stale = self.search([("state", "=", "sending")], limit=limit)
        stale = stale.filtered(
            lambda a: a.sending_since and a.sending_since < _now() - a._einvoice_attempt_stale_after()
        )
        with dbtools.own_env(self.env) as env:
            for attempt in stale.with_env(env).sudo():
                claimed = dbtools.lock_skip_locked(
                    attempt, SQL("state = 'sending' AND sending_since = %s", attempt.sending_since)
                )
                if claimed:
                    claimed._einvoice_attempt_unknown(
                        _("The call was interrupted; the outcome is checked with the service.")
                    )
                    claimed.next_check = _now()
                dbtools.commit(env)

    @api.model
    def _einvoice_attempt_schedule(self, more=False):
        """Re-trigger the cron now when work remains, else at the next due check."""
        if not self._einvoice_attempt_cron_xmlid or not dbtools.can_commit(self.env):
            return
        cron = self.env.ref(self._einvoice_attempt_cron_xmlid, raise_if_not_found=False)
        if not cron:
            return
        if more:
            cron._trigger()
            return
        upcoming = self.search(
            [("state", "in", ACTIVE_STATES), ("next_check", "!=", False)], order="next_check", limit=1
        )
        if upcoming:
            cron._trigger(max(upcoming.next_check, _now()))

    @api.model
    def _einvoice_attempt_models(self):
        """Every concrete model inheriting einvoice.attempt (directly or not)."""
        found, todo = [], list(self.env.registry["einvoice.attempt"]._inherit_children)
        while todo:
            name = todo.pop()
            if name in found:
                continue
            found.append(name)
            todo.extend(self.env.registry[name]._inherit_children)
        return [self.env[name].sudo() for name in found if not self.env[name]._abstract]

    @api.model
    def _einvoice_attempt_wake(self, credential):
        """A connection works again: attempts waiting for it are due now, and their crons run."""
        for Model in self._einvoice_attempt_models():
            # whole seconds, as fields.Datetime.now(): a cron running within this second finds them due
            self.env.cr.execute(
                SQL(
                    """UPDATE %(table)s SET next_check = date_trunc('second', now() at time zone 'UTC')
                        WHERE id IN (SELECT id FROM %(table)s
                                      WHERE state = 'waiting' AND waiting_reason = 'connection'
                                        AND (credential_id = %(credential)s OR credential_id IS NULL)
                                        FOR UPDATE SKIP LOCKED)""",
                    table=SQL.identifier(Model._table),
                    credential=credential.id,
                )
            )
            woken = self.env.cr.rowcount
            Model.invalidate_model(["next_check"])
            xmlid = Model._einvoice_attempt_cron_xmlid
            cron = xmlid and self.env.ref(xmlid, raise_if_not_found=False)
            if woken and cron:
                cron.sudo()._trigger()
