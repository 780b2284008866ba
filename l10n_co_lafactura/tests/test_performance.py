import json
import threading
from unittest.mock import patch

from odoo import SUPERUSER_ID, api
from odoo.sql_db import Cursor
from odoo.tests import HttpCase, tagged

from odoo.addons.einvoice_common import compat

from ..lafactura import documents as lf_docs
from ..lafactura import fixtures
from ..models import inbox_ack
from ..models import l10n_co_lafactura_inbox as inbox_module
from .common import LaFacturaCommon


@tagged("post_install", "-at_install", "post_install_l10n")
class TestLaFacturaQueries(LaFacturaCommon):
    """Issue 14: the acknowledgement does one insert; processing costs the same per document at any batch size."""

    def queries(self, func, *args):
        self.env.flush_all()
        before = self.env.cr.sql_log_count
        result = func(*args)
        self.env.flush_all()
        return self.env.cr.sql_log_count - before, result

    def test_ack_path_is_one_lookup_and_one_insert(self):
        secret = self.credential.sudo().l10n_co_lafactura_webhook_secret
        count, found = self.queries(self.env["einvoice.credential"]._l10n_co_lafactura_by_secret, secret)
        self.assertEqual((count, found), (1, self.credential))
        self.env["ir.cron.trigger"].search([]).unlink()
        bodies = [json.dumps(fixtures.hook_body(self.document(number=f"ACK{i}"))).encode() for i in range(3)]
        counts = []
        for body in bodies:
            delivery = lf_docs.inspect_delivery("POST", "application/json", body)
            self.assertTrue(self.credential.company_id)  # read by the controller before storing
            count, _row = self.queries(
                self.Inbox._l10n_co_lafactura_store, self.credential, delivery, body, "127.0.0.1"
            )
            counts.append(count)
        cron = self.env.ref("l10n_co_lafactura.ir_cron_l10n_co_lafactura_process")
        self.assertEqual(self.env["ir.cron.trigger"].search_count([("cron_id", "=", cron.id)]), 1)
        self.assertGreater(counts[0], 1)  # the first wakes the cron
        self.assertEqual(counts[1:], [1, 1])  # the next ones: the insert alone

    def test_repeat_of_a_row_being_booked_is_parked_not_waited_for(self):
        """A repeat that comes while the cron's batch holds its row is answered at once (parked, no
        lock wait) and counted on the row afterwards. Committed rows on cursors of their own."""
        body = json.dumps(fixtures.hook_body(self.document(number="HELD-1"))).encode()
        delivery = lf_docs.inspect_delivery("POST", "application/json", body)

        def cursor():
            cr = self.registry.cursor()
            cr.transaction = compat.Transaction(self.registry)
            return cr

        with cursor() as cr:
            credential = api.Environment(cr, SUPERUSER_ID, {})["einvoice.credential"].search(
                [("service", "=", "lafactura"), ("l10n_co_lafactura_webhook_secret", "!=", False)], limit=1
            )
            if not credential:
                self.skipTest("no committed LaFactura connection (demo data)")
            connection = inbox_ack.Connection(credential.id, credential.company_id.id, 64)
            row_id, inserted = inbox_ack.store(cr, connection, delivery, body)
        self.assertTrue(inserted)
        self.addCleanup(self._drop_committed_row, cursor, row_id)
        with cursor() as holder, cursor() as hook:
            holder.execute("SELECT id FROM l10n_co_lafactura_inbox WHERE id = %s FOR UPDATE", [row_id])  # the batch
            hook.execute("SET LOCAL lock_timeout = '5s'")  # waiting would fail the test, not hang it
            self.assertEqual(inbox_ack.store(hook, connection, delivery, body), (row_id, False))
            hook.commit()
            holder.execute("SELECT delivery_count FROM l10n_co_lafactura_inbox WHERE id = %s", [row_id])
            self.assertEqual(holder.fetchone()[0], 1)
        with cursor() as cr:
            cr.execute("SELECT count(*) FROM l10n_co_lafactura_inbox_repeat WHERE inbox_id = %s", [row_id])
            self.assertEqual(cr.fetchone()[0], 1)
            inbox_ack.fold_repeats(cr)
            cr.execute(
                "SELECT delivery_count, (SELECT count(*) FROM l10n_co_lafactura_inbox_repeat WHERE inbox_id = %s)"
                " FROM l10n_co_lafactura_inbox WHERE id = %s",
                [row_id, row_id],
            )
            self.assertEqual(cr.fetchone(), (2, 0))
            cr.execute("DELETE FROM l10n_co_lafactura_inbox WHERE id = %s", [row_id])
            cr.execute(
                "INSERT INTO l10n_co_lafactura_inbox_repeat (inbox_id, received_at) VALUES (%s, now())", [row_id]
            )
            inbox_ack.fold_repeats(cr)  # a repeat of a row deleted since: dropped
            cr.execute("SELECT count(*) FROM l10n_co_lafactura_inbox_repeat WHERE inbox_id = %s", [row_id])
            self.assertEqual(cr.fetchone()[0], 0)

    def _drop_committed_row(self, cursor, row_id):
        with cursor() as cr:
            cr.execute("DELETE FROM l10n_co_lafactura_inbox WHERE id = %s", [row_id])
            cr.execute(
                "DELETE FROM ir_cron_trigger WHERE cron_id IN (SELECT res_id FROM ir_model_data"
                " WHERE module = 'l10n_co_lafactura' AND model = 'ir.cron')"
            )

    def batch(self, count, prefix):
        for index in range(count):
            self.deliver(self.document(number=f"{prefix}{index}", lines=(("Resma carta", 2, "12000.00", "01", 19),)))
        self.env.invalidate_all()
        queries, done = self.queries(self.Inbox._cron_l10n_co_lafactura_process, 1000)
        self.assertEqual(done, count)
        return queries

    def test_queries_per_document_flat_from_10_to_100(self):
        """A run costs a fixed part (cold caches, the batch search, the re-trigger) plus a part per
        document; the part per document must not grow with the batch (nothing quadratic)."""
        self.batch(1, "WARM")  # the supplier, its learned account, the sequence
        fixed_and_one = self.batch(1, "ONE")
        ten = (self.batch(10, "TEN") - fixed_and_one) / 9
        hundred = (self.batch(100, "HUN") - fixed_and_one) / 99
        self.assertAlmostEqual(ten, hundred, delta=2, msg=f"{ten:.1f} vs {hundred:.1f} queries per document")
        self.assertLess(hundred, 120)

    def test_document_info_calls_overlap_and_bills_are_created_together(self):
        """getDocumentInfo goes out CONFIRM_THREADS at a time: at the sandbox each call waits until
        the others of its group have arrived, which only calls in flight together can do (a
        sequential client breaks the barrier). The batch's bills: one `create`, one exchange
        log row per call."""
        parties = inbox_module.CONFIRM_THREADS
        barrier, broken = threading.Barrier(parties, timeout=30), []

        def meet(_seconds):
            try:
                barrier.wait()
            except threading.BrokenBarrierError:
                broken.append(True)

        rows = self.Inbox
        for index in range(parties * 2):
            rows |= self.deliver(self.document(number=f"OV{index}"))
        Move = type(self.env["account.move"])
        create, creates = Move.create, []

        def counting_create(moves, vals_list):
            creates.append(len(vals_list) if isinstance(vals_list, list) else 1)
            return create(moves, vals_list)

        with (
            patch.object(self.faults, "latency", 0.001),
            patch.object(self.faults, "sleep", meet),
            patch.object(Move, "create", counting_create),
        ):
            self.process()
        self.assertEqual(creates, [parties * 2])
        self.assertFalse(broken, "getDocumentInfo calls went out one at a time")
        self.assertEqual(set(rows.mapped("state")), {"processed"}, rows.mapped("reason"))
        self.assertEqual(len(rows.move_id), parties * 2)
        self.assertEqual(rows.move_id.mapped("state"), ["posted"] * parties * 2)
        self.assertEqual(len([c for c in self.lafactura.state.calls if c[0] == "getDocumentInfo"]), parties * 2)
        exchanges = self.env["einvoice.exchange"].search(
            [("res_model", "=", self.Inbox._name), ("res_id", "in", rows.ids), ("operation", "=", "getDocumentInfo")]
        )
        self.assertEqual(sorted(exchanges.mapped("res_id")), sorted(rows.ids))


