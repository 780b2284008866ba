"""Issue 11 (ANAF): the administrator's Authenticate round trip in a browser, on the demo data."""

from odoo import Command
from odoo.tests import HttpCase, tagged

from odoo.addons.einvoice_common.einvoice.runner import serve

from ..anaf import sandbox


@tagged("post_install", "post_install_l10n", "-at_install")
class TestAnafAuthenticateTour(HttpCase):
    def test_authenticate_tour_then_the_waiting_invoice_goes_out(self):
        company = self.env.ref("base.demo_company_ro", raise_if_not_found=False)
        credential = self.env.ref("l10n_ro_anaf_efactura.demo_credential_anaf", raise_if_not_found=False)
        if not (company and credential):
            self.skipTest("the Romanian demo data is not installed")
        # ANAF's consent page approves for the certificate holder (a person would pick the certificate)
        app = sandbox.make_app(decision="approve")
        server = serve(app)
        self.addCleanup(server.stop)
        self.env["ir.config_parameter"].sudo().set_param("einvoice.sandbox_url.anaf", server.url)
        credential.sudo().write(
            {
                "base_url": server.url + "/test/FCTEL/rest",  # what setup/run's sandboxes file gives
                "access_token": False,
                "refresh_token": False,
                "state": "draft",
            }
        )
        admin = self.env.ref("base.user_admin")
        admin.write({"company_ids": [Command.link(company.id)], "company_id": company.id})
        move = self.env["account.move"].search(
            [
                ("company_id", "=", company.id),
                ("move_type", "=", "out_invoice"),
                ("partner_id", "=", self.env.ref("l10n_ro_anaf_efactura.demo_partner_buyer").id),
                ("state", "=", "draft"),
            ],
            limit=1,
        )
        self.assertTrue(move, "the demo has a draft invoice to send")
        move.action_post()
        move.action_l10n_ro_anaf_efactura_send()
        self.assertEqual(move.l10n_ro_anaf_efactura_state, "waiting", "no token yet: it waits for the connection")
        self.assertFalse(app.state.uploads)
        cron = self.env.ref("l10n_ro_anaf_efactura.ir_cron_l10n_ro_anaf_efactura_status")
        triggers = self.env["ir.cron.trigger"].sudo()
        triggers.search([("cron_id", "=", cron.id)]).unlink()

        self.start_tour("/odoo/settings", "l10n_ro_anaf_efactura_authenticate", login="admin")

        credential.invalidate_recordset()
        self.assertEqual(credential.state, "connected")
        self.assertEqual(app.state.token_calls, ["authorization_code"])
        self.assertTrue(triggers.search([("cron_id", "=", cron.id)]), "the send cron is triggered at once")
        cron.method_direct_trigger()  # what the triggered cron does right after the authentication
        self.assertEqual(move.l10n_ro_anaf_efactura_state, "sent", move.l10n_ro_anaf_efactura_message)
        self.assertEqual([upload.number for upload in app.state.uploads.values()], [move.name])
        move.invalidate_recordset(["einvoice_exchange_count"])
        self.assertTrue(move.einvoice_exchange_count, "the one exchange button shows the upload")
