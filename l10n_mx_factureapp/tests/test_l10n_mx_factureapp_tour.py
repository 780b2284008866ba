from odoo import Command
from odoo.tests import HttpCase, tagged

from odoo.addons.einvoice_common.einvoice.runner import serve

from ..factureapp import sandbox


@tagged("post_install", "post_install_l10n", "-at_install")
class TestFactureAppTour(HttpCase):
    """An accountant sends a demo invoice from the browser (Print & Send) and sees it stamped."""

    def test_send_and_print_tour(self):
        company = self.env.ref("base.demo_company_mx", raise_if_not_found=False)
        credential = self.env.ref("l10n_mx_factureapp.demo_credential", raise_if_not_found=False)
        if not (company and credential):
            self.skipTest("the Mexican demo data is not installed")
        server = serve(sandbox.make_app())
        self.addCleanup(server.stop)
        credential.base_url = server.url
        # core asks for the document layout on the first Print & Send of a company: answered once
        company.external_report_layout_id = self.env.ref("web.external_layout_standard")
        admin = self.env.ref("base.user_admin")
        admin.write({"company_ids": [Command.link(company.id)], "company_id": company.id})
        move = self.env["account.move"].search(
            [
                ("company_id", "=", company.id),
                ("move_type", "=", "out_invoice"),
                ("partner_id", "=", self.env.ref("l10n_mx_factureapp.demo_partner_ure").id),
                ("state", "=", "draft"),
            ],
            limit=1,
        )
        self.assertTrue(move, "the demo has a draft invoice to send")
        move.action_post()
        self.start_tour(
            f"/odoo/action-account.action_move_out_invoice_type/{move.id}",
            "l10n_mx_factureapp_send_and_print",
            login="admin",
        )
        self.assertEqual(move.l10n_mx_factureapp_state, "stamped", move.l10n_mx_factureapp_error)
