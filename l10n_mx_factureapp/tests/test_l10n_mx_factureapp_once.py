"""One CFDI per invoice, whatever the PAC answers and however many runs overlap (issue 9).

Each test drives the sandbox over loopback with a fault placed where a real PAC or network
produced it: a success in a shape the client cannot read, a second run starting while the
first one waits for the PAC, an answer lost for a document the PAC never received, refused
credentials. Stamping goes through einvoice.attempt (l10n_mx_factureapp.document).
"""

import json
import threading
from contextlib import contextmanager

from odoo import SUPERUSER_ID, Command, api, fields
from odoo.tests import tagged
from odoo.tools import mute_logger

from odoo.addons.einvoice_common import compat

from ..factureapp import documents as cfdi
from ..models.l10n_mx_factureapp_document import RESEND_CAP
from .common import FactureAppCommon

STAMP_PATH = "/rest/timbrado/produccion/"


class UnreadableSuccess:
    """WSGI middleware: the PAC stamps, then answers HTTP 200 in a shape no reader can use."""

    def __init__(self, app, body, path=STAMP_PATH):
        self.app = app
        self.body = body if isinstance(body, str) else json.dumps(body)
        self.path = path
        self.armed = True

    def __call__(self, environ, start_response):
        if not (self.armed and environ.get("PATH_INFO") == self.path):
            return self.app(environ, start_response)
        self.armed = False
        b"".join(self.app(environ, lambda *args, **kwargs: None))  # the PAC does it and keeps it
        start_response("200 OK", [("Content-Type", "application/json")])
        return [self.body.encode()]


class DuringStamp:
    """WSGI middleware: runs `hook` when the first stamp request reaches the PAC, then stamps."""

    def __init__(self, app, hook):
        self.app = app
        self.hook = hook

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO") == STAMP_PATH and self.hook:
            hook, self.hook = self.hook, None
            hook()
        return self.app(environ, start_response)


