"""One CFDI per invoice, whatever the PAC answers and however many runs overlap (issue 9).

Each test drives the sandbox over loopback with a fault placed where a real PAC or network
produced it: a success in a shape the client cannot read, a second run starting while the
first one waits for the PAC, an answer lost for a document the PAC never received.
"""

import json
import threading
from contextlib import contextmanager
from unittest.mock import patch

from odoo import SUPERUSER_ID, Command, api
from odoo.tests import tagged
from odoo.tools import mute_logger

from odoo.addons.einvoice_common import compat

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
        self.assertEqual(len(set(attempts.mapped("payload_sha256"))), 1, "never rebuilt (no second Fecha)")
        self.assertEqual(set(attempts.mapped("uuid")) - {False}, {move.l10n_mx_factureapp_uuid})

    def test_success_in_unexpected_shape_is_unknown_then_reconciled(self):
        for body in (
            {"succeed": True, "code": "200", "message": "Comprobante timbrado"},
            {"resultado": {"estatus": "timbrado"}},
            ["timbrado"],
        ):
            with self.subTest(body=body):
                self.app.reset()
                move = self._invoice()
                with (
                    self._sandbox_wrapped(UnreadableSuccess(self.app, body)),
                    mute_logger("odoo.addons.einvoice_common"),
                ):
                    error = move._l10n_mx_factureapp_stamp()[move]
                self.assertEqual(len(self.app.cfdis), 1, "the PAC did stamp")
                self.assertEqual(move.l10n_mx_factureapp_state, "unknown", error)
                self.assertEqual(move.l10n_mx_factureapp_document_ids.state, "unknown")
                self.assertIn("confirmed", move.l10n_mx_factureapp_error)
                # Send & Print offers no resend of a new payload: the user pressing Stamp again
                # (or the follow-up job) looks the stamp up first.
                move.action_l10n_mx_factureapp_stamp()
                self.assertEqual(self.app.stamp_calls, 1, "nothing was sent again")
                self._assert_one_cfdi(move)

    def test_unexpected_shape_reconciled_by_the_job(self):
        move = self._invoice()
        body = {"succeed": True, "cfdi_timbrado": None}
        with self._sandbox_wrapped(UnreadableSuccess(self.app, body)), mute_logger("odoo.addons.einvoice_common"):
            move._l10n_mx_factureapp_stamp()
        self.assertEqual(move.l10n_mx_factureapp_state, "unknown")
        self.env["account.move"]._cron_l10n_mx_factureapp_follow()
        self.assertEqual(self.app.stamp_calls, 1)
        self._assert_one_cfdi(move)

    def test_lost_answer_for_a_document_never_received_is_resent_once_by_the_job(self):
        move = self._invoice()
        self.injector.inject("reset", path=STAMP_PATH)  # the connection drops before the PAC reads it
        with mute_logger("odoo.addons.einvoice_common"):
            move._l10n_mx_factureapp_stamp()
        self.assertEqual(move.l10n_mx_factureapp_state, "unknown")
        self.assertFalse(self.app.cfdis)
        first = move.l10n_mx_factureapp_document_ids
        sent = first._l10n_mx_factureapp_payload()
        self.env["account.move"]._cron_l10n_mx_factureapp_follow()  # looks up: unknown to the PAC -> resend
        self._assert_one_cfdi(move)
        retry = move.l10n_mx_factureapp_document_ids - first
        self.assertEqual(len(retry), 1, "resent once")
        self.assertEqual(retry.retry_of_id, first)
        self.assertEqual(retry._l10n_mx_factureapp_payload(), sent, "the identical bytes")
        self.assertEqual(first.state, "retried")
        self.assertEqual(self.app.stamp_calls, 1, "the PAC received it once")
        self.env["account.move"]._cron_l10n_mx_factureapp_follow()
        self.assertEqual(self.app.stamp_calls, 1, "a second run of the job sends nothing")
        self.assertEqual(len(move.l10n_mx_factureapp_document_ids), 2)


