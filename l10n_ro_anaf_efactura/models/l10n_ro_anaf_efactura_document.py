import logging
import time
from datetime import datetime, timedelta

from odoo import _, api, fields, models

from odoo.addons.einvoice_common.einvoice import errors as einvoice_errors
from odoo.addons.einvoice_common.models.einvoice_credential import TokenUnavailable

from ..anaf import documents, quota
from ..anaf import errors as anaf_errors

_logger = logging.getLogger(__name__)

STATES = [
    ("waiting", "Waiting for ANAF"),
    ("sending", "Sending"),
    ("unknown", "Sent, outcome unknown"),
    ("sent", "Sent, processing at ANAF"),
    ("ok", "Accepted by ANAF"),
    ("nok", "Rejected by ANAF"),
    ("xml_errors", "XML refused by ANAF"),
    ("error", "Not sent"),
    ("lost", "Never reached ANAF"),
]
LIVE_STATES = ("waiting", "sending", "unknown", "sent")
RESENDABLE_STATES = ("nok", "xml_errors", "error", "lost")
# ANAF lists an upload once processed (usually minutes, hours on bad days); an upload absent
# from the list a day later never arrived (or was refused), so a new attempt is no duplicate.
RECONCILE_GRACE = timedelta(hours=24)
RETRY_WAITING = timedelta(minutes=10)
MAX_RETRY_WAITING = timedelta(hours=6)
STALE_SENDING = timedelta(minutes=15)


def _now():
    return fields.Datetime.now()


def _ms(value):
    return int((value - datetime(1970, 1, 1)).total_seconds() * 1000)


def error_text(env, exc):
    """The translated advice for a typed ANAF error (by code), followed by ANAF's text; Odoo's errors as they are."""
    if not isinstance(exc, einvoice_errors.EInvoiceError):
        return str(exc.args[0]) if exc.args else str(exc)
    text = exc.message or str(exc)
    if not anaf_errors.is_anaf_code(exc.code):
        return text
    advice = env._(anaf_errors.advice_for(exc.code))  # pylint: disable=translation-not-lazy
    return "{}\n{} {}".format(advice, env._("ANAF said:"), text)


