import threading

from odoo import Command
from odoo.tests import tagged

from .common import DemoServiceCase


@tagged("post_install", "-at_install")
class TestIdempotentSend(DemoServiceCase):
    """Two workers try to send the same move at once: one call reaches the service."""

    def _send(self, env, move_id, credential_id):
        """The pattern every service follows: lock, check, record intent, call, store."""
        Credential = env["einvoice.credential"]
        move = Credential._einvoice_lock_skip_locked(env["account.move"].browse(move_id))
        if not move or move.ref:
            return "skipped"
        move.ref = "sending"  # intent, committed before the call outside tests
        credential = Credential.browse(credential_id)
        with credential._einvoice_transport(auth=credential._einvoice_bearer_auth(), record=move) as transport:
            answer = transport.json(
                transport.post(
                    "/documents",
                    operation="send",
                    json={"reference": move.name},
                    reference=move.name,
                )
            )
        move.ref = f"sent:{answer['id']}"
        return "sent"

    def test_two_cursors_sending_one_move_make_one_call(self):
        with self.committed_env() as env:
            journal = env["account.journal"].search(
                [("type", "=", "general"), ("company_id", "=", env.company.id)], limit=1
            )
            account = env["account.account"].search([("company_ids", "in", env.company.id)], limit=1)
            move = env["account.move"].create(
                {
                    "move_type": "entry",
                    "journal_id": journal.id,
                    "line_ids": [
                        Command.create({"account_id": account.id, "debit": 10.0}),
                        Command.create({"account_id": account.id, "credit": 10.0}),
                    ],
                }
            )
            move_id = move.id
            credential_id = env["einvoice.credential"].create(self._credential_values()).id
        self.addCleanup(self._cleanup, move_id, credential_id)
        self.faults.inject("slow", seconds=0.5, path="/documents")  # keep the first sender inside its call
        barrier = threading.Barrier(2)
        outcomes, failures = [], []

        def worker():
            try:
                with self.registry.cursor() as cr:
                    env = self.env_for(cr)
                    barrier.wait(5)
                    outcomes.append(self._send(env, move_id, credential_id))
            except Exception as exc:  # reported below
                failures.append(exc)

        threads = [threading.Thread(target=worker) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        self.assertFalse(failures)
        self.assertEqual(sorted(outcomes), ["sent", "skipped"])
        self.assertEqual(self.faults.calls_to("/documents", "POST"), 1)
        with self.committed_env() as env:
            self.assertTrue(env["account.move"].browse(move_id).ref.startswith("sent:"))

    def _cleanup(self, move_id, credential_id):
        with self.committed_env() as env:
            env["einvoice.exchange"].search([("credential_id", "=", credential_id)]).unlink()
            env["account.move"].browse(move_id).unlink()
            env["einvoice.credential"].browse(credential_id).unlink()
