"""Issue 9 (eFACT): two sending runs on the same invoices at once, each on its own committing cursor."""

import threading
import unittest
from collections import Counter
from unittest.mock import patch

from odoo import Command, api
from odoo.tests import TransactionCase, tagged

from odoo.addons.einvoice_common import compat
from odoo.addons.einvoice_common.einvoice.faults import FaultInjector
from odoo.addons.einvoice_common.einvoice.runner import serve

from ..efact import sandbox


class _FirstPost:
    """WSGI wrapper: `started` is set when the hub receives the first submission."""

    def __init__(self, app):
        self.app, self.started = app, threading.Event()

    def __call__(self, environ, start_response):
        if environ.get("REQUEST_METHOD") == "POST" and environ.get("PATH_INFO", "").endswith("/factura"):
            self.started.set()
        return self.app(environ, start_response)


@tagged("post_install_l10n", "post_install", "-at_install")
class TestEfactSupplierConcurrency(TransactionCase):
    """The data is committed (and removed afterwards): concurrency only exists between transactions."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        company = cls.env.ref("base.demo_company_es", raise_if_not_found=False)
        partner = cls.env.ref("l10n_efact_aoc.demo_partner_public_body", raise_if_not_found=False)
        if not company or not partner:
            raise unittest.SkipTest("needs the Spanish demo company and public body (demo data)")
        cls.company_id, cls.partner_id = company.id, partner.id
        cls.app = sandbox.make_app()  # the demo supplier user and public bodies
        cls.injector = FaultInjector(cls.app)
        cls.first_post = _FirstPost(cls.injector)
        cls.server = serve(cls.first_post)
        cls.addClassCleanup(cls.server.stop)

    def _env(self, cr, context=None):
        cr.transaction = compat.Transaction(self.registry)
        return api.Environment(cr, api.SUPERUSER_ID, context or {})

    def _setup_committed(self, count):
        with self.registry.cursor() as cr:
            env = self._env(cr)
            self.mark = env["account.move"].search([], order="id desc", limit=1).id or 0
            self.receptor_mark = env["l10n_efact_aoc.receptor"].search([], order="id desc", limit=1).id or 0
            credential = env["einvoice.credential"].create(
                {
                    "name": "eFACT supplier concurrency",
                    "service": "efact",
                    "environment": "test",
                    "company_id": self.company_id,
                    "company_ids": [Command.set([self.company_id])],
                    "username": "proveidor-demo",
                    "secret_key": "sandbox-secret",
                    "l10n_efact_aoc_role_supplier": True,
                    "max_retries": 1,
                }
            )
            credential.base_url = self.server.url
            self.credential_id = credential.id
            Move = env["account.move"]
            for _batch in range((count + 1) // 2):
                Move._l10n_efact_aoc_demo_invoices(self.company_id, self.partner_id)  # two drafts each
            moves = Move.search([("id", ">", self.mark), ("move_type", "=", "out_invoice")], limit=count)
            moves.action_post()
            self.move_ids = moves.ids
            with self._credential_patch():
                # the public body's DIR3 units are loaded once, before (a first-ever load is not this test)
                moves[:1]._l10n_efact_aoc_check(sync=True)
        self.addCleanup(self._cleanup)

    def _credential_patch(self):
        credential_id = self.credential_id

        def credential(move, role):
            return move.env["einvoice.credential"].sudo().browse(credential_id)

        return patch.object(self.registry["account.move"], "_l10n_efact_aoc_credential", credential)

    def _cleanup(self):
        with self.registry.cursor() as cr:
            env = self._env(cr)
            docs = env["l10n_efact_aoc.document"].search([("credential_id", "=", self.credential_id)])
            env["ir.attachment"].search(
                [("res_model", "=", "l10n_efact_aoc.document"), ("res_id", "in", docs.ids)]
            ).unlink()
            docs.unlink()
            env["einvoice.exchange"].search([("credential_id", "=", self.credential_id)]).unlink()
            env["account.move"].browse(self.move_ids).with_context(force_delete=True).unlink()
            env["account.move"].search([("id", ">", self.mark)]).with_context(force_delete=True).unlink()
            env["einvoice.credential"].browse(self.credential_id).unlink()
            env["l10n_efact_aoc.receptor"].search([("id", ">", self.receptor_mark)]).unlink()

    def _run(self, work, wait_for=None):
        """One run on its own cursor, committing per record as in production."""
        failures, results = [], []

        def worker():
            try:
                if wait_for is not None:
                    wait_for.wait(20)
                with self.registry.cursor() as cr:
                    results.append(work(self._env(cr, {"einvoice_own_cursor": True})))
            except Exception as exc:  # noqa: BLE001 - reported by the test
                failures.append(exc)

        return threading.Thread(target=worker), failures, results

    def test_two_runs_on_the_same_invoices_send_each_once(self):
        self._setup_committed(4)
        self.first_post.started.clear()
        self.injector.configure(latency=0.15)  # each call takes a while: the second run meets the first
        self.addCleanup(self.injector.configure, latency=0.0)

        def list_action(env):
            return env["account.move"].browse(self.move_ids)._l10n_efact_aoc_send_many()

        def cron_then_list_action(env):
            env["l10n_efact_aoc.document"]._cron_l10n_efact_aoc_attempts()
            return list_action(env)

        first, first_failures, _results = self._run(list_action)
        second, second_failures, second_results = self._run(cron_then_list_action, self.first_post.started)
        with self._credential_patch():
            first.start()
            second.start()  # once the hub got the first run's first submission
            first.join(120)
            second.join(120)
        self.assertFalse(first.is_alive() or second.is_alive(), "a run did not finish")
        self.assertFalse(first_failures + second_failures, "no run crashed (no serialization error surfaced)")
        posts = Counter(path for _at, method, path in self.injector.calls if method == "POST")
        self.assertEqual(posts["/proveidors/factura"], 4, "one submission per invoice")
        self.assertEqual(len(self.app.state.invoices), 4)
        refused = second_results[0]
        self.assertTrue(
            all("cannot be sent twice" in " ".join(texts) for texts in refused.values()),
            "the second run refuses what the first sends, with a reason",
        )
        with self.registry.cursor() as cr:
            env = self._env(cr)
            docs = env["l10n_efact_aoc.document"].search([("credential_id", "=", self.credential_id)])
            self.assertEqual(sorted(docs.move_id.ids), sorted(self.move_ids), "one submission each")
            self.assertEqual(len(docs), 4)
            self.assertEqual(set(docs.mapped("state")), {"sent"}, "nothing rolled back, nothing stuck")
            self.assertEqual(sorted(docs.mapped("hub_id")), sorted(self.app.state.invoices))
            received = Counter(self.app.state.received_sha256)
            self.assertEqual(sorted(received), sorted(docs.mapped("payload_sha256")), "the stored bytes, once each")
