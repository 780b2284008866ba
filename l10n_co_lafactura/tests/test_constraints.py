from odoo import Command, fields
from odoo.tests import TransactionCase, tagged

from odoo.addons.einvoice_common.tests.constraints import UniqueConstraintMixin


@tagged("post_install_l10n", "post_install", "-at_install")
class TestLaFacturaUniqueConstraints(UniqueConstraintMixin, TransactionCase):
    """CUFE, deliveries and tax rates are unique on every Odoo version (19.0 ignores `_sql_constraints`)."""

    def _credential(self):
        return self.env["einvoice.credential"].create(
            {"name": "LaFactura", "service": "lafactura", "environment": "sandbox", "company_id": self.env.company.id}
        )

    def test_one_bill_per_cufe_and_company(self):
        journal = self.env["account.journal"].search(
            [("type", "=", "general"), ("company_id", "=", self.env.company.id)], limit=1
        )
        account = self.env["account.account"].search([("company_ids", "in", self.env.company.id)], limit=1)
        values = {
            "move_type": "entry",
            "journal_id": journal.id,
            "l10n_co_lafactura_cufe": "cufe-0123456789abcdef",
            "line_ids": [
                Command.create({"account_id": account.id, "debit": 1.0}),
                Command.create({"account_id": account.id, "credit": 1.0}),
            ],
        }
        self.assert_duplicate_refused("account.move", values, "account_move_l10n_co_lafactura_cufe_uniq")

    def test_a_delivery_is_stored_once(self):
        values = {
            "credential_id": self._credential().id,
            "company_id": self.env.company.id,
            "received_at": fields.Datetime.now(),
            "body_sha256": "0" * 64,
        }
        self.assert_duplicate_refused("l10n_co_lafactura.inbox", values, "l10n_co_lafactura_inbox_unique_body")

    def test_a_dian_rate_is_mapped_once(self):
        values = {"company_id": self.env.company.id, "scheme": "01", "percent": 19.0, "action": "ignore"}
        self.assert_duplicate_refused("l10n_co_lafactura.tax.map", values, "l10n_co_lafactura_tax_map_unique_rate")