@tagged("post_install", "post_install_l10n", "-at_install")
class TestFactureAppOnce(FactureAppCommon):
    @contextmanager
    def _sandbox_wrapped(self, middleware):
        inner = self.injector.app
        self.injector.app = middleware
        try:
            yield middleware
        finally:
            self.injector.app = inner

    def _assert_one_cfdi(self, move):
        self._stamped_root(move)
        self.assertEqual(list(self.app.cfdis), [move.l10n_mx_factureapp_uuid], "one CFDI at the PAC")
        attempts = move.l10n_mx_factureapp_document_ids
        self.assertEqual(len(attempts), 1, "one attempt: never a second payload")
        self.assertEqual(attempts.state, "accepted")
        self.assertEqual(attempts.uuid, move.l10n_mx_factureapp_uuid)

    def _assert_unknown(self, move):
        attempt = move.l10n_mx_factureapp_document_ids
        self.assertEqual(attempt.state, "unknown")
        self.assertEqual(move.l10n_mx_factureapp_state, "unknown")
        self.assertTrue(move.l10n_mx_factureapp_blocking, "no button offers a resend")
        self.assertIn("Outcome being confirmed with Facture APP", move.l10n_mx_factureapp_error)
        self.assertIn("next check at", move.l10n_mx_factureapp_error)
        self.assertFalse(self.env["account.move.send"]._l10n_mx_factureapp_is_applicable(move))

    def test_success_in_unexpected_shape_is_unknown_then_reconciled(self):
        """HTTP 200 saying 'stamped' in a shape the client cannot read (JSON without the XML, a bare
        OK, an HTML page): unknown, never error; the next press looks the stamp up, one CFDI."""
        bodies = [
            {"succeed": True, "code": "200", "message": "Comprobante timbrado"},
            {"resultado": {"estatus": "timbrado"}},
            ["timbrado"],
        ]
        for fault in bodies + ["no_xml", "text", "html"]:
            with self.subTest(fault=fault):
                self.app.reset()
                move = self._invoice()
                middleware = self.injector.app if isinstance(fault, str) else UnreadableSuccess(self.app, fault)
                self.app.stamp_shape = fault if isinstance(fault, str) else ""
                with self._sandbox_wrapped(middleware), mute_logger("odoo.addons.einvoice_common"):
                    move._l10n_mx_factureapp_stamp()
                self.app.stamp_shape = ""
                self.assertEqual((len(self.app.cfdis), self.app.stamp_calls), (1, 1), "the PAC did stamp")
                self._assert_unknown(move)
                sha = move.l10n_mx_factureapp_document_ids.payload_sha256
                move.action_l10n_mx_factureapp_stamp()  # "check now": looked up, nothing rebuilt
                self.assertEqual(self.app.stamp_calls, 1, "nothing was sent again")
                self._assert_one_cfdi(move)
                self.assertEqual(move.l10n_mx_factureapp_document_ids.payload_sha256, sha)

    def test_unexpected_shape_reconciled_by_the_job(self):
        move = self._invoice()
        body = {"succeed": True, "cfdi_timbrado": None}
        with self._sandbox_wrapped(UnreadableSuccess(self.app, body)), mute_logger("odoo.addons.einvoice_common"):
            move._l10n_mx_factureapp_stamp()
        self._assert_unknown(move)
        self._run_due_attempts()
        self.assertEqual(self.app.stamp_calls, 1)
        self._assert_one_cfdi(move)

    def test_lost_answer_for_a_document_never_received_is_resent_once_by_the_job(self):
        move = self._invoice()
        self.injector.inject("reset", path=STAMP_PATH)  # the connection drops before the PAC reads it
        with mute_logger("odoo.addons.einvoice_common"):
            move._l10n_mx_factureapp_stamp()
        self._assert_unknown(move)
        self.assertFalse(self.app.cfdis)
        attempt = move.l10n_mx_factureapp_document_ids
        sent, sha = attempt._einvoice_attempt_payload(), attempt.payload_sha256
        self._run_due_attempts()  # looks up: unknown to the PAC -> the stored bytes, once
        self._assert_one_cfdi(move)
        self.assertEqual(attempt.attempts, 2, "sent once more, automatically")
        self.assertEqual(self.app.stamp_calls, 1, "the PAC received it once")
        self.assertEqual(self.app.by_digest, {sha: move.l10n_mx_factureapp_uuid}, "the identical bytes (sha256)")
        stamped = cfdi.parse(move.l10n_mx_factureapp_xml_id.raw)
        self.assertEqual(stamped.get("Fecha"), cfdi.parse(sent).get("Fecha"), "the same Fecha: never rebuilt")
        self._run_due_attempts()
        self.assertEqual(self.app.stamp_calls, 1, "a second run of the job sends nothing")

    def test_resends_stop_at_the_cap_then_a_person_stamps_again(self):
        """A PAC that never gets the file (every connection drops): the stored bytes are sent again after
        each lookup, RESEND_CAP calls in all, then the attempt stops in error for a person; nothing reached
        the PAC, and stamping again (a new attempt) stamps once."""
        move = self._invoice()
        self.injector.inject("reset", times=RESEND_CAP + 3, path=STAMP_PATH)
        with mute_logger("odoo.addons.einvoice_common"):
            move._l10n_mx_factureapp_stamp()
            for _run in range(RESEND_CAP):
                self._run_due_attempts()
        attempt = move.l10n_mx_factureapp_document_ids
        self.assertEqual(attempt.state, "error")
        self.assertEqual(self.injector.calls_to(STAMP_PATH, "POST"), RESEND_CAP, "no call after the cap")
        self.assertIn("not sent again by itself", move.l10n_mx_factureapp_error)
        self.assertEqual(move.l10n_mx_factureapp_state, "error")
        self.assertFalse(self.app.cfdis)
        self._run_due_attempts()
        self.assertEqual(self.injector.calls_to(STAMP_PATH, "POST"), RESEND_CAP, "a final error is not retried")
        self.injector.clear()
        move.action_l10n_mx_factureapp_stamp()
        self.assertEqual(move.l10n_mx_factureapp_state, "stamped")
        self.assertEqual(len(self.app.cfdis), 1)

    def test_auth_failure_waits_for_the_connection_then_goes_at_once(self):
        """Refused credentials never mark the invoices failed: they wait for the connection, and the
        new credentials send them (same bytes) at the attempts' next run, without waiting for a check."""
        moves = self._invoice(price=10.0) | self._invoice(price=20.0)
        self.credential.password = "wrong"
        with mute_logger("odoo.addons.einvoice_common"):
            results = moves._l10n_mx_factureapp_stamp()
        self.assertEqual(self.app.stamp_calls, 0)
        attempts = moves.l10n_mx_factureapp_document_ids
        self.assertEqual(attempts.mapped("state"), ["waiting", "waiting"])
        self.assertEqual(set(attempts.mapped("waiting_reason")), {"connection"})
        self.assertEqual(set(moves.mapped("l10n_mx_factureapp_state")), {"waiting"})
        self.assertTrue(all("401" in results[move] for move in moves), results)
        self.assertEqual(self.credential.state, "error")
        self.assertFalse(moves.filtered("l10n_mx_factureapp_blocking"))
        hashes = attempts.mapped("payload_sha256")
        self.assertTrue(all(a.next_check > fields.Datetime.now() for a in attempts), "not due before the fix")
        self.credential.password = "demo-password"  # the administrator fixes the connection
        self.assertTrue(all(a.next_check <= fields.Datetime.now() for a in attempts), "due at once")
        self.env["l10n_mx_factureapp.document"]._einvoice_attempt_cron()
        self.env.invalidate_all()
        self.assertEqual(set(moves.mapped("l10n_mx_factureapp_state")), {"stamped"})
        self.assertEqual(attempts.mapped("payload_sha256"), hashes, "the bytes built before the failure")
        self.assertEqual(self.app.stamp_calls, 2)


