from odoo.tests import tagged

from .common import LaFacturaCommon

HARDWARE = (
    ("Cemento gris 50 kg", 40, "32000.00", "01", 19),
    ("Varilla corrugada 3/8", 25, "18500.00", "01", 19),
)


@tagged("post_install", "-at_install", "post_install_l10n")
class TestLaFacturaRealDocuments(LaFacturaCommon):
    """Documents Colombian suppliers really send (issue 10): the bill's totals are theirs."""

    def test_unconditional_discount_and_freight_at_document_level(self):
        doc = self.document(
            number="FEFT-1024",
            lines=HARDWARE,
            doc_charges=((False, "87125.00", "00", "Descuento por pronto pago"), (True, "60000.00", "", "Flete")),
        )
        row = self.deliver(doc)
        self.process()
        bill = self.bill_of(doc)
        self.assertEqual((row.state, bill.state), ("processed", "posted"), bill.activity_ids.mapped("note"))
        self.assertAlmostEqual(bill.amount_untaxed, 1715375.00)
        self.assertAlmostEqual(bill.amount_tax, 331075.00)  # DIAN: global discounts keep the tax bases
        self.assertAlmostEqual(bill.amount_total, float(doc["totals"]["PayableAmount"]))
        discount, freight = bill.invoice_line_ids[-2:]
        self.assertEqual(
            [(discount.price_unit, discount.tax_ids.ids), (freight.price_unit, freight.tax_ids.ids)],
            [(-87125.0, []), (60000.0, [])],
        )
        self.assertIn("Descuento por pronto pago", discount.name)
        self.assertFalse(bill.activity_ids)

    def test_wrong_check_digit_matches_by_nit_and_keeps_the_bill_in_draft(self):
        wrong = self.document(number="FV-77", supplier_dv="7")  # DIAN's DV of 830122566 is 1
        row = self.deliver(wrong)
        self.process()
        bill = self.bill_of(wrong)
        self.assertEqual((row.state, bill.state), ("processed", "draft"), row.reason)
        partner = bill.partner_id
        self.assertEqual(partner.vat, "830122566-1")  # never a partner without NIT
        activity = bill.activity_ids
        self.assertEqual(len(activity), 1)
        self.assertIn("check digit 7", activity.note)
        self.assertIn("is 1", activity.note)
        right = self.document(number="FV-78")
        self.deliver(right)
        self.process()
        self.assertEqual(self.bill_of(right).partner_id, partner)  # no second partner
        self.assertEqual(self.bill_of(right).state, "posted")
        self.assertEqual(self.env["res.partner"].search_count([("vat", "like", "830122566")]), 1)

    def test_wrong_check_digit_for_a_known_supplier_finds_it(self):
        known = self.env["res.partner"].create(
            {
                "name": "Ferretería La 14",
                "vat": "830122566-1",
                "is_company": True,
                "country_id": self.env.ref("base.co").id,
                "l10n_latam_identification_type_id": self.env.ref("l10n_co.rut").id,
            }
        )
        doc = self.document(number="FV-80", supplier_dv="3")
        self.deliver(doc)
        self.process()
        bill = self.bill_of(doc)
        self.assertEqual((bill.partner_id, bill.state), (known, "draft"))
        self.assertTrue(bill.activity_ids)

    def test_supplier_whose_nit_is_refused_never_gets_a_posted_bill(self):
        # A NIT typed with one digit too many: no check digit can be computed, no VAT set.
        nit = "1020304050607080"
        first = self.document(number="PN-1", supplier_nit=nit, supplier_dv="1")
        self.deliver(first)
        self.process()
        bill = self.bill_of(first)
        self.assertFalse(bill.partner_id.vat)
        self.assertEqual(bill.partner_id.l10n_co_lafactura_nit, nit)
        self.assertEqual(bill.state, "draft")
        self.assertIn("could not be set", " ".join(bill.activity_ids.mapped("note")))
        second = self.document(number="PN-2", supplier_nit=nit, supplier_dv="1")
        self.deliver(second)
        self.process()
        self.assertEqual(self.bill_of(second).partner_id, bill.partner_id)

    def test_totals_activity_names_the_declared_tax(self):
        # A restaurant bill with an advance (anticipo); INC is set to "ignore" here, so the
        # bill lacks the tax the supplier declared and must say which tax the UBL declared.
        self.env["l10n_co_lafactura.tax.map"].search(
            [("company_id", "=", self.company.id), ("scheme", "=", "04")]
        ).unlink()
        self.env["l10n_co_lafactura.tax.map"].create(
            {"company_id": self.company.id, "scheme": "04", "any_rate": True, "action": "ignore"}
        )
        doc = self.document(
            number="SETT-88", lines=(("Almuerzo ejecutivo", 100, "18000.00", "04", 8),), prepaid="500000.00"
        )
        self.deliver(doc)
        self.process()
        bill = self.bill_of(doc)
        self.assertEqual(bill.state, "draft")
        note = bill.activity_ids.note
        self.assertIn("Taxes (UBL / Odoo): 144000.0 / 0.0", note)
        self.assertIn("Total (UBL / Odoo): 1944000.0 / 1800000.0", note)
        self.assertNotIn("-356000", note)

    def test_advance_does_not_make_a_mismatch(self):
        doc = self.document(number="ANT-1", lines=HARDWARE, prepaid="1000000.00")
        self.deliver(doc)
        self.process()
        bill = self.bill_of(doc)
        self.assertEqual(bill.state, "posted", bill.activity_ids.mapped("note"))
        self.assertAlmostEqual(bill.amount_total, 2073575.0)  # payable 1,073,575 + the advance

    def test_nested_general_json_is_rejected_with_a_reason(self):
        doc = self.document(number="DEEP-1", publish=False)
        doc["general"]["json"] = '{"Invoice": {"ID": "DEEP-1", "X": ' + '{"X": ' * 5000 + "1" + "}" * 5002
        self.lafactura.state.add(doc)  # LaFactura answers getDocumentInfo with the same general.json
        row = self.deliver(doc)
        self.assertEqual(row.state, "received")
        self.process()
        self.assertEqual((row.state, row.reason_code), ("rejected", "too_deep"))
        self.assertIn("deep", row.reason)
        self.assertFalse(self.bill_of(doc))
