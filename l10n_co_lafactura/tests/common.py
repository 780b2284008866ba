import json

from odoo.addons.account.tests.common import AccountTestInvoicingCommon
from odoo.addons.einvoice_common.einvoice.faults import FaultInjector
from odoo.addons.einvoice_common.einvoice.runner import serve
from odoo.addons.einvoice_common.tests import odoo_compat  # noqa: F401  (Odoo 19 test harness)

from ..lafactura import documents as lf_docs
from ..lafactura import fixtures, sandbox


class LaFacturaCommon(AccountTestInvoicingCommon):
    """A Colombian company, a LaFactura.co connection pointed at the sandbox on loopback."""

    SUPPLIER = "830122566"  # no partner has this NIT in demo data

    @classmethod
    @AccountTestInvoicingCommon.setup_country("co")
    def setUpClass(cls):
        super().setUpClass()
        cls.lafactura = sandbox.make_app()
        cls.faults = FaultInjector(cls.lafactura)
        cls.server = serve(cls.faults)
        cls.addClassCleanup(cls.server.stop)
        cls.company = cls.company_data["company"]
        cls.company.partner_id.vat = "900373044-9"
        user, password = next(iter(sandbox.DEFAULT_USERS.items()))
        cls.credential = cls.env["einvoice.credential"].create(
            {
                "name": "LaFactura test",
                "service": "lafactura",
                "environment": "sandbox",
                "company_id": cls.company.id,
                "company_ids": [(6, 0, cls.company.ids)],
                "username": user,
                "password": password,
                "max_retries": 0,
            }
        )
        cls.credential.base_url = cls.server.url + "/facturacion.v30/"
        cls.Inbox = cls.env["l10n_co_lafactura.inbox"]
        cls.tax_19 = cls.env["account.chart.template"].ref("l10n_co_tax_1")
        cls.tax_5 = cls.env["account.chart.template"].ref("l10n_co_tax_0")
        cls.tax_0 = cls.env["account.chart.template"].ref("l10n_co_tax_7")

    def setUp(self):
        super().setUp()
        self.faults.clear()

    # helpers -------------------------------------------------------------------------
    def document(self, kind="fc", number="FE1", publish=True, **kwargs):
        kwargs.setdefault("supplier_nit", self.SUPPLIER)
        doc = fixtures.make_document(kind, number, **kwargs)
        if publish:
            self.lafactura.state.add(doc)
        return doc

    def deliver(self, doc, body=None):
        """What the controller does, without HTTP: returns the inbox row."""
        raw = body if body is not None else json.dumps(fixtures.hook_body(doc)).encode()
        delivery = lf_docs.inspect_delivery("POST", "application/json", raw)
        row_id, _inserted = self.Inbox._l10n_co_lafactura_store(self.credential, delivery, raw, "127.0.0.1")
        return self.Inbox.browse(row_id)

    def process(self):
        self.env.invalidate_all()
        return self.Inbox._cron_l10n_co_lafactura_process(limit=1000)

    def bill_of(self, doc):
        return self.env["account.move"].search(
            [
                ("company_id", "=", self.company.id),
                ("l10n_co_lafactura_cufe", "=", doc["general"]["cufe"]),
            ]
        )
