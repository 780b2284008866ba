import threading
import time
from types import SimpleNamespace
from unittest.mock import patch

from psycopg2 import errors as pg_errors

from odoo import api
from odoo.tests import tagged
from odoo.tools import mute_logger

from odoo.addons.einvoice_common import compat

from ..lafactura import documents as lf_docs
from .common import LaFacturaCommon

NIT = "901458652"  # a supplier no partner has


@tagged("post_install", "-at_install", "post_install_l10n")
class TestLaFacturaConcurrency(LaFacturaCommon):
    """Issue 9: two workers at once never make two partners, collisions are retried, held rows skipped."""

    def env_for(self, cr):
        cr.transaction = compat.Transaction(self.registry)
        return api.Environment(cr, api.SUPERUSER_ID, {})

    def _wait_for_advisory_waiter(self):
        """Until a backend waits on an advisory lock (bounded): the second worker is blocked."""
        deadline = time.monotonic() + 20
        with self.registry.cursor() as cr:
            while time.monotonic() < deadline:
                cr.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
                if cr.fetchone()[0]:
                    return True
                cr.rollback()
                time.sleep(0.02)
        return False

    def _cleanup_partners(self):
        with self.registry.cursor() as cr:
            env = self.env_for(cr)
            env["res.partner"].with_context(active_test=False).search([("l10n_co_lafactura_nit", "=", NIT)]).unlink()

    def test_two_workers_one_new_supplier_make_one_partner(self):
        self.addCleanup(self._cleanup_partners)
        company_id = self.env.ref("base.main_company").id  # committed: visible to both cursors
        party = lf_docs.UblParty(nit=NIT, dv="", scheme_name="31", name="Distribuidora Caribe S.A.S.")
        provider = lf_docs.Party(name=party.name, id=NIT)
        credential = SimpleNamespace(l10n_co_lafactura_create_partners=True)
        first_created, release_first = threading.Event(), threading.Event()
        outcomes, failures = {}, []

        def worker(name):
            try:
                with self.registry.cursor() as cr:
                    env = self.env_for(cr)
                    company = env["res.company"].browse(company_id)
                    cr.execute("SELECT 1")  # the snapshot starts here, before the other commits
                    if name == "second":
                        first_created.wait(20)
                    try:
                        partner = env["res.partner"]._l10n_co_lafactura_find_or_create(
                            party, provider, company, credential
                        )
                        outcomes[name] = partner.id
                    except lf_docs.Refusal as refusal:
                        outcomes[name] = refusal.code
                    if name == "first":
                        first_created.set()
                        release_first.wait(20)  # commit only once the second waits for the lock
            except Exception as exc:  # reported below
                failures.append(exc)

        threads = {name: threading.Thread(target=worker, args=(name,)) for name in ("first", "second")}
        for thread in threads.values():
            thread.start()
        first_created.wait(20)
        self.assertTrue(self._wait_for_advisory_waiter())
        release_first.set()
        for thread in threads.values():
            thread.join(30)
        self.assertFalse(failures)
        self.assertIsInstance(outcomes["first"], int)
        self.assertEqual(outcomes["second"], "retry")  # it could not see the new partner: go again
        with self.registry.cursor() as cr:
            env = self.env_for(cr)
            found = env["res.partner"]._l10n_co_lafactura_find_or_create(
                party, provider, env["res.company"].browse(company_id), credential
            )
            self.assertEqual(found.id, outcomes["first"])
            self.assertEqual(env["res.partner"].search_count([("l10n_co_lafactura_nit", "=", NIT)]), 1)

    def test_posting_collision_is_retried_not_left_in_error(self):
        doc = self.document(number="COL-1")
        row = self.deliver(doc)
        Move = type(self.env["account.move"])
        original = Move._post
        calls = []

        def collide_once(moves, soft=True):
            calls.append(moves.ids)
            if len(calls) == 1:
                raise pg_errors.UniqueViolation('duplicate key violates unique constraint "account_move_unique_name"')
            return original(moves, soft=soft)

        with patch.object(Move, "_post", collide_once), mute_logger("odoo.addons.l10n_co_lafactura.models"):
            self.process()
            self.assertEqual((row.state, row.reason_code), ("error", "retry"))
            self.assertFalse(self.bill_of(doc))  # nothing half-made
            cron = self.env.ref("l10n_co_lafactura.ir_cron_l10n_co_lafactura_process")
            self.assertTrue(self.env["ir.cron.trigger"].search_count([("cron_id", "=", cron.id)]))
            self.process()
        self.assertEqual(row.state, "processed", row.reason)
        self.assertEqual(self.bill_of(doc).state, "posted")

    def test_transient_internal_errors_are_retried_bad_input_is_not(self):
        doc = self.document(number="TR-1")
        row = self.deliver(doc)
        with patch.object(
            type(self.Inbox), "_l10n_co_lafactura_book", side_effect=pg_errors.DeadlockDetected("deadlock detected")
        ):
            self.process()
        self.assertEqual((row.state, row.reason_code), ("error", "retry"))
        self.process()
        self.assertEqual(row.state, "processed", row.reason)
        bad = self.deliver(self.document(number="TR-2"))
        with (
            patch.object(type(self.Inbox), "_l10n_co_lafactura_book", side_effect=KeyError("LineExtensionAmount")),
            mute_logger("odoo.addons.l10n_co_lafactura.models.l10n_co_lafactura_inbox"),
        ):
            self.process()
        self.assertEqual((bad.state, bad.reason_code), ("error", "internal"))
        attempts = bad.attempts
        self.process()
        self.assertEqual((bad.state, bad.attempts), ("error", attempts))  # not retried: a person must look

    def test_second_run_skips_what_the_first_holds(self):
        with self.registry.cursor() as cr:
            env = self.env_for(cr)
            credential = env["einvoice.credential"].create(
                {
                    "name": "LaFactura concurrency",
                    "service": "lafactura",
                    "environment": "sandbox",
                    "company_id": env.ref("base.main_company").id,
                    "username": "u",
                    "password": "p",
                }
            )
            body = b'{"document": {"general": {"type": "fc", "mode": "1", "num": "H1", "cufe": "' + b"a" * 96 + b'"}}}'
            delivery = lf_docs.inspect_delivery("POST", "application/json", body)
            row_id, _inserted = env["l10n_co_lafactura.inbox"]._l10n_co_lafactura_store(credential, delivery, body)
            credential_id = credential.id
        self.addCleanup(self._cleanup_row, row_id, credential_id)
        with self.registry.cursor() as holder:
            holder.execute("SELECT id FROM l10n_co_lafactura_inbox WHERE id = %s FOR UPDATE", [row_id])
            with self.registry.cursor() as cr:
                env = self.env_for(cr)
                cr.execute("SET LOCAL lock_timeout = '2s'")  # waiting would be a failure, not a hang
                done = env["l10n_co_lafactura.inbox"]._cron_l10n_co_lafactura_process(limit=1000)
                row = env["l10n_co_lafactura.inbox"].browse(row_id)
                self.assertEqual((done, row.state, row.attempts), (0, "received", 0))
            holder.rollback()

    def _cleanup_row(self, row_id, credential_id):
        with self.registry.cursor() as cr:
            env = self.env_for(cr)
            env["l10n_co_lafactura.inbox"].browse(row_id).unlink()
            env["l10n_co_lafactura.tax.map"].search([("company_id", "=", env.ref("base.main_company").id)]).unlink()
            env["einvoice.credential"].browse(credential_id).unlink()
