from odoo import Command, fields
from odoo.exceptions import UserError, ValidationError
from odoo.tests import tagged
from odoo.tools import mute_logger

from ..factureapp import documents as cfdi
from .common import FactureAppCommon

NS = {"cfdi": cfdi.NS_CFDI, "pago20": cfdi.NS_PAGO}


@tagged("post_install", "post_install_l10n", "-at_install")
class TestFactureAppStamp(FactureAppCommon):
    def test_branches_synced_and_credits(self):
        branches = self.credential.l10n_mx_factureapp_branch_ids
        self.assertEqual(sorted(branches.mapped("facture_id")), ["1", "2"])
        self.assertEqual(self.company.l10n_mx_factureapp_branch_id.facture_id, "1")
        self.credential.l10n_mx_factureapp_credit_threshold = 2000
        self.credential.action_l10n_mx_factureapp_check_credits()
        self.assertEqual(self.credential.l10n_mx_factureapp_credits, 1000)
        self.assertTrue(self.credential.activity_ids, "an activity warns that credits run low")

    def test_stamp_button(self):
        move = self._invoice()
        self.assertEqual(move.l10n_mx_factureapp_state, "to_stamp")
        self.assertEqual(move.l10n_mx_factureapp_payment_method, "PUE")
        move.action_l10n_mx_factureapp_stamp()
        root = self._stamped_root(move)
        self.assertEqual(root.get("Total"), "1160.00")
        self.assertEqual(
            root.find("cfdi:Receptor", NS).get("Nombre"),
            "UNIVERSIDAD ROBOTICA ESPAÑOLA",
        )
        self.assertEqual(len(move.l10n_mx_factureapp_uuid), 36)
        self.assertTrue(move.l10n_mx_factureapp_sat_certificate)
        self.assertTrue(move.l10n_mx_factureapp_pdf_id.raw.startswith(b"%PDF"))
        self.assertIn(
            f"id={move.l10n_mx_factureapp_uuid}",
            move.l10n_mx_factureapp_verification_url,
        )
        self.assertTrue(move.l10n_mx_factureapp_qr)
        doc = move.l10n_mx_factureapp_document_ids
        self.assertRecordValues(
            doc,
            [{"state": "accepted", "uuid": move.l10n_mx_factureapp_uuid, "kind": "I"}],
        )
        self.assertEqual(doc._einvoice_attempt_payload().count(b"Sello="), 0)
        self.assertTrue(doc.einvoice_exchange_count)
        self.assertGreaterEqual(doc.einvoice_exchange_count, 2)  # stamp + PDF
        self.assertEqual(move.einvoice_exchange_count, doc.einvoice_exchange_count)
        with self.assertRaises(UserError):
            move.button_draft()

    def test_send_and_print_stamps(self):
        move = self._invoice()
        wizard = (
            self.env["account.move.send.wizard"]
            .with_context(active_model="account.move", active_ids=move.ids)
            .create({})
        )
        self.assertIn("l10n_mx_factureapp", wizard.extra_edis)
        self.assertNotIn("l10n_mx_factureapp_invalid", wizard.alerts or {})
        wizard.action_send_and_print()
        self._stamped_root(move)

    def test_send_and_print_alerts_bad_input(self):
        partner = self.customer.copy({"l10n_mx_factureapp_regimen": False, "vat": "URE180429TM6"})
        product = self.product.copy({"l10n_mx_factureapp_clave_prod_serv": False})
        move = self._invoice(
            partner=partner,
            lines=[
                {
                    "product_id": product.id,
                    "price_unit": 100.0,
                    "tax_ids": [Command.set(self.iva16.ids)],
                }
            ],
        )
        wizard = (
            self.env["account.move.send.wizard"]
            .with_context(active_model="account.move", active_ids=move.ids)
            .create({})
        )
        alert = wizard.alerts["l10n_mx_factureapp_invalid"]
        self.assertEqual(alert["level"], "danger")
        self.assertIn("fiscal regime", alert["message"])
        self.assertIn("ClaveProdServ", alert["message"])
        with self.assertRaises(UserError):
            wizard.action_send_and_print()
        self.assertFalse(self.app.cfdis, "nothing was sent")
        self.assertFalse(move.l10n_mx_factureapp_document_ids)

    def test_bad_input_is_refused_before_sending(self):
        draft = self._invoice(post=False)
        self.assertIn("not posted", "\n".join(draft._l10n_mx_factureapp_precheck()))
        negative = self._invoice(
            lines=[
                {
                    "product_id": self.product.id,
                    "price_unit": 1000.0,
                    "tax_ids": [Command.set(self.iva16.ids)],
                },
                {
                    "product_id": self.product.id,
                    "price_unit": -100.0,
                    "tax_ids": [Command.set(self.iva16.ids)],
                },
            ]
        )
        with self.assertRaisesRegex(UserError, "negative"):
            negative.action_l10n_mx_factureapp_stamp()
        no_rate = self.env["res.currency"].with_context(active_test=False).search([("name", "=", "EUR")])
        no_rate.active = True
        no_rate.rate_ids.unlink()
        eur = self._invoice(currency_id=no_rate.id)
        self.assertIn("exchange rate", "\n".join(eur._l10n_mx_factureapp_precheck()))
        self.assertFalse(self.app.cfdis)
        with self.assertRaises(ValidationError):
            self.customer.copy({"vat": "NOTANRFC"})
        with self.assertRaises(ValidationError):
            self.product.l10n_mx_factureapp_clave_prod_serv = "99999999"
        with self.assertRaises(ValidationError):
            self.unit.l10n_mx_factureapp_clave_unidad = "ZZZZ"

    def test_kinds_foreign_currency_public_foreign_retentions_discount(self):
        usd = self.env.ref("base.USD")
        usd_move = self._invoice(currency_id=usd.id)
        ret_iva = self._tax("Test RET IVA 10.67", -10.67)
        ret_isr = self._tax("Test RET ISR 10", -10.0, tax_type="isr")
        ieps = self._tax("Test IEPS 8", 8.0, tax_type="ieps", include_base=True)
        exempt = self._tax("Test Exento", 0.0, factor="Exento")
        ret_move = self._invoice(taxes=self.iva16 | ret_iva | ret_isr, price=10000.0)
        ieps_move = self._invoice(taxes=ieps | self.iva16, price=333.33, quantity=3)
        exempt_move = self._invoice(taxes=exempt)
        discount_move = self._invoice(
            lines=[
                {
                    "product_id": self.product.id,
                    "price_unit": 999.99,
                    "quantity": 3,
                    "discount": 12.5,
                    "tax_ids": [Command.set(self.iva16.ids)],
                }
            ]
        )
        public = self.env["res.partner"].create(
            {"name": "PUBLICO EN GENERAL", "country_id": self.env.ref("base.mx").id}
        )
        public_move = self._invoice(partner=public)
        foreign = self.env["res.partner"].create(
            {
                "name": "Acme Inc",
                "country_id": self.env.ref("base.us").id,
                "vat": "98-7654321",
            }
        )
        foreign_move = self._invoice(partner=foreign)
        moves = usd_move | ret_move | ieps_move | exempt_move | discount_move | public_move | foreign_move
        for move in moves:
            move.action_l10n_mx_factureapp_stamp()
            root = self._stamped_root(move)
            self.assertEqual(root.get("Total"), f"{move.amount_total:.2f}", move.display_name)
        self.assertEqual(self._stamped_root(usd_move).get("Moneda"), "USD")
        self.assertTrue(self._stamped_root(usd_move).get("TipoCambio"))
        self.assertIsNotNone(self._stamped_root(public_move).find("cfdi:InformacionGlobal", NS))
        receptor = self._stamped_root(foreign_move).find("cfdi:Receptor", NS)
        self.assertEqual(
            (receptor.get("Rfc"), receptor.get("ResidenciaFiscal")),
            ("XEXX010101000", "USA"),
        )
        self.assertEqual(
            self._stamped_root(ret_move).find("cfdi:Impuestos", NS).get("TotalImpuestosRetenidos"),
            "2067.00",
        )

    def test_credit_note_relates_to_original(self):
        move = self._invoice()
        move.action_l10n_mx_factureapp_stamp()
        wizard = (
            self.env["account.move.reversal"]
            .with_context(active_model="account.move", active_ids=move.ids)
            .create({"reason": "devolución", "journal_id": move.journal_id.id})
        )
        refund = self.env["account.move"].browse(wizard.refund_moves()["res_id"])
        refund.action_post()
        self.assertEqual(refund.l10n_mx_factureapp_uso_cfdi, "G02")
        refund.action_l10n_mx_factureapp_stamp()
        root = self._stamped_root(refund)
        self.assertEqual(root.get("TipoDeComprobante"), "E")
        related = root.find("cfdi:CfdiRelacionados", NS)
        self.assertEqual(related.get("TipoRelacion"), "01")
        self.assertEqual(related[0].get("UUID"), move.l10n_mx_factureapp_uuid)

    def test_lost_answer_then_lookup_yields_one_uuid(self):
        move = self._invoice()
        self.injector.inject("lost", path="/rest/timbrado/produccion/")
        with mute_logger("odoo.addons.einvoice_common"):
            error = move._l10n_mx_factureapp_stamp()[move]
        self.assertIn("Outcome being confirmed with Facture APP", error)
        self.assertIn("could not be read", error)
        self.assertEqual(move.l10n_mx_factureapp_state, "unknown")
        self.assertEqual(len(self.app.cfdis), 1, "the service did stamp")
        calls = self.app.stamp_calls
        # Send & Print informs, then the retry looks the stamp up instead of sending again.
        move.action_l10n_mx_factureapp_stamp()
        self._stamped_root(move)
        self.assertEqual(self.app.stamp_calls, calls, "nothing was resent")
        self.assertEqual(move.l10n_mx_factureapp_uuid, next(iter(self.app.cfdis)))
        self.assertEqual(len(self.app.cfdis), 1)

    def test_reset_before_service_then_same_bytes_resent(self):
        move = self._invoice()
        self.injector.inject("reset", path="/rest/timbrado/produccion/")
        move._l10n_mx_factureapp_stamp()
        self.assertEqual(move.l10n_mx_factureapp_state, "unknown")
        self.assertFalse(self.app.cfdis)
        first = move.l10n_mx_factureapp_document_ids
        sha = first.payload_sha256
        move.action_l10n_mx_factureapp_stamp()  # looks up: not found, so the same bytes go again
        self._stamped_root(move)
        self.assertEqual(move.l10n_mx_factureapp_document_ids, first, "the same attempt, no new payload")
        self.assertEqual((first.state, first.attempts), ("accepted", 2))
        self.assertEqual(first.payload_sha256, sha, "the exact bytes were resent")
        self.assertEqual(self.app.by_digest, {sha: move.l10n_mx_factureapp_uuid})
        self.assertEqual(len(self.app.cfdis), 1)

    def test_auth_error_and_zero_credits(self):
        first = self._invoice()
        self.credential.password = "wrong"
        with mute_logger("odoo.addons.einvoice_common"):
            error = first._l10n_mx_factureapp_stamp()[first]
        self.assertIn("401", error)
        self.assertEqual(self.credential.state, "error")
        self.assertEqual(first.l10n_mx_factureapp_state, "waiting", "waits for the connection, never failed")
        self.credential.password = "demo-password"
        self._run_due_attempts(first)
        self._stamped_root(first)
        move = self._invoice()
        self.app.credits = 0
        error = move._l10n_mx_factureapp_stamp()[move]
        self.assertIn("credits", error)
        self.assertEqual(move.l10n_mx_factureapp_state, "error")
        self.assertEqual(len(self.app.cfdis), 1, "only the first invoice")
        wizard = (
            self.env["account.move.send.wizard"]
            .with_context(active_model="account.move", active_ids=move.ids)
            .create({})
        )
        self.assertIn("l10n_mx_factureapp_no_credits", wizard.alerts or {})
        self.app.credits = 5
        self.credential.action_l10n_mx_factureapp_check_credits()
        move.action_l10n_mx_factureapp_stamp()
        self._stamped_root(move)

    def test_payment_complement_for_ppd_invoice(self):
        term = self.env["account.payment.term"].create(
            {
                "name": "60 days",
                "line_ids": [Command.create({"value": "percent", "value_amount": 100, "nb_days": 60})],
            }
        )
        move = self._invoice(invoice_payment_term_id=term.id)
        self.assertEqual(move.l10n_mx_factureapp_payment_method, "PPD")
        self.assertEqual(move.l10n_mx_factureapp_payment_form, "99")
        move.action_l10n_mx_factureapp_stamp()
        self._stamped_root(move)
        self.env["account.payment.register"].with_context(active_model="account.move", active_ids=move.ids).create(
            {"amount": 500.0, "payment_date": fields.Date.today()}
        )._create_payments()
        payment_move = self.env["account.move"].search(
            [
                ("origin_payment_id", "!=", False),
                ("l10n_mx_factureapp_document_ids", "!=", False),
            ]
        )
        self.assertEqual(len(payment_move), 1)
        doc = payment_move.l10n_mx_factureapp_document_ids
        self.assertEqual((doc.kind, doc.state), ("P", "accepted"), doc.message)
        stamped = self.app.cfdis[doc.uuid]
        root = cfdi.parse(stamped.xml)
        self.assertEqual(cfdi.xsd_errors(root), [])
        related = root.find(".//pago20:DoctoRelacionado", NS)
        self.assertEqual(related.get("IdDocumento"), move.l10n_mx_factureapp_uuid)
        self.assertEqual(
            (
                related.get("ImpSaldoAnt"),
                related.get("ImpPagado"),
                related.get("ImpSaldoInsoluto"),
            ),
            ("1160.00", "500.00", "660.00"),
        )
        self.assertEqual(root.find(".//pago20:Totales", NS).get("MontoTotalPagos"), "500.00")

    def test_total_that_does_not_add_up_is_refused(self):
        """Rounding taxes per line makes Odoo's total differ from SAT's arithmetic: refused
        before sending, with the fix named; rounding globally (the MX default) stamps."""
        lines = [
            {
                "product_id": self.product.id,
                "price_unit": 0.33,
                "tax_ids": [Command.set(self.iva16.ids)],
            }
            for _ in range(10)
        ]
        self.company.tax_calculation_rounding_method = "round_per_line"
        move = self._invoice(lines=lines)
        self.assertEqual(move.amount_total, 3.80)
        problems = "\n".join(move._l10n_mx_factureapp_precheck())
        self.assertIn("3.83", problems)
        self.assertIn("round globally", problems)
        with self.assertRaises(UserError):
            move.action_l10n_mx_factureapp_stamp()
        self.assertFalse(self.app.cfdis)
        self.company.tax_calculation_rounding_method = "round_globally"
        fine = self._invoice(lines=lines)
        self.assertEqual(fine.amount_total, 3.83)
        fine.action_l10n_mx_factureapp_stamp()
        self.assertEqual(self._stamped_root(fine).get("Total"), "3.83")
