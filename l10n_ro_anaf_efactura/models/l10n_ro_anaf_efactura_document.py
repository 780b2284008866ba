import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from odoo import _, api, fields, models
from odoo.exceptions import UserError
from odoo.tools import SQL

from odoo.addons.einvoice_common import dbtools
from odoo.addons.einvoice_common.einvoice import errors as einvoice_errors
from odoo.addons.einvoice_common.models.einvoice_credential import TokenUnavailable

from ..anaf import documents, quota
from ..anaf.client import normalise_cif

_logger = logging.getLogger(__name__)

# What the invoice shows: einvoice.attempt's states in ANAF's words (ok / nok / XML refused).
MOVE_STATES = [
    ("waiting", "Waiting for ANAF"),
    ("sending", "Sending"),
    ("unknown", "Outcome being confirmed with ANAF"),
    ("sent", "Sent, processing at ANAF"),
    ("ok", "Accepted by ANAF"),
    ("nok", "Rejected by ANAF"),
    ("xml_errors", "XML refused by ANAF"),
    ("error", "Not sent"),
]
LIVE_STATES = ("waiting", "sending", "unknown", "sent")
SERVICE = "anaf"  # the connection's service key, also the key of ANAF's rows in einvoice.error.advice
# ANAF lists an upload once processed (minutes, hours on bad days): absent from the list for a day, it never
# arrived, and the same bytes are sent again.
RECONCILE_GRACE = timedelta(hours=24)


def _ms(value):
    return int((value - datetime(1970, 1, 1)).total_seconds() * 1000)


@dataclass
class _Final:
    """ANAF's final answer for an upload: ok / nok / XML refused, with the signed ZIP when there is one."""

    result: str
    download_id: str = ""
    zip_answer: object = None


def error_text(env, exc):
    """The advice for a typed ANAF error, looked up by its code (einvoice.error.advice, translated), followed
    by ANAF's text; Odoo's errors as they are."""
    if not isinstance(exc, einvoice_errors.EInvoiceError):
        return str(exc.args[0]) if exc.args else str(exc)
    text = exc.message or str(exc)
    advice = env["einvoice.error.advice"]._einvoice_advice(SERVICE, exc.code) if exc.code else None
    if not advice:
        return text
    return "{}\n{} {}".format(advice.advice, env._("ANAF said:"), text)


