from odoo import Command, fields
from odoo.tests import tagged

from .common import SELLER, SELLER_B, SUPPLIER, AnafCommon

BILL = """<?xml version="1.0" encoding="UTF-8"?>
<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
 xmlns:cac="urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
 xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2">
  <cbc:CustomizationID>urn:cen.eu:en16931:2017#compliant#urn:efactura.mfinante.ro:CIUS-RO:1.0.1</cbc:CustomizationID>
  <cbc:ID>{number}</cbc:ID>
  <cbc:IssueDate>{date}</cbc:IssueDate>
  <cbc:DueDate>{date}</cbc:DueDate>
  <cbc:InvoiceTypeCode>380</cbc:InvoiceTypeCode>
  <cbc:DocumentCurrencyCode>RON</cbc:DocumentCurrencyCode>
  <cac:AccountingSupplierParty><cac:Party>
    <cac:PostalAddress><cbc:StreetName>Strada Furnizorului 5</cbc:StreetName><cbc:CityName>Iasi</cbc:CityName>
      <cbc:CountrySubentity>RO-IS</cbc:CountrySubentity><cac:Country><cbc:IdentificationCode>RO</cbc:IdentificationCode></cac:Country></cac:PostalAddress>
    <cac:PartyTaxScheme><cbc:CompanyID>RO{supplier}</cbc:CompanyID><cac:TaxScheme><cbc:ID>VAT</cbc:ID></cac:TaxScheme></cac:PartyTaxScheme>
    <cac:PartyLegalEntity><cbc:RegistrationName>Furnizor SRL</cbc:RegistrationName></cac:PartyLegalEntity>
  </cac:Party></cac:AccountingSupplierParty>
  <cac:AccountingCustomerParty><cac:Party>
    <cac:PostalAddress><cbc:StreetName>Strada Lunga 1</cbc:StreetName><cbc:CityName>SECTOR1</cbc:CityName>
      <cbc:CountrySubentity>RO-B</cbc:CountrySubentity><cac:Country><cbc:IdentificationCode>RO</cbc:IdentificationCode></cac:Country></cac:PostalAddress>
    <cac:PartyTaxScheme><cbc:CompanyID>RO{buyer}</cbc:CompanyID><cac:TaxScheme><cbc:ID>VAT</cbc:ID></cac:TaxScheme></cac:PartyTaxScheme>
    <cac:PartyLegalEntity><cbc:RegistrationName>Cumparator</cbc:RegistrationName></cac:PartyLegalEntity>
  </cac:Party></cac:AccountingCustomerParty>
  <cac:TaxTotal><cbc:TaxAmount currencyID="RON">0.00</cbc:TaxAmount></cac:TaxTotal>
  <cac:LegalMonetaryTotal><cbc:LineExtensionAmount currencyID="RON">{amount}</cbc:LineExtensionAmount>
    <cbc:TaxExclusiveAmount currencyID="RON">{amount}</cbc:TaxExclusiveAmount>
    <cbc:TaxInclusiveAmount currencyID="RON">{amount}</cbc:TaxInclusiveAmount>
    <cbc:PayableAmount currencyID="RON">{amount}</cbc:PayableAmount></cac:LegalMonetaryTotal>
  <cac:InvoiceLine><cbc:ID>1</cbc:ID><cbc:InvoicedQuantity unitCode="C62">1</cbc:InvoicedQuantity>
    <cbc:LineExtensionAmount currencyID="RON">{amount}</cbc:LineExtensionAmount>
    <cac:Item><cbc:Name>Marfa</cbc:Name></cac:Item>
    <cac:Price><cbc:PriceAmount currencyID="RON">{amount}</cbc:PriceAmount></cac:Price></cac:InvoiceLine>
</Invoice>
"""


def bill_xml(number, buyer, amount="100.00", supplier=SUPPLIER):
    return BILL.format(
        number=number,
        buyer=buyer,
        amount=amount,
        supplier=supplier,
        date=fields.Date.to_string(fields.Date.today()),
    ).encode()