@tagged("post_install", "post_install_l10n", "-at_install")
class TestFactureAppOverlappingRuns(FactureAppCommon):
    """Two stamping runs on one invoice, the second starting while the first waits for the PAC.

    Runs on committed data (the demo company) in two real cursors that commit as in production
    (`einvoice_own_cursor`), so that a write of the second run really conflicts with the first one.
    """

    def _env(self, cr):
        cr.transaction = compat.Transaction(self.registry)
        return api.Environment(cr, SUPERUSER_ID, {"einvoice_own_cursor": True})  # commits as in production

    @contextmanager
    def _committed(self):
        with self.registry.cursor() as cr:
            yield self._env(cr)

    def _demo_invoice(self):
        with self._committed() as env:
            company = env.ref("base.demo_company_mx", raise_if_not_found=False)
            if not company or not env.ref("l10n_mx_factureapp.demo_credential", raise_if_not_found=False):
                return None
            credential = env.ref("l10n_mx_factureapp.demo_credential")
            saved_url = credential.base_url
            credential.base_url = self.server.url
            move = (
                env["account.move"]
                .with_company(company)
                .create(
                    {
                        "move_type": "out_invoice",
                        "partner_id": env.ref("l10n_mx_factureapp.demo_partner_ure").id,
                        "invoice_line_ids": [
                            Command.create(
                                {
                                    "product_id": env.ref("l10n_mx_factureapp.demo_product_service").id,
                                    "quantity": 2,
                                    "price_unit": 1500.0,
                                    "tax_ids": [Command.set(company.account_sale_tax_id.ids)],
                                }
                            )
                        ],
                    }
                )
            )
            move.action_post()
            move_id = move.id
        self.addCleanup(self._cleanup, move_id, saved_url)
        return move_id

    def _cleanup(self, move_id, saved_url):
        with self._committed() as env:
            env.ref("l10n_mx_factureapp.demo_credential").base_url = saved_url
            docs = env["l10n_mx_factureapp.document"].sudo().search([("move_id", "=", move_id)])
            env["einvoice.exchange"].sudo().search(
                [
                    "|",
                    "&",
                    ("res_model", "=", "account.move"),
                    ("res_id", "=", move_id),
                    "&",
                    ("res_model", "=", docs._name),
                    ("res_id", "in", docs.ids),
                ]
            ).unlink()
            env.cr.execute("DELETE FROM l10n_mx_factureapp_document WHERE move_id = %s", [move_id])
            env.cr.execute("DELETE FROM mail_message WHERE model = 'account.move' AND res_id = %s", [move_id])
            env.cr.execute("DELETE FROM ir_attachment WHERE res_model = 'account.move' AND res_id = %s", [move_id])
            env.cr.execute("DELETE FROM account_move WHERE id = %s", [move_id])

    def _run(self, move_id, outcomes, failures, name):
        try:
            with self._committed() as env:
                move = env["account.move"].browse(move_id)
                outcomes[name] = move._l10n_mx_factureapp_stamp().get(move)
        except Exception as exc:  # reported by the test
            failures.append(f"{name}: {exc!r}")

    def test_second_run_while_the_first_waits_for_the_pac(self):
        move_id = self._demo_invoice()
        if not move_id:
            self.skipTest("the Mexican demo company is not installed")
        outcomes, failures = {}, []

        def second_run():  # starts once the first run's request is at the PAC, ends before it answers
            worker = threading.Thread(target=self._run, args=(move_id, outcomes, failures, "second"))
            worker.start()
            worker.join(60)

        Credential = type(self.env["einvoice.credential"])
        real_commit = Credential._einvoice_commit

        def commit_then_read(credentials):
            real_commit(credentials)
            if credentials.env.context.get("einvoice_own_cursor"):
                credentials.env.cr.execute("SELECT 1")  # the next snapshot starts at once, as any read makes it

        with (
            patch.object(Credential, "_einvoice_commit", commit_then_read),
            patch.object(self.injector, "app", DuringStamp(self.injector.app, second_run)),
            mute_logger("odoo.addons.einvoice_common", "odoo.sql_db"),
        ):
            first = threading.Thread(target=self._run, args=(move_id, outcomes, failures, "first"))
            first.start()
            first.join(120)
        self.assertFalse(failures, "no serialization error (or any other) surfaces")
        self.assertFalse(outcomes["first"], "the first run stamped")
        self.assertIn("being stamped", outcomes["second"])
        self.assertEqual(self.app.stamp_calls, 1)
        with self._committed() as env:
            move = env["account.move"].browse(move_id)
            self.assertEqual(move.l10n_mx_factureapp_state, "stamped", "nothing rolled back, nothing stuck")
            self.assertEqual(list(self.app.cfdis), [move.l10n_mx_factureapp_uuid])
            self.assertEqual(move.l10n_mx_factureapp_document_ids.mapped("state"), ["stamped"])
            self.assertFalse(move.l10n_mx_factureapp_error)
