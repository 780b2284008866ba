from lxml import etree

from l10n_efact_aoc.efact import documents, received


def _invoice_node(xml):
    return documents.parse_xml(xml).xpath("//Invoice")[0]


def test_bill_data_reads_what_core_reads():
    xml = documents.build_sample_facturae(
        seller_nif="ESB12345674",
        seller_name="Prov",
        buyer_nif="ESP0800001J",
        buyer_name="Aj",
        number="F-1",
        issue_date="2026-11-02",
        lines=[("Servei", 2, 50.0, 21.0), ("Llibres", 1, 30.0, 4.0)],
    )
    data = received.bill_data(_invoice_node(xml))
    assert (data.refund, data.currency, data.issue_date, data.number) == (False, "EUR", "2026-11-02", "F-1")
    assert [(line.name, line.quantity, line.price_unit, line.discount) for line in data.lines] == [
        ("Servei", 2.0, 50.0, 0.0),
        ("Llibres", 1.0, 30.0, 0.0),
    ]
    assert [[(t.rate, t.withheld, t.fixed) for t in line.taxes] for line in data.lines] == [
        [(21.0, False, False)],
        [(4.0, False, False)],
    ]


def test_bill_data_refund_discounts_withholding_and_fixed_taxes():
    node = etree.fromstring(
        b"""<Invoice><InvoiceHeader><InvoiceNumber>R-1</InvoiceNumber></InvoiceHeader>
        <InvoiceIssueData><IssueDate>2026-11-03</IssueDate><InvoiceCurrencyCode>EUR</InvoiceCurrencyCode></InvoiceIssueData>
        <TaxesOutputs/><InvoiceTotals><InvoiceTotal>-90.00</InvoiceTotal></InvoiceTotals>
        <Items><InvoiceLine><ItemDescription>Abonament</ItemDescription><Quantity>1</Quantity>
          <UnitPriceWithoutTax>100</UnitPriceWithoutTax>
          <DiscountsAndRebates><Discount><DiscountRate>10</DiscountRate></Discount></DiscountsAndRebates>
          <Charges><Charge><ChargeRate>2.5</ChargeRate></Charge></Charges>
          <TaxesOutputs><Tax><TaxRate>21</TaxRate><TaxableBase><TotalAmount>100</TotalAmount></TaxableBase>
            <TaxAmount><TotalAmount>5.00</TotalAmount></TaxAmount></Tax></TaxesOutputs>
          <TaxesWithheld><Tax><TaxRate>15</TaxRate><TaxableBase><TotalAmount>100</TotalAmount></TaxableBase>
            <TaxAmount><TotalAmount>15.00</TotalAmount></TaxAmount></Tax></TaxesWithheld>
        </InvoiceLine></Items>
        <PaymentDetails><Installment><InstallmentDueDate>2026-12-03</InstallmentDueDate></Installment></PaymentDetails>
        <LegalLiterals><LegalReference>Exempt art. 20</LegalReference></LegalLiterals></Invoice>"""
    )
    data = received.bill_data(node)
    assert data.refund and data.due_date == "2026-12-03" and data.narration == "Exempt art. 20"
    (line,) = data.lines
    assert line.price_unit == -100.0, "a negative total makes a refund with the prices negated (as core does)"
    assert line.discount == 7.5
    assert [(t.rate, t.withheld, t.fixed) for t in line.taxes] == [(21.0, False, True), (15.0, True, False)]
