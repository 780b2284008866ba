from datetime import timedelta

from lxml import etree

from odoo import fields
from odoo.exceptions import UserError
from odoo.tests import tagged

from odoo.addons.einvoice_common.einvoice import oauth2

from .common import AnafCommon


@tagged("post_install", "post_install_l10n", "-at_install")
class TestAnafConnection(AnafCommon):
    def test_token_is_refreshed_20_days_before_it_expires(self):
        self.credential.access_token_expires_at = fields.Datetime.now() + timedelta(days=25)
        self.assertTrue(self.credential._einvoice_token_is_fresh())
        self.credential.access_token_expires_at = fields.Datetime.now() + timedelta(days=10)
        self.assertFalse(self.credential._einvoice_token_is_fresh())
        # the margin is a setting of the connection (l10n_ro_anaf_efactura.settings), not a credential field
        self.credential.access_token_expires_at = fields.Datetime.now() + timedelta(days=25)
        self.credential._l10n_ro_anaf_efactura_settings().l10n_ro_anaf_efactura_refresh_days = 30
        self.assertFalse(self.credential._einvoice_token_is_fresh())
        self.assertNotIn("l10n_ro_anaf_efactura_refresh_days", self.credential._fields)
        old = self.credential.access_token
        self.make_invoice(1).action_l10n_ro_anaf_efactura_send()
        self.assertEqual(self.app.state.token_calls, ["refresh_token"])
        self.assertNotEqual(self.credential.access_token, old)
        # the expiry comes from the new JWT (90 days), not from an assumption
        self.assertEqual(
            self.credential.access_token_expires_at,
            oauth2.expiry(self.credential.access_token),
        )

    def test_refresh_button_rotates_both_tokens(self):
        old_access, old_refresh = (
            self.credential.access_token,
            self.credential.refresh_token,
        )
        self.credential.action_einvoice_refresh_token()
        self.assertNotEqual(self.credential.access_token, old_access)
        self.assertNotEqual(self.credential.refresh_token, old_refresh)
        self.assertFalse(self.app.state.refresh_tokens[old_refresh]["active"])
        self.assertEqual(self.credential.state, "connected")

    def test_revoke_forgets_the_tokens_and_ends_them_at_anaf(self):
        refresh = self.credential.refresh_token
        self.credential.action_l10n_ro_anaf_efactura_revoke()
        self.assertFalse(self.credential.access_token or self.credential.refresh_token)
        self.assertEqual(self.credential.state, "draft")
        self.assertFalse(self.app.state.refresh_tokens[refresh]["active"])

    def test_callback_url_is_one_for_the_database(self):
        base = self.env["ir.config_parameter"].sudo().get_param("web.base.url").rstrip("/")
        self.assertEqual(
            self.credential.l10n_ro_anaf_efactura_callback_url,
            base + "/l10n_ro_anaf_efactura/callback",
        )
        settings = self.env["res.config.settings"].create({})
        self.assertEqual(
            settings.l10n_ro_anaf_efactura_callback_url,
            self.credential.l10n_ro_anaf_efactura_callback_url,
        )
        self.assertEqual(settings.l10n_ro_anaf_efactura_credential_id, self.credential)
        # as the settings form reads it (web_read), not only as a record attribute
        values = settings.web_read({"l10n_ro_anaf_efactura_callback_url": {}})[0]
        self.assertEqual(values["l10n_ro_anaf_efactura_callback_url"], base + "/l10n_ro_anaf_efactura/callback")

    def test_one_romanian_setup_in_settings(self):
        arch = self.env["res.config.settings"].get_views([(False, "form")])["views"]["form"]["arch"]
        tree = etree.fromstring(arch)
        core = tree.xpath("//block[@id='l10n_ro_edi_settings']")
        self.assertTrue(core and core[0].get("invisible") == "1", "l10n_ro_edi's token block is hidden")
        self.assertTrue(tree.xpath("//setting[@id='l10n_ro_anaf_efactura_settings']"))
        # core's "Generate Token" (reachable by URL or an old bookmark) leads to our connection's round trip
        action = self.env["res.config.settings"].create({}).button_l10n_ro_edi_generate_token()
        self.assertEqual(action["url"], f"/l10n_ro_anaf_efactura/authorize/{self.credential.id}")

    def test_sandbox_and_production_hosts(self):
        self.assertTrue(self.credential.base_url.startswith(self.server.url))
        self.assertEqual(
            self.credential._l10n_ro_anaf_efactura_oauth_url(),
            self.server.url + "/anaf-oauth2/v1",
        )
        production = self.credential.copy({"name": "prod"})
        production.environment = "production"
        self.assertEqual(production.base_url, "https://api.anaf.ro/prod/FCTEL/rest")
        self.assertEqual(
            production._einvoice_token_url(),
            "https://logincert.anaf.ro/anaf-oauth2/v1/token",
        )

    def test_sandbox_without_a_simulator_never_falls_back_to_anaf(self):
        self.env["ir.config_parameter"].sudo().set_param("einvoice.sandbox_url.anaf", "")
        credential = self.credential.copy({"name": "no simulator", "base_url": False})
        with self.assertRaises(UserError):
            credential._l10n_ro_anaf_efactura_oauth_url()

    def test_authenticate_from_the_company_settings(self):
        settings = self.env["res.config.settings"].with_company(self.company_b).create({})
        action = settings.action_l10n_ro_anaf_efactura_authenticate()
        self.assertEqual(action["url"], f"/l10n_ro_anaf_efactura/authorize/{self.credential.id}")
