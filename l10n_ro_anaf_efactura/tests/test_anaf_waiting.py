from urllib.parse import parse_qs, urlsplit

import requests

from odoo.exceptions import UserError
from odoo.tests import tagged
from odoo.tools import mute_logger

from .common import AnafCommon


class RevokeAfter:
    """WSGI wrapper: after `uploads` uploads, the certificate holder revokes every token at ANAF."""

    def __init__(self, app, uploads):
        self.app, self.left = app, uploads

    def __call__(self, environ, start_response):
        if "/upload" in environ.get("PATH_INFO", "") and environ.get("REQUEST_METHOD") == "POST":
            if self.left == 0:
                self.app.state.revoke_all()
            self.left -= 1
        return self.app(environ, start_response)

    def __getattr__(self, name):
        return getattr(self.app, name)


@tagged("post_install", "post_install_l10n", "-at_install")
class TestAnafWaitingForTheConnection(AnafCommon):
    """A dead connection never marks the invoices it blocks; re-authenticating sends them at once."""

    def _authenticate_at_the_sandbox(self):
        url = self.credential._l10n_ro_anaf_efactura_authorize_url()
        self.app.state.decision = "approve"
        try:
            answer = requests.get(url, allow_redirects=False, timeout=10)
        finally:
            self.app.state.decision = None
        code = parse_qs(urlsplit(answer.headers["Location"]).query)["code"][0]
        return self.credential._l10n_ro_anaf_efactura_authenticated(code)

    def _cron_triggers(self):
        cron = self.env.ref("l10n_ro_anaf_efactura.ir_cron_l10n_ro_anaf_efactura_status")
        return self.env["ir.cron.trigger"].sudo().search([("cron_id", "=", cron.id)])

    def test_revoked_refresh_token_mid_batch_waits_then_goes_out_after_authenticate(self):
        moves = self.env["account.move"]
        for n in range(10):
            moves |= self.make_invoice(500 + n)
        self.faults.app = RevokeAfter(self.app, uploads=3)
        with mute_logger("odoo.addons.einvoice_common.models.einvoice_credential"):
            moves.action_l10n_ro_anaf_efactura_send()
        states = moves.mapped("l10n_ro_anaf_efactura_state")
        self.assertEqual(states.count("sent"), 3, states)
        self.assertEqual(states.count("waiting"), 7, states)
        waiting = moves.l10n_ro_anaf_efactura_document_ids.filtered(lambda d: d.state == "waiting")
        self.assertEqual(set(waiting.mapped("waiting_reason")), {"connection"})
        for document in waiting:
            self.assertIn("authenticate", document.message)
            self.assertNotIn("ANAF said", document.message)  # Odoo's own situation, not ANAF's answer
        self.assertEqual(len(self.app.state.uploads), 3)
        self.assertEqual(self.app.state.token_calls, ["refresh_token"])  # one refresh, not one per invoice
        self.assertEqual(self.credential.state, "expired")
        self.assertEqual(len(self.credential.activity_ids), 1)
        # nothing is "interrupted" or swept to unknown while the connection is down
        self.run_status_cron(minutes=1)
        self.assertEqual(set(waiting.mapped("state")), {"waiting"})
        self.assertEqual(len(self.app.state.uploads), 3)

        self._cron_triggers().unlink()
        self.assertTrue(self._authenticate_at_the_sandbox())
        self.assertEqual(self.credential.state, "connected")
        self.assertTrue(self._cron_triggers(), "the send cron is triggered right after the authentication")
        self.env["l10n_ro_anaf_efactura.document"]._cron_l10n_ro_anaf_efactura_status()  # now, not in 10 minutes
        self.assertEqual(set(moves.mapped("l10n_ro_anaf_efactura_state")), {"sent"})
        numbers = [upload.number for upload in self.app.state.uploads.values()]
        self.assertEqual(sorted(numbers), sorted(moves.mapped("name")))  # each once

    def test_no_token_at_all_gives_one_clear_message(self):
        self.credential.sudo().write({"access_token": False, "refresh_token": False, "state": "draft"})
        move = self.make_invoice(520)
        move.action_l10n_ro_anaf_efactura_send()
        self.assertEqual(move.l10n_ro_anaf_efactura_state, "waiting")
        message = move.l10n_ro_anaf_efactura_message
        self.assertEqual(message.count("\n"), 0, message)
        self.assertIn(self.credential.name, message)
        self.assertNotIn("ANAF said", message)
        self.assertFalse(self.app.state.token_calls)
        self.assertFalse(self.app.state.uploads)

    def test_ask_anaf_now_says_what_anaf_answered(self):
        move = self.make_invoice(530)
        move.action_l10n_ro_anaf_efactura_send()
        action = move.action_l10n_ro_anaf_efactura_check()
        self.assertEqual(action["tag"], "display_notification")
        label = dict(move._fields["l10n_ro_anaf_efactura_state"]._description_selection(self.env))
        self.assertIn(f"{move.name}: {label[move.l10n_ro_anaf_efactura_state]}", action["params"]["message"])
        self.assertTrue(any(op == "stareMesaj" for op, _p in self.app.state.calls))

    def test_success_in_an_unexpected_shape_is_unknown_then_reconciled_with_one_upload(self):
        move = self.make_invoice(540)
        self.app.state.upload_dialect = "unexpected"  # ANAF registered it; the answer names the index otherwise
        move.action_l10n_ro_anaf_efactura_send()
        document = move.l10n_ro_anaf_efactura_document_ids
        self.assertEqual(document.state, "unknown")  # never "error": the invoice may be at ANAF
        self.assertIn("being confirmed with ANAF", move.l10n_ro_anaf_efactura_message)
        with self.assertRaises(UserError):
            move.action_l10n_ro_anaf_efactura_send()  # no second upload is offered while it is unknown
        self.app.state.upload_dialect = None
        self.run_status_cron(minutes=5)  # the engine's lookup finds it in ANAF's list
        self.assertEqual(move.l10n_ro_anaf_efactura_state, "ok")
        self.assertEqual(len(self.uploads(move)), 1)
        self.assertEqual(document.index, self.uploads(move)[0].index)
        self.assertTrue(document.zip_attachment_id)

    def test_gateway_json_upload_answer_is_read_as_sent(self):
        move = self.make_invoice(541)
        self.app.state.upload_dialect = "json"
        move.action_l10n_ro_anaf_efactura_send()
        self.assertEqual(move.l10n_ro_anaf_efactura_state, "sent")
        self.assertEqual(move.l10n_ro_anaf_efactura_index, self.uploads(move)[0].index)
