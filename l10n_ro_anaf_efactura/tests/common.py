from datetime import timedelta

from odoo import Command, fields

from odoo.addons.account.tests.common import AccountTestInvoicingCommon
from odoo.addons.einvoice_common.einvoice import oauth2
from odoo.addons.einvoice_common.einvoice.faults import FaultInjector
from odoo.addons.einvoice_common.einvoice.runner import serve
from odoo.addons.einvoice_common.tests import odoo_compat  # noqa: F401  (Odoo 19 test harness)

from ..anaf import sandbox

SELLER = "8000000000"
SELLER_B = "9000000003"
SUPPLIER = "7000000006"


class AnafCommon(AccountTestInvoicingCommon):
    sandbox_options = {}

    @classmethod
    @AccountTestInvoicingCommon.setup_country("ro")
    def setUpClass(cls):
        super().setUpClass()
        cls.app = sandbox.make_app(cifs=(SELLER, SELLER_B), **cls.sandbox_options)
        cls.faults = FaultInjector(cls.app)
        cls.server = serve(cls.faults)
        cls.addClassCleanup(cls.server.stop)
        cls.env["ir.config_parameter"].sudo().set_param("einvoice.sandbox_url.anaf", cls.server.url)
        cls.company = cls.company_data["company"]
        cls._ro_company(cls.company, "RO" + SELLER, "Vanzator Test SRL")
        cls.company_b = (
            cls.company_data_2["company"]
            if hasattr(cls, "company_data_2")
            else cls.setup_other_company(name="Second RO company")["company"]
        )
        cls._ro_company(cls.company_b, "RO" + SELLER_B, "Al Doilea SRL")
        cls.partner_ro = cls.env["res.partner"].create(
            {
                "name": "Cumparator SRL",
                "is_company": True,
                "vat": "RO18547290",
                "street": "Strada Memorandumului 28",
                "city": "Cluj-Napoca",
                "zip": "400114",
                "country_id": cls.env.ref("base.ro").id,
                "state_id": cls.env.ref("base.RO_CJ").id,
                "bank_ids": [Command.create({"acc_number": "RO98RNCB1234567890123456"})],
            }
        )
        cls.tax_21 = cls.env["account.tax"].create(
            {
                "name": "TVA 21%",
                "amount_type": "percent",
                "amount": 21,
                "type_tax_use": "sale",
                "company_id": cls.company.id,
                "country_id": cls.env.ref("base.ro").id,
            }
        )
        cls.tax_21_b = (
            cls.env["account.tax"]
            .with_company(cls.company_b)
            .create(
                {
                    "name": "TVA 21%",
                    "amount_type": "percent",
                    "amount": 21,
                    "type_tax_use": "sale",
                    "company_id": cls.company_b.id,
                    "country_id": cls.env.ref("base.ro").id,
                }
            )
        )
        cls.credential = cls.env["einvoice.credential"].create(
            {
                "name": "ANAF sandbox",
                "service": "anaf",
                "environment": "sandbox",
                "company_id": cls.company.id,
                "company_ids": [Command.set((cls.company | cls.company_b).ids)],
                "client_id": "anaf-client",
                "client_secret": "anaf-secret",
                "state": "connected",
                "timeout_read": 5,
                "max_retries": 1,
            }
        )

    @classmethod
    def _ro_company(cls, company, vat, name):
        cls.env["res.partner.bank"].create(
            {
                "acc_number": f"RO49AAAA1B310075938400{company.id:02d}",
                "partner_id": company.partner_id.id,
                "company_id": company.id,
            }
        )
        company.write(
            {
                "name": name,
                "vat": vat,
                "street": "Strada Lunga 1",
                "city": "SECTOR1",
                "zip": "010101",
                "country_id": cls.env.ref("base.ro").id,
                "state_id": cls.env.ref("base.RO_B").id,
                "company_registry": "J40/1/2020",
            }
        )

    def setUp(self):
        super().setUp()
        # A fresh ANAF per test (invoice numbers restart in every test transaction)
        self.app = type(self).app = sandbox.make_app(cifs=(SELLER, SELLER_B), **self.sandbox_options)
        self.faults.app = self.app
        self.faults.clear()
        self.faults.calls.clear()
        issued = self.app.state.issue_tokens()
        self.credential.write(
            {
                "access_token": issued["access_token"],
                "refresh_token": issued["refresh_token"],
                "access_token_expires_at": oauth2.expiry(issued["access_token"]),
                "refresh_token_expires_at": oauth2.expiry(issued["refresh_token"]),
                "state": "connected",
            }
        )

    def later(self, **delta):
        return fields.Datetime.now() + timedelta(**(delta or {"hours": 1}))

    def make_invoice(
        self,
        amount=100.0,
        move_type="out_invoice",
        partner=None,
        company=None,
        post=True,
    ):
        company = company or self.company
        move = (
            self.env["account.move"]
            .with_company(company)
            .create(
                {
                    "move_type": move_type,
                    "partner_id": (partner or self.partner_ro).id,
                    "invoice_date": fields.Date.today(),
                    "invoice_line_ids": [
                        Command.create(
                            {
                                "name": "Servicii de consultanta",
                                "quantity": 1,
                                "price_unit": amount,
                                "tax_ids": [
                                    Command.set((self.tax_21 if company == self.company else self.tax_21_b).ids)
                                ],
                            }
                        )
                    ],
                }
            )
        )
        if post:
            move.action_post()
        return move

    def run_status_cron(self, **delta):
        """Let `delta` (default 1 hour) pass for the attempts, then run the send/status cron."""
        self.time_travel(**delta)
        return self.env["l10n_ro_anaf_efactura.document"]._cron_l10n_ro_anaf_efactura_status()

    def time_travel(self, **delta):
        """The attempts' clocks move `delta` into the past: due checks, grace periods and stale sends age."""
        shift = timedelta(**(delta or {"hours": 1}))
        Document = self.env["l10n_ro_anaf_efactura.document"]
        Document.flush_model()
        self.env.cr.execute(
            "UPDATE l10n_ro_anaf_efactura_document SET next_check = next_check - %s, create_date = create_date - %s, "
            "sending_since = sending_since - %s",
            [shift, shift, shift],
        )
        Document.invalidate_model()

    def uploads(self, move):
        return self.app.state.uploads_of(move.name)
