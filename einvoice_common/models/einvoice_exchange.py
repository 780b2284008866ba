import logging
from datetime import timedelta

from odoo import api, fields, models

_logger = logging.getLogger(__name__)

OUTCOMES = [
    ("ok", "OK"),
    ("transient", "Temporary error"),
    ("auth", "Authentication refused"),
    ("rejected", "Rejected"),
    ("unknown", "Outcome unknown"),
    ("protocol", "Unreadable answer"),
]


class EinvoiceExchange(models.Model):
    """One HTTP attempt with an e-invoicing service, already redacted by the transport."""

    _name = "einvoice.exchange"
    _description = "E-invoicing exchange"
    _order = "id desc"
    _rec_name = "operation"

    credential_id = fields.Many2one("einvoice.credential", ondelete="set null", index=True)
    company_id = fields.Many2one("res.company", index=True)
    service = fields.Char(required=True)
    operation = fields.Char(required=True)
    method = fields.Char()
    url = fields.Char("URL")
    attempt = fields.Integer(default=1)
    res_model = fields.Char("Document model", index=True)
    res_id = fields.Many2oneReference("Document", model_field="res_model", index=True)
    reference = fields.Char(index=True, help="The business key of the call: invoice number, hub id ...")
    status_code = fields.Integer("HTTP status")
    duration_ms = fields.Integer("Duration (ms)")
    outcome = fields.Selection(OUTCOMES, required=True, default="ok", index=True)
    error = fields.Text()
    request_headers = fields.Text()
    request_body = fields.Text()
    response_body = fields.Text()
    request_attachment_id = fields.Many2one("ir.attachment", ondelete="set null")
    response_attachment_id = fields.Many2one("ir.attachment", ondelete="set null")

    @api.model
    def _einvoice_recorder(self, credential, record=None, operation_prefix="", company=None):
        """A callback for Transport(recorder=...) writing one row per attempt.

        The row belongs to the company served by the call (the document's, or the one the
        caller names), not to the connection's main company: a shared connection's calls
        stay visible to the company they were made for, and to it only.
        """
        env = self.env
        company_id = self._einvoice_company_served(credential, record, company)

        def record_exchange(exchange):
            values = self._einvoice_exchange_values(credential, record, company_id, exchange, operation_prefix)
            row = env["einvoice.exchange"].sudo().create(values)
            row._einvoice_attach_payloads(exchange)
            credential._einvoice_note_outcome(exchange.outcome)

        return record_exchange

    @api.model
    def _einvoice_record_many(self, credential, recorded, operation_prefix=""):
        """Write the rows of several attempts, `recorded` = [(record, exchange)], in one create: for
        calls made by worker threads (no ORM there), written afterwards by the caller's thread."""
        if not recorded:
            return self.browse()
        served = {}
        values = []
        for record, exchange in recorded:
            key = (record._name, record.id) if record else None
            if key not in served:
                served[key] = self._einvoice_company_served(credential, record)
            values.append(self._einvoice_exchange_values(credential, record, served[key], exchange, operation_prefix))
        rows = self.sudo().create(values)
        for row, (_record, exchange) in zip(rows, recorded, strict=True):
            if exchange.request_payload or exchange.response_payload:
                row._einvoice_attach_payloads(exchange)
        if any(exchange.outcome == "ok" for _record, exchange in recorded):
            credential._einvoice_note_outcome("ok")  # what one successful call says
        return rows

    @api.model
    def _einvoice_exchange_values(self, credential, record, company_id, exchange, operation_prefix=""):
        return {
            "credential_id": credential.id,
            "company_id": company_id,
            "service": credential.service,
            "operation": operation_prefix + exchange.operation,
            "method": exchange.method,
            "url": exchange.url,
            "attempt": exchange.attempt,
            "res_model": record._name if record else False,
            "res_id": record.id if record else False,
            "reference": exchange.reference,
            "status_code": exchange.status,
            "duration_ms": exchange.duration_ms,
            "outcome": exchange.outcome,
            "error": exchange.error,
            "request_headers": "\n".join(f"{k}: {v}" for k, v in exchange.request_headers.items()),
            "request_body": exchange.request_body,
            "response_body": exchange.response_body,
        }

    @api.model
    def _einvoice_company_served(self, credential, record=None, company=None):
        """The company named by the caller, else the record's (a company record: itself), else the
        current company when the connection serves it, else the connection's."""
        if company:
            return company.id
        if record and record._name == "res.company":
            return record.id
        if record and record._name != "einvoice.credential" and "company_id" in record._fields and record.company_id:
            return record.company_id.id
        served = credential.company_ids | credential.company_id
        if self.env.company in served:
            return self.env.company.id
        return credential.company_id.id

    def _einvoice_attach_payloads(self, exchange):
        for kind, payload in (
            ("request", exchange.request_payload),
            ("response", exchange.response_payload),
        ):
            if not payload:
                continue
            attachment = (
                self.env["ir.attachment"]
                .sudo()
                .create(
                    {
                        "name": f"{self.operation}-{kind}-{self.id}",
                        "raw": payload,
                        "res_model": self._name,
                        "res_id": self.id,
                    }
                )
            )
            self[f"{kind}_attachment_id"] = attachment

    def action_einvoice_open_document(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "res_model": self.res_model,
            "res_id": self.res_id,
            "view_mode": "form",
        }

    @api.model
    def _cron_einvoice_purge_exchanges(self, limit=10000):
        """Delete exchange rows past the retention period (documents keep their own files)."""
        days = int(self.env["ir.config_parameter"].sudo().get_param("einvoice.exchange_retention_days", 180))
        cutoff = fields.Datetime.now() - timedelta(days=days)
        old = self.sudo().search([("create_date", "<", cutoff)], limit=limit)
        attachments = old.request_attachment_id | old.response_attachment_id
        old.unlink()
        attachments.unlink()
        if len(old) == limit:
            self.env.ref("einvoice_common.ir_cron_einvoice_purge_exchanges")._trigger()
        return len(old)


class EinvoiceExchangeMixin(models.AbstractModel):
    """Smart button 'Exchanges' for any document that talks to a service."""

    _name = "einvoice.exchange.mixin"
    _description = "E-invoicing exchanges of a document"

    einvoice_exchange_count = fields.Integer("Exchanges", compute="_compute_einvoice_exchange_count")

    def _einvoice_exchange_domain(self):
        return [("res_model", "=", self._name), ("res_id", "in", self.ids)]

    def _compute_einvoice_exchange_count(self):
        rows = (
            self.env["einvoice.exchange"].sudo()._read_group(self._einvoice_exchange_domain(), ["res_id"], ["__count"])
        )
        counts = dict(rows)
        for record in self:
            record.einvoice_exchange_count = counts.get(record.id, 0)

    def action_einvoice_view_exchanges(self):
        action = self.env["ir.actions.act_window"]._for_xml_id("einvoice_common.einvoice_exchange_action")
        action["domain"] = self._einvoice_exchange_domain()
        action["context"] = {}
        return action
