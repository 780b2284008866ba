from datetime import timedelta

from odoo import Command, fields

from odoo.addons.account.tests.common import AccountTestInvoicingCommon
from odoo.addons.einvoice_common.einvoice.faults import FaultInjector
from odoo.addons.einvoice_common.einvoice.runner import serve
from odoo.addons.einvoice_common.tests import odoo_compat  # noqa: F401  (Odoo 19 test harness)

from ..factureapp import documents as cfdi
from ..factureapp import sandbox


class FactureAppCommon(AccountTestInvoicingCommon):
    """An MX company, a Facture APP connection to the sandbox served on loopback, fiscal data."""

    @classmethod
    @AccountTestInvoicingCommon.setup_country("mx")
    def setUpClass(cls):
        super().setUpClass()
        cls.app = sandbox.make_app()
        cls.injector = FaultInjector(cls.app)
        cls.server = serve(cls.injector)
        cls.addClassCleanup(cls.server.stop)

        cls.company = cls.company_data["company"]
        cls.company.write(
            {
                "name": "ESCUELA KEMPER URGATE (tests)",
                "vat": "EKU9003173C9",
                "zip": "20914",
                "l10n_mx_factureapp_regimen": "601",
            }
        )
        cls.credential = cls.env["einvoice.credential"].create(
            {
                "name": "Facture APP test",
                "service": "factureapp",
                "environment": "sandbox",
                "base_url": cls.server.url,
                "username": "demo",
                "password": "demo-password",
                "company_id": cls.company.id,
                "company_ids": [Command.set(cls.company.ids)],
                "max_retries": 1,
            }
        )
        cls.credential.action_l10n_mx_factureapp_sync_branches()
        cls._fiscal_data()

    @classmethod
    def _fiscal_data(cls):
        cls.env["res.currency.rate"].create(
            {
                "name": fields.Date.today() - timedelta(days=1),
                "rate": 0.058,
                "currency_id": cls.env.ref("base.USD").id,
                "company_id": cls.company.id,
            }
        )
        cls.customer = cls.env["res.partner"].create(
            {
                "name": "UNIVERSIDAD ROBOTICA ESPAÑOLA S.A. DE C.V.",
                "is_company": True,
                "vat": "URE180429TM6",
                "country_id": cls.env.ref("base.mx").id,
                "zip": "86991",
                "l10n_mx_factureapp_regimen": "601",
                "l10n_mx_factureapp_uso_cfdi": "G03",
                "l10n_mx_factureapp_payment_form": "03",
            }
        )
        cls.unit = cls.env.ref("uom.product_uom_unit")
        cls.product = cls.env["product.product"].create(
            {
                "name": "Widget",
                "uom_id": cls.unit.id,
                "lst_price": 1000.0,
                "l10n_mx_factureapp_clave_prod_serv": "01010101",
                "taxes_id": [Command.clear()],
            }
        )
        cls.iva16 = cls.company.account_sale_tax_id
        cls.sale_journal = cls.company_data["default_journal_sale"]

    def setUp(self):
        super().setUp()
        self.app.reset()  # the database rolls back after each test: so does the service
        self.injector.clear()
        self.injector.calls.clear()

    @classmethod
    def _tax(cls, name, amount, tax_type="iva", factor="Tasa", include_base=False):
        return cls.env["account.tax"].create(
            {
                "name": name,
                "amount": amount,
                "amount_type": "percent",
                "type_tax_use": "sale",
                "company_id": cls.company.id,
                "l10n_mx_tax_type": tax_type,
                "l10n_mx_factor_type": factor,
                "include_base_amount": include_base,
                "country_id": cls.env.ref("base.mx").id,
            }
        )

    def _invoice(
        self,
        price=1000.0,
        quantity=1,
        taxes=None,
        partner=None,
        post=True,
        lines=None,
        **values,
    ):
        taxes = self.iva16 if taxes is None else taxes
        lines = lines or [
            {
                "product_id": self.product.id,
                "quantity": quantity,
                "price_unit": price,
                "tax_ids": [Command.set(taxes.ids)],
            }
        ]
        move = self.env["account.move"].create(
            {
                "move_type": "out_invoice",
                "partner_id": (partner or self.customer).id,
                "invoice_date": fields.Date.today(),
                "journal_id": self.sale_journal.id,
                "invoice_line_ids": [Command.create(line) for line in lines],
                **values,
            }
        )
        if post:
            move.action_post()
        return move

    def _run_due_attempts(self, moves=None):
        """The attempts' job, once its next check has come (time passes; no sleep)."""
        Document = self.env["l10n_mx_factureapp.document"].sudo()
        live = Document.search([("state", "in", ("draft", "waiting", "sending", "unknown", "sent"))])
        if moves is not None:
            live = live.filtered(lambda d: d.move_id in moves)
        live.filtered(lambda d: d.next_check).write({"next_check": fields.Datetime.now() - timedelta(seconds=1)})
        Document._einvoice_attempt_cron()
        self.env.invalidate_all()

    def _stamped_root(self, move):
        self.assertEqual(move.l10n_mx_factureapp_state, "stamped", move.l10n_mx_factureapp_error)
        xml = move.l10n_mx_factureapp_xml_id.raw
        self.assertEqual(cfdi.xsd_errors(xml), [])
        return cfdi.parse(xml)
