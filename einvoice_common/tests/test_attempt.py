import hashlib
import threading
from datetime import timedelta

from odoo import Command, fields
from odoo.tests import tagged

from ..einvoice import oauth2
from .common import DemoServiceCase


class AttemptCase(DemoServiceCase):
    def setUp(self):
        super().setUp()
        self.service.dialect = "standard"
        self.service.documents.clear()
        self.service.bodies.clear()
        self.faults.calls.clear()
        self.credential = self.make_credential()
        self.move = self.make_move(self.env)
        self.Attempt = self.env["einvoice.demo.attempt"]

    @staticmethod
    def make_move(env):
        journal = env["account.journal"].search(
            [("type", "=", "general"), ("company_id", "=", env.company.id)], limit=1
        )
        account = env["account.account"].search([("company_ids", "in", env.company.id)], limit=1)
        return env["account.move"].create(
            {
                "move_type": "entry",
                "journal_id": journal.id,
                "ref": "demo attempt",
                "line_ids": [
                    Command.create({"account_id": account.id, "debit": 10.0}),
                    Command.create({"account_id": account.id, "credit": 10.0}),
                ],
            }
        )

    def start(self, move=None):
        values = {"move_id": (move or self.move).id, "credential_id": self.credential.id}
        attempts, errors = self.Attempt._einvoice_attempt_start([values])
        return attempts, errors

    def posts(self):
        return self.faults.calls_to("/documents", "POST")

    def run_cron_now(self, attempt):
        attempt.write({"next_check": fields.Datetime.now() - timedelta(seconds=1)})
        self.Attempt._einvoice_attempt_cron()


@tagged("post_install", "-at_install")
class TestAttempt(AttemptCase):
    def test_clear_success_is_accepted_and_bytes_are_the_stored_ones(self):
        attempt, errors = self.start()
        self.assertEqual(errors, {})
        self.assertEqual(attempt.state, "accepted")
        self.assertEqual(self.posts(), 1)
        self.assertEqual(self.service.bodies[-1], attempt.payload_attachment_id.raw)
        self.assertEqual(hashlib.sha256(self.service.bodies[-1]).hexdigest(), attempt.payload_sha256)
        self.assertEqual(attempt.service_reference, str(self.service.documents[-1]["id"]))
        self.assertTrue(attempt.einvoice_exchange_count)

    def test_success_in_unexpected_shape_is_unknown_then_reconciled(self):
        self.service.dialect = "wrapped"
        attempt, errors = self.start()
        self.assertEqual(errors, {}, "an unclear success is never an error")
        self.assertEqual(attempt.state, "unknown")
        self.assertTrue(attempt.einvoice_attempt_blocking)
        self.assertIn("Outcome being confirmed with Demo service, next check at", attempt.einvoice_attempt_status)
        # no second payload, no second attempt while the outcome is being confirmed
        again, errors = self.start()
        self.assertFalse(again)
        self.assertIn("Outcome being confirmed", errors[self.move][0])
        self.service.dialect = "standard"
        self.run_cron_now(attempt)
        self.assertEqual(attempt.state, "accepted")
        self.assertEqual(self.posts(), 1, "reconciled, not resent")
        self.assertEqual(len(self.service.documents), 1)

    def test_lost_answer_of_a_document_never_received_is_resent_once_identical(self):
        self.faults.inject("reset", path="/documents", method="POST")  # dropped before the service acted
        attempt, _errors = self.start()
        self.assertEqual(attempt.state, "unknown")
        self.assertEqual(self.service.documents, [])
        sha = attempt.payload_sha256
        self.run_cron_now(attempt)
        self.assertEqual(attempt.state, "accepted")
        self.assertEqual(self.posts(), 2, "one call lost, one automatic resend")
        self.assertEqual(len(self.service.bodies), 1)
        self.assertEqual(hashlib.sha256(self.service.bodies[0]).hexdigest(), sha, "the same bytes")
        self.assertEqual(attempt.payload_sha256, sha)
        self.assertEqual(attempt.attempts, 2)

    def test_lost_answer_of_a_document_received_is_not_resent(self):
        self.faults.inject("lost", path="/documents", method="POST")  # the service acted, answer lost
        attempt, _errors = self.start()
        self.assertEqual(attempt.state, "unknown")
        self.run_cron_now(attempt)
        self.assertEqual(attempt.state, "accepted")
        self.assertEqual(self.posts(), 1)
        self.assertEqual(len(self.service.documents), 1)

    def test_5xx_after_sending_and_html_pages_are_unknown_never_error(self):
        for fault in ({"kind": "status", "status": 500}, {"kind": "html", "status": 502}):
            move = self.make_move(self.env)
            self.faults.inject(path="/documents", method="POST", **fault)
            attempt, errors = self.start(move)
            self.assertEqual((attempt.state, errors), ("unknown", {}), fault)

    def test_clear_refusal_is_error_with_advice_by_code(self):
        self.env["einvoice.error.advice"].create(
            {"service": "demo", "code": "injected fault", "advice": "Fix the amount, then send again."}
        )
        self.faults.inject("status", status=422, path="/documents", method="POST")
        attempt, errors = self.start()
        self.assertEqual(attempt.state, "error")
        self.assertIn("Fix the amount, then send again.", errors[self.move][0])
        self.assertFalse(attempt.einvoice_attempt_blocking)
        # a fixed document may go again, as a NEW attempt
        again, errors = self.start()
        self.assertEqual((again.state, errors), ("accepted", {}))
        self.assertNotEqual(again, attempt)

    def test_auth_failure_waits_then_goes_right_after_the_token(self):
        self.credential.write(
            {"access_token_expires_at": fields.Datetime.now() - timedelta(hours=1), "refresh_token": "revoked"}
        )
        attempt, errors = self.start()
        self.assertEqual((attempt.state, attempt.waiting_reason, errors), ("waiting", "connection", {}))
        self.assertEqual(self.posts(), 0)
        self.assertGreater(attempt.next_check, fields.Datetime.now())
        cron = self.env.ref("einvoice_common.ir_cron_einvoice_demo_attempt")
        cron.active = True  # shipped inactive: only the demo service uses it
        triggers = self.env["ir.cron.trigger"].search_count([("cron_id", "=", cron.id)])
        with self.credential._einvoice_transport() as transport:  # the administrator authenticates
            tokens = oauth2.exchange_code(
                transport, "/oauth/token", "client", "secret", "good-code", "http://x/cb", fields.Datetime.now()
            )
        self.credential._einvoice_store_tokens(tokens)
        self.assertLessEqual(attempt.next_check, fields.Datetime.now())
        self.assertGreater(self.env["ir.cron.trigger"].search_count([("cron_id", "=", cron.id)]), triggers)
        self.Attempt._einvoice_attempt_cron()
        self.assertEqual(attempt.state, "accepted")
        self.assertEqual(self.posts(), 1)

    def test_no_connection_waits(self):
        attempt, errors = self.Attempt._einvoice_attempt_start([{"move_id": self.move.id}])
        self.assertEqual((attempt.state, attempt.waiting_reason, errors), ("waiting", "connection", {}))

    def test_stale_sending_is_swept_then_reconciled(self):
        attempt = self.Attempt.create({"move_id": self.move.id, "credential_id": self.credential.id})
        payload, name = attempt._einvoice_attempt_build_payload()
        attempt._einvoice_attempt_store_payload(payload, name)
        attempt.write({"state": "sending", "sending_since": fields.Datetime.now() - timedelta(hours=1)})
        self.Attempt._einvoice_attempt_cron()
        self.assertEqual(attempt.state, "accepted")  # never received: sent once, the stored bytes
        self.assertEqual(self.service.bodies, [payload])

    def test_error_text_from_the_service_is_redacted(self):
        secret = self.credential.sudo().access_token
        echo = f'{{"error": "bad", "echo": "Authorization: Bearer {secret}", "refresh_token": "r-123456"}}'
        self.faults.inject("body", status=400, body=echo.encode(), path="/documents", method="POST")
        attempt, errors = self.start()
        self.assertEqual(attempt.state, "error")
        exchange = self.env["einvoice.exchange"].search(
            [("res_model", "=", attempt._name), ("res_id", "=", attempt.id)]
        )
        for text in (attempt.message, errors[self.move][0], exchange.error, exchange.response_body):
            self.assertNotIn(secret, text)
            self.assertNotIn("r-123456", text)