class L10nRoAnafEfacturaDocument(models.Model):
    """One attempt to send one invoice to ANAF's SPV, from intent to ANAF's final answer."""

    _name = "l10n_ro_anaf_efactura.document"
    _description = "ANAF e-Factura submission"
    _inherit = ["einvoice.exchange.mixin"]
    _order = "id desc"

    move_id = fields.Many2one("account.move", required=True, ondelete="cascade", index=True)
    company_id = fields.Many2one(related="move_id.company_id", store=True, index=True)
    credential_id = fields.Many2one("einvoice.credential", string="ANAF connection", ondelete="restrict")
    state = fields.Selection(STATES, required=True, default="sending", index=True)
    waiting_reason = fields.Selection(
        [("connection", "Waiting for the connection"), ("service", "Waiting for ANAF"), ("quota", "Waiting for quota")],
        readonly=True,
        copy=False,
    )
    index = fields.Char("Upload index", index=True, readonly=True, copy=False)
    upload_date = fields.Datetime(readonly=True)
    download_id = fields.Char("Download id", readonly=True, copy=False)
    standard = fields.Selection([("UBL", "Invoice (UBL)"), ("CN", "Credit note (CN)")], default="UBL")
    b2c = fields.Boolean("Individual buyer (B2C)")
    extern = fields.Boolean("Foreign buyer")
    autofactura = fields.Boolean("Self-billing")
    payload_attachment_id = fields.Many2one("ir.attachment", "Sent XML", readonly=True)
    payload_sha256 = fields.Char(readonly=True, index=True)
    zip_attachment_id = fields.Many2one("ir.attachment", "ANAF's signed ZIP", readonly=True, copy=False)
    signature_attachment_id = fields.Many2one("ir.attachment", "ANAF's signature", readonly=True, copy=False)
    key_signature = fields.Char(readonly=True, copy=False)
    key_certificate = fields.Char(readonly=True, copy=False)
    message = fields.Text(readonly=True)
    anaf_errors = fields.Text("ANAF's errors", readonly=True)
    next_check = fields.Datetime(index=True, readonly=True)
    polls = fields.Integer("Status queries", readonly=True)
    attempts = fields.Integer("Upload attempts", readonly=True)
    legacy_document_id = fields.Many2one(
        "l10n_ro_edi.document",
        "Migrated from",
        readonly=True,
        ondelete="set null",
        copy=False,
    )

    @api.depends("move_id.name", "state", "index")
    def _compute_display_name(self):
        labels = dict(STATES)
        for document in self:
            index = f" ({document.index})" if document.index else ""
            document.display_name = f"{document.move_id.name or ''} - {labels.get(document.state, '')}{index}"

    # -- helpers ----------------------------------------------------------------------
    def _payload(self):
        self.ensure_one()
        return self.payload_attachment_id.raw or b""

    def _commit(self):
        self.env["einvoice.credential"]._einvoice_commit()

    def _ledger(self):
        return self.env["l10n_ro_anaf_efactura.quota"]._l10n_ro_anaf_efactura_ledger()

    def _cif(self):
        from ..anaf.client import normalise_cif

        return normalise_cif(self.company_id.vat or self.company_id.company_registry or "")

    def _set(self, state, message=None, **values):
        values["state"] = state
        if message is not None:
            values["message"] = message
        self.write(values)

    def _advice(self, exc):
        """What a person reads for an error: advice looked up by the error's code, then ANAF's own text.

        "ANAF said" only introduces texts ANAF answered; Odoo's own errors (no token, no URL) are shown as is.
        """
        return error_text(self.env, exc)

    # -- upload ------------------------------------------------------------------------
    def _l10n_ro_anaf_efactura_upload(self, ledger=None):
        """Upload the stored payload of documents in state 'sending' or 'waiting'.

        Intent was committed before; each answer is committed at once. Never raises.
        """
        ledger = ledger or self._ledger()
        broken = {}  # connection -> the auth error of this batch: the other invoices wait without a call
        for document in self:
            if document.state not in ("sending", "waiting"):
                continue
            credential = document.credential_id
            if not credential:
                document._set(
                    "waiting",
                    _("No ANAF connection serves this company: add one in Settings."),
                    waiting_reason="connection",
                    next_check=_now() + RETRY_WAITING,
                )
                continue
            if credential in broken:
                document._l10n_ro_anaf_efactura_upload_failed(broken[credential])
                document._commit()
                continue
            ledger.throttle(time.monotonic, time.sleep)
            document.write({"attempts": document.attempts + 1, "state": "sending"})
            try:
                client = credential._l10n_ro_anaf_efactura_client(record=document)
                answer = client.upload(
                    document._payload(),
                    document._cif(),
                    standard=document.standard,
                    b2c=document.b2c,
                    extern=document.extern,
                    autofactura=document.autofactura,
                    reference=document.move_id.name,
                )
            except Exception as exc:  # noqa: BLE001 - every outcome is recorded on the attempt
                if isinstance(exc, einvoice_errors.AuthError):
                    broken[credential] = exc
                document._l10n_ro_anaf_efactura_upload_failed(exc)
            else:
                document._set(
                    "sent",
                    _("Sent to ANAF; waiting for ANAF's answer."),
                    waiting_reason=False,
                    index=answer.index,
                    upload_date=_now(),
                    next_check=quota.next_poll(_now(), 0),
                    polls=0,
                    anaf_errors=False,
                )
                document.move_id._l10n_ro_anaf_efactura_post(
                    _(
                        "e-Factura sent to ANAF (upload index %(index)s).",
                        index=answer.index,
                    )
                )
            document._commit()

    def _retry_at(self):
        """Next upload attempt while waiting: 10 minutes, doubling per attempt, at most 6 hours."""
        delay = min(RETRY_WAITING * (2 ** max(0, self.attempts - 1)), MAX_RETRY_WAITING)
        return _now() + delay

    def _l10n_ro_anaf_efactura_upload_failed(self, exc):
        """Map a failed upload by the error's type: only a clear refusal is an error."""
        if isinstance(exc, einvoice_errors.AuthError):
            # Nothing left Odoo: the invoice waits for the connection, untouched, and goes out as soon as an
            # administrator authenticates. The connection itself carries the error and the administrator's
            # to-do (written by the refresh, in its own cursor: writing it here too made serialization errors).
            if isinstance(exc, TokenUnavailable):
                text = _(
                    "Waiting for the ANAF connection %(name)s: an administrator must authenticate it again. "
                    "The invoice is sent as soon as that is done.",
                    name=self.credential_id.name,
                )
            else:  # ANAF refused the rights (CIF not in the certificate's SPV): ANAF's words, with the advice
                text = self._advice(exc)
                self.credential_id._einvoice_admin_activity(text)
            self._set("waiting", text, waiting_reason="connection", next_check=self._retry_at())
        elif isinstance(exc, einvoice_errors.RejectedError):
            self._set("error", self._advice(exc), anaf_errors=exc.message or str(exc), next_check=False)
            self.move_id._l10n_ro_anaf_efactura_post(_("ANAF refused the upload: %(error)s", error=self._advice(exc)))
        elif isinstance(exc, einvoice_errors.TransientError):
            self._set(
                "waiting",
                "{}\n{}".format(
                    _("ANAF is not reachable or busy; the invoice is sent automatically when ANAF answers again."),
                    exc.message or str(exc),
                ),
                waiting_reason="service",
                next_check=self._retry_at(),
            )
        else:
            # Lost, unreadable or unexpected answer (or a bug after the call): the upload may be registered
            # at ANAF, so never resend before ANAF's list says it is not there.
            if not isinstance(exc, einvoice_errors.EInvoiceError):
                _logger.warning("ANAF upload of document %s: unexpected error", self.id, exc_info=exc)
            self._set(
                "unknown",
                _(
                    "The outcome of the upload is being confirmed with ANAF; the invoice is checked against "
                    "ANAF's message list before anything is sent again."
                ),
                next_check=_now() + timedelta(minutes=2),
            )

    # -- reconciliation ----------------------------------------------------------------
    def _l10n_ro_anaf_efactura_reconcile(self, now=None):
        """For uploads with an unknown outcome: look for them in ANAF's message list (filter T)."""
        now = now or _now()
        ledger = self._ledger()
        for document in self.filtered(lambda d: d.state == "unknown"):
            client = document.credential_id._l10n_ro_anaf_efactura_client(record=document)
            start = document.create_date - timedelta(minutes=10)
            known = self.search(
                [
                    ("company_id", "=", document.company_id.id),
                    ("index", "!=", False),
                    ("create_date", ">=", start),
                ]
            ).mapped("index")
            try:
                message, answer = client.find_upload(
                    document._cif(),
                    _ms(start),
                    int(time.time() * 1000),
                    payload_sha256=document.payload_sha256,
                    number=document.move_id.name,
                    known_indexes=known,
                    download=lambda m, c=client: c.download(m.id) if ledger.acquire("download", m.id, now) else None,
                )
            except Exception as exc:  # noqa: BLE001 - stays unknown; retried
                document.write(
                    {
                        "message": _(
                            "Checking ANAF's list failed (%(error)s); retried later.",
                            error=getattr(exc, "message", str(exc)),
                        ),
                        "next_check": now + RETRY_WAITING,
                    }
                )
                document._commit()
                continue
            if message is not None:
                document.write(
                    {
                        "index": message.index,
                        "download_id": message.id,
                        "upload_date": document.create_date,
                    }
                )
                document._l10n_ro_anaf_efactura_archive(answer, "ok")
                document.move_id._l10n_ro_anaf_efactura_post(
                    _(
                        "The upload found in ANAF's list (index %(index)s) was accepted; nothing was sent twice.",
                        index=message.index,
                    )
                )
            elif now - document.create_date > RECONCILE_GRACE:
                document._set(
                    "lost",
                    _("ANAF's list has no trace of this upload: it never reached ANAF. The invoice is sent again."),
                    next_check=False,
                )
                document.move_id._l10n_ro_anaf_efactura_queue_resend(document)
            else:
                document.next_check = now + timedelta(minutes=15)
            document._commit()

    # -- status ------------------------------------------------------------------------
    def _l10n_ro_anaf_efactura_poll(self, now=None, ledger=None):
        """stareMesaj for sent documents, within the per-message daily quota; download once on a final answer."""
        now = now or _now()
        ledger = ledger or self._ledger()
        for document in self.filtered(lambda d: d.state == "sent" and d.index):
            if not ledger.acquire("status", document.index, now):
                document.write(
                    {
                        "next_check": quota.next_bucharest_midnight(now),
                        "message": _("ANAF's daily limit of status queries is reached; asked again tomorrow."),
                    }
                )
                document._commit()
                continue
            ledger.throttle(time.monotonic, time.sleep)
            client = document.credential_id._l10n_ro_anaf_efactura_client(record=document)
            try:
                status = client.message_state(document.index, reference=document.move_id.name)
            except Exception as exc:  # noqa: BLE001 - a sent invoice stays sent whatever happens here
                document._l10n_ro_anaf_efactura_poll_failed(exc, now)
                document._commit()
                continue
            document.polls += 1
            if status.state == documents.STATE_PROCESSING:
                document.write(
                    {
                        "next_check": quota.next_poll(now, document.polls),
                        "message": _("ANAF is processing the invoice."),
                    }
                )
            elif status.state == documents.STATE_XML_ERRORS:
                document._set(
                    "xml_errors",
                    _(
                        "ANAF refused the XML at upload (XML cu erori nepreluat de sistem). "
                        "Fix the invoice and send it again."
                    ),
                    next_check=False,
                )
                document.move_id._l10n_ro_anaf_efactura_rejected(document)
            elif status.state in (documents.STATE_OK, documents.STATE_NOK):
                document.download_id = status.download_id
                document._l10n_ro_anaf_efactura_download(status.state, now, ledger, client)
            else:
                document.write(
                    {
                        "next_check": quota.next_poll(now, document.polls),
                        "message": _("Unknown state from ANAF: %(state)s", state=status.state),
                    }
                )
            document._commit()

    def _l10n_ro_anaf_efactura_poll_failed(self, exc, now):
        if getattr(exc, "code", "") == "quota_status":  # per message and day: tomorrow
            when = quota.next_bucharest_midnight(now)
        else:
            when = quota.next_poll(now, self.polls + 1)
        note = _("Waiting for ANAF: %(reason)s", reason=self._advice(exc))
        self.write({"next_check": when, "message": note})
        if isinstance(exc, einvoice_errors.AuthError) and not isinstance(exc, TokenUnavailable):
            self.credential_id._einvoice_admin_activity(self._advice(exc))

    def _l10n_ro_anaf_efactura_download(self, final_state, now, ledger, client):
        if self.zip_attachment_id:
            return self._l10n_ro_anaf_efactura_archive(None, final_state)
        if not ledger.acquire("download", self.download_id, now):
            self.write(
                {
                    "next_check": quota.next_bucharest_midnight(now),
                    "message": _("ANAF's daily download limit for this message is reached; downloaded tomorrow."),
                }
            )
            return
        try:
            answer = client.download(self.download_id, reference=self.move_id.name)
        except Exception as exc:  # noqa: BLE001 - keep sent; the next run downloads
            self.write(
                {
                    "next_check": quota.next_poll(now, self.polls),
                    "message": _(
                        "Waiting for ANAF's answer file: %(reason)s",
                        reason=self._advice(exc),
                    ),
                }
            )
            return
        self._l10n_ro_anaf_efactura_archive(answer, final_state)

    def _l10n_ro_anaf_efactura_archive(self, answer, final_state):
        """Keep ANAF's whole signed ZIP (10-year retention) and conclude the attempt."""
        values = {"next_check": False}
        if answer is not None:
            name = (self.move_id.name or "invoice").replace("/", "_")
            attachments = self.env["ir.attachment"].sudo()
            values["zip_attachment_id"] = attachments.create(
                {
                    "name": f"anaf_{name}_{self.index}.zip",
                    "raw": answer.content,
                    "mimetype": "application/zip",
                    "res_model": "account.move",
                    "res_id": self.move_id.id,
                }
            ).id
            values["signature_attachment_id"] = attachments.create(
                {
                    "name": answer.signature_name,
                    "raw": answer.signature,
                    "mimetype": "application/xml",
                    "res_model": self._name,
                    "res_id": self.id,
                }
            ).id
            try:
                values["key_signature"], values["key_certificate"] = documents.signature_values(answer.signature)
            except documents.DocumentError as exc:
                # the ZIP itself is archived; only the convenience fields stay empty
                _logger.info("ANAF signature of %s unreadable: %s", self.index, exc)
            if answer.is_error_document:
                final_state = "nok"
                values["anaf_errors"] = "\n".join(answer.errors)
        if final_state == "ok":
            values.update(state="ok", message=_("Accepted by ANAF."))
            self.write(values)
            self.move_id._l10n_ro_anaf_efactura_post(
                _("e-Factura accepted by ANAF; the signed ZIP is archived."),
                attachment_ids=[values["zip_attachment_id"]] if values.get("zip_attachment_id") else None,
            )
        else:
            values.update(
                state="nok",
                message=_("Rejected by ANAF. Fix the errors, then send a new invoice."),
            )
            self.write(values)
            self.move_id._l10n_ro_anaf_efactura_rejected(self)

    # -- cron ------------------------------------------------------------------------------
    @api.model
    def _cron_l10n_ro_anaf_efactura_status(self, limit=200, now=None):
        """Upload queued invoices, reconcile unknown outcomes, poll statuses; re-trigger while work remains."""
        now = now or _now()
        ledger = self._ledger()
        due = [("next_check", "<=", now)]
        Credential = self.env["einvoice.credential"]
        # An attempt left in "sending" (worker killed during the call) may have reached ANAF.
        stale = self.search(
            [("state", "=", "sending"), ("write_date", "<", now - STALE_SENDING)],
            limit=limit,
        )
        stale = Credential._einvoice_lock_skip_locked(stale)
        stale.write(
            {
                "state": "unknown",
                "next_check": now,
                "message": _(
                    "The upload was interrupted; the invoice is checked against ANAF's "
                    "message list before anything is sent again."
                ),
            }
        )
        for states, method in (
            (("waiting",), "_l10n_ro_anaf_efactura_upload"),
            (("unknown",), "_l10n_ro_anaf_efactura_reconcile"),
            (("sent",), "_l10n_ro_anaf_efactura_poll"),
        ):
            documents_due = self.search([("state", "in", states)] + due, limit=limit, order="next_check, id")
            documents_due = Credential._einvoice_lock_skip_locked(documents_due)
            if method == "_l10n_ro_anaf_efactura_upload":
                documents_due._l10n_ro_anaf_efactura_upload(ledger=ledger)
            elif method == "_l10n_ro_anaf_efactura_reconcile":
                documents_due._l10n_ro_anaf_efactura_reconcile(now=now)
            else:
                documents_due._l10n_ro_anaf_efactura_poll(now=now, ledger=ledger)
        remaining = self.search_count(
            [
                ("state", "in", ("waiting", "unknown", "sent")),
                ("next_check", "<=", _now()),
            ]
        )
        if remaining and Credential._einvoice_can_commit():
            self.env.ref("l10n_ro_anaf_efactura.ir_cron_l10n_ro_anaf_efactura_status")._trigger()
        self.env["l10n_ro_anaf_efactura.quota"]._l10n_ro_anaf_efactura_purge()
        return remaining

    # -- actions ---------------------------------------------------------------------------
    def action_l10n_ro_anaf_efactura_check_now(self):
        """Ask ANAF now. Attempts are the system's: the caller must be allowed to change the invoices."""
        self.move_id.check_access("write")
        live = self.sudo().filtered(lambda d: d.state in ("sent", "unknown", "waiting"))
        live.write({"next_check": _now()})
        live.filtered(lambda d: d.state == "waiting")._l10n_ro_anaf_efactura_upload()
        live.filtered(lambda d: d.state == "unknown")._l10n_ro_anaf_efactura_reconcile()
        live.filtered(lambda d: d.state == "sent")._l10n_ro_anaf_efactura_poll()
        return True

    def action_l10n_ro_anaf_efactura_download_zip(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_url",
            "url": f"/web/content/{self.zip_attachment_id.id}?download=true",
        }
