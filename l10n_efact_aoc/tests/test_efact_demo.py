"""Issue 11 (eFACT): the demo invoice is posted and sent from Send & Print with no edit."""

from unittest import SkipTest
from unittest.mock import patch

from odoo.tests import TransactionCase, tagged

from odoo.addons.einvoice_common.einvoice.runner import serve

from ..efact import sandbox


def _always_valid(self):
    for certificate in self:
        certificate.is_valid = True


@tagged("post_install_l10n", "post_install", "-at_install")
class TestEfactDemo(TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.partner = cls.env.ref("l10n_efact_aoc.demo_partner_public_body", raise_if_not_found=False)
        if not cls.partner:
            raise SkipTest("installed without demo data")
        cls.app = sandbox.make_app()  # the same users and public bodies as setup/run's sandbox
        cls.server = serve(cls.app)
        cls.addClassCleanup(cls.server.stop)
        cls.env["ir.config_parameter"].sudo().set_param("einvoice.sandbox_url.efact", cls.server.url)
        # the registry's class: its Python name differs between 18.0 and 19.0
        patcher = patch.object(type(cls.env["certificate.certificate"]), "_compute_is_valid", _always_valid)
        patcher.start()
        cls.addClassCleanup(patcher.stop)

    def test_demo_invoice_is_sent_with_no_edit(self):
        company = self.env.ref("base.demo_company_es")
        env = self.env(context=dict(self.env.context, allowed_company_ids=company.ids))
        invoice = env["account.move"].search(
            [("partner_id", "=", self.partner.id), ("company_id", "=", company.id), ("state", "=", "draft")], limit=1
        )
        self.assertTrue(invoice, "the demo has draft invoices to the public body")
        invoice.action_post()
        self.assertEqual(invoice._l10n_efact_aoc_check(), [])
        wizard = (
            env["account.move.send.wizard"].with_context(active_model="account.move", active_ids=invoice.ids).create({})
        )
        self.assertIn("l10n_efact_aoc", wizard.extra_edis)
        self.assertFalse(wizard.alerts and "l10n_efact_aoc_problems" in wizard.alerts)
        wizard.action_send_and_print()
        self.assertEqual(invoice.l10n_efact_aoc_state, "registered")
        self.assertEqual(len(self.app.state.invoices), 1)