class L10nRoAnafEfacturaDocument(models.Model):
    """One attempt to send one invoice to ANAF's SPV (einvoice.attempt), from intent to ANAF's final answer."""

    _name = "l10n_ro_anaf_efactura.document"
    _description = "ANAF e-Factura submission"
    _inherit = ["einvoice.attempt"]
    _order = "id desc"
    _einvoice_attempt_subject = "move_id"
    _einvoice_attempt_cron_xmlid = "l10n_ro_anaf_efactura.ir_cron_l10n_ro_anaf_efactura_status"
    _einvoice_attempt_polls = True

    move_id = fields.Many2one("account.move", required=True, ondelete="cascade", index=True, readonly=True)
    company_id = fields.Many2one(related="move_id.company_id", store=True, index=True)
    anaf_result = fields.Selection(
        [("ok", "ok"), ("nok", "nok"), ("xml_errors", "XML cu erori nepreluat de sistem")],
        "ANAF's answer",
        readonly=True,
        copy=False,
    )
    move_state = fields.Selection(MOVE_STATES, compute="_compute_move_state", string="ANAF e-Factura")
    index = fields.Char("Upload index", index=True, readonly=True, copy=False)
    upload_date = fields.Datetime(readonly=True, copy=False)
    download_id = fields.Char("Download id", readonly=True, copy=False)
    standard = fields.Selection([("UBL", "Invoice (UBL)"), ("CN", "Credit note (CN)")], default="UBL", readonly=True)
    b2c = fields.Boolean("Individual buyer (B2C)", readonly=True)
    extern = fields.Boolean("Foreign buyer", readonly=True)
    autofactura = fields.Boolean("Self-billing", readonly=True)
    zip_attachment_id = fields.Many2one("ir.attachment", "ANAF's signed ZIP", readonly=True, copy=False)
    signature_attachment_id = fields.Many2one("ir.attachment", "ANAF's signature", readonly=True, copy=False)
    key_signature = fields.Char(readonly=True, copy=False)
    key_certificate = fields.Char(readonly=True, copy=False)
    anaf_errors = fields.Text("ANAF's errors", readonly=True, copy=False)
    polls = fields.Integer("Status queries", readonly=True, copy=False)
    legacy_document_id = fields.Many2one(
        "l10n_ro_edi.document", "Migrated from", readonly=True, ondelete="set null", copy=False
    )

    @api.depends("state", "anaf_result")
    def _compute_move_state(self):
        for document in self:
            document.move_state = _move_state(document.state, document.anaf_result)

    @api.depends("move_id.name", "move_state", "index")
    def _compute_display_name(self):
        labels = dict(MOVE_STATES)
        for document in self:
            index = f" ({document.index})" if document.index else ""
            document.display_name = f"{document.move_id.name or ''} - {labels.get(document.move_state, '')}{index}"

    # -- helpers ----------------------------------------------------------------------
    def _cif(self):
        return normalise_cif(self.company_id.vat or self.company_id.company_registry or "")

    def _client(self):
        return self.credential_id._l10n_ro_anaf_efactura_client(record=self)

    def _l10n_ro_anaf_efactura_check_connection(self):
        """A connection whose refresh token died waits for an administrator: no call (nor refresh) per invoice."""
        credential = self.credential_id.sudo()
        if credential.state == "expired" or (credential.state == "draft" and not credential.refresh_token):
            raise TokenUnavailable(
                _(
                    "Waiting for the ANAF connection %(name)s: an administrator must authenticate it again. "
                    "The invoice is sent as soon as that is done.",
                    name=credential.name,
                )
            )

    # -- einvoice.attempt hooks ------------------------------------------------------------
    def _einvoice_attempt_build_payload(self):
        move = self.move_id
        xml, problems = move._l10n_ro_anaf_efactura_build()
        if problems:
            raise UserError("\n".join(problems))
        if move.company_id.l10n_ro_anaf_efactura_validate_first:
            self._l10n_ro_anaf_efactura_validate(xml)
        return xml, "{}_ciusro.xml".format((move.name or "invoice").replace("/", "_"))

    def _l10n_ro_anaf_efactura_validate(self, xml):
        """ANAF's optional validation: a refused XML costs no upload; validation trouble never blocks."""
        try:
            answer = self._client().validate(xml, "FCN" if self.standard == "CN" else "FACT1")
        except einvoice_errors.EInvoiceError as exc:
            _logger.info("ANAF validation of %s could not run: %s", self.move_id.name, exc)
            return
        if not answer.ok:
            raise UserError("\n".join([_("ANAF's validation refused the XML:"), *answer.messages]))

    def _einvoice_attempt_call(self, payload):
        self._l10n_ro_anaf_efactura_check_connection()
        return self._client().upload(
            payload,
            self._cif(),
            standard=self.standard,
            b2c=self.b2c,
            extern=self.extern,
            autofactura=self.autofactura,
            reference=self.move_id.name,
        )

    def _einvoice_attempt_read_answer(self, answer):
        if isinstance(answer, documents.UploadAnswer):
            if not answer.index:  # a success without the upload index is no clear answer
                raise ValueError("no upload index")
            now = fields.Datetime.now()
            return {
                "state": "sent",
                "index": answer.index,
                "service_reference": answer.index,
                "upload_date": now,
                "next_check": quota.next_poll(now, 0),
                "polls": 0,
                "anaf_errors": False,
                "message": _("Sent to ANAF (upload index %(index)s); waiting for ANAF's answer.", index=answer.index),
            }
        if isinstance(answer, _Final):
            return self._l10n_ro_anaf_efactura_final_values(answer)
        raise TypeError(f"unexpected answer {type(answer).__name__}")

    def _einvoice_attempt_lookup(self):
        """Is this upload in ANAF's message list (filter T, same number and payload)? Its final answer then."""
        client = self._client()
        start = self.create_date - timedelta(minutes=10)
        known = self.search(
            [("company_id", "=", self.company_id.id), ("index", "!=", False), ("create_date", ">=", start)]
        ).mapped("index")
        message, answer = client.find_upload(
            self._cif(),
            _ms(start),
            int(time.time() * 1000),
            payload_sha256=self.payload_sha256,
            number=self.move_id.name,
            known_indexes=known,
            download=lambda m: self._l10n_ro_anaf_efactura_download_once(client, m.id),
        )
        if message is None:
            return None
        self.write({"index": message.index, "service_reference": message.index, "upload_date": self.create_date})
        return _Final("ok", message.id, answer)

    def _einvoice_attempt_absence_is_final(self):
        return fields.Datetime.now() - self.create_date > RECONCILE_GRACE

    def _einvoice_attempt_poll(self):
        """stareMesaj within ANAF's 100 queries per message and day (counted by the connection's limiter);
        the signed ZIP once the answer is final."""
        client = self._client()
        status = client.message_state(self.index, reference=self.move_id.name)
        self.polls += 1
        if status.state == documents.STATE_XML_ERRORS:
            return _Final("xml_errors")
        if status.state in (documents.STATE_OK, documents.STATE_NOK):
            self.download_id = status.download_id
            answer = self._l10n_ro_anaf_efactura_download_once(client, status.download_id)
            return _Final(status.state, status.download_id, answer)
        return None  # in prelucrare (or a state ANAF added): asked again later

    def _einvoice_attempt_backoff(self, checks):
        # ANAF usually answers within minutes: 1, 2, 5, 10, 15, 30 min ... (16 queries a day at most)
        return timedelta(minutes=quota.POLL_SCHEDULE_MINUTES[min(checks, len(quota.POLL_SCHEDULE_MINUTES) - 1)])

    def _einvoice_attempt_error_text(self, exc):
        return error_text(self.env, exc)

    def _einvoice_attempt_notify(self, previous_state):
        move = self.move_id
        if self.state == "sent":
            move._l10n_ro_anaf_efactura_post(_("e-Factura sent to ANAF (upload index %(index)s).", index=self.index))
        elif self.state == "accepted":
            move._l10n_ro_anaf_efactura_post(_("e-Factura accepted by ANAF; the signed ZIP is archived."))
        elif self.state == "rejected":
            move._l10n_ro_anaf_efactura_rejected(self)
        elif self.state == "error":
            move._l10n_ro_anaf_efactura_post(_("Not sent to ANAF: %(error)s", error=self.message))
        elif self.state == "waiting" and self.waiting_reason == "connection" and self.credential_id:
            if not self.credential_id.sudo().activity_ids:
                self.credential_id._einvoice_admin_activity(self.message)

    # -- final answer ------------------------------------------------------------------------
    def _l10n_ro_anaf_efactura_download_once(self, client, download_id):
        """descarcare within ANAF's 10 downloads per message and day (the connection's limiter raises QuotaError)."""
        return client.download(download_id, reference=self.move_id.name)

    def _l10n_ro_anaf_efactura_final_values(self, final):
        """Keep ANAF's whole signed ZIP (10-year retention) and conclude the attempt."""
        values = {"anaf_result": final.result, "download_id": final.download_id or self.download_id}
        answer = final.zip_answer
        if final.result == "xml_errors":
            return dict(
                values,
                state="rejected",
                message=_(
                    "ANAF refused the XML at upload (XML cu erori nepreluat de sistem). Fix the invoice and send "
                    "it again."
                ),
            )
        if answer is not None:
            values.update(self._l10n_ro_anaf_efactura_archive(answer))
            if answer.is_error_document:
                values.update(anaf_result="nok", anaf_errors="\n".join(answer.errors))
        if values["anaf_result"] == "ok":
            return dict(values, state="accepted", message=_("Accepted by ANAF."))
        return dict(values, state="rejected", message=_("Rejected by ANAF. Fix the errors, then send a new invoice."))

    def _l10n_ro_anaf_efactura_archive(self, answer):
        name = (self.move_id.name or "invoice").replace("/", "_")
        attachments = self.env["ir.attachment"].sudo()
        values = {
            "zip_attachment_id": attachments.create(
                {
                    "name": f"anaf_{name}_{self.index}.zip",
                    "raw": answer.content,
                    "mimetype": "application/zip",
                    "res_model": "account.move",
                    "res_id": self.move_id.id,
                }
            ).id,
            "signature_attachment_id": attachments.create(
                {
                    "name": answer.signature_name,
                    "raw": answer.signature,
                    "mimetype": "application/xml",
                    "res_model": self._name,
                    "res_id": self.id,
                }
            ).id,
        }
        try:
            values["key_signature"], values["key_certificate"] = documents.signature_values(answer.signature)
        except documents.DocumentError as exc:  # the ZIP itself is archived; only these fields stay empty
            _logger.info("ANAF signature of %s unreadable: %s", self.index, exc)
        return values

    def _l10n_ro_anaf_efactura_conclude(self, final):
        """An answer found outside the attempt's own flow (an SPV error message): conclude a live attempt."""
        self.ensure_one()
        previous = self.state
        values = self._l10n_ro_anaf_efactura_final_values(final)
        self._einvoice_attempt_set(values.pop("state"), values.pop("message", None), **values)
        self._einvoice_attempt_commit_and_notify(previous)

    # -- outcome of many uploads from one list call ---------------------------------------------
    @api.model
    def _l10n_ro_anaf_efactura_list_sweep(self, limit=2000):
        """ANAF's paginated message list reports up to 500 processed uploads per call (id_solicitare = upload
        index): read it once per company instead of one stareMesaj per invoice. Attempts it does not answer
        (still processing, XML refused at upload) are polled one by one by the engine as before."""
        due = self.search(
            [("state", "=", "sent"), ("index", "!=", False), ("next_check", "<=", fields.Datetime.now())],
            limit=limit,
            order="next_check, id",
        )
        threshold = int(self.env["ir.config_parameter"].sudo().get_param("l10n_ro_anaf_efactura.list_from", 3))
        concluded = self.browse()
        for (credential, company), group in due.grouped(lambda d: (d.credential_id, d.company_id)).items():
            if len(group) < threshold or not credential:
                continue
            try:
                listed = group[:1]._l10n_ro_anaf_efactura_list_answers(min(group.mapped("upload_date")))
            except einvoice_errors.EInvoiceError as exc:
                _logger.info("ANAF list of %s unavailable (%s): statuses are polled one by one", company.name, exc)
                continue
            concluded |= group._l10n_ro_anaf_efactura_conclude_many(listed)  # downloads overlap (dispatch)
        return concluded

    def _l10n_ro_anaf_efactura_list_answers(self, since):
        """{upload index: message} of this company's sent (T) and error (E) messages since `since`."""
        self.ensure_one()
        client, cif = self._client(), self._cif()
        start = _ms(since - timedelta(minutes=10))
        end = int(time.time() * 1000)
        answers, page, pages = {}, 1, 1
        while page <= pages:
            result = client.list_messages_page(start, end, cif, page)
            pages = result.total_pages
            for message in result.messages:
                if message.filter_code in ("T", "E") and message.index:
                    answers[message.index] = message
            page += 1
        return answers

    def _l10n_ro_anaf_efactura_conclude_listed(self, message):
        """Download the ZIP the list names and conclude the attempt (claimed first: another worker may hold it)."""
        self.ensure_one()
        claimed = dbtools.lock_skip_locked(self, SQL("state = 'sent'"))
        if not claimed:
            return self.browse()
        try:
            answer = self._l10n_ro_anaf_efactura_download_once(self._client(), message.id)
        except einvoice_errors.EInvoiceError as exc:
            _logger.info("ANAF download %s postponed: %s", message.id, exc)
            return self.browse()
        result = "nok" if message.filter_code == "E" or answer.is_error_document else "ok"
        self._l10n_ro_anaf_efactura_conclude(_Final(result, message.id, answer))
        return self

    # -- cron and actions ----------------------------------------------------------------------
    @api.model
    def _cron_l10n_ro_anaf_efactura_status(self, limit=100):
        """Send queued invoices, reconcile unknown outcomes, read outcomes from ANAF's list, poll what is left
        (einvoice.attempt's one cron)."""
        self._l10n_ro_anaf_efactura_list_sweep()
        return self._einvoice_attempt_cron(limit=limit)

    def action_l10n_ro_anaf_efactura_check_now(self):
        """Ask ANAF now. Attempts are the system's: the caller must be allowed to change the invoices."""
        self.move_id.check_access("write")
        live = self.sudo().filtered(lambda d: d.state in ("waiting", "unknown", "sent"))
        # no write here: a row this request changed stays locked until the request ends, so the engine's
        # own cursor would skip it (SKIP LOCKED); the engine's step does not depend on next_check
        live._einvoice_attempt_process()
        return True

    def action_l10n_ro_anaf_efactura_download_zip(self):
        self.ensure_one()
        return {"type": "ir.actions.act_url", "url": f"/web/content/{self.zip_attachment_id.id}?download=true"}


def _move_state(state, anaf_result):
    if state == "accepted":
        return "ok"
    if state == "rejected":
        return anaf_result if anaf_result in ("nok", "xml_errors") else "nok"
    if state == "draft":
        return "sending"
    return state or False