@tagged("post_install", "post_install_l10n", "-at_install")
class TestAnafReceive(AnafCommon):
    sandbox_options = {"page_size": 25}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.supplier = cls.env["res.partner"].create(
            {
                "name": "Furnizor SRL",
                "is_company": True,
                "vat": "RO" + SUPPLIER,
                "country_id": cls.env.ref("base.ro").id,
            }
        )

    def receive(self):
        return self.env["l10n_ro_anaf_efactura.message"]._cron_l10n_ro_anaf_efactura_receive()

    def bills(self, company):
        return self.env["account.move"].search(
            [
                ("company_id", "=", company.id),
                ("l10n_ro_anaf_efactura_download_id", "!=", False),
            ]
        )

    def test_received_over_two_pages_become_bills_once_in_the_right_companies(self):
        for n in range(40):
            self.app.state.add_received(bill_xml(f"FA-{n:03d}", SELLER), SELLER)
        for n in range(10):
            self.app.state.add_received(bill_xml(f"FB-{n:03d}", SELLER_B), SELLER_B)
        self.receive()
        bills_a, bills_b = self.bills(self.company), self.bills(self.company_b)
        self.assertEqual((len(bills_a), len(bills_b)), (40, 10))
        self.assertEqual(set(bills_a.mapped("move_type")), {"in_invoice"})
        self.assertEqual(set(bills_a.partner_id.mapped("vat")), {"RO" + SUPPLIER})
        self.assertEqual(sorted(bills_a.mapped("ref")), sorted(f"FA-{n:03d}" for n in range(40)))
        self.assertTrue(all(b.attachment_ids.filtered(lambda a: a.mimetype == "application/zip") for b in bills_a))
        self.assertTrue(all(b.attachment_ids.filtered(lambda a: a.mimetype == "application/pdf") for b in bills_a))
        pages = [p for op, p in self.app.state.calls if op == "listaMesajePaginatieFactura" and p["cif"] == SELLER]
        self.assertEqual(sorted(p["pagina"] for p in pages), ["1", "2"])
        downloads = sum(1 for op, _p in self.app.state.calls if op == "descarcare")
        self.assertEqual(downloads, 50)
        # a second run creates nothing and downloads nothing
        self.receive()
        self.assertEqual((len(self.bills(self.company)), len(self.bills(self.company_b))), (40, 10))
        self.assertEqual(sum(1 for op, _p in self.app.state.calls if op == "descarcare"), 50)

    def test_bill_entered_by_hand_gets_the_documents_instead_of_a_duplicate(self):
        manual = (
            self.env["account.move"]
            .with_company(self.company)
            .create(
                {
                    "move_type": "in_invoice",
                    "partner_id": self.supplier.id,
                    "ref": "MANUAL-1",
                    "invoice_date": fields.Date.today(),
                    "invoice_line_ids": [
                        Command.create(
                            {
                                "name": "Marfa",
                                "quantity": 1,
                                "price_unit": 250.0,
                                "tax_ids": [],
                            }
                        )
                    ],
                }
            )
        )
        self.app.state.add_received(bill_xml("MANUAL-1", SELLER, amount="250.00"), SELLER)
        self.receive()
        self.assertEqual(self.bills(self.company), manual)
        self.assertTrue(manual.attachment_ids.filtered(lambda a: a.mimetype == "application/zip"))

    def test_error_message_is_matched_to_our_invoice(self):
        move = self.make_invoice(30)
        self.app.state.force_nok[move.name] = "BR-RO-999: eroare de test"
        move.action_l10n_ro_anaf_efactura_send()
        self.assertEqual(move.l10n_ro_anaf_efactura_state, "sent")
        self.receive()
        self.assertEqual(move.l10n_ro_anaf_efactura_state, "nok")
        self.assertIn("BR-RO-999", move.l10n_ro_anaf_efactura_document_ids.anaf_errors)
