import json
import os
import shutil
import subprocess
import sys
import tempfile

from lxml import etree

from odoo import Command, fields
from odoo.exceptions import UserError, ValidationError
from odoo.tests import tagged

from ..anaf import documents
from .common import SELLER, AnafCommon
from .test_anaf_send import CIUS_RO, _unlimited_address_space

NS = documents.NS_UBL
VALID_CNP = "1800101221144"


@tagged("post_install", "post_install_l10n", "-at_install")
class TestAnafB2cSelfBilling(AnafCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.person = cls.env["res.partner"].create(
            {
                "name": "Ion Popescu",
                "is_company": False,
                "street": "Strada Florilor 3",
                "city": "Iasi",
                "zip": "700001",
                "country_id": cls.env.ref("base.ro").id,
                "state_id": cls.env.ref("base.RO_IS").id,
            }
        )
        cls.purchase_tax_21 = cls.env["account.tax"].create(
            {
                "name": "TVA deductibil 21%",
                "amount_type": "percent",
                "amount": 21,
                "type_tax_use": "purchase",
                "company_id": cls.company.id,
                "country_id": cls.env.ref("base.ro").id,
            }
        )
        cls.self_billing_journal = cls.env["account.journal"].create(
            {
                "name": "Autofacturi",
                "code": "AUTO",
                "type": "purchase",
                "company_id": cls.company.id,
                "l10n_ro_anaf_efactura_self_billing": True,
                "default_account_id": cls.company_data["default_account_expense"].id,
            }
        )

    def make_bill(self, journal=None, post=True, move_type="in_invoice"):
        bill = self.env["account.move"].create(
            {
                "move_type": move_type,
                "partner_id": self.partner_ro.id,
                "journal_id": (journal or self.self_billing_journal).id,
                "invoice_date": self.make_invoice(1, post=False).invoice_date,
                "invoice_line_ids": [
                    Command.create(
                        {
                            "name": "Deseuri feroase colectate",
                            "quantity": 2,
                            "price_unit": 150,
                            "tax_ids": [Command.set(self.purchase_tax_21.ids)],
                        }
                    )
                ],
            }
        )
        if post:
            bill.action_post()
        return bill

    def customer_party(self, xml):
        root = documents.parse_xml(xml)
        return root.find("cac:AccountingCustomerParty/cac:Party", NS)

    # -- B2C -----------------------------------------------------------------------------
    def test_individual_without_cnp_goes_through_uploadb2c_with_13_zeros(self):
        move = self.make_invoice(300, partner=self.person)
        self.env.ref("l10n_ro_anaf_efactura.action_server_l10n_ro_anaf_efactura_send").with_context(
            active_model="account.move", active_ids=move.ids
        ).run()
        self.assertEqual(move.l10n_ro_anaf_efactura_state, "sent")
        self.assertEqual([op for op, _p in self.app.state.calls if op.startswith("upload")], ["uploadb2c"])
        upload = self.uploads(move)[0]
        self.assertTrue(upload.b2c)
        party = self.customer_party(upload.xml)
        self.assertEqual(party.findtext("cac:PartyLegalEntity/cbc:CompanyID", namespaces=NS), "0000000000000")
        self.assertIsNone(party.find("cac:PartyTaxScheme", NS))
        self.assertTrue(move.l10n_ro_anaf_efactura_document_ids.b2c)
        self.run_status_cron()
        self.assertEqual(move.l10n_ro_anaf_efactura_state, "ok")
        # an individual's invoice is not delivered to a buyer's SPV inbox
        self.assertFalse([m for m in self.app.state.messages if m["cif"] == "0000000000000"])

    def test_individual_with_cnp_from_send_and_print(self):
        self.person.l10n_ro_anaf_efactura_cnp = VALID_CNP
        move = self.make_invoice(120, partner=self.person)
        wizard = (
            self.env["account.move.send.wizard"]
            .with_context(active_model="account.move", active_ids=move.ids)
            .create({})
        )
        self.assertIn("ro_edi", wizard.extra_edis)
        wizard.action_send_and_print()
        self.assertEqual(move.l10n_ro_anaf_efactura_state, "sent")
        upload = self.uploads(move)[0]
        self.assertTrue(upload.b2c)
        party = self.customer_party(upload.xml)
        self.assertEqual(party.findtext("cac:PartyLegalEntity/cbc:CompanyID", namespaces=NS), VALID_CNP)
        self.run_status_cron()
        self.assertEqual(move.l10n_ro_anaf_efactura_state, "ok")

    def test_invalid_cnp_is_refused_on_the_partner(self):
        with self.assertRaises(ValidationError):
            self.person.l10n_ro_anaf_efactura_cnp = "1800101221145"

    def test_a_company_without_vat_nor_registry_is_not_b2c_and_is_stopped_before_upload(self):
        self.partner_ro.write({"vat": False, "company_registry": False})
        move = self.make_invoice(9)
        with self.assertRaises(UserError) as caught:
            move.action_l10n_ro_anaf_efactura_send()
        self.assertIn(self.partner_ro.name, str(caught.exception))
        self.assertFalse(self.app.state.uploads)

    def test_a_company_buyer_without_vat_is_identified_by_its_registry_number(self):
        # not by 13 zeros (19.0's l10n_ro_edi does that), which ANAF keeps for individuals
        self.partner_ro.write({"vat": False, "company_registry": "J12/3456/2019"})
        xml, problems = self.make_invoice(70)._l10n_ro_anaf_efactura_build()
        self.assertEqual(problems, [])
        party = self.customer_party(xml)
        self.assertEqual(party.findtext("cac:PartyLegalEntity/cbc:CompanyID", namespaces=NS), "J12/3456/2019")
        schemes = [s.findtext("cac:TaxScheme/cbc:ID", namespaces=NS) for s in party.iterfind("cac:PartyTaxScheme", NS)]
        self.assertNotIn("VAT", schemes)  # a registry number is no VAT identifier (BR-CO-09)

    # -- self-billing ------------------------------------------------------------------------
    def test_self_billed_vendor_bill_is_a_389_uploaded_with_autofactura(self):
        bill = self.make_bill()
        self.assertTrue(bill.l10n_ro_anaf_efactura_self_billed)
        if "is_self_billing" in bill.journal_id._fields:  # 19.0: one flag, Odoo's own self-billing journal
            self.assertTrue(bill.journal_id.is_self_billing)
        bill.action_l10n_ro_anaf_efactura_send()
        self.assertEqual(bill.l10n_ro_anaf_efactura_state, "sent")
        uploads = self.uploads(bill)
        self.assertEqual(len(uploads), 1)
        self.assertEqual(uploads[0].flags, {"autofactura": "DA"})
        self.assertEqual(uploads[0].cif, SELLER)
        self.assertFalse(uploads[0].b2c)
        root = documents.parse_xml(uploads[0].xml)
        self.assertEqual(etree.QName(root).localname, "Invoice")
        self.assertEqual(root.findtext("cbc:InvoiceTypeCode", namespaces=NS), "389")
        # paid by transfer to the supplier's account
        self.assertEqual(root.findtext("cac:PaymentMeans/cbc:PaymentMeansCode", namespaces=NS), "30")
        summary = documents.summarise_invoice(uploads[0].xml)
        self.assertEqual((summary.supplier_vat, summary.customer_vat), ("18547290", SELLER))
        self.assertEqual(summary.payable, 363)
        self.run_status_cron()
        self.assertEqual(bill.l10n_ro_anaf_efactura_state, "ok")
        self.assertTrue(bill.l10n_ro_anaf_efactura_document_ids.autofactura)
        with self.assertRaises(UserError):
            bill.action_l10n_ro_anaf_efactura_send()  # accepted: never twice
        self.assertEqual(len(self.uploads(bill)), 1)

    def test_self_billed_credit_note_is_a_cn_with_autofactura(self):
        refund = self.make_bill(move_type="in_refund")
        self.assertTrue(refund.l10n_ro_anaf_efactura_self_billed)
        refund.action_l10n_ro_anaf_efactura_send()
        upload = self.uploads(refund)[0]
        self.assertEqual((upload.standard, upload.flags), ("CN", {"autofactura": "DA"}))
        root = documents.parse_xml(upload.xml)
        self.assertEqual(etree.QName(root).localname, "CreditNote")
        self.assertEqual(root.findtext("cbc:CreditNoteTypeCode", namespaces=NS), "381")
        summary = documents.summarise_invoice(upload.xml)
        self.assertEqual((summary.supplier_vat, summary.customer_vat), ("18547290", SELLER))
        self.run_status_cron()
        self.assertEqual(refund.l10n_ro_anaf_efactura_state, "ok")

    def test_self_billing_from_the_list_action(self):
        bills = self.make_bill() | self.make_bill()
        self.env.ref("l10n_ro_anaf_efactura.action_server_l10n_ro_anaf_efactura_send").with_context(
            active_model="account.move", active_ids=bills.ids
        ).run()
        self.assertEqual(set(bills.mapped("l10n_ro_anaf_efactura_state")), {"sent"})
        self.assertEqual({p.get("autofactura") for op, p in self.app.state.calls if op == "upload"}, {"DA"})

    def test_vendor_bill_views_offer_the_self_invoice_button_and_state(self):
        form = self.env["account.move"].get_view(self.env.ref("account.view_move_form").id, "form")["arch"]
        self.assertIn("Send self-invoice to ANAF", form)
        bills = self.env["account.move"].get_view(self.env.ref("account.view_in_invoice_tree").id, "list")["arch"]
        self.assertIn("l10n_ro_anaf_efactura_state", bills)

    def test_ordinary_vendor_bill_is_not_sent(self):
        bill = self.make_bill(journal=self.company_data["default_journal_purchase"])
        self.assertFalse(bill.l10n_ro_anaf_efactura_self_billed)
        with self.assertRaises(UserError) as caught:
            bill.action_l10n_ro_anaf_efactura_send()
        self.assertIn("self-billing", str(caught.exception))
        self.assertFalse(self.app.state.uploads)

    def test_deadline_monitor_watches_self_billed_bills(self):
        bill = self.make_bill(post=False)
        bill.invoice_date = fields.Date.subtract(fields.Date.today(), days=9)
        bill.action_post()
        ordinary = self.make_bill(journal=self.company_data["default_journal_purchase"], post=False)
        ordinary.invoice_date = bill.invoice_date
        ordinary.action_post()
        self.assertTrue(bill.l10n_ro_anaf_efactura_deadline)
        warned = self.env["account.move"]._cron_l10n_ro_anaf_efactura_deadline()
        self.assertIn(bill, warned)
        self.assertNotIn(ordinary, warned)

    def test_sandbox_refuses_a_389_without_autofactura(self):
        bill = self.make_bill()
        xml, problems = bill._l10n_ro_anaf_efactura_build()
        self.assertEqual(problems, [])
        client = self.credential._l10n_ro_anaf_efactura_client()
        index = client.upload(xml, "RO" + SELLER).index
        self.assertEqual(client.message_state(index).state, "nok")

    def test_b2c_and_self_billing_xml_pass_the_cius_ro_1_0_9_stylesheet(self):
        """ANAF's official stylesheet (saxonche, own process) on the new kinds. With
        L10N_RO_ANAF_EFACTURA_FIXTURES=<folder> the XML is also copied there (tests/anaf/fixtures/odoo)."""
        cnp_person = self.person.copy({"name": "Maria Ionescu", "l10n_ro_anaf_efactura_cnp": VALID_CNP})
        moves = {
            "individual": self.make_invoice(80, partner=self.person),
            "individual_cnp": self.make_invoice(45, partner=cnp_person),
            "self_billing": self.make_bill(),
            "self_billing_credit_note": self.make_bill(move_type="in_refund"),
            "company_by_registry": self.make_invoice(
                60,
                partner=self.partner_ro.copy(
                    {"name": "Ferma Veche SRL", "vat": False, "company_registry": "J12/3456/2019"}
                ),
            ),
        }
        folder = tempfile.mkdtemp(prefix="anaf_cius_ro_")
        self.addCleanup(shutil.rmtree, folder, True)
        paths = []
        for kind, move in moves.items():
            xml, problems = move._l10n_ro_anaf_efactura_build()
            self.assertEqual(problems, [], kind)
            path = os.path.join(folder, f"odoo_{kind}.xml")
            with open(path, "wb") as handle:
                handle.write(xml)
            paths.append(path)
        result = subprocess.run(
            [sys.executable, CIUS_RO, *paths],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            preexec_fn=_unlimited_address_space,
        )
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertEqual(json.loads(result.stdout), {path: [] for path in paths})
        out = os.environ.get("L10N_RO_ANAF_EFACTURA_FIXTURES")
        if out:
            for path in paths:
                shutil.copy(path, out)
