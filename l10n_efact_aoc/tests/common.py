from base64 import b64encode
from unittest.mock import patch

from odoo import Command
from odoo.tools import file_open

from odoo.addons.account.tests.common import AccountTestInvoicingCommon
from odoo.addons.einvoice_common.einvoice.faults import FaultInjector
from odoo.addons.einvoice_common.einvoice.runner import serve
from odoo.addons.einvoice_common.tests import odoo_compat  # noqa: F401  (Odoo 19 test harness)

from ..efact import sandbox

SECRET = "tests-secret-key"
ENTITY_A = "ESP0800001J"
ENTITY_B = "ESP0800002H"
DIR3_A = ("L01080193", "L01080194", "L01080195")
DIR3_B = ("L05000001", "L05000002", "L05000003")
SUPPLIER_NIF = "ESB12345674"


def _always_valid(self):
    for certificate in self:
        certificate.is_valid = True


class EfactCommon(AccountTestInvoicingCommon):
    """A sandbox hub on loopback, a supplier user and an RCF user serving two entities."""

    page_size = 500

    @classmethod
    @AccountTestInvoicingCommon.setup_country("es")
    def setUpClass(cls):
        super().setUpClass()
        # the registry's class: the definition class is named differently on 18.0 and 19.0
        patcher = patch.object(type(cls.env["certificate.certificate"]), "_compute_is_valid", _always_valid)
        patcher.start()
        cls.addClassCleanup(patcher.stop)
        cls.app = sandbox.make_app(
            users={
                "prov": {"secret": SECRET, "roles": ["proveidors"]},
                "rcf": {
                    "secret": SECRET,
                    "roles": ["rcf"],
                    "nifs": [ENTITY_A, ENTITY_B],
                },
            },
            entities=[
                {"nif": ENTITY_A, "nom": "Ajuntament de Proves", "dir3": [DIR3_A]},
                {
                    "nif": ENTITY_B,
                    "nom": "Consell Comarcal de Proves",
                    "dir3": [DIR3_B],
                },
            ],
            page_size=cls.page_size,
        )
        cls.injector = FaultInjector(cls.app)
        cls.server = serve(cls.injector)
        cls.addClassCleanup(cls.server.stop)
        cls.company = cls.company_data["company"]

    @classmethod
    def _setup_supplier(cls):
        cls.company.write(
            {
                "vat": "ES59962470K",
                "street": "C. de Embajadores, 68-116",
                "city": "Madrid",
                "zip": "12345",
                "state_id": cls.env.ref("base.state_es_m").id,
            }
        )
        cls.env["certificate.certificate"].create(
            {
                "name": "Test ES certificate",
                "content": b64encode(file_open("l10n_es_edi_facturae/tests/data/certificate_test.pfx", "rb").read()),
                "pkcs12_password": "test",
                "company_id": cls.company.id,
                "scope": "facturae",
            }
        )
        cls.credential = cls.env["einvoice.credential"].create(
            {
                "name": "eFACT supplier",
                "service": "efact",
                "environment": "test",
                "company_id": cls.company.id,
                "company_ids": [Command.set(cls.company.ids)],
                "username": "prov",
                "secret_key": SECRET,
                "l10n_efact_aoc_role_supplier": True,
                "max_retries": 1,
            }
        )
        cls.credential.base_url = cls.server.url
        cls.public_body = cls.env["res.partner"].create(
            {
                "name": "Ajuntament de Proves",
                "is_company": True,
                "vat": ENTITY_A,
                "street": "Plaça de la Vila, 1",
                "city": "Barcelona",
                "zip": "08002",
                "country_id": cls.env.ref("base.es").id,
                "state_id": cls.env.ref("base.state_es_b").id,
            }
        )
        roles = {code: cls.env.ref(f"l10n_es_edi_facturae.ac_role_type_{code}") for code in ("01", "02", "03")}
        for code, centre in zip(("01", "02", "03"), DIR3_A, strict=True):
            cls.env["res.partner"].create(
                {
                    "name": f"Centre {code}",
                    "type": "facturae_ac",
                    "parent_id": cls.public_body.id,
                    "country_id": cls.env.ref("base.es").id,
                    "street": "Plaça de la Vila, 1",
                    "zip": "08002",
                    "city": "Barcelona",
                    "state_id": cls.env.ref("base.state_es_b").id,
                    "l10n_es_edi_facturae_ac_center_code": centre,
                    "l10n_es_edi_facturae_ac_role_type_ids": [Command.set(roles[code].ids)],
                }
            )
        cls.tax_21 = cls.env["account.tax"].create(
            {
                "name": "IVA 21% test",
                "company_id": cls.company.id,
                "amount": 21.0,
                "type_tax_use": "sale",
                "l10n_es_edi_facturae_tax_type": "01",
            }
        )

    def _invoice(self, amount=100.0, post=True):
        return self.init_invoice(
            "out_invoice",
            partner=self.public_body,
            amounts=[amount],
            taxes=self.tax_21,
            post=post,
        )

    def setUp(self):
        super().setUp()
        state = self.app.state
        for store in (
            state.invoices,
            state.deliveries,
            state.late_attachments,
            state.pending_states,
            state.attachments,
        ):
            store.clear()
        self.injector.clear()
        self.injector.calls.clear()
