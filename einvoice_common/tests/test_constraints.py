from datetime import datetime

from odoo.tests import tagged

from .common import DemoServiceCase
from .constraints import UniqueConstraintMixin


@tagged("post_install", "-at_install")
class TestUniqueConstraints(UniqueConstraintMixin, DemoServiceCase):
    """The database refuses duplicates on every Odoo version (19.0 ignores `_sql_constraints`)."""

    def test_rate_limit_keys_count_once_per_window(self):
        values = {"key": "demo:calls", "window_start": datetime(2026, 1, 1, 12, 0, 0), "count": 1}
        self.assert_duplicate_refused("einvoice.rate.limit", values, "einvoice_rate_limit_key_window_unique")

    def test_oauth_nonce_is_stored_once(self):
        values = {
            "nonce": "n-1",
            "credential_id": self.make_credential().id,
            "user_id": self.env.uid,
        }
        self.assert_duplicate_refused("einvoice.oauth.nonce", values, "einvoice_oauth_nonce_nonce_unique")

    def test_one_advice_per_service_and_code(self):
        values = {"service": "demo", "code": "E1", "advice": "Fix it."}
        self.assert_duplicate_refused(
            "einvoice.error.advice", values, "einvoice_error_advice_service_code_unique", advice="Other."
        )

    def test_declared_constraints_exist_in_the_database(self):
        # every addon's constraints (those installed here), declared through compat.sql_constraints
        modules = {
            "einvoice_common",
            "l10n_efact_aoc",
            "l10n_mx_factureapp",
            "l10n_ro_anaf_efactura",
            "l10n_co_lafactura",
        }
        self.assertGreaterEqual(self.assert_declared_constraints_exist(modules), 3)
