"""Issue 10 (eFACT supplier): documents a Catalan public body accepts in every case, and what is
checked before anything leaves for eFACT."""

from lxml import etree

from odoo import Command
from odoo.exceptions import UserError
from odoo.tests import tagged

from ..efact import corrective, documents
from .common import DIR3_A, DIR3_B, EfactCommon

FE = {"fe": documents.NS_322}


@tagged("post_install_l10n", "post_install", "-at_install")
class TestEfactSupplierDocuments(EfactCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._setup_supplier()
        cls.public_body.with_company(cls.company).invoice_sending_method = "manual"
        cls.tax_10 = cls.env["account.tax"].create(
            {
                "name": "IVA 10% test",
                "company_id": cls.company.id,
                "amount": 10.0,
                "type_tax_use": "sale",
                "l10n_es_edi_facturae_tax_type": "01",
            }
        )

    def _credit_note(self, invoice, method=None, reason="16", price=None):
        wizard = (
            self.env["account.move.reversal"]
            .with_context(active_model="account.move", active_ids=invoice.ids)
            .create(
                {
                    "journal_id": invoice.journal_id.id,
                    "l10n_es_edi_facturae_reason_code": reason,
                    "l10n_efact_aoc_correction_method": method,
                }
            )
        )
        wizard.refund_moves()
        credit = wizard.new_move_ids
        if price is not None:
            credit.invoice_line_ids.price_unit = price
        credit.action_post()
        return credit

    def _tree(self, move):
        xml, errors = move._l10n_es_edi_facturae_render_facturae()
        self.assertFalse(errors)
        xml = xml if isinstance(xml, bytes) else xml.encode()
        self.assertEqual(documents.validate_facturae(xml), [], "valid against the Facturae 3.2.2 XSD")
        return etree.fromstring(xml)

    def test_credit_notes_every_method_pass_the_xsd_and_reach_eFACT(self):
        invoice = self._invoice(1000.0)
        self.assertFalse(invoice._l10n_efact_aoc_send())
        for method, reason, price in (
            (None, "16", None),  # full cancellation: 01 by default
            (None, "83", 100.0),  # partial: 02 by default
            ("03", "83", 50.0),
            ("04", "80", 10.0),
        ):
            credit = self._credit_note(invoice, method, reason, price)
            node = self._tree(credit).find("Invoices/Invoice/InvoiceHeader/Corrective")
            expected = method or ("01" if price is None else "02")
            self.assertEqual(node.findtext("CorrectionMethod"), expected)
            self.assertEqual(node.findtext("CorrectionMethodDescription"), corrective.CORRECTION_METHODS[expected])
            self.assertEqual(node.findtext("ReasonCode"), reason)
            self.assertEqual(node.findtext("ReasonDescription"), corrective.REASONS[reason])
            self.assertEqual(node.findtext("InvoiceNumber"), invoice.name)
            self.assertEqual(node.findtext("InvoiceIssueDate"), invoice.invoice_date.isoformat())
            self.assertEqual(node.findtext("TaxPeriod/StartDate"), invoice.date.replace(day=1).isoformat())
            self.assertFalse(credit._l10n_efact_aoc_send(), f"method {expected} accepted by eFACT")
            self.assertEqual(credit.l10n_efact_aoc_state, "registered")
        self.assertEqual(len(self.app.state.invoices), 5)

    def test_taxes_outputs_one_per_tax_type_and_rate(self):
        invoice = self.env["account.move"].create(
            {
                "move_type": "out_invoice",
                "partner_id": self.public_body.id,
                "invoice_date": "2026-11-02",
                "invoice_line_ids": [
                    Command.create(
                        {"name": name, "quantity": 1, "price_unit": price, "tax_ids": [Command.set(tax.ids)]}
                    )
                    for name, price, tax in (
                        ("Manteniment", 100.0, self.tax_21),
                        ("Llibres", 40.0, self.tax_10),
                        ("Reparació", 50.0, self.tax_21),
                        ("Material", 10.0, self.tax_21),
                    )
                ],
            }
        )
        invoice.action_post()
        outputs = self._tree(invoice).findall("Invoices/Invoice/TaxesOutputs/Tax")
        self.assertEqual(
            [
                (t.findtext("TaxRate"), t.findtext("TaxableBase/TotalAmount"), t.findtext("TaxAmount/TotalAmount"))
                for t in outputs
            ],
            [("21.000", "160.00", "33.60"), ("10.000", "40.00", "4.00")],
        )
        self.assertEqual(len(self._tree(invoice).findall("Invoices/Invoice/Items/InvoiceLine/TaxesOutputs/Tax")), 4)

    def _centre(self, role):
        return self.public_body.child_ids.filtered(
            lambda c: c.type == "facturae_ac" and role in c.l10n_es_edi_facturae_ac_role_type_ids.mapped("code")
        )

    def test_dir3_checked_against_synced_units_before_sending(self):
        invoice = self._invoice(90.0)
        centre = self._centre("03")
        centre.l10n_es_edi_facturae_ac_center_code = "L0108019512"  # 11 characters: core's field keeps 10
        error = invoice._l10n_efact_aoc_send()
        self.assertIn(centre.display_name, error)
        self.assertIn("processing unit (role 03) L010801951 is not among the units eFACT lists", error)
        # a unit synced from eFACT with a code too long for Facturae is refused when chosen, not cut
        receptor = self.env["l10n_efact_aoc.receptor"]._l10n_efact_aoc_find(self.public_body.vat)
        long_unit = self.env["l10n_efact_aoc.dir3"].create(
            {
                "receptor_id": receptor.id,
                "oficina_comptable": DIR3_A[0],
                "organ_gestor": DIR3_A[1],
                "unitat_tramitadora": "L0108019512",
            }
        )
        with self.assertRaisesRegex(UserError, "processing unit.*L0108019512.*at most 10"):
            self.public_body.l10n_efact_aoc_dir3_id = long_unit
        # another public body's unit (both bodies synced from eFACT)
        Receptor = self.env["l10n_efact_aoc.receptor"]
        Receptor._l10n_efact_aoc_sync(self.credential)
        Receptor.search([])._l10n_efact_aoc_load_detail(self.credential)
        centre.l10n_es_edi_facturae_ac_center_code = DIR3_B[2]
        error = invoice._l10n_efact_aoc_send()
        self.assertIn("belongs to another public body (NIF ESP0800002H)", error)
        self.assertIn(centre.display_name, error)
        self.assertTrue(self.env["l10n_efact_aoc.receptor"]._l10n_efact_aoc_find(self.public_body.vat).detail_loaded)
        wizard = (
            self.env["account.move.send.wizard"]
            .with_context(active_model="account.move", active_ids=invoice.ids)
            .create({})
        )
        self.assertIn("belongs to another public body", wizard.alerts["l10n_efact_aoc_problems"]["message"])
        self.assertFalse(self.app.state.invoices, "nothing reached eFACT")
        self.assertFalse(invoice.l10n_efact_aoc_document_ids)
        centre.l10n_es_edi_facturae_ac_center_code = DIR3_A[2]
        self.assertFalse(invoice._l10n_efact_aoc_send())

    def test_nif_control_character_checked_before_sending(self):
        self.public_body.with_context(no_vat_validation=True).vat = "ESP0800001A"
        invoice = self._invoice(95.0)
        error = invoice._l10n_efact_aoc_send()
        self.assertIn("ESP0800001A", error)
        self.assertIn("control character", error)
        self.assertFalse(self.app.state.invoices)

    def test_loading_dir3_on_one_contact_keeps_the_others(self):
        Partner = self.env["res.partner"]
        values = {"is_company": True, "vat": "ESP0800002H", "country_id": self.env.ref("base.es").id}
        first = Partner.create(dict(values, name="Consell: serveis socials"))
        second = Partner.create(dict(values, name="Consell: obres"))
        first.action_l10n_efact_aoc_load_dir3()
        second.action_l10n_efact_aoc_load_dir3()
        self.assertTrue(first.l10n_efact_aoc_dir3_id)
        self.assertEqual(first.l10n_efact_aoc_dir3_id, second.l10n_efact_aoc_dir3_id)
        first.action_l10n_efact_aoc_load_dir3()  # loading again on one contact
        self.assertTrue(second.l10n_efact_aoc_dir3_id, "the other contact keeps its chosen unit")
        self.assertEqual(second.l10n_efact_aoc_dir3_id.unitat_tramitadora, DIR3_B[2])
