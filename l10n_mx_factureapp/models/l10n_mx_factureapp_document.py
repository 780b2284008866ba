import base64
import hashlib

from odoo import api, fields, models

STATES = [
    ("sending", "Sending"),
    ("unknown", "Stamp outcome unknown"),
    ("stamped", "Stamped"),
    ("error", "Error"),
    ("retried", "Retried"),
]


class L10nMxFactureappDocument(models.Model):
    """One stamping attempt of a CFDI (invoice, credit note or payment complement).

    The exact pre-CFDI bytes are stored *before* the call (`payload_id`) and are the bytes
    resent on any retry of an attempt whose outcome is unknown: never regenerated.
    """

    _name = "l10n_mx_factureapp.document"
    _description = "Facture APP stamping attempt"
    _inherit = ["einvoice.exchange.mixin"]
    _order = "id desc"

    move_id = fields.Many2one("account.move", required=True, ondelete="cascade", index=True)
    company_id = fields.Many2one(related="move_id.company_id", store=True, index=True)
    credential_id = fields.Many2one("einvoice.credential", ondelete="set null")
    branch_id = fields.Many2one("l10n_mx_factureapp.branch", ondelete="set null")
    kind = fields.Selection([("I", "Ingreso"), ("E", "Egreso"), ("P", "Pago")], required=True)
    state = fields.Selection(STATES, required=True, default="sending", index=True)
    channel = fields.Selection(
        [("single", "One by one"), ("bulk", "Bulk ZIP")],
        default="single",
        required=True,
    )
    bulk_filename = fields.Char(help="Name of the file inside the bulk ZIP.")
    bulk_batch = fields.Char(index=True, help="Identifier of the bulk ZIP this attempt went in.")
    series = fields.Char()
    number = fields.Char()
    payload_id = fields.Many2one("ir.attachment", string="Sent pre-CFDI", ondelete="restrict")
    payload_sha256 = fields.Char("SHA-256 of the sent XML", index=True)
    retry_of_id = fields.Many2one("l10n_mx_factureapp.document", string="Retry of", ondelete="set null")
    invoice_ids = fields.Many2many(
        "account.move",
        "l10n_mx_factureapp_document_invoice_rel",
        "document_id",
        "invoice_id",
        string="Paid invoices",
        help="For a payment complement: the invoices it reports (one DoctoRelacionado each).",
    )
    uuid = fields.Char("UUID (folio fiscal)", index=True)
    stamped_xml_id = fields.Many2one(
        "ir.attachment",
        string="Stamped CFDI",
        ondelete="restrict",
        help="The stamped XML as Facture APP returned it, kept on the attempt as soon as it arrived.",
    )
    message = fields.Text()
    error_code = fields.Char()

    @api.model
    def _l10n_mx_factureapp_create_attempt(
        self,
        move,
        xml,
        kind,
        credential,
        branch,
        series="",
        number="",
        channel="single",
        retry_of=None,
    ):
        """Record the intent with the exact bytes before anything is sent."""
        attachment = self.env["ir.attachment"].create(
            {
                "name": f"{(move.name or 'cfdi').replace('/', '_')}_precfdi.xml",
                "raw": xml,
                "mimetype": "application/xml",
                "res_model": "account.move",
                "res_id": move.id,
            }
        )
        return self.sudo().create(  # attempts are written by the system only (the caller may stamp the move)
            {
                "move_id": move.id,
                "kind": kind,
                "credential_id": credential.id,
                "branch_id": branch.id,
                "series": series,
                "number": number,
                "payload_id": attachment.id,
                "payload_sha256": hashlib.sha256(xml).hexdigest(),
                "channel": channel,
                "retry_of_id": retry_of.id if retry_of else False,
            }
        )

    def _l10n_mx_factureapp_payload(self):
        """The exact bytes sent (verified against the recorded hash)."""
        self.ensure_one()
        data = self.payload_id.raw or base64.b64decode(self.payload_id.datas or b"")
        if hashlib.sha256(data).hexdigest() != self.payload_sha256:
            raise ValueError("stored pre-CFDI does not match its hash")
        return data

    def _l10n_mx_factureapp_resend_count(self):
        """How many times these bytes were already sent again."""
        self.ensure_one()
        count, doc = 0, self.retry_of_id
        while doc:
            count, doc = count + 1, doc.retry_of_id
        return count