@tagged("post_install", "-at_install", "post_install_l10n")
class TestLaFacturaAckOverHttp(LaFacturaCommon, HttpCase):
    """Issue 14: over HTTP, the acknowledgement is our lookup and our insert, and nothing else of ours."""

    def post(self, url, number):
        body = json.dumps(fixtures.hook_body(self.document(number=number))).encode()
        return self.opener.post(url, data=body, headers={"Content-Type": "application/json"}, timeout=30)

    def test_ack_is_the_lookup_and_the_insert_without_user_session_or_bill(self):
        url = self.base_url() + "/l10n_co_lafactura/hook/" + self.credential.sudo().l10n_co_lafactura_webhook_secret
        self.assertEqual(self.post(url, "BURST1").status_code, 200)  # the first of a burst wakes the cron
        statements = []
        execute = Cursor.execute

        def spy(cr, query, params=None, log_exceptions=True):
            statements.append(" ".join(getattr(query, "code", str(query)).split()))
            return execute(cr, query, params, log_exceptions)

        self.opener.cookies.clear()
        with patch.object(Cursor, "execute", spy):
            response = self.post(url, "BURST2")
        self.assertEqual(response.status_code, 200)
        # Test mode wraps each request in savepoints of the test's transaction, and Odoo lists
        # the databases for a request without a session when a dbfilter is set; those aside,
        # the request ran exactly two statements, both ours: no user, session or ORM read, and
        # one attempt (a read-only first try would have run them twice).
        core = ("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT", "select datname from pg_database")
        ours = [s for s in statements if not s.startswith(core)]
        self.assertEqual(len(ours), 2, ours)
        self.assertIn("FROM einvoice_credential", ours[0])
        self.assertTrue(ours[1].startswith("WITH target AS"), ours[1])
        self.assertIn("INSERT INTO l10n_co_lafactura_inbox (", ours[1])
        self.assertNotIn("Set-Cookie", response.headers)
        row = self.Inbox.browse(response.json()["id"])
        # The answer did not wait for processing: the row is as stored, the cron has not run.
        self.assertEqual((row.state, row.attempts, row.move_id.id, row.number), ("received", 0, False, "BURST2"))
        self.assertFalse(self.env["account.move"].search_count([("ref", "in", ("BURST1", "BURST2"))]))
