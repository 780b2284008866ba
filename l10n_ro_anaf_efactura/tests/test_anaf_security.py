from odoo import Command
from odoo.exceptions import AccessError
from odoo.modules.neutralize import get_neutralization_queries
from odoo.tests import HttpCase, tagged
from odoo.tests.common import JsonRpcException
from odoo.tools import mute_logger

from odoo.addons.einvoice_common import compat

from .common import SELLER, SELLER_B, AnafCommon
from .test_anaf_receive import bill_xml

BILLING_PASSWORD = "billing-user-pass-1"


@tagged("post_install", "post_install_l10n", "-at_install")
class TestAnafSecurity(AnafCommon, HttpCase):
    """What a billing user may do over RPC, what a hostile SPV row gets, what a neutralized copy reaches."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.billing = cls.env["res.users"].create(
            {
                "name": "Billing user",
                "login": "anaf_billing",
                "password": BILLING_PASSWORD,
                "company_id": cls.company.id,
                "company_ids": [Command.set((cls.company | cls.company_b).ids)],
                compat.USER_GROUPS_FIELD: [Command.set([cls.env.ref("account.group_account_invoice").id])],
            }
        )

    def rpc(self, model, method, *args, **kwargs):
        return self.make_jsonrpc_request(
            f"/web/dataset/call_kw/{model}/{method}",
            {"model": model, "method": method, "args": list(args), "kwargs": kwargs},
        )

    def assert_refused(self, model, method, *args, **kwargs):
        with mute_logger("odoo.http"), self.assertRaises(JsonRpcException) as caught:
            self.rpc(model, method, *args, **kwargs)
        self.assertEqual(caught.exception.args[0], "odoo.exceptions.AccessError")

    # -- item 3: connection actions are for administrators, checked before any call ---------------
    def test_billing_user_cannot_refresh_revoke_or_authenticate_over_rpc(self):
        refresh_token = self.credential.refresh_token
        self.authenticate("anaf_billing", BILLING_PASSWORD)
        for method in (
            "action_einvoice_refresh_token",
            "action_l10n_ro_anaf_efactura_revoke",
            "action_l10n_ro_anaf_efactura_check_cifs",
            "action_l10n_ro_anaf_efactura_authenticate",
            "action_l10n_ro_anaf_efactura_settings",
        ):
            self.assert_refused("einvoice.credential", method, [self.credential.id])
        self.assertEqual(self.app.state.token_calls, [])
        self.assertFalse(self.faults.calls_to("revoke"))
        self.assertFalse(self.app.state.calls)
        self.credential.invalidate_recordset()
        self.assertEqual(self.credential.refresh_token, refresh_token)
        self.assertEqual(self.credential.state, "connected")

    def test_administrator_may_refresh(self):
        self.credential.action_einvoice_refresh_token()
        self.assertEqual(self.app.state.token_calls, ["refresh_token"])

    # -- item 5: SPV rows are the system's; the CIF is checked before anything is stored -----------
    def test_billing_user_cannot_create_or_edit_anaf_rows_over_rpc(self):
        move = self.make_invoice(11)
        move.action_l10n_ro_anaf_efactura_send()
        document = move.l10n_ro_anaf_efactura_document_ids
        self.authenticate("anaf_billing", BILLING_PASSWORD)
        values = {
            "download_id": "3000000001",
            "company_id": self.company.id,
            "credential_id": self.credential.id,
            "kind": "P",
        }
        self.assert_refused("l10n_ro_anaf_efactura.message", "create", [values])
        self.assert_refused("l10n_ro_anaf_efactura.document", "write", [document.id], {"state": "waiting"})
        # ANAF's call counters live in einvoice_common's limiter: no user may spend or reset a quota
        self.assert_refused("einvoice.rate.limit", "create", [{"key": "anaf:status:1", "window_start": "2026-01-01"}])
        self.assert_refused("einvoice.credential", "_l10n_ro_anaf_efactura_daily", ["status", "1"])
        self.assertNotIn("l10n_ro_anaf_efactura.quota", self.env)
        # the button of the invoice still works for them (rights checked, then run by the system)
        self.assertTrue(self.rpc("account.move", "action_l10n_ro_anaf_efactura_check", [move.id]))

    def test_zip_addressed_to_another_cif_is_not_stored(self):
        self.app.state.add_received(bill_xml("OTHER-1", SELLER_B), SELLER)  # listed for A, addressed to B
        with mute_logger("odoo.addons.l10n_ro_anaf_efactura.models.l10n_ro_anaf_efactura_message"):
            self.env["l10n_ro_anaf_efactura.message"]._cron_l10n_ro_anaf_efactura_receive()
        message = self.env["l10n_ro_anaf_efactura.message"].search([("company_id", "=", self.company.id)])
        self.assertEqual(message.state, "error")
        self.assertIn(SELLER_B, message.error)
        self.assertFalse(message.zip_attachment_id or message.move_id)
        stored = self.env["ir.attachment"].search([("name", "like", "anaf_%"), ("mimetype", "=", "application/zip")])
        self.assertFalse(stored)

    def test_exchanges_are_logged_against_the_company_served(self):
        self.app.state.add_received(bill_xml("B-1", SELLER_B), SELLER_B)
        self.env["l10n_ro_anaf_efactura.message"]._cron_l10n_ro_anaf_efactura_receive()
        Exchange = self.env["einvoice.exchange"]
        lists = Exchange.search([("credential_id", "=", self.credential.id), ("operation", "like", "list")])
        for_b = lists.filtered(lambda e: e.res_model == "res.company" and e.res_id == self.company_b.id)
        self.assertTrue(for_b)
        self.assertEqual(for_b.company_id, self.company_b)  # not the connection's main company
        self.assertEqual(
            Exchange.search([("res_model", "=", "l10n_ro_anaf_efactura.message")]).company_id, self.company_b
        )

    def test_billing_user_cannot_retry_a_message_of_another_company(self):
        message = (
            self.env["l10n_ro_anaf_efactura.message"]
            .sudo()
            .create(
                {
                    "download_id": "42",
                    "company_id": self.company_b.id,
                    "credential_id": self.credential.id,
                    "kind": "P",
                    "state": "error",
                }
            )
        )
        self.billing.company_ids = self.company
        as_billing = message.with_user(self.billing).with_context(allowed_company_ids=self.company.ids)
        with self.assertRaises(AccessError):
            as_billing.action_l10n_ro_anaf_efactura_retry()
        self.assertEqual(message.state, "error")

    # -- item 1: a neutralized copy reaches no ANAF host -----------------------------------------
    def test_neutralized_database_cannot_reach_anaf(self):
        production = self.credential.copy(
            {
                "name": "ANAF production",
                "environment": "production",
                "base_url": "https://api.anaf.ro/prod/FCTEL/rest",
                "client_id": "real-client",
                "client_secret": "real-secret",
                "access_token": "real-access",
                "refresh_token": "real-refresh",
            }
        )
        self.env["ir.config_parameter"].sudo().set_param("einvoice.sandbox_url.anaf", "https://api.anaf.ro")
        self.env.flush_all()
        for query in get_neutralization_queries(["einvoice_common", "l10n_ro_anaf_efactura"]):
            self.env.cr.execute(query)
        self.env.invalidate_all()
        self.env.registry.clear_cache()
        production = production.sudo()
        self.assertEqual(production.environment, "sandbox")
        self.assertEqual(production.state, "draft")
        for name in ("base_url", "client_id", "client_secret", "access_token", "refresh_token"):
            self.assertFalse(production[name], name)
        self.assertFalse(self.env["ir.config_parameter"].sudo().get_param("einvoice.sandbox_url.anaf"))
        crons = self.env["ir.cron"].search([("id", "in", self._our_crons().ids), ("active", "=", True)])
        self.assertFalse(crons)
        # with the local sandbox running, its URL is the only place a call can go
        self.env["ir.config_parameter"].sudo().set_param("einvoice.sandbox_url.anaf", self.server.url)
        for credential in production | self.credential.sudo():
            with credential._l10n_ro_anaf_efactura_oauth_transport() as transport:
                self.assertTrue(transport.base_url.startswith("http://127.0.0.1:"), transport.base_url)
            self.assertTrue(credential._l10n_ro_anaf_efactura_oauth_url().startswith("http://127.0.0.1:"))

    def _our_crons(self):
        data = self.env["ir.model.data"].search([("module", "=", "l10n_ro_anaf_efactura"), ("model", "=", "ir.cron")])
        return self.env["ir.cron"].with_context(active_test=False).browse(data.mapped("res_id"))
