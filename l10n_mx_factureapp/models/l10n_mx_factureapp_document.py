"""One CFDI stamping attempt (invoice, credit note, global invoice or payment complement).

The attempt IS the CFDI: `einvoice.attempt` (einvoice_common) owns the states and the "sent
once" invariant (claim, intent committed before the call, answer committed at once, lookup
before any resend of the SAME stored bytes); this model supplies Facture APP's hooks and keeps
the stamp, its cancellation and SAT's status. The invoice shows them through related fields.
"""

import hashlib
import logging
import uuid as uuidlib
from datetime import datetime

import pytz

from odoo import _, api, fields, models
from odoo.exceptions import UserError
from odoo.tools import SQL

from odoo.addons.einvoice_common import dbtools
from odoo.addons.einvoice_common.einvoice import errors

from ..factureapp import catalogs
from ..factureapp import client as fclient
from ..factureapp import documents as cfdi
from ..factureapp import errors as ferrors

_logger = logging.getLogger(__name__)

CANCEL_STATES = [
    ("cancel_requested", "Cancel requested"),
    ("cancelled", "Cancelled"),
    ("cancel_rejected", "Cancel rejected"),
]
# Attempts that may hold a CFDI (or become one): a payment complement covers their invoices.
HOLDING_STATES = ("draft", "waiting", "sending", "unknown", "sent", "accepted")
# Calls of one attempt at most: its stored bytes are sent again only after a lookup found nothing,
# and a service that loses every answer must not be called forever; then a person decides.
RESEND_CAP = 5
RESEND_CAP_CODE = "FA-RESENDS"


