import json

from odoo import _, fields, models


def _error_parser(response):
    """The demo service's error body: {"error": code, "error_description": text}."""
    body = response.json()
    return body.get("error"), body.get("error_description", ""), []


class EinvoiceDemoAttempt(models.Model):
    """The reference implementation of einvoice.attempt, against the demo service.

    Used by einvoice_common's tests and as the example of readme/ATTEMPT.md: each hook is
    a few lines, the engine does the rest.
    """

    _name = "einvoice.demo.attempt"
    _description = "Demo service submission"
    _inherit = ["einvoice.attempt"]
    _order = "id desc"
    _einvoice_attempt_subject = "move_id"
    _einvoice_attempt_cron_xmlid = "einvoice_common.ir_cron_einvoice_demo_attempt"

    move_id = fields.Many2one("account.move", required=True, ondelete="cascade", index=True, readonly=True)
    company_id = fields.Many2one(related="move_id.company_id", store=True, index=True)

    def _einvoice_demo_reference(self):
        """The business key the payload carries and the lookup asks for.

        A draft move has no name on 19.0 (False) and "/" on 18.0: both fall back to its id.
        """
        name = self.move_id.name
        return name if name and name != "/" else f"move-{self.move_id.id}"

    def _einvoice_attempt_build_payload(self):
        reference = self._einvoice_demo_reference()
        body = {"reference": reference, "amount": self.move_id.amount_total}
        return json.dumps(body, sort_keys=True).encode(), f"{reference.replace('/', '_')}.json"

    def _einvoice_attempt_transport(self, transport_call):
        credential = self.credential_id
        with credential._einvoice_transport(auth=credential._einvoice_bearer_auth(), record=self) as transport:
            return transport_call(transport)

    def _einvoice_attempt_call(self, payload):
        def call(transport):
            response = transport.post(
                "/documents",
                operation="send",
                data=payload,
                headers={"Content-Type": "application/json"},
                reference=self._einvoice_demo_reference(),
                error_parser=_error_parser,
            )
            return transport.json(response)

        return self._einvoice_attempt_transport(call)

    def _einvoice_attempt_read_answer(self, answer):
        # A success must name the document: anything else is not a clear answer.
        return {"state": "accepted", "service_reference": str(answer["id"]), "message": _("Received by the service.")}

    def _einvoice_attempt_lookup(self):
        def lookup(transport):
            response = transport.get(
                "/documents", operation="lookup", params={"reference": self._einvoice_demo_reference()}
            )
            return transport.json(response)

        found = [d for d in self._einvoice_attempt_transport(lookup) if d.get("sha256") == self.payload_sha256]
        return found[0] if found else None
