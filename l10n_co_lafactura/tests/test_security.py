from odoo.exceptions import AccessError, UserError
from odoo.modules.neutralize import neutralize_database
from odoo.tests import new_test_user, tagged

from .common import LaFacturaCommon


@tagged("post_install", "-at_install", "post_install_l10n")
class TestLaFacturaSecurity(LaFacturaCommon):
    """Issue 13: inbox rows are written by the system only; a neutralized copy reaches no host."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.billing = new_test_user(
            cls.env,
            login="co_billing",
            groups="account.group_account_invoice",
            company_id=cls.company.id,
            company_ids=[(6, 0, cls.company.ids)],
        )

    def test_billing_user_cannot_write_inbox_rows(self):
        row = self.deliver(self.document(number="SEC-1", lines=(("x", 1, "10.00", "01", 16),)))
        self.process()
        self.assertEqual(row.state, "error")
        other = self.setup_other_company(name="CO Otra")["company"]
        as_billing = row.with_user(self.billing)
        self.assertEqual(as_billing.number, "SEC-1")  # they may read it
        for values in (
            {"body": "{}"},
            {"dian_approved": True},
            {"company_id": other.id},
            {"state": "received"},
            {"move_id": False},
        ):
            with self.assertRaises(AccessError, msg=values):
                as_billing.write(values)
        with self.assertRaises(AccessError):
            self.Inbox.with_user(self.billing).create(
                {"credential_id": self.credential.id, "company_id": self.company.id, "body_sha256": "x"}
            )
        with self.assertRaises(AccessError):
            as_billing.unlink()

    def test_billing_user_processes_again_through_the_button(self):
        row = self.deliver(self.document(number="SEC-2", lines=(("x", 1, "10.00", "01", 16),)))
        self.process()
        self.env["l10n_co_lafactura.tax.map"].create(
            {
                "company_id": self.company.id,
                "scheme": "01",
                "percent": 16,
                "tax_id": self.env["account.chart.template"].ref("l10n_co_tax_2").id,
            }
        )
        row.with_user(self.billing).action_l10n_co_lafactura_process_again()
        self.assertEqual(row.state, "processed", row.reason)
        self.assertEqual(row.move_id.company_id, self.company)

    def test_process_again_checks_the_callers_right_on_the_row(self):
        row = self.deliver(self.document(number="SEC-3"))
        other = self.setup_other_company(name="CO Tres")["company"]
        row.sudo().company_id = other  # a row of a company the billing user does not belong to
        with self.assertRaises(AccessError):
            row.with_user(self.billing).action_l10n_co_lafactura_process_again()
        self.assertEqual(row.state, "received")
        stranger = new_test_user(self.env, login="co_stranger", groups="base.group_user")
        with self.assertRaises(AccessError):
            row.with_user(stranger).action_l10n_co_lafactura_process_again()

    def test_billing_user_sees_no_webhook_secret(self):
        credential = self.credential.with_user(self.billing)
        fields = credential.fields_get()
        self.assertNotIn("l10n_co_lafactura_webhook_url", fields)
        self.assertNotIn("l10n_co_lafactura_webhook_secret", fields)
        with self.assertRaises(AccessError):
            credential.read(["l10n_co_lafactura_webhook_url"])

    def test_billing_user_cannot_regenerate_the_webhook_secret(self):
        secret = self.credential.sudo().l10n_co_lafactura_webhook_secret
        with self.assertRaises(AccessError):
            self.credential.with_user(self.billing).action_l10n_co_lafactura_regenerate_secret()
        self.assertEqual(self.credential.sudo().l10n_co_lafactura_webhook_secret, secret)

    def test_neutralized_copy_reaches_no_lafactura_host(self):
        production = self.env["einvoice.credential"].create(
            {
                "name": "LaFactura production",
                "service": "lafactura",
                "environment": "production",
                "company_id": self.company.id,
                "username": "api-prod",
                "password": "pwd-prod",
            }
        )
        self.assertIn("tas-la.com", production.base_url)
        secret = production.l10n_co_lafactura_webhook_secret
        cron = self.env.ref("l10n_co_lafactura.ir_cron_l10n_co_lafactura_process")
        cron.active = True
        self.env.flush_all()
        neutralize_database(self.env.cr)
        self.env.invalidate_all()
        for credential in production | self.credential:
            self.assertEqual(credential.environment, "sandbox")
            self.assertFalse(credential.base_url)
            self.assertFalse(credential.username or credential.password or credential.access_token)
            self.assertFalse(credential.l10n_co_lafactura_webhook_secret)
            self.assertNotIn("tas-la.com", credential._einvoice_default_base_url() or "")
            with self.assertRaises(UserError):  # no call can be made at all
                credential._l10n_co_lafactura_client()
        self.assertFalse(self.env["einvoice.credential"]._l10n_co_lafactura_by_secret(secret))
        self.assertFalse(cron.active)

    def test_menus_only_for_users_of_a_colombian_company(self):
        inbox_menu = self.env.ref("l10n_co_lafactura.menu_l10n_co_lafactura_inbox")
        menus = self.env["ir.ui.menu"].with_user(self.billing).load_menus(debug=False)
        self.assertIn(inbox_menu.id, menus)
        self.assertIn(inbox_menu.id, menus[self.env.ref("account.menu_finance_payables").id]["children"])
        foreign = self.env["res.company"].create(
            {"name": "Empresa de prueba LaFactura (ES)", "country_id": self.env.ref("base.es").id}
        )
        elsewhere = new_test_user(
            self.env,
            login="es_billing",
            groups="account.group_account_invoice",
            company_id=foreign.id,
            company_ids=[(6, 0, foreign.ids)],
        )
        self.assertNotIn(inbox_menu.id, self.env["ir.ui.menu"].with_user(elsewhere).load_menus(debug=False))
