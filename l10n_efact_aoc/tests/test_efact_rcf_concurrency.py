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

SECRET = "concurrency-secret"
SUPPLIER_NIF = "ESB12345674"


@tagged("post_install_l10n", "post_install", "-at_install")
class TestEfactRcfConcurrency(TransactionCase):
    """Two receive runs at once, each on its own committing cursor, against one sandbox hub: the
    data is committed (and removed afterwards) because concurrency only exists between transactions."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        company = cls.env.ref("base.demo_company_es", raise_if_not_found=False)
        if not company or not company.vat or not company._l10n_efact_aoc_purchase_journal():
            raise unittest.SkipTest("needs the Spanish demo company (demo data)")
        cls.company_id = company.id
        cls.nif = company._l10n_efact_aoc_nif()
        cls.app = sandbox.make_app(
            users={"rcf": {"secret": SECRET, "roles": ["rcf"], "nifs": [cls.nif]}},
            entities=[{"nif": cls.nif, "nom": company.name, "dir3": [("L01", "L02", "L03")]}],
            page_size=500,
        )
        cls.injector = FaultInjector(cls.app)
        cls.server = serve(cls.injector)
        cls.addClassCleanup(cls.server.stop)

    def setUp(self):
        super().setUp()
        self.injector.clear()
        self.injector.calls.clear()
        self.app.state.deliveries.clear()

    def _committed_env(self, cr):
        cr.transaction = compat.Transaction(self.registry)
        return api.Environment(cr, api.SUPERUSER_ID, {})

    def _setup_committed(self):
        with self.registry.cursor() as cr:
            env = self._committed_env(cr)
            self.marks = {
                model: (env[model].sudo().search([], order="id desc", limit=1).id or 0)
                for model in ("account.move", "res.partner", "ir.attachment", "mail.message")
            }
            credential = env["einvoice.credential"].create(
                {
                    "name": "eFACT RCF concurrency",
                    "service": "efact",
                    "environment": "test",
                    "company_id": self.company_id,
                    "company_ids": [Command.set([self.company_id])],
                    "username": "rcf",
                    "secret_key": SECRET,
                    "l10n_efact_aoc_role_supplier": False,
                    "l10n_efact_aoc_role_rcf": True,
                    "max_retries": 1,
                }
            )
            credential.base_url = self.server.url
            self.credential_id = credential.id
        self.addCleanup(self._cleanup)

    def _cleanup(self):
        with self.registry.cursor() as cr:
            env = self._committed_env(cr)
            env["l10n_efact_aoc.inbox"].search([("credential_id", "=", self.credential_id)]).unlink()
            env["l10n_efact_aoc.document"].search([("credential_id", "=", self.credential_id)]).unlink()
            env["einvoice.exchange"].search([("credential_id", "=", self.credential_id)]).unlink()
            env["account.move"].search([("id", ">", self.marks["account.move"])]).with_context(
                force_delete=True
            ).unlink()
            env["ir.attachment"].search([("id", ">", self.marks["ir.attachment"])]).unlink()
            env["res.partner"].search([("id", ">", self.marks["res.partner"]), ("vat", "=", SUPPLIER_NIF)]).unlink()
            env["einvoice.credential"].browse(self.credential_id).unlink()

    def _run_at_once(self, *runs):
        barrier = threading.Barrier(len(runs))
        failures = []

        def worker(run):
            try:
                with self.registry.cursor() as cr:
                    # commit per record, as in production (einvoice_common's dbtools commits on this context)
                    env = self._committed_env(cr)(context={"einvoice_own_cursor": True})
                    barrier.wait(10)
                    run(env)
            except Exception as exc:  # noqa: BLE001 - reported by the test
                failures.append(exc)

        Credential = self.registry["einvoice.credential"]
        with patch.object(Credential, "_einvoice_can_commit", lambda self: True):  # commit per record, as in production
            threads = [threading.Thread(target=worker, args=(run,)) for run in runs]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(120)
        self.assertFalse([t for t in threads if t.is_alive()], "a run did not finish")
        return failures

    def _pull(self, env):
        credential = env["einvoice.credential"].browse(self.credential_id)
        env["account.move"]._l10n_efact_aoc_pull_invoices(credential, chunk=5)

    def test_two_receive_runs_at_once_download_and_create_each_invoice_once(self):
        self._setup_committed()
        ids = [self.app.state.seed_invoice(nif=self.nif, number=f"CC-{n:02d}") for n in range(12)]
        self.injector.configure(latency=0.01)  # both runs stay inside the hub's answers together
        self.addCleanup(self.injector.configure, latency=0.0)
        failures = self._run_at_once(self._pull, self._pull)
        self.assertFalse(failures, "no run crashed (no UniqueViolation, no InFailedSqlTransaction)")
        facturae_downloads = Counter(
            path.split("/")[-2] for _at, method, path in self.injector.calls if path.endswith("/facturae")
        )
        self.assertEqual(sorted(facturae_downloads), sorted(ids))
        self.assertEqual(set(facturae_downloads.values()), {1}, "no Facturae downloaded twice")
        self.assertEqual(sorted(self.app.state.deliveries), sorted(ids))
        self.assertEqual(set(self.app.state.deliveries.values()), {1}, "DELIVERED once per invoice")
        with self.registry.cursor() as cr:
            env = self._committed_env(cr)
            rows = env["l10n_efact_aoc.inbox"].search([("credential_id", "=", self.credential_id)])
            self.assertEqual(sorted(rows.mapped("hub_id")), sorted(ids), "one inbox row per invoice")
            self.assertEqual(set(rows.mapped("state")), {"processed"})
            self.assertTrue(all(rows.mapped("delivered")))
            bills = env["account.move"].search(
                [("id", ">", self.marks["account.move"]), ("move_type", "=", "in_invoice")]
            )
            self.assertEqual(sorted(bills.mapped("ref")), sorted(f"CC-{n:02d}" for n in range(12)), "one bill each")

    def test_pull_and_processing_cron_at_once(self):
        self._setup_committed()
        ids = [self.app.state.seed_invoice(nif=self.nif, number=f"CP-{n:02d}") for n in range(8)]
        self.injector.configure(latency=0.01)
        self.addCleanup(self.injector.configure, latency=0.0)

        def process_cron(env):
            for _round in range(20):
                env["l10n_efact_aoc.inbox"]._cron_l10n_efact_aoc_process()

        failures = self._run_at_once(self._pull, process_cron)
        self.assertFalse(failures)
        self.assertEqual(set(self.app.state.deliveries.values()), {1})
        with self.registry.cursor() as cr:
            env = self._committed_env(cr)
            env["l10n_efact_aoc.inbox"]._cron_l10n_efact_aoc_process()  # finishes what either left
            docs = env["l10n_efact_aoc.document"].search([("credential_id", "=", self.credential_id)])
            self.assertEqual(sorted(docs.mapped("hub_id")), sorted(ids), "one bill each")
            self.assertEqual(len(docs.move_id), 8)
        self.assertEqual(sorted(self.app.state.deliveries), sorted(ids))
        self.assertEqual(set(self.app.state.deliveries.values()), {1})
