import sys
import traceback
from contextlib import contextmanager
from datetime import timedelta

from odoo import api, fields
from odoo.tests import TransactionCase

from .. import compat
from ..einvoice.demo_sandbox import make_app
from ..einvoice.faults import FaultInjector
from ..einvoice.runner import serve
from . import odoo_compat  # noqa: F401  (Odoo 19 test harness)


class DemoServiceCase(TransactionCase):
    """A demo OAuth2 service on loopback and a credential pointing at it."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.service = make_app(access_ttl=6 * 3600)  # longer than the refresh margin
        cls.faults = FaultInjector(cls.service)
        cls.server = serve(cls.faults)
        cls.addClassCleanup(cls.server.stop)

    def setUp(self):
        super().setUp()
        self.faults.clear()
        self.service.refresh_calls = 0

    def _credential_values(self, **overrides):
        tokens = self.service.issue()
        values = {
            "name": "Demo",
            "service": "demo",
            "environment": "test",
            "base_url": self.server.url,
            "client_id": "client",
            "client_secret": "secret",  # the demo service's secret
            "access_token": tokens["access_token"],
            "access_token_expires_at": fields.Datetime.now() + timedelta(hours=5),
            "refresh_token": tokens["refresh_token"],
            "state": "connected",
        }
        values.update(overrides)
        return values

    def make_credential(self, **overrides):
        return self.env["einvoice.credential"].create(self._credential_values(**overrides))

    @contextmanager
    def committed_env(self):
        """An environment on a real cursor that commits (for cross-transaction tests)."""
        with self.registry.cursor() as cr:
            yield self.env_for(cr)

    def env_for(self, cr, context=None):
        """An environment on `cr` usable from any thread (the test runner holds the registry lock)."""
        cr.transaction = compat.Transaction(self.registry)
        return api.Environment(cr, self.env.uid, context or {})


def stacks():
    """Every thread's stack, to explain a worker that did not finish."""
    return "\n".join(
        f"--- thread {ident}\n" + "".join(traceback.format_stack(frame))
        for ident, frame in sys._current_frames().items()
    )
