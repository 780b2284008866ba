import json

from odoo.exceptions import UserError
from odoo.tests import tagged
from odoo.tools import mute_logger

from ..lafactura import fixtures
from .common import LaFacturaCommon

LINES = (
    ("Papel", 3, "1000.00", "01", 19),
    ("Leche", 2, "500.00", "01", 5),
    ("Libro", 1, "20000.00", "01", 0),
)


@tagged("post_install", "-at_install", "post_install_l10n")
class TestLaFacturaProcessing(LaFacturaCommon):
    def test_invoice_becomes_posted_bill(self):
        doc = self.document(lines=LINES)
        row = self.deliver(doc)
        self.assertEqual(
            (row.state, row.cufe, row.doc_type, row.number, row.mode),
            ("received", doc["general"]["cufe"], "fc", "FE1", "1"),
        )
        self.process()
        bill = self.bill_of(doc)
        self.assertEqual(row.state, "processed", row.reason)
        self.assertEqual(row.move_id, bill)
        self.assertEqual((bill.move_type, bill.state, bill.ref), ("in_invoice", "posted", "FE1"))
        self.assertEqual(
            bill.invoice_line_ids.mapped("tax_ids"),
            self.tax_19 | self.tax_5 | self.tax_0,
        )
        self.assertEqual(
            [(line.quantity, line.price_unit) for line in bill.invoice_line_ids],
            [(3, 1000), (2, 500), (1, 20000)],
        )
        self.assertAlmostEqual(bill.amount_total, float(doc["totals"]["PayableAmount"]))
        partner = bill.partner_id
        self.assertEqual(
            (partner.vat, partner.l10n_latam_identification_type_id),
            ("830122566-1", self.env.ref("l10n_co.rut")),
        )
        self.assertTrue(partner.l10n_co_lafactura_to_review)
        attachments = self.env["ir.attachment"].search([("res_model", "=", "account.move"), ("res_id", "=", bill.id)])
        self.assertEqual(sorted(attachments.mapped("type")), ["binary", "binary", "url"])
        self.assertIn(doc["general"]["cufe"], attachments.filtered(lambda a: a.type == "url").url)
        self.assertIn(
            "catalogo-vpfe.dian.gov.co",
            bill.message_ids[0].body + "".join(bill.message_ids.mapped("body")),
        )
        self.assertTrue(row.dian_approved)
        self.assertEqual(self.lafactura.state.calls[-1][0], "getDocumentInfo")

    def test_supplier_found_by_nit_in_any_format(self):
        # as they were stored (imported, or typed before VAT checks; Odoo 19.0 refuses some of them now)
        Partner = self.env["res.partner"].with_context(no_vat_validation=True)
        for index, typed in enumerate(("830.122.566-1", "8301225661", "830122566", "CO830122566")):
            partner = Partner.create(
                {
                    "name": f"Andino {index}",
                    "vat": typed,
                    "is_company": True,
                    "country_id": self.env.ref("base.co").id,
                }
            )
            doc = self.document(number=f"FE-P{index}")
            self.deliver(doc)
            self.process()
            self.assertEqual(self.bill_of(doc).partner_id, partner)
            partner.active = False

    def test_credit_and_debit_notes_linked_even_out_of_order(self):
        fc = self.document(number="FE10", lines=LINES)
        nc = self.document("nc", "NC10", reference=fc)
        nd = self.document("nd", "ND10", reference=fc, lines=(("Intereses", 1, "5000.00", None, 0),))
        nc_row, nd_row = self.deliver(nc), self.deliver(nd)
        self.process()
        self.assertEqual((nc_row.state, nc_row.reason_code), ("error", "original_unknown"))
        self.assertIn("FE10", nc_row.reason)
        self.assertFalse(self.bill_of(nc))
        self.deliver(fc)
        self.process()  # the invoice, then the notes waiting for it
        self.process()
        bill, refund, debit = self.bill_of(fc), self.bill_of(nc), self.bill_of(nd)
        self.assertEqual((nc_row.state, nd_row.state), ("processed", "processed"))
        self.assertEqual((refund.move_type, refund.reversed_entry_id), ("in_refund", bill))
        self.assertEqual((debit.move_type, debit.debit_origin_id), ("in_invoice", bill))
        self.assertAlmostEqual(refund.amount_total, 119000.0)

    def test_duplicates_make_one_bill(self):
        doc = self.document()
        first = self.deliver(doc)
        self.assertEqual(self.deliver(doc), first)  # identical body: same row, counted
        self.assertEqual(first.delivery_count, 2)
        other_body = fixtures.hook_body(doc)
        other_body["document"]["provider"]["email"] = "otro@example.co"  # same CUFE, other body
        second = self.deliver(doc, json.dumps(other_body).encode())
        self.process()
        self.assertEqual((first.state, second.state), ("processed", "duplicate"))
        self.assertEqual(second.move_id, first.move_id)
        self.assertEqual(len(self.bill_of(doc)), 1)
        with self.assertRaises(UserError):
            first.action_l10n_co_lafactura_process_again()

    def test_test_mode_never_posted(self):
        doc = self.document(number="FT1", mode="2")
        row = self.deliver(doc)
        self.process()
        self.assertEqual((row.state, row.reason_code), ("ignored", "test_mode"))
        self.assertFalse(self.bill_of(doc))
        purchase = self.company_data["default_journal_purchase"]
        journal = purchase.copy(
            {
                "name": "LaFactura pruebas",
                "code": "LFP",
                "default_account_id": purchase.default_account_id.id,
            }
        )
        self.credential.write(
            {
                "l10n_co_lafactura_accept_test": True,
                "l10n_co_lafactura_test_journal_id": journal.id,
            }
        )
        row.action_l10n_co_lafactura_process_again()
        bill = self.bill_of(doc)
        self.assertEqual((row.state, bill.state, bill.journal_id), ("processed", "draft", journal))
        self.assertTrue(bill.l10n_co_lafactura_test_mode)
        with self.assertRaises(UserError):
            bill.action_post()

    def test_refusals_are_recorded_without_bill(self):
        cases = {}
        cases["dian_rejected"] = self.document(
            number="R1",
            approved=False,
            dian_messages=["Regla: 90, Rechazo: Documento procesado anteriormente."],
        )
        cases["other_company"] = self.document(number="R2", customer_nit="800197268")
        cases["not_found"] = self.document(number="R3", publish=False)
        bad_cufe = self.document(number="R4")
        bad_cufe["general"]["cufe"] = "0c35d069" * 13 + "e"
        cases["bad_cufe"] = bad_cufe
        not_json = self.document(number="R5")
        not_json["general"]["json"] = "<Invoice>no JSON</Invoice>"
        cases["json_not_json"] = not_json
        not_invoice = self.document(number="R6")
        not_invoice["general"]["json"] = json.dumps({"ApplicationResponse": {"ID": "1"}})
        cases["json_not_ubl"] = not_invoice
        rows = {code: self.deliver(doc) for code, doc in cases.items()}
        self.process()
        for code, row in rows.items():
            self.assertEqual((row.state, row.reason_code), ("rejected", code), row.reason)
            self.assertTrue(row.reason)
            self.assertFalse(row.move_id)
        self.assertIn("Documento procesado anteriormente", rows["dian_rejected"].reason)
        self.assertFalse(
            self.env["account.move"].search(
                [
                    ("l10n_co_lafactura_cufe", "!=", False),
                    ("company_id", "=", self.company.id),
                ]
            )
        )

    def test_unknown_tax_then_mapped(self):
        doc = self.document(number="T1", lines=(("Servicio", 1, "1000.00", "01", 16),))
        row = self.deliver(doc)
        self.process()
        self.assertEqual((row.state, row.reason_code), ("error", "unknown_tax"))
        self.assertIn("16", row.reason)
        self.assertFalse(self.bill_of(doc))
        tax_16 = self.env["account.chart.template"].ref("l10n_co_tax_2")
        self.env["l10n_co_lafactura.tax.map"].create(
            {
                "company_id": self.company.id,
                "scheme": "01",
                "percent": 16,
                "tax_id": tax_16.id,
            }
        )
        row.action_l10n_co_lafactura_process_again()
        self.assertEqual(row.state, "processed")
        self.assertEqual(self.bill_of(doc).invoice_line_ids.tax_ids, tax_16)

    def test_inc_is_mapped_to_a_non_deductible_tax(self):
        doc = self.document(number="INC1", lines=(("Almuerzo", 2, "10000.00", "04", 8),))
        row = self.deliver(doc)
        self.process()
        bill = self.bill_of(doc)
        self.assertEqual(row.state, "processed", row.reason)
        self.assertEqual(bill.invoice_line_ids.tax_ids.amount, 8)
        self.assertAlmostEqual(bill.amount_total, 21600.0)

    def test_totals_mismatch_keeps_draft_with_activity(self):
        doc = self.document(number="M1", hook_totals_override={"PayableAmount": "120000.00"})
        row = self.deliver(doc)
        self.process()
        bill = self.bill_of(doc)
        self.assertEqual((row.state, bill.state), ("processed", "draft"))
        activity = bill.activity_ids
        self.assertEqual(len(activity), 1)
        self.assertIn("PayableAmount", activity.note)
        self.assertIn("120000", activity.note)

    def test_connection_state_follows_the_last_call(self):
        self.assertEqual(self.credential.state, "draft")
        self.deliver(self.document(number="ST1"))
        self.process()
        self.assertEqual(self.credential.state, "connected")
        self.credential.password = "wrong"
        self.deliver(self.document(number="ST2"))
        self.process()
        self.assertEqual(self.credential.state, "error")
        self.assertTrue(self.credential.last_error)
        self.credential.password = next(iter(self.lafactura.users.values()))
        self.deliver(self.document(number="ST3"))
        self.process()
        self.assertEqual((self.credential.state, self.credential.last_error), ("connected", False))

    def test_lafactura_unreachable_or_refusing_credentials(self):
        doc = self.document(number="U1")
        row = self.deliver(doc)
        self.faults.inject("status", status=503)
        with mute_logger("odoo.addons.einvoice_common"):
            self.process()
        self.assertEqual((row.state, row.reason_code, row.attempts), ("error", "transient", 1))
        self.assertTrue(row.next_attempt_at)
        self.credential.password = "wrong"
        row.action_l10n_co_lafactura_process_again()
        self.assertEqual((row.state, row.reason_code, row.attempts), ("error", "auth", 1))  # counted anew
        self.credential.password = next(iter(self.lafactura.users.values()))
        self.faults.clear()
        row.action_l10n_co_lafactura_process_again()
        self.assertEqual(row.state, "processed")
        self.assertGreaterEqual(
            self.env["einvoice.exchange"].search_count([("res_model", "=", row._name), ("res_id", "=", row.id)]),
            3,
        )

    def test_connection_serving_two_companies(self):
        other = self.setup_other_company(name="CO Dos")["company"]
        other.partner_id.vat = "800197268-4"
        self.credential.company_ids = [(4, other.id)]
        self.assertTrue(self.env["l10n_co_lafactura.tax.map"].search_count([("company_id", "=", other.id)]))
        doc = self.document(number="MC1", customer_nit="800197268")
        row = self.deliver(doc)
        self.process()
        self.assertEqual((row.state, row.company_id), ("processed", other), row.reason)
        self.assertEqual(row.move_id.company_id, other)
        stranger = self.document(number="MC2", customer_nit="860034313")
        row = self.deliver(stranger)
        self.process()
        self.assertEqual((row.state, row.reason_code), ("rejected", "other_company"))

    def test_tax_rounding_of_the_supplier_is_kept(self):
        self.company.tax_calculation_rounding_method = "round_per_line"  # 19.0's default is global
        lines = (("Tornillo", 1, "10.03", "01", 19),) * 3  # 3 x 1.9057: 5.73 per line, 5.72 once
        doc = self.document(number="RND1", lines=lines, tax_rounding="global")
        row = self.deliver(doc)
        self.process()
        bill = self.bill_of(doc)
        self.assertEqual((row.state, bill.state), ("processed", "posted"), row.reason)
        self.assertAlmostEqual(bill.amount_tax, 5.72)
        self.assertAlmostEqual(bill.amount_total, 35.81)
        self.assertFalse(bill.activity_ids)
        self.credential.l10n_co_lafactura_tax_tolerance = 0.0
        doc2 = self.document(number="RND2", lines=lines, tax_rounding="global")
        self.deliver(doc2)
        self.process()
        bill2 = self.bill_of(doc2)
        self.assertEqual((bill2.state, len(bill2.activity_ids)), ("draft", 1))
        self.assertAlmostEqual(bill2.amount_tax, 5.73)
        self.assertIn("01 19.00% (UBL / Odoo): 5.72 / 5.73", bill2.activity_ids.note)

    def test_products_by_supplier_code_and_learned_account(self):
        first = self.document(number="PR1", lines=(("Resma carta", 2, "12000.00", "01", 19),))
        self.deliver(first)
        self.process()
        bill = self.bill_of(first)
        partner = bill.partner_id
        other_account = self.company_data["default_account_expense"].copy({"code": "519595", "name": "Papelería"})
        bill.button_draft()
        bill.invoice_line_ids.account_id = other_account
        bill.action_post()
        product = self.env["product.product"].create(
            {
                "name": "Resma",
                "seller_ids": [(0, 0, {"partner_id": partner.id, "product_code": "SKU-1"})],
            }
        )
        lines = (
            ("Resma carta", 1, "12000.00", "01", 19),
            ("Sin código", 1, "500.00", "01", 19),
        )
        second = self.document(number="PR2", lines=lines)
        self.deliver(second)
        self.process()
        bill2 = self.bill_of(second)
        first_line, second_line = bill2.invoice_line_ids
        self.assertEqual(first_line.product_id, product)  # SKU-1 is the supplier's code of line 1
        self.assertEqual((first_line.name, first_line.price_unit), ("Resma carta", 12000.0))
        self.assertEqual(second_line.product_id.id, False)
        self.assertFalse(second_line.product_id)
        self.assertEqual(second_line.account_id, other_account)  # learned from the last bill
        self.assertEqual(bill2.state, "posted")

    def test_booking_from_the_hook_alone_when_confirmation_is_off(self):
        self.credential.l10n_co_lafactura_confirm = False
        doc = self.document(number="NC-OFF", publish=False)  # LaFactura would not know it
        row = self.deliver(doc)
        calls = len(self.lafactura.state.calls)
        self.process()
        self.assertEqual(row.state, "processed", row.reason)
        self.assertEqual(len(self.lafactura.state.calls), calls)  # no getDocumentInfo
        self.assertFalse(row.dian_approved)

    def test_process_again_skips_booked_rows(self):
        good, bad = (
            self.document(number="PA1"),
            self.document(number="PA2", lines=(("x", 1, "10.00", "01", 16),)),
        )
        rows = self.deliver(good) | self.deliver(bad)
        self.process()
        self.assertEqual(rows.mapped("state"), ["processed", "error"])
        tax_16 = self.env["account.chart.template"].ref("l10n_co_tax_2")
        self.env["l10n_co_lafactura.tax.map"].create(
            {
                "company_id": self.company.id,
                "scheme": "01",
                "percent": 16,
                "tax_id": tax_16.id,
            }
        )
        bill = rows[0].move_id
        rows.action_l10n_co_lafactura_process_again()
        self.assertEqual(rows.mapped("state"), ["processed", "processed"])
        self.assertEqual(rows[0].move_id, bill)