@tagged("post_install", "post_install_l10n", "-at_install")
class TestFactureAppOverlappingRuns(FactureAppCommon):
    """Two stamping runs on the same invoices, the second starting while the first waits for the PAC.

    Runs on committed data (the demo company) in two real cursors that commit as in production
    (`einvoice_own_cursor`), so that what one run writes really meets the other one.
    """

    def _env(self, cr):
        cr.transaction = compat.Transaction(self.registry)
        return api.Environment(cr, SUPERUSER_ID, {"einvoice_own_cursor": True})  # commits as in production

    @contextmanager
    def _committed(self):
        with self.registry.cursor() as cr:
            yield self._env(cr)

    def _demo_invoices(self, count=1):
        with self._committed() as env:
            company = env.ref("base.demo_company_mx", raise_if_not_found=False)
            if not company or not env.ref("l10n_mx_factureapp.demo_credential", raise_if_not_found=False):
                return None
            credential = env.ref("l10n_mx_factureapp.demo_credential")
            saved_url = credential.base_url
            credential.base_url = self.server.url
            line = {
                "product_id": env.ref("l10n_mx_factureapp.demo_product_service").id,
                "quantity": 2,
                "price_unit": 1500.0,
                "tax_ids": [Command.set(company.account_sale_tax_id.ids)],
            }
            partner = env.ref("l10n_mx_factureapp.demo_partner_ure")
            moves = (
                env["account.move"]
                .with_company(company)
                .create(
                    [
                        {
                            "move_type": "out_invoice",
                            "partner_id": partner.id,
                            "invoice_line_ids": [Command.create(dict(line, price_unit=1500.0 + n))],
                        }
                        for n in range(count)
                    ]
                )
            )
            moves.action_post()
            move_ids = moves.ids
        self.addCleanup(self._cleanup, move_ids, saved_url)
        return move_ids

    def _cleanup(self, move_ids, saved_url):
        with self._committed() as env:
            env.ref("l10n_mx_factureapp.demo_credential").base_url = saved_url
            docs = env["l10n_mx_factureapp.document"].sudo().search([("move_id", "in", move_ids)])
            env["einvoice.exchange"].sudo().search(
                [
                    "|",
                    "&",
                    ("res_model", "=", "account.move"),
                    ("res_id", "in", move_ids),
                    "&",
                    ("res_model", "=", docs._name),
                    ("res_id", "in", docs.ids),
                ]
            ).unlink()
            ids = tuple(move_ids)
            env.cr.execute(
                "DELETE FROM ir_attachment WHERE res_model = %s AND res_id IN %s", [docs._name, tuple(docs.ids) or (0,)]
            )
            env.cr.execute("DELETE FROM l10n_mx_factureapp_document WHERE move_id IN %s", [ids])
            env.cr.execute("DELETE FROM mail_message WHERE model = 'account.move' AND res_id IN %s", [ids])
            env.cr.execute("DELETE FROM ir_attachment WHERE res_model = 'account.move' AND res_id IN %s", [ids])
            env.cr.execute("DELETE FROM account_move WHERE id IN %s", [ids])

    def _run(self, move_ids, outcomes, failures, name):
        try:
            with self._committed() as env:
                moves = env["account.move"].browse(move_ids)
                outcomes[name] = {move.id: text for move, text in moves._l10n_mx_factureapp_stamp().items()}
        except Exception as exc:  # reported by the test
            failures.append(f"{name}: {exc!r}")

    def _overlap(self, move_ids, join_second=True):
        """Run one: stamp `move_ids`; run two starts on the same invoices as soon as run one's first
        stamp request is at the PAC (which answers after `latency`)."""
        outcomes, failures, workers = {}, [], []

        def second_run():
            worker = threading.Thread(target=self._run, args=(move_ids, outcomes, failures, "second"))
            workers.append(worker)
            worker.start()
            if join_second:
                worker.join(60)

        with (
            self._sandbox_wrapped(DuringStamp(self.injector.app, second_run)),
            mute_logger("odoo.addons.einvoice_common", "odoo.sql_db"),
        ):
            first = threading.Thread(target=self._run, args=(move_ids, outcomes, failures, "first"))
            first.start()
            first.join(120)
            for worker in workers:
                worker.join(120)
        return outcomes, failures

    @contextmanager
    def _sandbox_wrapped(self, middleware):
        inner = self.injector.app
        self.injector.app = middleware
        try:
            yield middleware
        finally:
            self.injector.app = inner

    def _assert_stamped_once(self, move_ids):
        with self._committed() as env:
            moves = env["account.move"].browse(move_ids)
            self.assertEqual(moves.mapped("l10n_mx_factureapp_state"), ["stamped"] * len(moves), "nothing stuck")
            self.assertEqual(sorted(self.app.cfdis), sorted(moves.mapped("l10n_mx_factureapp_uuid")))
            self.assertEqual(self.app.stamp_calls, len(moves), "one stamp each")
            for move in moves:
                self.assertEqual(move.l10n_mx_factureapp_document_ids.mapped("state"), ["accepted"])
                self.assertFalse(move.l10n_mx_factureapp_error)

    def test_second_run_while_the_first_waits_for_the_pac(self):
        move_ids = self._demo_invoices()
        if not move_ids:
            self.skipTest("the Mexican demo company is not installed")
        outcomes, failures = self._overlap(move_ids)
        self.assertFalse(failures, "no serialization error (or any other) surfaces")
        self.assertFalse(outcomes["first"][move_ids[0]], "the first run stamped")
        self.assertIn("Outcome being confirmed", outcomes["second"][move_ids[0]], "the second one wrote nothing")
        self._assert_stamped_once(move_ids)

    def test_the_caller_sees_what_the_engine_committed(self):
        """Production mode: the engine answers on its own cursor; the caller's result and the
        invoice's CFDI state, read in the caller's transaction, are the committed outcome."""
        move_ids = self._demo_invoices()
        if not move_ids:
            self.skipTest("the Mexican demo company is not installed")
        with self._committed() as env:
            credential = env.ref("l10n_mx_factureapp.demo_credential")
            saved = {"password": credential.password, "state": credential.state, "last_error": credential.last_error}
            credential.password = "wrong"
        self.addCleanup(self._restore_demo_credential, saved)
        with self._committed() as env, mute_logger("odoo.addons.einvoice_common"):
            move = env["account.move"].browse(move_ids)
            self.assertEqual(move.l10n_mx_factureapp_state, "to_stamp")
            text = move._l10n_mx_factureapp_stamp()[move]
            self.assertIn("401", text)
            self.assertEqual(move.l10n_mx_factureapp_state, "waiting")
        self.assertEqual(self.app.stamp_calls, 0)

    def _restore_demo_credential(self, values):
        with self._committed() as env:
            env.ref("l10n_mx_factureapp.demo_credential").write(values)

    def test_two_runs_half_a_second_apart_on_the_same_invoices(self):
        """Three invoices, two runs at once, the PAC answering in 0.5 s: each invoice is stamped once,
        whichever run got to it; nothing is rolled back or left 'Stamping'."""
        move_ids = self._demo_invoices(3)
        if not move_ids:
            self.skipTest("the Mexican demo company is not installed")
        self.injector.latency = 0.5
        self.addCleanup(setattr, self.injector, "latency", 0.0)
        outcomes, failures = self._overlap(move_ids, join_second=False)
        self.assertFalse(failures, "no serialization error (or any other) surfaces")
        self.assertEqual(set(outcomes), {"first", "second"})
        for name, texts in outcomes.items():  # what each run reports: stamped, or the other run has it
            for text in texts.values():
                self.assertTrue(not text or "Outcome being confirmed" in text, f"{name}: {text}")
        self._assert_stamped_once(move_ids)
