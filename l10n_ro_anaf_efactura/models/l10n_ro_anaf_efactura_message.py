import logging
import time
from datetime import datetime, timedelta, timezone

from odoo import _, api, fields, models
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tools import float_compare

from odoo.addons.einvoice_common import compat
from odoo.addons.einvoice_common.einvoice import errors as einvoice_errors

from ..anaf import documents, quota
from ..anaf.client import normalise_cif
from .l10n_ro_anaf_efactura_document import _Final, error_text

_logger = logging.getLogger(__name__)

KINDS = [
    ("P", "Invoice received"),
    ("E", "Errors of a sent invoice"),
    ("T", "Invoice sent"),
    ("R", "Buyer message"),
]
WINDOW_DAYS = 60
OVERLAP = timedelta(hours=6)


def _ms(value):
    return int((value - datetime(1970, 1, 1)).total_seconds() * 1000)


class L10nRoAnafEfacturaMessage(models.Model):
    """A message of the company's SPV inbox: stored first, processed second, once per ANAF download id."""

    _name = "l10n_ro_anaf_efactura.message"
    _description = "ANAF SPV message"
    _inherit = ["einvoice.exchange.mixin"]
    _order = "created desc, id desc"
    _rec_name = "download_id"

    download_id = fields.Char("Download id", required=True, index=True, readonly=True)
    index = fields.Char("Upload index", index=True, readonly=True)
    company_id = fields.Many2one("res.company", required=True, index=True, readonly=True)
    credential_id = fields.Many2one("einvoice.credential", readonly=True, ondelete="set null")
    cif = fields.Char("CIF", readonly=True)
    issuer_cif = fields.Char("Issuer CIF", readonly=True)
    kind = fields.Selection(KINDS, required=True, readonly=True)
    details = fields.Char(readonly=True)
    created = fields.Datetime("Created at ANAF", readonly=True)
    state = fields.Selection(
        [
            ("new", "To process"),
            ("done", "Done"),
            ("error", "Error"),
            ("ignored", "Ignored"),
        ],
        default="new",
        required=True,
        index=True,
    )
    error = fields.Text(readonly=True)
    move_id = fields.Many2one("account.move", readonly=True, ondelete="set null", index=True)
    zip_attachment_id = fields.Many2one("ir.attachment", readonly=True)

    compat.sql_constraints(
        locals(),
        [
            (
                "company_download_unique",
                "unique(company_id, download_id)",
                "ANAF messages are stored once per company.",
            ),
        ],
    )

    # -- listing ------------------------------------------------------------------------
    @api.model
    def _l10n_ro_anaf_efactura_sync(self, credential, company, now=None):
        """Store the SPV messages of `company` since its last synchronisation (paginated list).

        Every list call is counted by the connection's limiter (per minute, per CIF and day): a QuotaError
        stops here, and the next run goes on from the last complete synchronisation."""
        now = now or fields.Datetime.now()
        cif = normalise_cif(company.vat or company.company_registry or "")
        if not cif:
            return 0
        oldest = now - timedelta(days=WINDOW_DAYS) + timedelta(minutes=5)
        start = max(oldest, (company.l10n_ro_anaf_efactura_last_sync or oldest) - OVERLAP)
        client = credential._l10n_ro_anaf_efactura_client(record=company)  # logged for the company served
        known = set(
            self.search(
                [
                    ("company_id", "=", company.id),
                    ("created", ">=", start - timedelta(days=1)),
                ]
            ).mapped("download_id")
        )
        created = 0
        end_ms = _now_ms()  # ANAF refuses an endTime in the future: the real clock, not a (test) `now`
        page, total_pages = 1, 1
        while page <= total_pages:
            result = client.list_messages_page(_ms(start), end_ms, cif, page)
            total_pages = result.total_pages
            values = []
            for message in result.messages:
                if message.id in known or message.filter_code not in ("P", "E"):
                    continue
                known.add(message.id)
                values.append(
                    {
                        "download_id": message.id,
                        "index": message.index,
                        "company_id": company.id,
                        "credential_id": credential.id,
                        "cif": message.cif,
                        "issuer_cif": message.issuer_cif,
                        "kind": message.filter_code,
                        "details": message.details,
                        "created": _anaf_datetime(message.created),
                    }
                )
            if values:
                self.create(values)
                created += len(values)
            page += 1
        company.l10n_ro_anaf_efactura_last_sync = now
        self.env["einvoice.credential"]._einvoice_commit()
        return created

    # -- processing ------------------------------------------------------------------------
    def _l10n_ro_anaf_efactura_process(self):
        for message in self.filtered(lambda m: m.state == "new"):
            try:
                with self.env.cr.savepoint():
                    if message.kind == "P":
                        message._l10n_ro_anaf_efactura_receive_bill()
                    elif message.kind == "E":
                        message._l10n_ro_anaf_efactura_match_error()
                    else:
                        message.state = "ignored"
            except einvoice_errors.TransientError as exc:  # quota, ANAF unavailable: stays "new", retried next run
                message.error = message._l10n_ro_anaf_efactura_error_text(exc)
            except (einvoice_errors.EInvoiceError, documents.DocumentError, UserError, ValidationError) as exc:
                _logger.warning("ANAF message %s could not be processed: %s", message.download_id, exc)
                message.write({"state": "error", "error": message._l10n_ro_anaf_efactura_error_text(exc)})
            self.env["einvoice.credential"]._einvoice_commit()

    def _l10n_ro_anaf_efactura_error_text(self, exc):
        """What a person reads: advice by code for ANAF's typed errors, the text of a user error."""
        if isinstance(exc, einvoice_errors.EInvoiceError):
            return error_text(self.env, exc)
        return exc.args[0] if exc.args else str(exc)

    def _download(self):
        """descarcare, within ANAF's 10 downloads per message and day (counted by the connection's limiter)."""
        client = self.credential_id._l10n_ro_anaf_efactura_client(record=self)
        return client, client.download(self.download_id, reference=self.download_id)

    def _l10n_ro_anaf_efactura_receive_bill(self):
        """The bill of a received invoice (found by download id, matched to one entered by hand, or created
        from ANAF's XML), ANAF's signed ZIP attached to it."""
        Move = self.env["account.move"].with_company(self.company_id)
        existing = Move.search(
            [
                ("company_id", "=", self.company_id.id),
                ("l10n_ro_anaf_efactura_download_id", "=", self.download_id),
            ],
            limit=1,
        )
        if existing:
            self.write({"state": "done", "move_id": existing.id})
            return
        self._check_cif(self.cif)
        client, answer = self._download()
        summary = documents.summarise_invoice(answer.xml)
        self._check_cif(summary.customer_vat)  # before anything of the ZIP is stored on this company's rows
        name = f"{self.index or self.download_id}"
        zip_attachment = (
            self.env["ir.attachment"]
            .sudo()
            .create(
                {
                    "name": f"anaf_{name}.zip",
                    "raw": answer.content,
                    "mimetype": "application/zip",
                    "res_model": self._name,
                    "res_id": self.id,
                }
            )
        )
        bill = self._l10n_ro_anaf_efactura_find_manual_bill(summary)
        if bill:
            bill.message_post(
                body=_(
                    "The e-Factura of this bill was received from ANAF (download id %(id)s); its "
                    "documents are attached.",
                    id=self.download_id,
                )
            )
        else:
            bill = self._l10n_ro_anaf_efactura_create_bill(client, answer, summary, name)
        zip_attachment.write({"res_model": "account.move", "res_id": bill.id})
        bill.write({"l10n_ro_anaf_efactura_download_id": self.download_id, "l10n_ro_anaf_efactura_index": self.index})
        self.write({"state": "done", "move_id": bill.id, "zip_attachment_id": zip_attachment.id})

    def _l10n_ro_anaf_efactura_create_bill(self, client, answer, summary, name):
        """A new bill from ANAF's XML (Odoo's UBL import), with ANAF's PDF when the supplier sent none."""
        xml_attachment = (
            self.env["ir.attachment"]
            .sudo()
            .create({"name": f"{name}.xml", "raw": answer.xml, "mimetype": "application/xml"})
        )
        journal = self.company_id.l10n_ro_anaf_efactura_purchase_journal_id
        bill = (
            self.env["account.journal"]
            .browse(journal.ids)
            .with_company(self.company_id)
            .with_context(
                default_move_type="in_refund" if summary.is_credit_note else "in_invoice",
                allowed_company_ids=[self.company_id.id],
            )
            ._create_document_from_attachment(xml_attachment.ids)
        )
        if not summary.has_pdf and self.company_id.l10n_ro_anaf_efactura_anaf_pdf:
            self._l10n_ro_anaf_efactura_attach_anaf_pdf(client, answer, summary, name, bill)
        return bill

    def _l10n_ro_anaf_efactura_attach_anaf_pdf(self, client, answer, summary, name, bill):
        """ANAF's rendering of the XML (transformare): a convenience, the bill stays without it."""
        try:
            pdf = client.transform(answer.xml, "FCN" if summary.is_credit_note else "FACT1", validate=False)
        except einvoice_errors.EInvoiceError as exc:
            bill.message_post(body=_("ANAF's PDF could not be obtained: %(error)s", error=error_text(self.env, exc)))
            return
        self.env["ir.attachment"].sudo().create(
            {
                "name": f"anaf_{name}.pdf",
                "raw": pdf,
                "mimetype": "application/pdf",
                "res_model": "account.move",
                "res_id": bill.id,
            }
        )

    def _check_cif(self, cif):
        """A message's documents are stored on a company's rows only when they are addressed to its CIF."""
        own = normalise_cif(self.company_id.vat or self.company_id.company_registry or "")
        if not own or normalise_cif(cif or "") != own:
            raise UserError(
                _(
                    "ANAF message %(id)s is addressed to CIF %(cif)s, not to %(company)s (%(own)s); nothing was kept.",
                    id=self.download_id,
                    cif=cif or "-",
                    company=self.company_id.name,
                    own=own or "-",
                )
            )

    def _l10n_ro_anaf_efactura_find_manual_bill(self, summary):
        """A bill entered by hand: same supplier VAT, number and amount, not yet linked to ANAF."""
        if not summary.supplier_vat or not summary.number:
            return self.env["account.move"]
        candidates = self.env["account.move"].search(
            [
                ("company_id", "=", self.company_id.id),
                ("move_type", "in", ("in_invoice", "in_refund")),
                ("ref", "=", summary.number),
                ("l10n_ro_anaf_efactura_download_id", "=", False),
                ("state", "!=", "cancel"),
            ]
        )
        for bill in candidates:
            vat = normalise_cif(bill.commercial_partner_id.vat or bill.commercial_partner_id.company_registry or "")
            precision = bill.currency_id.decimal_places
            if (
                vat == summary.supplier_vat
                and float_compare(
                    bill.amount_total,
                    float(summary.payable),
                    precision_digits=precision,
                )
                == 0
            ):
                return bill
        return self.env["account.move"]

    def _l10n_ro_anaf_efactura_match_error(self):
        Document = self.env["l10n_ro_anaf_efactura.document"]
        document = Document.search(
            [("index", "=", self.index), ("company_id", "=", self.company_id.id)],
            limit=1,
        )
        if not document:
            self.write(
                {
                    "state": "ignored",
                    "error": _("No invoice of ours has this upload index."),
                }
            )
            return
        self._check_cif(self.cif)
        self.move_id = document.move_id
        if document.state in ("sent", "unknown"):
            _client, answer = self._download()
            document._l10n_ro_anaf_efactura_conclude(_Final("nok", self.download_id, answer))
        self.state = "done"

    # -- cron ------------------------------------------------------------------------------
    @api.model
    def _cron_l10n_ro_anaf_efactura_receive(self, limit=300, now=None):
        """List every served company's SPV messages, then turn them into bills / rejections."""
        now = now or fields.Datetime.now()
        credentials = (
            self.env["einvoice.credential"].sudo().search([("service", "=", "anaf"), ("state", "=", "connected")])
        )
        for credential in credentials:
            for company in credential.company_ids | credential.company_id:
                if company.account_fiscal_country_id.code != "RO":
                    continue
                try:
                    self._l10n_ro_anaf_efactura_sync(credential, company, now)
                except einvoice_errors.EInvoiceError as exc:  # the next run catches up from the last sync
                    _logger.warning("ANAF message list of %s failed: %s", company.name, exc)
        todo = self.search([("state", "=", "new")], limit=limit, order="created, id")
        todo._l10n_ro_anaf_efactura_process()
        remaining = self.search_count([("state", "=", "new")])
        if len(todo) >= limit and self.env["einvoice.credential"]._einvoice_can_commit():
            self.env.ref("l10n_ro_anaf_efactura.ir_cron_l10n_ro_anaf_efactura_receive")._trigger()
        return remaining

    def action_l10n_ro_anaf_efactura_retry(self):
        """Process failed messages again: rows are the system's, so after the caller's rights are checked the
        work runs as superuser."""
        if not self.env.user.has_group("account.group_account_invoice"):
            raise AccessError(_("Only invoicing users may process ANAF messages again."))
        self.check_access("read")  # company rules: the caller's companies only
        failed = self.sudo().filtered(lambda m: m.state == "error")
        failed.write({"state": "new", "error": False})
        failed._l10n_ro_anaf_efactura_process()
        return True


def _now_ms():
    return int(time.time() * 1000)


def _anaf_datetime(value):
    """ANAF's yyyyMMddHHmm (Bucharest time) as naive UTC."""
    try:
        local = datetime.strptime(value, "%Y%m%d%H%M").replace(tzinfo=quota.BUCHAREST)
    except (TypeError, ValueError):
        return False
    return local.astimezone(timezone.utc).replace(tzinfo=None)
