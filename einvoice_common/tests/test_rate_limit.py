import threading
from datetime import datetime

from odoo.tests import TransactionCase, tagged

from ..einvoice import errors
from .common import DemoServiceCase


@tagged("post_install", "-at_install")
class TestRateLimit(TransactionCase):
    def test_sliding_window_refuses_the_call_over_the_limit(self):
        Limit = self.env["einvoice.rate.limit"]
        now = datetime(2026, 1, 1, 12, 0, 0)
        for _ in range(3):
            Limit._einvoice_acquire("t:sliding", 3, 60, now=now)
        with self.assertRaises(errors.QuotaError) as caught:
            Limit._einvoice_acquire("t:sliding", 3, 60, now=now.replace(second=59))
        self.assertGreater(caught.exception.retry_after, 0)
        # 61 s later the first bucket left the window
        Limit._einvoice_acquire("t:sliding", 3, 60, now=datetime(2026, 1, 1, 12, 1, 1))

    def test_fixed_window_counts_per_key_and_day(self):
        Limit = self.env["einvoice.rate.limit"]
        day = datetime(2026, 1, 1)
        self.assertEqual([Limit._einvoice_acquire_fixed("t:msg1", 2, day) for _ in range(2)], [1, 2])
        with self.assertRaises(errors.QuotaError):
            Limit._einvoice_acquire_fixed("t:msg1", 2, day)
        self.assertEqual(Limit._einvoice_acquire_fixed("t:msg2", 2, day), 1)
        self.assertEqual(Limit._einvoice_acquire_fixed("t:msg1", 2, datetime(2026, 1, 2)), 1)

    def test_quota_methods_are_private(self):
        Limit = self.env["einvoice.rate.limit"]
        for name in ("_einvoice_acquire", "_einvoice_acquire_fixed", "_einvoice_try_acquire", "_einvoice_used"):
            self.assertTrue(name.startswith("_") and callable(getattr(Limit, name)))
        self.assertFalse([name for name in dir(type(Limit)) if "acquire" in name and not name.startswith("_")])


@tagged("post_install", "-at_install")
class TestRateLimitConcurrency(DemoServiceCase):
    """Two workers on their own cursors spend one shared quota: the limit holds."""

    def setUp(self):
        super().setUp()
        self.addCleanup(self._cleanup)

    def _cleanup(self):
        with self.committed_env() as env:
            env.cr.execute("DELETE FROM einvoice_rate_limit WHERE key LIKE 'test-concurrency:%'")

    def run_threads(self, work, count=2, tries=15):
        barrier = threading.Barrier(count)
        granted, refused, failures = [], [], []

        def worker():
            try:
                with self.registry.cursor() as cr:
                    env = self.env_for(cr, {"einvoice_own_cursor": True})
                    barrier.wait(5)
                    for _ in range(tries):
                        try:
                            work(env["einvoice.rate.limit"])
                            granted.append(1)
                        except errors.QuotaError:
                            refused.append(1)
            except Exception as exc:  # reported below
                failures.append(exc)

        threads = [threading.Thread(target=worker) for _ in range(count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        self.assertFalse(failures)
        return len(granted), len(refused)

    def test_two_workers_never_exceed_the_sliding_limit(self):
        granted, refused = self.run_threads(lambda Limit: Limit._einvoice_acquire("test-concurrency:minute", 10, 60))
        self.assertEqual((granted, refused), (10, 20))

    def test_two_workers_never_exceed_a_daily_counter(self):
        day = datetime(2026, 1, 1)
        granted, refused = self.run_threads(lambda Limit: Limit._einvoice_acquire_fixed("test-concurrency:day", 7, day))
        self.assertEqual((granted, refused), (7, 23))
        with self.committed_env() as env:
            self.assertEqual(env["einvoice.rate.limit"]._einvoice_used("test-concurrency:day", day), 7)
