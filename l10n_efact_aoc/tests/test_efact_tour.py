"""Issue 11 (eFACT): the supplier's main flow in a browser, on the demo data."""

from unittest import SkipTest

from odoo import Command
from odoo.tests import HttpCase, tagged

from odoo.addons.einvoice_common.einvoice.runner import serve

from ..efact import sandbox


@tagged("post_install_l10n", "post_install", "-at_install")
class TestEfactTour(HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.partner = cls.env.ref("l10n_efact_aoc.demo_partner_public_body", raise_if_not_found=False)
        if not cls.partner:
            raise SkipTest("installed without demo data")
        cls.app = sandbox.make_app()  # setup/run's sandbox users and public bodies
        cls.server = serve(cls.app)
        cls.addClassCleanup(cls.server.stop)
        cls.env["ir.config_parameter"].sudo().set_param("einvoice.sandbox_url.efact", cls.server.url)

    def test_send_demo_invoice_from_print_and_send_tour(self):
        company = self.env.ref("base.demo_company_es")
        admin = self.env.ref("base.user_admin")
        admin.write({"company_ids": [Command.link(company.id)], "company_id": company.id})
        # core asks once per company for the document layout before its first Print & Send: answered here
        company.external_report_layout_id = self.env.ref("web.external_layout_standard")
        invoice = self.env["account.move"].search(
            [("partner_id", "=", self.partner.id), ("company_id", "=", company.id), ("state", "=", "draft")], limit=1
        )
        invoice.action_post()
        self.start_tour(f"/odoo/account.move/{invoice.id}", "l10n_efact_aoc_send_tour", login="admin")
        self.assertEqual(invoice.l10n_efact_aoc_state, "registered")
        self.assertEqual(len(self.app.state.invoices), 1)
