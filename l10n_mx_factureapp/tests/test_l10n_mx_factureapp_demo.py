from odoo.tests import TransactionCase, tagged

from odoo.addons.einvoice_common.einvoice.runner import serve

from ..factureapp import sandbox


@tagged("post_install", "post_install_l10n", "-at_install")
class TestFactureAppDemoData(TransactionCase):
    """Every customer invoice of the Mexican demo company goes through Print & Send and is stamped."""

    def test_each_mexican_demo_invoice_is_sent_and_stamped(self):
        company = self.env.ref("base.demo_company_mx", raise_if_not_found=False)
        credential = self.env.ref("l10n_mx_factureapp.demo_credential", raise_if_not_found=False)
        if not (company and credential):
            self.skipTest("the Mexican demo data is not installed")
        app = sandbox.make_app()
        server = serve(app)
        self.addCleanup(server.stop)
        credential.base_url = server.url
        company.external_report_layout_id = self.env.ref("web.external_layout_standard")
        env = self.env(context=dict(self.env.context, allowed_company_ids=company.ids))
        moves = env["account.move"].search(
            [("company_id", "=", company.id), ("move_type", "=", "out_invoice"), ("state", "in", ("draft", "posted"))]
        )
        self.assertGreaterEqual(len(moves), 2, "the demo has invoices to send")
        moves.filtered(lambda m: m.state == "draft").action_post()
        for move in moves:
            wizard = (
                env["account.move.send.wizard"]
                .with_context(active_model="account.move", active_ids=move.ids)
                .create({})
            )
            self.assertIn("l10n_mx_factureapp", wizard.extra_edis, move.display_name)
            self.assertNotIn("l10n_mx_factureapp_invalid", wizard.alerts or {}, move.display_name)
            wizard.action_send_and_print()
            self.assertEqual(move.l10n_mx_factureapp_state, "stamped", move.l10n_mx_factureapp_error)
        self.assertEqual(len(app.cfdis), len(moves), "one CFDI each")
