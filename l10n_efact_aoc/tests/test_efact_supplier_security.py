"""Issue 13 (eFACT supplier): a neutralized copy reaches no eFACT host; documents are the system's."""

from odoo import Command
from odoo.exceptions import AccessError, UserError
from odoo.modules.neutralize import neutralize_database
from odoo.tests import new_test_user, tagged

from .common import EfactCommon


@tagged("post_install_l10n", "post_install", "-at_install")
class TestEfactSupplierSecurity(EfactCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._setup_supplier()
        cls.public_body.with_company(cls.company).invoice_sending_method = "manual"
        cls.billing = new_test_user(
            cls.env,
            login="efact_billing",
            groups="account.group_account_invoice",
            company_id=cls.company.id,
            company_ids=[Command.set(cls.company.ids)],
        )

    def test_neutralized_copy_reaches_no_efact_host(self):
        self.credential.write({"environment": "production", "base_url": "https://efact.aoc.cat"})
        crons = self.env["ir.cron"].browse(
            self.env["ir.model.data"]
            .search([("module", "=", "l10n_efact_aoc"), ("model", "=", "ir.cron")])
            .mapped("res_id")
        )
        self.assertTrue(crons and all(crons.mapped("active")))
        self.env.flush_all()
        neutralize_database(self.env.cr)
        # Odoo 19.0's neutralization also gives the unencrypted test key a dummy password, which
        # stops signing before any connection is looked at: signing is not what this test is about
        self.env["certificate.key"].sudo().search([("password", "=", "dummy")]).password = False
        self.env.invalidate_all()
        credential = self.credential.sudo()
        self.assertEqual(credential.environment, "sandbox")
        self.assertFalse(credential.base_url)
        self.assertFalse(credential.secret_key or credential.username or credential.access_token)
        self.assertFalse(any(crons.mapped("active")), "no eFACT cron runs in the copy")
        # whatever the sandbox setting, nothing can leave for a production host
        self.env["ir.config_parameter"].sudo().set_param("einvoice.sandbox_url.efact", False)
        with self.assertRaises(UserError):
            credential._l10n_efact_aoc_supplier_client()
        invoice = self._invoice(100.0)
        self.assertFalse(invoice._l10n_efact_aoc_send(), "not the invoice's fault: it waits for the connection")
        doc = invoice.l10n_efact_aoc_document_id
        self.assertEqual((doc.state, doc.waiting_reason), ("waiting", "connection"))
        self.assertFalse(self.app.state.invoices)
        self.assertFalse(self.injector.calls_to("/proveidors/factura", "POST"))
        hosts = self.env["einvoice.exchange"].sudo().search([("credential_id", "=", credential.id)]).mapped("url")
        self.assertFalse([h for h in hosts if h and "aoc.cat" in h])

    def test_billing_user_sends_but_cannot_make_or_point_documents(self):
        invoice = self._invoice(120.0).with_user(self.billing)
        self.assertFalse(invoice._l10n_efact_aoc_send(), "a billing user sends through the system")
        doc = invoice.l10n_efact_aoc_document_id
        self.assertEqual(doc.hub_state, "registered")
        Doc = self.env["l10n_efact_aoc.document"].with_user(self.billing)
        with self.assertRaises(AccessError):
            Doc.create({"direction": "out", "company_id": self.company.id, "hub_id": doc.hub_id})
        for values in ({"hub_id": "999"}, {"state": "error"}, {"company_id": self.company.id}):
            with self.assertRaises(AccessError):
                doc.with_user(self.billing).write(values)
        doc.with_user(self.billing).action_l10n_efact_aoc_download_receipt()
        self.assertTrue(doc.receipt_id)

    def test_receipt_of_another_company_is_not_stored(self):
        invoice = self._invoice(130.0)
        self.assertFalse(invoice._l10n_efact_aoc_send())
        hub_id = invoice.l10n_efact_aoc_hub_id
        other = self.env["res.company"].create(
            {"name": "Altra SL", "vat": "ESA58818501", "country_id": self.env.ref("base.es").id}
        )
        self.credential.company_ids = [Command.link(other.id)]
        stray = (
            self.env["l10n_efact_aoc.document"]
            .sudo()
            .create(
                {
                    "direction": "out",
                    "company_id": other.id,
                    "credential_id": self.credential.id,
                    "hub_id": hub_id,
                    "state": "sent",
                    "hub_state": "registered",
                }
            )
        )
        with self.assertRaisesRegex(UserError, "belongs to NIF"):
            stray.action_l10n_efact_aoc_download_receipt()
        self.assertFalse(stray.receipt_id)
        self.assertFalse(self.env["ir.attachment"].search([("name", "=", f"eFACT_receipt_{hub_id}.pdf")]))