class L10nMxFactureappDocument(models.Model):
    _name = "l10n_mx_factureapp.document"
    _description = "Facture APP stamping attempt"
    _inherit = ["einvoice.attempt"]
    _order = "id desc"
    _einvoice_attempt_subject = "move_id"
    _einvoice_attempt_cron_xmlid = "l10n_mx_factureapp.ir_cron_l10n_mx_factureapp_attempts"

    move_id = fields.Many2one("account.move", required=True, ondelete="cascade", index=True, readonly=True)
    company_id = fields.Many2one(related="move_id.company_id", store=True, index=True)
    branch_id = fields.Many2one("l10n_mx_factureapp.branch", ondelete="set null", readonly=True)
    kind = fields.Selection([("I", "Ingreso"), ("E", "Egreso"), ("P", "Pago")], required=True, readonly=True)
    channel = fields.Selection(
        [("single", "One by one"), ("bulk", "Bulk ZIP")], default="single", required=True, readonly=True
    )
    bulk_filename = fields.Char(readonly=True, help="Name of the file inside the bulk ZIP.")
    bulk_batch = fields.Char(index=True, readonly=True, help="Identifier of the bulk ZIP this attempt went in.")
    invoice_ids = fields.Many2many(
        "account.move",
        "l10n_mx_factureapp_document_invoice_rel",
        "document_id",
        "invoice_id",
        string="Paid invoices",
        readonly=True,
        help="For a payment complement: the invoices it reports (one DoctoRelacionado each).",
    )
    member_ids = fields.Many2many(
        "account.move",
        "l10n_mx_factureapp_document_member_rel",
        "document_id",
        "move_id",
        string="Global invoice of",
        readonly=True,
        help="For a global invoice (PUBLICO EN GENERAL): the invoices and receipts it groups.",
    )
    global_info = fields.Char(readonly=True, help="Periodicidad|Meses|Año of a global invoice.")
    # -- the stamp -----------------------------------------------------------------------------
    uuid = fields.Char("UUID (folio fiscal)", index=True, readonly=True, copy=False)
    stamped_xml_id = fields.Many2one("ir.attachment", string="Stamped CFDI", ondelete="restrict", readonly=True)
    stamped_at = fields.Datetime(
        "Stamped on",
        readonly=True,
        help="FechaTimbrado of the fiscal stamp (time of central Mexico, as SAT writes it).",
    )
    sat_certificate = fields.Char("SAT certificate", readonly=True)
    verification_url = fields.Char("SAT verification link", readonly=True)
    pdf_id = fields.Many2one("ir.attachment", string="Facture APP PDF", ondelete="set null", readonly=True)
    # -- cancellation and SAT's status -----------------------------------------------------------
    cancel_state = fields.Selection(CANCEL_STATES, readonly=True, index=True, copy=False)
    cancel_motive = fields.Selection(catalogs.MOTIVO_CANCELACION, string="Cancellation motive", readonly=True)
    cancel_link = fields.Char("Receiver acceptance link", readonly=True)
    acuse_id = fields.Many2one("ir.attachment", string="Cancellation acuse", ondelete="set null", readonly=True)
    sat_state = fields.Char("SAT state", readonly=True)
    sat_cancellable = fields.Char("SAT: cancellable", readonly=True)
    sat_cancel_status = fields.Char("SAT: cancellation status", readonly=True)
    sat_efos = fields.Char("SAT: EFOS validation", readonly=True)
    sat_checked_at = fields.Datetime("SAT checked on", readonly=True)

    # -- einvoice.attempt hooks -------------------------------------------------------------------
    def _einvoice_attempt_build_payload(self):
        """The pre-CFDI, built once: by the caller's checks (passed in the context) or here."""
        move = self.move_id
        prebuilt = dict(self.env.context.get("l10n_mx_factureapp_payloads") or ())
        xml = prebuilt.get(move.id)
        if xml is None:
            if self.kind == "P":
                xml = move._l10n_mx_factureapp_build_payment(move._l10n_mx_factureapp_applications_of(self.invoice_ids))
            elif self.member_ids:
                periodicity, months, year = (self.global_info or "04||0").split("|")
                xml = move._l10n_mx_factureapp_build_global(self.member_ids, (periodicity, months, int(year)))
            else:
                xml = move._l10n_mx_factureapp_build()
        return xml, f"{(move.name or 'cfdi').replace('/', '_')}_precfdi.xml"

    def _l10n_mx_factureapp_api(self):
        return self.credential_id._l10n_mx_factureapp_client(record=self)

    def _einvoice_attempt_call(self, payload):
        if self.attempts > RESEND_CAP:  # `attempts` already counts this call: it is not made
            raise errors.RejectedError(
                _(
                    "Facture APP lost or garbled the answer to %(count)s sends of this CFDI and says it has none: "
                    "it is not sent again by itself. Check the connection and its exchanges, then stamp again.",
                    count=RESEND_CAP,
                ),
                code=RESEND_CAP_CODE,
            )
        with self._l10n_mx_factureapp_api() as api:
            return api.stamp(payload, self.branch_id.facture_id, reference=self.move_id.name or "")

    def _einvoice_attempt_read_answer(self, answer):
        """A stamp (StampResult, or the stamped XML): anything else raises, i.e. outcome unknown."""
        xml = answer if isinstance(answer, bytes) else answer.xml
        values, attachment = self._l10n_mx_factureapp_stamp_values(xml)
        # a bulk run creates the stamped XMLs of its whole ZIP at once (see _l10n_mx_factureapp_zip_apply_all)
        prepared = dict(self.env.context.get("l10n_mx_factureapp_stamped_xml_ids") or ())
        values["stamped_xml_id"] = prepared.get(self.id) or self.env["ir.attachment"].create(attachment).id
        return values

    def _l10n_mx_factureapp_stamp_values(self, xml):
        """(values of the attempt, values of the stamped XML's attachment) for a stamped CFDI."""
        info = cfdi.stamp_info(xml)
        if not info.uuid:
            raise ValueError("the stamped CFDI carries no UUID")
        attachment = {
            "name": f"{(self.move_id.name or 'CFDI').replace('/', '_')}_{info.uuid}.xml",
            "raw": xml,
            "mimetype": "application/xml",
            "res_model": "account.move",
            "res_id": self.move_id.id,
            "description": _("Stamped CFDI %(uuid)s", uuid=info.uuid),
        }
        values = {
            "state": "accepted",
            "service_reference": info.uuid,
            "uuid": info.uuid,
            "stamped_at": _stamp_datetime(info.stamped_at),
            "sat_certificate": info.sat_certificate,
            "verification_url": cfdi.verification_url(info),
            "message": _("Stamped by Facture APP: UUID %(uuid)s.", uuid=info.uuid),
        }
        return values, attachment

    def _einvoice_attempt_lookup(self):
        """What Facture APP holds for these bytes: by the UUID a bulk report named, else by the
        business key (issuer RFC, series and folio, checked against the content)."""
        with self._l10n_mx_factureapp_api() as api:
            if self.uuid:
                return api.xml(self.uuid)
            found = api.reconcile(self._einvoice_attempt_payload())
        if found.state == "stamped":
            return found.result
        if found.state == "absent":
            return None
        raise errors.ProtocolError(found.message or _("Facture APP holds another CFDI with this series and folio."))

    def _einvoice_attempt_error_text(self, exc):
        # EXTENDS 'einvoice_common': Facture APP's advice (credits, branch, credentials)
        if isinstance(exc, errors.RejectedError) and exc.code == RESEND_CAP_CODE:
            return exc.message
        if isinstance(exc, errors.EInvoiceError) and self.move_id:
            return self.move_id._l10n_mx_factureapp_service_error_text(exc, self.credential_id)
        return super()._einvoice_attempt_error_text(exc)

    def _einvoice_attempt_notify(self, previous_state):
        move = self.move_id.with_context(no_new_invoice=True)
        if self.state == "accepted":
            self._l10n_mx_factureapp_after_stamp(move)
        elif self.state == "unknown" and previous_state != "unknown":
            move.message_post(
                body=_(
                    "The outcome of the stamping of %(name)s is being confirmed with Facture APP: %(message)s",
                    name=move.display_name,
                    message=self.message or "",
                )
            )

    def _l10n_mx_factureapp_after_stamp(self, move):
        """Tell the invoice (chatter), fetch Facture APP's PDF, flag earlier payments of a PPD invoice."""
        if self.kind == "P":
            move.message_post(body=_("Payment complement stamped: UUID %(uuid)s.", uuid=self.uuid))
            return
        move.message_post(body=_("CFDI stamped by Facture APP: UUID %(uuid)s.", uuid=self.uuid))
        for member in self.member_ids - move:
            member.with_context(no_new_invoice=True).message_post(
                body=_(
                    "Included in the global CFDI of %(lead)s: UUID %(uuid)s.", lead=move.display_name, uuid=self.uuid
                )
            )
        dbtools.commit(self.env)  # what follows is a convenience: it never undoes the stamp
        if not self.pdf_id and self.channel == "single":  # bulk: fetched when asked (Download PDF)
            self._l10n_mx_factureapp_fetch_pdf()
        if move._l10n_mx_factureapp_needs_complement():
            move._l10n_mx_factureapp_flag_payers()  # paid before it was stamped

    def _l10n_mx_factureapp_fetch_pdf(self):
        try:
            with self._l10n_mx_factureapp_api() as api:
                pdf = api.pdf(self.uuid)
        except (errors.EInvoiceError, UserError) as exc:
            _logger.info("Facture APP PDF of attempt %s not fetched: %s", self.id, exc)
            return False
        self.pdf_id = self.env["ir.attachment"].create(
            {
                "name": f"{(self.move_id.name or 'CFDI').replace('/', '_')}_{self.uuid}.pdf",
                "raw": pdf,
                "mimetype": "application/pdf",
                "res_model": "account.move",
                "res_id": self.move_id.id,
            }
        )
        return True

    # -- bulk (ZIP): N attempts, one call -----------------------------------------------------------
    # The attempts of a ZIP are written together (one create of their files, one write of their
    # intent, one commit of their answers, one chatter entry per invoice): the invoices' CFDI fields
    # are computed from the attempts, and a write per attempt would walk back to them each time.
    @api.model
    def _l10n_mx_factureapp_zip_start(self, payloads, credential, branch):
        """Stamp {move: pre-CFDI bytes} in one ZIP with the attempt discipline: one draft each (one live
        attempt per invoice), every intent committed before the call, the answers of every file committed
        on their attempts as soon as the report is read. Returns {move: refusal text} for moves not taken."""
        refused, docs, xmls = {}, [], []
        batch = uuidlib.uuid4().hex
        with dbtools.own_env(self.env) as env:
            # nothing of the invoices that is computed from their attempts stays cached meanwhile: writing
            # the attempts then walks no dependency back to the invoices (they are read afresh afterwards)
            env["account.move"].invalidate_model()
            Document = env[self._name].sudo()
            for move, xml in payloads.items():
                values = move._l10n_mx_factureapp_attempt_values(
                    credential=credential, branch=branch, channel="bulk", bulk_batch=batch
                )
                try:  # the engine's guard: one live attempt per invoice (raises before writing anything)
                    docs.append(Document._einvoice_attempt_create_one(values))
                except UserError as exc:
                    refused[move] = str(exc)
                    continue
                xmls.append(xml)
            drafts = Document.union(*docs)
            drafts._l10n_mx_factureapp_zip_store(xmls)
            dbtools.commit(env)
            drafts._l10n_mx_factureapp_zip_send(batch)
        self.browse(drafts.ids).invalidate_recordset()
        return refused

    def _l10n_mx_factureapp_zip_store(self, xmls):
        """Store each draft's pre-CFDI (its file in the ZIP) with its hash, in one create."""
        attachments = self.env["ir.attachment"].create(
            [
                {"name": f"{doc.id}.xml", "raw": xml, "res_model": self._name, "res_id": doc.id}
                for doc, xml in zip(self, xmls, strict=True)
            ]
        )
        for doc, xml, attachment in zip(self, xmls, attachments, strict=True):
            doc.write(
                {
                    "payload_attachment_id": attachment.id,
                    "payload_sha256": hashlib.sha256(xml).hexdigest(),
                    "bulk_filename": attachment.name,
                }
            )

    def _l10n_mx_factureapp_zip_send(self, batch):
        claimed = dbtools.lock_skip_locked(self, SQL("state = 'draft'"))
        if not claimed:
            return
        now = fields.Datetime.now()
        files = {doc.bulk_filename: doc._einvoice_attempt_payload() for doc in claimed}  # the stored bytes
        # the engine's 'sending' (intent) for the N drafts at once: all were created for this ZIP (no call yet)
        claimed.write(
            {
                "state": "sending",
                "sending_since": now,
                "attempts": 1,
                "next_check": now,
                "checks": 0,
                "waiting_reason": False,
            }
        )
        dbtools.commit(self.env)  # N intents: a crash from here on leaves 'sending', swept to unknown
        try:
            report, stamped = claimed[:1]._l10n_mx_factureapp_zip_call(files, batch)
        except Exception as exc:  # noqa: BLE001 - every outcome is recorded on each attempt
            for doc in claimed:
                doc._einvoice_attempt_failed(exc)
                doc._einvoice_attempt_commit_and_notify("sending")
            return
        claimed._l10n_mx_factureapp_zip_apply_all(report, stamped)

    def _l10n_mx_factureapp_zip_apply_all(self, report, stamped):
        """Record each file's answer on its attempt, commit them all, then tell the invoices."""
        files = {}
        for doc in self:
            item = report.items.get(doc.bulk_filename)
            if item is not None and item.ok and stamped.get(doc.bulk_filename):
                try:
                    files[doc] = doc._l10n_mx_factureapp_stamp_values(stamped[doc.bulk_filename])[1]
                except Exception:  # noqa: BLE001 - unreadable: the engine records it as unknown below
                    _logger.info("Facture APP bulk: the stamped XML of attempt %s cannot be read", doc.id)
        attachments = self.env["ir.attachment"].create(list(files.values()))
        prepared = tuple((doc.id, attachment.id) for doc, attachment in zip(files, attachments, strict=True))
        self.with_context(l10n_mx_factureapp_stamped_xml_ids=prepared)._l10n_mx_factureapp_zip_record(report, stamped)
        dbtools.commit(self.env)  # the answers of the whole ZIP: nothing afterwards rolls them back
        accepted = self.filtered(lambda doc: doc.state == "accepted")
        try:
            with self.env.cr.savepoint():
                accepted._l10n_mx_factureapp_after_bulk_stamp()
        except Exception:  # noqa: BLE001 - telling people must never undo what the service said
            _logger.warning("Facture APP bulk: notifications failed", exc_info=True)
        for doc in self - accepted:
            doc._einvoice_attempt_commit_and_notify("sending")
        dbtools.commit(self.env)

    def _l10n_mx_factureapp_zip_record(self, report, stamped):
        """Each file's answer on its attempt: all together, or, when one of them fails, each in its
        own savepoint, so one unrecordable answer does not lose the others (it stays `sending`,
        becomes unknown and is confirmed with Facture APP by its hash, never resent blindly)."""
        try:
            with self.env.cr.savepoint():
                for doc in self:
                    doc._l10n_mx_factureapp_zip_apply(report.items.get(doc.bulk_filename), stamped)
            return
        except Exception:  # noqa: BLE001 - retried one by one just below
            _logger.warning("Facture APP bulk: recording the ZIP's answers failed; recording them one by one")
        for doc in self:
            try:
                with self.env.cr.savepoint():
                    doc._l10n_mx_factureapp_zip_apply(report.items.get(doc.bulk_filename), stamped)
            except Exception:  # noqa: BLE001 - this one is confirmed later; the others are kept
                _logger.warning("Facture APP bulk: attempt %s: its answer could not be recorded", doc.id, exc_info=True)

    def _l10n_mx_factureapp_after_bulk_stamp(self):
        """One chatter entry per stamped invoice (in one create), and the payments of PPD invoices
        reconciled before their stamp flagged for their complement (Facture APP's PDF: when asked)."""
        moves, bodies = self.move_id, {}
        for doc in self:  # a loop, not a comprehension: _() finds the language in this frame
            bodies[doc.move_id.id] = _("CFDI stamped by Facture APP: UUID %(uuid)s.", uuid=doc.uuid)
        moves._message_log_batch(bodies)
        ppd = moves.filtered(lambda m: m.move_type == "out_invoice" and m.l10n_mx_factureapp_payment_method == "PPD")
        for move in ppd:
            move._l10n_mx_factureapp_flag_payers()

    def _l10n_mx_factureapp_zip_call(self, files, batch):
        """(report, {file name: stamped XML}): one non-idempotent call, then idempotent downloads."""
        with self._l10n_mx_factureapp_api() as api:
            report = api.stamp_zip(
                fclient.make_zip(files), self.branch_id.facture_id, sent_names=files, reference=batch
            )
            if report.unknown:
                _logger.warning(
                    "Facture APP bulk report %s names files that were not sent: %s", batch, report.unknown[:20]
                )
            stamped = {}
            if report.download_url and any(item.ok for item in report.items.values()):
                try:
                    stamped = fclient.read_zip(api.download(report.download_url))
                except errors.EInvoiceError as exc:  # the stamps exist: each is fetched by its UUID below
                    _logger.info("Facture APP bulk %s: stamped ZIP not downloaded (%s)", batch, exc)
            for name, item in report.items.items():
                if item.ok and name not in stamped and name in files:
                    try:
                        stamped[name] = api.xml(item.uuid)
                    except errors.EInvoiceError:
                        continue  # looked up later by the UUID the report named
        return report, stamped

    def _l10n_mx_factureapp_zip_apply(self, item, stamped):
        """What the bulk report says of this attempt's file; unclear means unknown, never error."""
        if item is None:
            self._einvoice_attempt_unknown(_("The bulk report does not mention this invoice; its stamp is looked up."))
        elif item.ok and stamped.get(self.bulk_filename):
            self._einvoice_attempt_apply(stamped[self.bulk_filename])
        elif item.ok:
            self.uuid = item.uuid
            self._einvoice_attempt_unknown(
                _("Stamped as %(uuid)s; its XML is fetched at the next check.", uuid=item.uuid)
            )
        else:
            info = ferrors.describe(item.code, item.message)
            self._einvoice_attempt_failed(errors.RejectedError(info.message, code=item.code))

    # -- helpers -------------------------------------------------------------------------------------
    def _l10n_mx_factureapp_outcome(self):
        """What a person reads about this attempt: False once stamped."""
        self.ensure_one()
        if self.state == "accepted":
            return False
        if self.state in ("error", "rejected"):
            return self.message or dict(self._fields["state"]._description_selection(self.env))[self.state]
        return "\n".join(text for text in (self.einvoice_attempt_status, self.message) if text)

    def _l10n_mx_factureapp_stamp_info(self):
        self.ensure_one()
        if not self.stamped_xml_id:
            raise UserError(_("Invoice %(name)s has no stamped CFDI.", name=self.move_id.display_name))
        return cfdi.stamp_info(self.stamped_xml_id.raw)


def _stamp_datetime(text):
    """TFD's FechaTimbrado (local time of Mexico, no zone) as a naive UTC datetime, or False."""
    try:
        local = datetime.fromisoformat(text[:19]) if text else None
    except ValueError:
        return False
    if local is None:
        return False
    return pytz.timezone("America/Mexico_City").localize(local).astimezone(pytz.utc).replace(tzinfo=None)
