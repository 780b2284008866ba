import logging

from markupsafe import Markup

from odoo import _, api, fields, models
from odoo.exceptions import UserError

from odoo.addons.einvoice_common.einvoice import errors as common_errors
from odoo.addons.einvoice_common.einvoice.transport import Transport

from ..efact import client as efact_client
from ..efact import documents
from .einvoice_credential import efact_error_text
from .l10n_efact_aoc_document import STATES

_logger = logging.getLogger(__name__)
PARTNER_REVIEW_NOTE = "l10n_efact_aoc: created from a Facturae"


class AccountMove(models.Model):
    _inherit = "account.move"

    l10n_efact_aoc_document_ids = fields.One2many("l10n_efact_aoc.document", "move_id", string="eFACT documents")
    l10n_efact_aoc_document_id = fields.Many2one(
        "l10n_efact_aoc.document",
        string="eFACT document",
        compute="_compute_l10n_efact_aoc_document_id",
    )
    l10n_efact_aoc_state = fields.Selection(
        STATES,
        string="eFACT state",
        compute="_compute_l10n_efact_aoc_state",
        store=True,
        copy=False,
    )
    l10n_efact_aoc_hub_id = fields.Char(string="eFACT id", compute="_compute_l10n_efact_aoc_document_id")
    l10n_efact_aoc_attachment_ids = fields.Many2many(
        "ir.attachment",
        "l10n_efact_aoc_move_attachment_rel",
        "move_id",
        "attachment_id",
        string="eFACT attachments",
        copy=False,
        help="Documents sent with the invoice to eFACT: at most 5 of at most 2 MB each (PDF, Word, Excel, "
        "OpenDocument or text).",
    )
    l10n_efact_aoc_face = fields.Boolean(
        "Forward to FACe",
        copy=False,
        help="Ask eFACT to forward the invoice to FACe (only for issuers allowed to).",
    )
    l10n_efact_aoc_import_warning = fields.Text("eFACT import warning", copy=False)

    @api.depends("l10n_efact_aoc_document_ids", "l10n_efact_aoc_document_ids.hub_id")
    def _compute_l10n_efact_aoc_document_id(self):
        for move in self:
            latest = move.l10n_efact_aoc_document_ids.sorted("id", reverse=True)[:1]
            move.l10n_efact_aoc_document_id = latest
            move.l10n_efact_aoc_hub_id = latest.hub_id

    @api.depends("l10n_efact_aoc_document_ids.state")
    def _compute_l10n_efact_aoc_state(self):
        for move in self:
            move.l10n_efact_aoc_state = move.l10n_efact_aoc_document_ids.sorted("id", reverse=True)[:1].state

    # ================================================================== supplier side
    def _l10n_efact_aoc_credential(self, role):
        self.ensure_one()
        domain = [
            ("service", "=", "efact"),
            ("l10n_efact_aoc_role_" + role, "=", True),
            "|",
            ("company_ids", "in", self.company_id.id),
            ("company_id", "=", self.company_id.id),
        ]
        return self.env["einvoice.credential"].sudo().search(domain, limit=1)

    def _l10n_efact_aoc_centres(self):
        self.ensure_one()
        partner = self.commercial_partner_id
        codes = {}
        for centre in partner.child_ids.filtered(lambda c: c.type == "facturae_ac"):
            for role in centre.l10n_es_edi_facturae_ac_role_type_ids:
                codes[role.code] = centre.l10n_es_edi_facturae_ac_center_code
        return codes

    def _l10n_efact_aoc_is_applicable(self):
        """A posted customer invoice to a public body with its DIR3 centres, and an eFACT connection."""
        self.ensure_one()
        centres = self._l10n_efact_aoc_centres()
        return bool(
            self.state == "posted"
            and self.move_type in ("out_invoice", "out_refund")
            and self.company_id.country_code == "ES"
            and all(centres.get(code) for code in ("01", "02", "03"))
            and self._l10n_efact_aoc_credential("supplier")
            and self.l10n_efact_aoc_state not in ("sending", "unknown", *self._l10n_efact_aoc_live_states())
        )

    @api.model
    def _l10n_efact_aoc_live_states(self):
        return (
            "sent",
            "registered",
            "delivered",
            "annotated",
            "received",
            "accepted",
            "recognised",
            "paid",
        )

    def _l10n_efact_aoc_attachments(self):
        self.ensure_one()
        return [
            documents.Attachment(a.name, a.raw or b"", documents.mime_for(a.name, a.mimetype))
            for a in self.l10n_efact_aoc_attachment_ids
        ]

    def _l10n_efact_aoc_check(self):
        """What prevents sending this invoice to eFACT (sentences naming what to fix)."""
        self.ensure_one()
        problems = []
        centres = self._l10n_efact_aoc_centres()
        missing = [
            label
            for code, label in (
                ("01", _("accounting office")),
                ("02", _("managing body")),
                ("03", _("processing unit")),
            )
            if not centres.get(code)
        ]
        if missing:
            problems.append(
                _(
                    "%(partner)s has no DIR3 %(units)s: set its eFACT DIR3 units.",
                    partner=self.commercial_partner_id.display_name,
                    units=", ".join(missing),
                )
            )
        if not self._l10n_efact_aoc_credential("supplier"):
            problems.append(_("No eFACT connection able to send for %s.", self.company_id.name))
        live = self.l10n_efact_aoc_document_ids.filtered(
            lambda d: d.direction == "out" and d.state in ("sending", "unknown", *self._l10n_efact_aoc_live_states())
        )
        if live:
            problems.append(
                _(
                    "%(name)s is already on eFACT (%(state)s): it cannot be sent twice.",
                    name=self.name,
                    state=dict(STATES).get(live[0].state),
                )
            )
        problems += documents.check_attachments(self._l10n_efact_aoc_attachments())
        return problems

    def _l10n_efact_aoc_facturae(self, xml=None):
        self.ensure_one()
        if xml:
            return xml if isinstance(xml, bytes) else xml.encode()
        resend = self.l10n_efact_aoc_document_ids.filtered(lambda d: d.direction == "out")
        if self.l10n_es_edi_facturae_xml_id and not resend:
            # the signed file the customer already has; a new submission (after a rejection and a
            # correction) gets a freshly built one instead
            return self.l10n_es_edi_facturae_xml_id.raw
        content, errors = self._l10n_es_edi_facturae_render_facturae()
        if errors:
            raise UserError("\n".join(errors))
        return content if isinstance(content, bytes) else content.encode()

    def _l10n_efact_aoc_send(self, xml=None):
        """Send this invoice to eFACT. Returns an error text, or False when it was sent.

        Intent is committed before the call (document in `sending` with the exact payload);
        a lost answer leaves it `unknown` until reconciled with the hub; nothing is resent
        while a submission may be alive.
        """
        self.ensure_one()
        Credential = self.env["einvoice.credential"]
        problems = self._l10n_efact_aoc_check()
        if problems:
            return "\n".join(problems)
        if not Credential._einvoice_lock_skip_locked(self):
            return _("%s is being sent by another process.", self.name)
        credential = self._l10n_efact_aoc_credential("supplier")
        try:
            xml = self._l10n_efact_aoc_facturae(xml)
            facturae = documents.parse_facturae(xml)
            schema_problems = documents.validate_facturae(xml)
            if schema_problems:
                raise documents.DocumentError(
                    _(
                        "its Facturae does not follow the official schema (check the addresses and tax IDs "
                        "of the customer and of its administrative centres):\n%s",
                        "\n".join(schema_problems),
                    )
                )
            body = documents.build_submission(
                self._l10n_es_edi_facturae_get_filename(),
                xml,
                self._l10n_efact_aoc_attachments(),
                email=credential.l10n_efact_aoc_notify_email or "",
                face=self.l10n_efact_aoc_face,
            )
        except (UserError, documents.DocumentError) as exc:
            return _(
                "The invoice cannot be sent to eFACT: %s",
                exc.args[0] if exc.args else exc,
            )
        invoice = facturae.invoice
        doc = self.env["l10n_efact_aoc.document"].create(
            {
                "direction": "out",
                "move_id": self.id,
                "company_id": self.company_id.id,
                "credential_id": credential.id,
                "state": "sending",
                "number": invoice.number,
                "series": invoice.series,
                "amount": float(invoice.total),
                "supplier_nif": facturae.seller_nif,
                "receiver_nif": facturae.buyer_nif,
                "receiver_name": facturae.buyer_name,
                "oficina_comptable": facturae.centre("01"),
                "organ_gestor": facturae.centre("02"),
                "unitat_tramitadora": facturae.centre("03"),
            }
        )
        doc.attachment_id = self.env["ir.attachment"].create(
            {
                "name": self._l10n_es_edi_facturae_get_filename(),
                "raw": xml,
                "mimetype": "application/xml",
                "res_model": doc._name,
                "res_id": doc.id,
            }
        )
        Credential._einvoice_commit()  # record the intent before calling the hub
        try:
            result = credential._l10n_efact_aoc_supplier_client(record=doc).send_invoice(body, reference=self.name)
        except common_errors.UnknownOutcome as exc:
            doc.write({"state": "unknown", "message": efact_error_text(self.env, exc)})
            self.with_context(no_new_invoice=True).message_post(
                body=_(
                    "eFACT did not answer the submission: it will be checked with eFACT before anything is sent again."
                )
            )
            Credential._einvoice_commit()
            return False
        except common_errors.EInvoiceError as exc:
            doc.write({"state": "error", "message": efact_error_text(self.env, exc)})
            credential._l10n_efact_aoc_mark(exc)
            Credential._einvoice_commit()
            return _("eFACT refused %(name)s: %(error)s", name=self.name, error=efact_error_text(self.env, exc))
        doc._l10n_efact_aoc_apply_supplier_invoice(result)
        self.with_context(no_new_invoice=True).message_post(
            body=Markup("%s <b>%s</b>") % (_("Sent to eFACT with id"), result.id)
        )
        Credential._einvoice_commit()
        return False

    def action_l10n_efact_aoc_send(self):
        """Send the selected invoices to eFACT (list server action and button)."""
        moves = self.filtered(lambda m: m.state == "posted" and m.move_type in ("out_invoice", "out_refund"))
        errors = []
        for move in moves:
            error = move._l10n_efact_aoc_send()
            if error:
                errors.append(error)
                move.with_context(no_new_invoice=True).message_post(body=error)
        if errors and len(self) == 1:
            raise UserError(errors[0])
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "type": "warning" if errors else "success",
                "message": _(
                    "%(sent)s invoice(s) sent to eFACT, %(failed)s not sent (see their chatter).",
                    sent=len(moves) - len(errors),
                    failed=len(errors) + len(self - moves),
                ),
                "next": {"type": "ir.actions.client", "tag": "soft_reload"},
            },
        }

    def action_l10n_efact_aoc_refresh(self):
        return self.l10n_efact_aoc_document_id.action_l10n_efact_aoc_refresh()

    def action_l10n_efact_aoc_download_receipt(self):
        if not self.l10n_efact_aoc_document_id:
            raise UserError(_("This invoice has no eFACT document."))
        return self.l10n_efact_aoc_document_id.action_l10n_efact_aoc_download_receipt()

    def action_l10n_efact_aoc_view_documents(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id("l10n_efact_aoc.l10n_efact_aoc_document_action")
        action["domain"] = [("move_id", "=", self.id)]
        return action

    @api.model
    def _cron_l10n_efact_aoc_pull_states(self):
        """Supplier side: reconcile unknown submissions, then apply /estats-pendents (all pages),
        deleting each state on the hub only after our commit."""
        Credential = self.env["einvoice.credential"]
        Doc = self.env["l10n_efact_aoc.document"]
        for credential in Credential.sudo().search(
            [("service", "=", "efact"), ("l10n_efact_aoc_role_supplier", "=", True)]
        ):
            companies = credential.company_ids | credential.company_id
            for doc in Doc.search(
                [
                    ("direction", "=", "out"),
                    ("state", "in", ("unknown", "sending")),
                    ("credential_id", "=", credential.id),
                ]
            ):
                if (
                    doc.create_date
                    and (fields.Datetime.now() - doc.create_date).total_seconds() < 60
                    and doc.state == "sending"
                    and not self.env.context.get("l10n_efact_aoc_force")
                ):
                    continue  # maybe still being sent by another worker
                doc._l10n_efact_aoc_reconcile()
                Credential._einvoice_commit()
            try:
                api = credential._l10n_efact_aoc_supplier_client(record=credential)
            except UserError as exc:
                _logger.warning("eFACT connection %s skipped: %s", credential.name, exc.args[0])
                continue

            def apply(item, companies=companies):
                doc = Doc.search(
                    [
                        ("direction", "=", "out"),
                        ("hub_id", "=", item.invoice_id),
                        ("company_id", "in", companies.ids),
                    ],
                    limit=1,
                )
                if not doc:
                    _logger.info(
                        "eFACT state %s for unknown invoice %s acknowledged",
                        item.id,
                        item.invoice_id,
                    )
                    return True
                doc._l10n_efact_aoc_apply_state(item.state)
                Credential._einvoice_commit()
                return True

            try:
                efact_client.drain_pending_states(api, apply)
                credential._l10n_efact_aoc_mark()
            except common_errors.EInvoiceError as exc:
                _logger.warning("eFACT pending states of %s: %s", credential.name, exc)
                credential._l10n_efact_aoc_mark(exc)
            Credential._einvoice_commit()
        return True

    # ================================================================== public-body side
    @api.model
    def _cron_l10n_efact_aoc_pull_invoices(self):
        """RCF side: download pending invoices (all pages) into vendor bills of the company owning
        the receiving NIF, then report DELIVERED; then later attachments; then queued reports."""
        Credential = self.env["einvoice.credential"]
        for credential in Credential.sudo().search([("service", "=", "efact"), ("l10n_efact_aoc_role_rcf", "=", True)]):
            try:
                self._l10n_efact_aoc_pull_invoices(credential)
                self._l10n_efact_aoc_pull_attachments(credential)
                credential._l10n_efact_aoc_mark()
            except UserError as exc:
                _logger.warning("eFACT connection %s skipped: %s", credential.name, exc.args[0])
            except common_errors.EInvoiceError as exc:
                _logger.warning("eFACT pull for %s stopped: %s", credential.name, exc)
                credential._l10n_efact_aoc_mark(exc)
            Credential._einvoice_commit()
        self.env["l10n_efact_aoc.inbox"]._l10n_efact_aoc_trigger_if_waiting()
        self.env["l10n_efact_aoc.report"]._cron_l10n_efact_aoc_send_reports()
        return True

    @api.model
    def _l10n_efact_aoc_company_by_nif(self, credential):
        companies = (credential.company_ids | credential.company_id).sudo()
        return {c._l10n_efact_aoc_nif(): c for c in companies if c.vat}

    @api.model
    def _l10n_efact_aoc_threaded_client(self, credential):
        """An RCF client safe to use from worker threads, and its exchange log.

        Worker threads only buffer their exchanges (the ORM is not thread-safe); in this thread
        `log.collect()` takes them, `log.record(hub_id, record)` writes those of one eFACT invoice
        against `record` (its inbox row), `log.flush()` writes the rest against the connection."""
        sudo = credential.sudo()
        buffer = []
        transport = Transport(
            credential.base_url,
            service="eFACT",
            auth=credential._l10n_efact_aoc_auth(),
            recorder=buffer.append,
            timeout=(
                credential.timeout_connect or 10.0,
                credential.timeout_read or 60.0,
            ),
            retries=credential.max_retries,
            extra_secrets=[sudo.secret_key],
        )
        return efact_client.RcfClient(transport), _ExchangeLog(self.env, credential, buffer)

    @api.model
    def _l10n_efact_aoc_pull_invoices(self, credential, nif=None, oficina_comptable=None, workers=8, chunk=25):
        """Store first, process second: each downloaded delivery is stored in the inbox and
        committed, then processed into a bill (committed), and only then reported DELIVERED."""
        Credential = self.env["einvoice.credential"]
        Inbox = self.env["l10n_efact_aoc.inbox"].sudo()
        by_nif = self._l10n_efact_aoc_company_by_nif(credential)
        if nif is None:
            nif = credential.l10n_efact_aoc_filter_nif or None
        if oficina_comptable is None:
            oficina_comptable = credential.l10n_efact_aoc_filter_oficina or None
        api = credential._l10n_efact_aoc_rcf_client(record=credential)
        threaded, log = self._l10n_efact_aoc_threaded_client(credential)

        def stored(company, hub_id):
            return Inbox.search([("company_id", "=", company.id), ("hub_id", "=", hub_id)], limit=1)

        def download(pending):
            info = threaded.get_invoice(pending.id)
            xml = threaded.get_facturae(pending.id)
            files = [(att_id, name, *threaded.get_attachment(pending.id, att_id)) for att_id, name in info.attachments]
            return info, xml, files

        class Fetcher(efact_client.Fetcher):
            def select(self, batch):  # main thread: ORM allowed
                return [
                    pending
                    for pending in batch
                    if (company := by_nif.get(documents.normalize_nif(pending.nif)))
                    and not stored(company, pending.id).attachment_id
                ]

            def fetch(self, pending):  # worker threads: HTTP only
                return download(pending)

            def flush(self):  # main thread
                log.collect()

        fetcher = Fetcher()
        fetcher.workers = workers

        def process(pending, prefetched):
            return self._l10n_efact_aoc_store_and_process(credential, by_nif, pending, prefetched, log)

        def deliver(ids):
            results = efact_client.parallel(
                lambda hub_id: threaded.update_state(hub_id, "DELIVERED"),
                ids,
                workers=workers,
            )
            log.collect()
            for hub_id in ids:
                log.record(
                    hub_id, Inbox.search([("hub_id", "=", hub_id), ("credential_id", "=", credential.id)], limit=1)
                )
            done = [hub_id for hub_id, _result, error in results if not error]
            self._l10n_efact_aoc_mark_delivered(done, by_nif)
            Credential._einvoice_commit()
            errors = [error for _hub_id, _result, error in results if error]
            if errors:
                raise errors[0]

        try:
            return efact_client.drain_pending_invoices(
                api,
                process,
                nif=nif,
                oficina_comptable=oficina_comptable,
                fetcher=fetcher,
                deliver=deliver,
                chunk=chunk,
            )
        finally:
            log.flush()

    @api.model
    def _l10n_efact_aoc_store_and_process(self, credential, by_nif, pending, prefetched, log):
        """One pending invoice of the pull: store what was downloaded (commit), then process it.
        True when its bill is committed (DELIVERED may be reported)."""
        Credential = self.env["einvoice.credential"]
        Inbox = self.env["l10n_efact_aoc.inbox"].sudo()
        company = by_nif.get(documents.normalize_nif(pending.nif))
        if not company:
            _logger.warning(
                "eFACT invoice %s is addressed to NIF %s, served by no company of %s",
                pending.id,
                pending.nif,
                credential.name,
            )
            credential.sudo().last_error = self.env._(
                "eFACT invoice %(id)s is addressed to NIF %(nif)s, which no company of this connection has.",
                id=pending.id,
                nif=pending.nif,
            )
            return False
        inbox = Inbox.search([("company_id", "=", company.id), ("hub_id", "=", pending.id)], limit=1)
        if not inbox.attachment_id:
            if prefetched is None:  # not selected for download: stored meanwhile elsewhere
                return False
            if isinstance(prefetched, Exception):
                inbox = Inbox._l10n_efact_aoc_store_failure(credential, company, pending, prefetched)
                log.record(pending.id, inbox)
                Credential._einvoice_commit()
                if isinstance(prefetched, common_errors.EInvoiceError) and prefetched.kind in ("auth", "transient"):
                    raise prefetched
                return False
            inbox = Inbox._l10n_efact_aoc_store(credential, company, pending, *prefetched)
            log.record(pending.id, inbox)
            Credential._einvoice_commit()  # stored before anything is processed
        return bool(inbox._l10n_efact_aoc_process())

    @api.model
    def _l10n_efact_aoc_mark_delivered(self, hub_ids, by_nif):
        if not hub_ids:
            return
        docs = (
            self.env["l10n_efact_aoc.document"]
            .sudo()
            .search(
                [
                    ("direction", "=", "in"),
                    ("hub_id", "in", hub_ids),
                    ("company_id", "in", list({c.id for c in by_nif.values()})),
                ]
            )
        )
        self.env["l10n_efact_aoc.inbox"].sudo().search(
            [
                ("hub_id", "in", hub_ids),
                ("company_id", "in", list({c.id for c in by_nif.values()})),
                ("delivered", "=", False),
            ]
        ).delivered = True
        for doc in docs.filtered(lambda d: not d.delivered_reported):
            values = {"delivered_reported": True}
            if doc.state in ("registered", "sending", "error"):
                values["state"] = "delivered"
            doc.write(values)
            self.env["l10n_efact_aoc.history"].create(
                {
                    "document_id": doc.id,
                    "code": "DELIVERED",
                    "date": fields.Datetime.now(),
                }
            )

    def _l10n_efact_aoc_import(self, credential, company, pending, doc, prefetched=None):
        """Create the vendor bill (or link the FTP-era one) for one pending hub invoice."""
        Doc = self.env["l10n_efact_aoc.document"]
        api = credential._l10n_efact_aoc_rcf_client(record=doc or credential)
        if prefetched:
            info, xml, files = prefetched
        else:
            info, xml = api.get_invoice(pending.id), api.get_facturae(pending.id)
            files = [(att_id, name, *api.get_attachment(pending.id, att_id)) for att_id, name in info.attachments]
        facturae = documents.parse_facturae(xml)  # refuses DOCTYPE/entities, unparsable files
        if not facturae.signed or not facturae.signature_value:
            raise documents.DocumentError(_("The Facturae of eFACT invoice %s is not signed.", pending.id))
        if facturae.version == "3.2.2":
            schema_problems = documents.validate_facturae(xml)
            if schema_problems:
                raise documents.DocumentError(
                    _(
                        "The Facturae of eFACT invoice %(id)s does not follow the Facturae 3.2.2 schema:\n%(problems)s",
                        id=pending.id,
                        problems="\n".join(schema_problems),
                    )
                )
        # Facturae 3.2 and 3.2.1 are accepted by their namespace (no official schema shipped for them)
        if len(facturae.invoices) != 1:
            raise documents.DocumentError(
                _(
                    "The Facturae of eFACT invoice %s holds several invoices.",
                    pending.id,
                )
            )
        if documents.normalize_nif(facturae.buyer_nif) != documents.normalize_nif(info.nif or pending.nif):
            raise documents.DocumentError(
                _(
                    "The Facturae is addressed to %(file)s but eFACT says %(hub)s.",
                    file=facturae.buyer_nif,
                    hub=info.nif or pending.nif,
                )
            )
        if facturae.invoice.total != documents.money(info.amount):
            raise documents.DocumentError(
                _(
                    "The Facturae total %(file)s does not match the amount %(hub)s registered by eFACT.",
                    file=facturae.invoice.total,
                    hub=documents.money(info.amount),
                )
            )
        values = {
            "direction": "in",
            "company_id": company.id,
            "credential_id": credential.id,
            "hub_id": pending.id,
            "state": "registered",
            "message": False,
            "number": info.number or facturae.invoice.number,
            "amount": info.amount,
            "supplier_nif": info.supplier_nif or facturae.seller_nif,
            "supplier_name": info.supplier_name or facturae.seller_name,
            "receiver_nif": info.nif or pending.nif,
            "receiver_name": info.name,
            "registry_number": info.registry_number,
            "registry_date": _parse(info.registry_date),
            "oficina_comptable": info.oficina_comptable,
            "organ_gestor": info.organ_gestor,
            "unitat_tramitadora": info.unitat_tramitadora,
        }
        if doc:
            doc.write(values)
        else:
            doc = Doc.create(values)
        bill = self._l10n_efact_aoc_find_ftp_bill(company, doc)
        if bill:
            doc.move_id = bill
            bill.with_context(no_new_invoice=True).message_post(
                body=_(
                    "Linked to eFACT invoice %s: the bill already existed (FTP delivery); no duplicate created.",
                    pending.id,
                )
            )
        else:
            bill = self._l10n_efact_aoc_create_bill(company, doc, xml, facturae)
        for attachment_id, name, content, mime in files:
            bill._l10n_efact_aoc_store_attachment(attachment_id, name, content, mime)
        if company.l10n_efact_aoc_registry_mode == "create" and not bill.l10n_efact_aoc_import_warning:
            bill._l10n_efact_aoc_register()
        if bill.state == "posted":
            bill._l10n_efact_aoc_on_post()
        return doc

    def _l10n_efact_aoc_find_ftp_bill(self, company, doc):
        nif = documents.normalize_nif(doc.supplier_nif)
        candidates = self.search(
            [
                ("company_id", "=", company.id),
                ("move_type", "=", "in_invoice"),
                ("state", "!=", "cancel"),
                ("ref", "=", doc.number),
                ("l10n_efact_aoc_document_ids", "=", False),
            ]
        )
        currency = company.currency_id
        for bill in candidates:
            if (
                documents.normalize_nif(bill.commercial_partner_id.vat) == nif
                and currency.compare_amounts(bill.amount_total, doc.amount) == 0
            ):
                return bill
        return self.browse()

    def _l10n_efact_aoc_create_bill(self, company, doc, xml, facturae):
        Partner = self.env["res.partner"]
        nif = documents.normalize_nif(facturae.seller_nif)
        known = Partner.search(
            [
                ("vat", "!=", False),
                "|",
                ("company_id", "=", False),
                ("company_id", "=", company.id),
                ("vat", "ilike", nif),
            ],
            limit=1,
        )
        journal = company._l10n_efact_aoc_purchase_journal()
        if not journal:
            raise UserError(
                _(
                    "%s has no purchase journal for the invoices received from eFACT.",
                    company.name,
                )
            )
        tree = documents.parse_xml(xml)
        bill = (
            self.with_company(company)
            .with_context(l10n_efact_aoc_import=True)
            .create(
                {
                    "move_type": "in_invoice",
                    "journal_id": journal.id,
                    "company_id": company.id,
                }
            )
        )
        file_data = {
            "type": "xml",
            "xml_tree": tree,
            "filename": f"{doc.number}.xml",
            "content": xml,
        }
        with bill._get_edi_creation() as invoice:
            invoice.with_context(l10n_efact_aoc_import=True)._import_invoice_facturae(invoice, file_data, new=True)
        doc.move_id = bill
        attachment = self.env["ir.attachment"].create(
            {
                "name": f"eFACT_{doc.hub_id}_{(doc.number or '').replace('/', '_')}.xml",
                "raw": xml,
                "mimetype": "application/xml",
                "res_model": "account.move",
                "res_id": bill.id,
            }
        )
        doc.attachment_id = attachment
        notes = [
            _(
                "Received from eFACT (id %(id)s, registration %(reg)s).",
                id=doc.hub_id,
                reg=doc.registry_number or "-",
            )
        ]
        partner = bill.partner_id
        if partner and not known:
            if not partner.vat:
                partner.with_context(no_vat_validation=True).write({"vat": facturae.seller_nif})
            notes.append(
                _(
                    "The supplier %s did not exist and was created from the Facturae: review it.",
                    partner.display_name,
                )
            )
            bill.activity_schedule(
                "mail.mail_activity_data_todo",
                summary=_("eFACT: review the new supplier"),
                note=notes[-1],
                user_id=self.env.user.id,
            )
        expected = documents.money(doc.amount)
        if bill.currency_id.compare_amounts(bill.amount_total, float(expected)) != 0:
            bill.l10n_efact_aoc_import_warning = _(
                "The bill total %(bill)s differs from the Facturae / eFACT total %(hub)s by %(diff)s: check the "
                "taxes of the lines. The bill stays in draft and is not registered automatically.",
                bill=bill.amount_total,
                hub=expected,
                diff=round(float(expected) - bill.amount_total, 2),
            )
            notes.append(bill.l10n_efact_aoc_import_warning)
        bill.with_context(no_new_invoice=True).message_post(
            body=Markup("<br/>").join(notes), attachment_ids=attachment.ids
        )
        return bill

    def _l10n_efact_aoc_has_attachment(self, attachment_id):
        self.ensure_one()
        return bool(
            self.env["ir.attachment"].search_count(
                [
                    ("res_model", "=", "account.move"),
                    ("res_id", "=", self.id),
                    ("description", "=", f"efact:{attachment_id}"),
                ]
            )
        )

    def _l10n_efact_aoc_store_attachment(self, attachment_id, name, content, mime):
        self.ensure_one()
        tag = f"efact:{attachment_id}"
        if self._l10n_efact_aoc_has_attachment(attachment_id):
            return False
        self.env["ir.attachment"].create(
            {
                "name": name or f"attachment_{attachment_id}",
                "raw": content,
                "description": tag,
                "mimetype": (mime or "").split(";")[0] or documents.mime_for(name),
                "res_model": "account.move",
                "res_id": self.id,
            }
        )
        return True

    @api.model
    def _l10n_efact_aoc_pull_attachments(self, credential):
        """Attachments sent after their invoice, store first: each one is downloaded into the inbox
        row of its invoice (a row of its own while the invoice is unknown) and committed, then
        attached to the bill (committed), and only then deleted on eFACT. An attachment whose
        invoice has no bill yet stays pending on eFACT (and stored in the inbox)."""
        Credential = self.env["einvoice.credential"]
        Doc = self.env["l10n_efact_aoc.document"].sudo()
        Inbox = self.env["l10n_efact_aoc.inbox"].sudo()
        companies = credential.company_ids | credential.company_id
        api = credential._l10n_efact_aoc_rcf_client(record=credential)
        offered, done = set(), 0
        for _page in range(100):
            items, more = api.pending_attachments()
            fresh = [i for i in items if i.id not in offered]
            for item in fresh:
                offered.add(item.id)
                doc = Doc.search(
                    [
                        ("direction", "=", "in"),
                        ("hub_id", "=", item.invoice_id),
                        ("company_id", "in", companies.ids),
                        ("move_id", "!=", False),
                    ],
                    limit=1,
                )
                bill = doc.move_id.sudo()
                stored = Inbox._l10n_efact_aoc_late_attachment(credential, companies, item)
                if not stored and not (bill and bill._l10n_efact_aoc_has_attachment(item.id)):
                    content, mime = api.get_attachment(item.invoice_id, item.id)
                    stored = Inbox._l10n_efact_aoc_store_late_attachment(
                        credential, companies, doc.company_id, item, content, mime
                    )
                    Credential._einvoice_commit()  # stored before it is attached or deleted on eFACT
                if not bill:
                    continue  # its invoice is not imported yet: kept here and on eFACT, next run
                if stored and bill._l10n_efact_aoc_store_attachment(item.id, item.name, stored.raw, stored.mimetype):
                    bill.with_context(no_new_invoice=True).message_post(
                        body=_("eFACT sent a new attachment: %s", item.name)
                    )
                Credential._einvoice_commit()  # attached before it is deleted on eFACT
                api.delete_pending_attachment(item.id)
                done += 1
            if not more or not fresh:
                break
        return done

    # -- life-cycle reports --------------------------------------------------------------
    def _l10n_efact_aoc_in_document(self):
        self.ensure_one()
        return self.l10n_efact_aoc_document_ids.filtered(lambda d: d.direction == "in").sorted("id", reverse=True)[:1]

    def _l10n_efact_aoc_queue(self, state, **values):
        """Queue a life-cycle report (once per state) for the received invoice."""
        self.ensure_one()
        doc = self._l10n_efact_aoc_in_document()
        if not doc:
            return self.env["l10n_efact_aoc.report"]
        existing = doc.report_ids.filtered(lambda r: r.state == state and r.status != "error")
        if existing:
            return existing
        report = self.env["l10n_efact_aoc.report"].sudo().create(dict(values, document_id=doc.id, state=state))
        cron = self.env.ref(
            "l10n_efact_aoc.ir_cron_l10n_efact_aoc_send_reports",
            raise_if_not_found=False,
        )
        if cron:
            cron.sudo()._trigger()
        return report

    def _l10n_efact_aoc_register(self):
        """Give the bill its accounting registry number and queue ANNOTATED."""
        for bill in self:
            doc = bill._l10n_efact_aoc_in_document()
            if not doc or doc.report_ids.filtered(lambda r: r.state == "ANNOTATED" and r.status != "error"):
                continue
            number = doc.rcf_number or bill.company_id._l10n_efact_aoc_registry_sequence().sudo().next_by_id()
            doc.rcf_number = number
            bill._l10n_efact_aoc_queue("ANNOTATED", rcf_number=number)
            bill.with_context(no_new_invoice=True).message_post(
                body=_(
                    "Registered in the accounting registry of invoices with number %s.",
                    number,
                )
            )

    def action_l10n_efact_aoc_register(self):
        for bill in self:
            if bill.l10n_efact_aoc_import_warning and not self.env.context.get("l10n_efact_aoc_confirm"):
                raise UserError(
                    _(
                        "Check the import warning of %s before registering it.",
                        bill.display_name,
                    )
                )
        self._l10n_efact_aoc_register()
        return True

    def _l10n_efact_aoc_on_post(self):
        for bill in self.filtered(lambda m: m.is_purchase_document() and m._l10n_efact_aoc_in_document()):
            bill._l10n_efact_aoc_register()  # ANNOTATED must come first
            bill._l10n_efact_aoc_queue("RECOGNISED")

    def _post(self, soft=True):
        # EXTENDS 'account'
        posted = super()._post(soft=soft)
        posted._l10n_efact_aoc_on_post()
        return posted

    def _l10n_efact_aoc_payment_date(self):
        """The date the bill became paid: the latest reconciliation of its payable lines."""
        self.ensure_one()
        lines = self.line_ids.filtered(lambda line: line.account_type == "liability_payable")
        dates = []
        for partial in lines.matched_debit_ids | lines.matched_credit_ids:
            counterpart = partial.debit_move_id if partial.credit_move_id in lines else partial.credit_move_id
            dates.append(counterpart.date)  # the payment's date, not the bill's
        return max(dates, default=False)

    @api.model
    def _l10n_efact_aoc_queue_paid_reports(self):
        bills = self.search(
            [
                ("l10n_efact_aoc_document_ids.direction", "=", "in"),
                ("l10n_efact_aoc_state", "not in", ("paid", "rejected")),
                ("payment_state", "in", ("paid", "in_payment")),
                ("state", "=", "posted"),
            ]
        )
        for bill in bills:
            doc = bill._l10n_efact_aoc_in_document()
            if doc.state == "rejected" or doc.report_ids.filtered(lambda r: r.state in ("PAID", "REJECTED")):
                continue
            date = bill._l10n_efact_aoc_payment_date()
            if date:
                bill._l10n_efact_aoc_on_post()
                bill._l10n_efact_aoc_queue("PAID", payment_date=date)

    def action_l10n_efact_aoc_report_received(self):
        for bill in self:
            bill._l10n_efact_aoc_register()
            bill._l10n_efact_aoc_queue("RECEIVED")
        return True

    def action_l10n_efact_aoc_report_accepted(self):
        for bill in self:
            bill._l10n_efact_aoc_register()
            bill._l10n_efact_aoc_queue("ACCEPTED")
        return True

    def action_l10n_efact_aoc_reject(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "res_model": "l10n_efact_aoc.reject.wizard",
            "view_mode": "form",
            "target": "new",
            "context": {"default_move_id": self.id},
        }

    def action_l10n_efact_aoc_link(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "res_model": "l10n_efact_aoc.link.wizard",
            "view_mode": "form",
            "target": "new",
            "context": {"default_move_id": self.id},
        }

    @api.model
    def _l10n_efact_aoc_demo_invoices(self, company_id, partner_id):
        """Two draft invoices to the demo public body (demo data only)."""
        company = self.env["res.company"].browse(company_id)
        journal = self.env["account.journal"].search(
            [
                *self.env["account.journal"]._check_company_domain(company),
                ("type", "=", "sale"),
            ],
            limit=1,
        )
        if not journal:
            return
        for amount in (1200.0, 350.0):
            self.with_company(company).create(
                {
                    "move_type": "out_invoice",
                    "partner_id": partner_id,
                    "journal_id": journal.id,
                    "company_id": company.id,
                    "invoice_date": fields.Date.context_today(self),
                    "invoice_line_ids": [
                        (
                            0,
                            0,
                            {
                                "name": "Serveis de manteniment",
                                "quantity": 1,
                                "price_unit": amount,
                            },
                        )
                    ],
                }
            )

    # -- Facturae import: domestic purchase taxes -------------------------------------------
    def _search_tax_for_import(self, company, amount, is_fixed, is_withheld, is_purchase, price_included):
        # EXTENDS 'l10n_es_edi_facturae'
        taxes = super()._search_tax_for_import(company, amount, is_fixed, is_withheld, is_purchase, price_included)
        if not self.env.context.get("l10n_efact_aoc_import") or not is_purchase or is_withheld or is_fixed:
            return taxes
        candidates = self.env["account.tax"].search(
            [
                ("company_id", "=", company.id),
                ("amount", "=", amount),
                ("amount_type", "=", "percent"),
                ("type_tax_use", "=", "purchase"),
                ("price_include", "=", price_included),
            ]
        )
        default = company.account_purchase_tax_id
        if default in candidates:
            return default

        def domestic(tax):
            if "l10n_es_type" in tax._fields and tax.l10n_es_type != "sujeto":
                return False
            if "l10n_es_bien_inversion" in tax._fields and tax.l10n_es_bien_inversion:
                return False
            return not any(line.factor_percent < 0 for line in tax.invoice_repartition_line_ids)

        return candidates.filtered(domestic)[:1] or taxes


def _parse(value):
    from .l10n_efact_aoc_document import parse_hub_datetime

    return parse_hub_datetime(value)


class _ExchangeLog:
    """Exchanges buffered by worker threads, written in the main thread against the right record."""

    def __init__(self, env, credential, buffer):
        self.env = env
        self.credential = credential
        self.buffer = buffer
        self.held = {}

    def collect(self):
        while self.buffer:
            exchange = self.buffer.pop(0)
            self.held.setdefault(exchange.reference or "", []).append(exchange)

    def record(self, reference, record=None):
        exchanges = self.held.pop(reference or "", [])
        if exchanges:
            recorder = self.env["einvoice.exchange"]._einvoice_recorder(self.credential, record or self.credential)
            for exchange in exchanges:
                recorder(exchange)

    def flush(self):
        self.collect()
        for reference in list(self.held):
            self.record(reference)
