"""Documents a Romanian accountant issues, built by the addon and checked with ANAF's CIUS-RO 1.0.9
stylesheet: VAT categories (AE, K, G, E, O), credit notes of each, foreign buyers with and without states.

With L10N_RO_ANAF_EFACTURA_FIXTURES=<folder> the XML is also copied there (tests/anaf/fixtures/odoo)."""

import json
import os
import shutil
import subprocess
import sys
import tempfile

from odoo import Command, fields
from odoo.tests import tagged

from ..anaf import documents, vat
from .common import AnafCommon
from .test_anaf_send import CIUS_RO, _unlimited_address_space

NS = documents.NS_UBL


def _text(node, path):
    return node.findtext(path, namespaces=NS)


@tagged("post_install", "post_install_l10n", "-at_install")
class TestAnafVatCategories(AnafCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.de_company = cls.env["res.partner"].create(
            {
                "name": "Maschinenbau Müller GmbH",
                "is_company": True,
                "vat": "DE123456788",
                "street": "Leopoldstraße 12",
                "city": "München",
                "zip": "80802",
                "country_id": cls.env.ref("base.de").id,
            }
        )
        cls.de_company_with_state = cls.de_company.copy(
            {"name": "Berliner Handel GmbH", "city": "Berlin", "state_id": cls.env.ref("base.state_de_be").id}
        )
        cls.md_company = cls.env["res.partner"].create(
            {
                "name": "Agro Nistru SRL",
                "is_company": True,
                "company_registry": "1003600012345",
                "street": "Strada Ștefan cel Mare 1",
                "city": "Chișinău",
                "zip": "MD-2001",
                "country_id": cls.env.ref("base.md").id,
            }
        )
        cls.position = {
            key: cls._chart_ref(name)
            for key, name in (
                ("reverse", "fiscal_position_template_2"),
                ("intra", "fiscal_position_template_3"),
                ("extra", "fiscal_position_template_7"),
            )
        }
        cls.exempt_medical = cls.env["account.tax"].create(
            {
                "name": "Scutit art. 292 (1) b)",
                "amount_type": "percent",
                "amount": 0,
                "type_tax_use": "sale",
                "company_id": cls.company.id,
                "country_id": cls.env.ref("base.ro").id,
                "l10n_ro_anaf_efactura_category": "E",
                "l10n_ro_anaf_efactura_vatex": "VATEX-EU-132-1B",
                "l10n_ro_anaf_efactura_reason": "Scutit conform art. 292 alin. (1) lit. b) Cod fiscal",
            }
        )

    @classmethod
    def _chart_ref(cls, name):
        return cls.env.ref(f"account.{cls.company.id}_{name}")

    def issue(self, partner, product, price, tax, position=None, move_type="out_invoice", currency=None, mapped=True):
        if position and mapped:
            tax = position.map_tax(tax)  # as choosing the product does under this fiscal position
        move = self.env["account.move"].create(
            {
                "move_type": move_type,
                "partner_id": partner.id,
                "invoice_date": fields.Date.today(),
                "fiscal_position_id": position.id if position else False,
                "currency_id": (currency or self.company.currency_id).id,
                "invoice_line_ids": [
                    Command.create(
                        {"name": product, "quantity": 10, "price_unit": price, "tax_ids": [Command.set(tax.ids)]}
                    )
                ],
            }
        )
        move.action_post()
        return move

    def credit_note(self, move, reason="Retur marfă neconformă"):
        wizard = (
            self.env["account.move.reversal"]
            .with_context(active_model="account.move", active_ids=move.ids)
            .create({"reason": reason, "journal_id": move.journal_id.id, "date": fields.Date.today()})
        )
        refund = self.env["account.move"].browse(wizard.refund_moves()["res_id"])
        refund.action_post()
        return refund

    def build(self, move):
        xml, problems = move._l10n_ro_anaf_efactura_build()
        self.assertEqual(problems, [], move.name)
        return xml, documents.parse_xml(xml)

    def categories(self, root):
        """{(category, VATEX code, reason, percent)} of the VAT breakdown and the lines."""
        found = set()
        for node in root.iterfind(".//cac:TaxCategory", NS):
            found.add(
                ("total", _text(node, "cbc:ID"), _text(node, "cbc:TaxExemptionReasonCode"), _text(node, "cbc:Percent"))
            )
        for node in root.iterfind(".//cac:ClassifiedTaxCategory", NS):
            found.add(("line", _text(node, "cbc:ID"), None, _text(node, "cbc:Percent")))
        return found

    # -- the documents -------------------------------------------------------------------------------
    def documents_of_an_accountant(self):
        """Each kind once, with its credit note (the fixture set of the tier-1 stylesheet test)."""
        tvac_19, tvac_19_s = self._chart_ref("tvac_19"), self._chart_ref("tvac_19_s")
        moves = {
            # art. 331 Cod fiscal: cereals to a Romanian trader, through the chart's reverse-charge position
            "reverse_charge": self.issue(
                self.partner_ro, "Grâu panificație (NC 1001)", 1200, tvac_19, self.position["reverse"]
            ),
            "eu_services": self.issue(self.de_company, "Dezvoltare software", 800, tvac_19_s, self.position["intra"]),
            "eu_goods": self.issue(
                self.de_company_with_state, "Mobilier lemn masiv", 450, tvac_19, self.position["intra"]
            ),
            "export": self.issue(self.md_company, "Îngrășăminte NPK", 300, tvac_19, self.position["extra"]),
            "outside_scope": self.issue(self.md_company, "Consultanță IT", 500, tvac_19_s, self.position["extra"]),
            "exempt": self.issue(self.partner_ro, "Servicii de spitalizare", 200, self.exempt_medical),
        }
        for kind in list(moves):
            moves[f"{kind}_credit_note"] = self.credit_note(moves[kind])
        return moves

    def test_each_vat_category_as_anaf_expects(self):
        moves = self.documents_of_an_accountant()
        expected = {
            "reverse_charge": ("AE", "VATEX-EU-AE", "0.0"),
            "eu_services": ("AE", "VATEX-EU-AE", "0.0"),
            "eu_goods": ("K", "VATEX-EU-IC", "0.0"),
            "export": ("G", "VATEX-EU-G", "0.0"),
            "outside_scope": ("O", "VATEX-EU-O", None),
            "exempt": ("E", "VATEX-EU-132-1B", "0.0"),
        }
        for kind, (category, vatex, percent) in expected.items():
            for move in (moves[kind], moves[f"{kind}_credit_note"]):
                _xml, root = self.build(move)
                self.assertEqual(
                    self.categories(root),
                    {("total", category, vatex, percent), ("line", category, None, percent)},
                    kind,
                )
                reason = _text(root, "cac:TaxTotal/cac:TaxSubtotal/cac:TaxCategory/cbc:TaxExemptionReason")
                self.assertTrue(reason and "Directive" not in reason, (kind, reason))
                self.assertEqual(_text(root, "cac:TaxTotal/cbc:TaxAmount"), "0.00", kind)
        _xml, root = self.build(moves["exempt"])
        self.assertEqual(
            _text(root, "cac:TaxTotal/cac:TaxSubtotal/cac:TaxCategory/cbc:TaxExemptionReason"),
            "Scutit conform art. 292 alin. (1) lit. b) Cod fiscal",
        )
        _xml, root = self.build(moves["reverse_charge"])
        self.assertIn("art. 331", _text(root, "cac:TaxTotal/cac:TaxSubtotal/cac:TaxCategory/cbc:TaxExemptionReason"))

    def test_outside_scope_carries_no_vat_identifier(self):
        _xml, root = self.build(self.issue(self.md_company, "Consultanță IT", 500, self._chart_ref("tvati_extras")))
        schemes = [_text(s, "cac:TaxScheme/cbc:ID") for s in root.iterfind(".//cac:PartyTaxScheme", NS)]
        self.assertNotIn("VAT", schemes)  # BR-O-02
        seller = root.find("cac:AccountingSupplierParty/cac:Party", NS)
        self.assertEqual(_text(seller, "cac:PartyTaxScheme/cbc:CompanyID"), "8000000000")

    def test_a_zero_rate_tax_without_category_is_refused_naming_the_tax(self):
        bare = self.exempt_medical.copy(
            {
                "name": "TVA 0% fara categorie",
                "l10n_ro_anaf_efactura_category": False,
                "l10n_ro_anaf_efactura_vatex": False,
            }
        )
        _xml, problems = self.issue(self.partner_ro, "Servicii", 100, bare)._l10n_ro_anaf_efactura_build()
        self.assertEqual(len(problems), 1, problems)
        self.assertIn("TVA 0% fara categorie", problems[0])
        self.assertIn("e-Factura VAT category", problems[0])

    def test_the_fiscal_position_sets_the_category_of_taxes_without_one(self):
        bare = self.exempt_medical.copy({"name": "TVA 0%", "l10n_ro_anaf_efactura_category": False})
        position = self.env["account.fiscal.position"].create(
            {"name": "Taxare inversă art. 331 (deșeuri)", "l10n_ro_anaf_efactura_category": "AE"}
        )
        # the tax as the accountant chose it (in 19.0 a position without tax mappings removes every tax)
        _xml, root = self.build(self.issue(self.partner_ro, "Deșeuri feroase", 100, bare, position, mapped=False))
        self.assertIn(("total", "AE", "VATEX-EU-AE", "0.0"), self.categories(root))

    def test_the_romanian_chart_taxes_have_their_categories(self):
        self.assertEqual(self._chart_ref("tvati").l10n_ro_anaf_efactura_category, "AE")
        self.assertEqual(self._chart_ref("tvati_intras").l10n_ro_anaf_efactura_vatex, "VATEX-EU-AE")
        self.assertEqual(self._chart_ref("tvati_intrab").l10n_ro_anaf_efactura_category, "K")
        self.assertEqual(self._chart_ref("tvati_extra").l10n_ro_anaf_efactura_category, "G")
        self.assertFalse(self._chart_ref("tvac_19").l10n_ro_anaf_efactura_category)  # S from its rate
        # every default the chart has a tax for (19.0's chart also has the 11 % and 21 % self-billing ones)
        for name, (category, _vatex, _reason) in vat.RO_CHART_DEFAULTS.items():
            tax = self.env.ref(f"account.{self.company.id}_{name}", raise_if_not_found=False)
            self.assertEqual(tax.l10n_ro_anaf_efactura_category if tax else category, category, name)
        # installing the addon on a chart loaded before it: the hook fills the same defaults
        self._chart_ref("tvati").l10n_ro_anaf_efactura_category = False
        self.env["account.tax"]._l10n_ro_anaf_efactura_set_chart_defaults(self.company)
        self.assertEqual(self._chart_ref("tvati").l10n_ro_anaf_efactura_category, "AE")

    def test_the_demo_tax_is_labelled_21_not_19(self):
        company = self.env.ref("base.demo_company_ro", raise_if_not_found=False)
        if not company:
            self.skipTest("the database has no demo data")
        company = company.sudo()
        tax = self.env["account.tax"].sudo()._l10n_ro_anaf_efactura_demo_tax(company)  # the demo loads as admin
        if company.account_sale_tax_id.amount == 21:  # a chart with the 2025 rate (Odoo 19.0): used as it is
            self.assertEqual(tax.amount, 21)
            self.assertIn("21", tax.tax_group_id.name)
            self.assertFalse(
                self.env["account.tax"].sudo().search([("name", "=", "TVA 21%"), *tax._check_company_domain(company)])
            )
            return
        self.assertEqual((tax.amount, tax.invoice_label), (21, "TVA 21%"))
        self.assertIn("21%", tax.tax_group_id.name)
        self.assertFalse(company.account_sale_tax_id.tax_group_id == tax.tax_group_id)
        self.assertEqual(company.account_sale_tax_id.amount, 19)  # the chart itself is untouched

    # -- credit notes --------------------------------------------------------------------------------
    def test_credit_note_names_the_invoice_it_corrects_and_keeps_the_reason_out_of_order_reference(self):
        invoice = self.make_invoice(1000)
        invoice.ref = "PO-4471"
        refund = self.credit_note(invoice, reason="Discount comercial acordat ulterior")
        _xml, root = self.build(refund)
        reference = root.find("cac:BillingReference/cac:InvoiceDocumentReference", NS)
        self.assertEqual(_text(reference, "cbc:ID"), invoice.name)
        self.assertEqual(_text(reference, "cbc:IssueDate"), str(invoice.invoice_date))
        self.assertEqual(_text(root, "cac:OrderReference/cbc:ID"), "PO-4471")
        notes = [n.text for n in root.iterfind("cbc:Note", NS)]
        self.assertTrue(any("Discount comercial" in note for note in notes), notes)

    def test_credit_note_without_a_bank_account_needs_none(self):
        invoice = self.issue(self.de_company, "Dezvoltare software", 800, self._chart_ref("tvati_intras"))
        refund = self.credit_note(invoice)
        self.assertFalse(refund.partner_bank_id)
        _xml, root = self.build(refund)
        self.assertIsNone(root.find("cac:PaymentMeans", NS))

    def test_self_invoice_without_supplier_bank_needs_none(self):
        journal = self.env["account.journal"].create(
            {
                "name": "Autofacturi",
                "code": "AUTO",
                "type": "purchase",
                "company_id": self.company.id,
                "l10n_ro_anaf_efactura_self_billing": True,
                "default_account_id": self.company_data["default_account_expense"].id,
            }
        )
        supplier = self.partner_ro.copy({"name": "Colector Deseuri SRL", "bank_ids": False})
        bill = self.env["account.move"].create(
            {
                "move_type": "in_invoice",
                "partner_id": supplier.id,
                "journal_id": journal.id,
                "invoice_date": fields.Date.today(),
                "invoice_line_ids": [
                    Command.create(
                        {
                            "name": "Deșeuri feroase colectate",
                            "quantity": 2,
                            "price_unit": 150,
                            "tax_ids": [Command.set(self._chart_ref("tvatip19").ids)],
                        }
                    )
                ],
            }
        )
        bill.action_post()
        self.assertFalse(bill.partner_bank_id)
        _xml, root = self.build(bill)
        self.assertEqual(_text(root, "cbc:InvoiceTypeCode"), "389")
        self.assertIsNone(root.find("cac:PaymentMeans", NS))
        self.assertIn(("total", "AE", "VATEX-EU-AE", "0.0"), self.categories(root))

    # -- foreign buyers ------------------------------------------------------------------------------
    def test_foreign_buyers_need_no_state_and_romanian_ones_a_county(self):
        tax = self._chart_ref("tvati_intras")
        for partner, county in (
            (self.de_company, None),
            (self.md_company, None),
            (self.de_company_with_state, "DE-BE"),
        ):
            _xml, root = self.build(self.issue(partner, "Dezvoltare software", 100, tax))
            address = root.find("cac:AccountingCustomerParty/cac:Party/cac:PostalAddress", NS)
            self.assertEqual(_text(address, "cbc:CountrySubentity"), county, partner.name)
        no_county = self.partner_ro.copy({"name": "Fara Judet SRL", "state_id": False})
        _xml, problems = self.make_invoice(10, partner=no_county)._l10n_ro_anaf_efactura_build()
        self.assertEqual(len(problems), 1, problems)
        self.assertIn("Fara Judet SRL: set the county", problems[0])

    # -- ANAF's stylesheet -------------------------------------------------------------------------------
    def test_every_document_passes_the_cius_ro_1_0_9_stylesheet(self):
        moves = self.documents_of_an_accountant()
        moves["foreign_buyer_without_state"] = self.issue(
            self.de_company, "Dezvoltare software", 100, self._chart_ref("tvati_intras")
        )
        # invoiced in euros: the VAT total also in RON (BR-RO-030)
        eur = self.setup_other_currency("EUR", rates=[("2020-01-01", 0.2)])
        moves["eu_goods_eur"] = self.issue(
            self.de_company_with_state, "Mobilier lemn masiv", 90, self._chart_ref("tvati_intrab"), currency=eur
        )
        folder = tempfile.mkdtemp(prefix="anaf_vat_")
        self.addCleanup(shutil.rmtree, folder, True)
        paths = []
        for kind, move in moves.items():
            xml, _root = self.build(move)
            paths.append(os.path.join(folder, f"odoo_{kind}.xml"))
            with open(paths[-1], "wb") as handle:
                handle.write(xml)
        result = subprocess.run(
            [sys.executable, CIUS_RO, *paths],
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
            preexec_fn=_unlimited_address_space,
        )
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertEqual(json.loads(result.stdout), {path: [] for path in paths})
        out = os.environ.get("L10N_RO_ANAF_EFACTURA_FIXTURES")
        if out:
            for path in paths:
                shutil.copy(path, out)