@tagged("post_install", "-at_install")
class TestAttemptConcurrency(AttemptCase):
    """Real cursors, committed data: two workers at once."""

    def setUp(self):
        super().setUp()
        with self.committed_env() as env:
            self.move_id = self.make_move(env).id
            self.credential_id = env["einvoice.credential"].create(self._credential_values()).id
        self.addCleanup(self._cleanup)

    def _cleanup(self):
        with self.committed_env() as env:
            attempts = env["einvoice.demo.attempt"].search([("move_id", "=", self.move_id)])
            env["einvoice.exchange"].search([("credential_id", "=", self.credential_id)]).unlink()
            env["ir.attachment"].search(
                [("res_model", "=", "einvoice.demo.attempt"), ("res_id", "in", attempts.ids)]
            ).unlink()
            attempts.unlink()
            env["account.move"].browse(self.move_id).unlink()
            env["einvoice.credential"].browse(self.credential_id).unlink()

    def in_threads(self, work, count=2):
        barrier = threading.Barrier(count)
        failures, results = [], []

        def worker():
            try:
                with self.registry.cursor() as cr:
                    env = self.env_for(cr, {"einvoice_own_cursor": True})
                    barrier.wait(5)
                    results.append(work(env))
            except Exception as exc:  # reported below
                failures.append(exc)

        threads = [threading.Thread(target=worker) for _ in range(count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        self.assertFalse([t for t in threads if t.is_alive()], "a worker did not finish")
        self.assertFalse(failures)
        return results

    def test_two_workers_claiming_one_attempt_make_one_call(self):
        with self.committed_env() as env:
            attempt_id = (
                env["einvoice.demo.attempt"]
                .create(
                    {"move_id": self.move_id, "credential_id": self.credential_id, "next_check": fields.Datetime.now()}
                )
                .id
            )
        self.faults.inject("slow", seconds=0.5, path="/documents")  # the first worker stays inside its call
        self.in_threads(lambda env: env["einvoice.demo.attempt"].browse(attempt_id)._einvoice_attempt_process())
        self.assertEqual(self.posts(), 1, list(self.faults.calls))
        with self.committed_env() as env:
            self.assertEqual(env["einvoice.demo.attempt"].browse(attempt_id).state, "accepted")

    def test_two_users_starting_one_document_make_one_attempt(self):
        def start(env):
            values = [{"move_id": self.move_id, "credential_id": self.credential_id}]
            return env["einvoice.demo.attempt"]._einvoice_attempt_start(values)[1]

        self.faults.inject("slow", seconds=0.3, path="/documents")
        results = self.in_threads(start)
        self.assertEqual(self.posts(), 1)
        self.assertEqual(sorted(bool(errors) for errors in results), [False, True])
        with self.committed_env() as env:
            attempts = env["einvoice.demo.attempt"].search([("move_id", "=", self.move_id)])
            self.assertEqual(attempts.mapped("state"), ["accepted"])
