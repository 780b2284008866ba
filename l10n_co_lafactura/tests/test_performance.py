import json

from odoo.tests import tagged

from ..lafactura import documents as lf_docs
from ..lafactura import fixtures
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
