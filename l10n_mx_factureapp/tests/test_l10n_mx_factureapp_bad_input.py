from odoo import Command
from odoo.exceptions import UserError, ValidationError
from odoo.tests import tagged
from odoo.tools import mute_logger

from .common import FactureAppCommon


@tagged("post_install", "post_install_l10n", "-at_install")
class TestFactureAppBadInput(FactureAppCommon):
    """The issue's "Bad input" list: a clear translated error on the invoice, an alert in Send & Print
    when it can be known in advance, and nothing sent or half-stamped."""

    def _alerts(self, moves):
        wizard = (
            self.env["account.move.send.wizard"]
            .with_context(active_model="account.move", active_ids=moves.ids)
            .create({})
        )
        return wizard, wizard.alerts or {}

    def _assert_nothing_sent(self, moves):
        self.assertFalse(self.app.cfdis, "nothing was stamped")
        self.assertEqual(self.app.stamp_calls, 0, "nothing was sent")
        self.assertFalse(moves.l10n_mx_factureapp_document_ids, "no stamping attempt")
        self.assertFalse(moves.filtered("l10n_mx_factureapp_uuid"))

    def test_missing_company_and_customer_fiscal_data(self):
        self.company.l10n_mx_factureapp_regimen = False
        partner = self.customer.copy({"zip": False, "l10n_mx_factureapp_uso_cfdi": False})
        move = self._invoice(partner=partner)
        move.l10n_mx_factureapp_uso_cfdi = False
        wizard, alerts = self._alerts(move)
        message = alerts["l10n_mx_factureapp_invalid"]["message"]
        self.assertEqual(alerts["l10n_mx_factureapp_invalid"]["level"], "danger")
        self.assertIn(self.company.name, message)
        self.assertIn("fiscal regime", message)
        self.assertIn("CFDI use", message)
        self.assertIn("ZIP code", message)
        with self.assertRaises(UserError):
            wizard.action_send_and_print()
        error = move._l10n_mx_factureapp_stamp()[move]
        self.assertIn("fiscal regime", error)
        self.assertEqual(move.l10n_mx_factureapp_error, error, "the reason is on the invoice")
        self._assert_nothing_sent(move)

    def test_wrong_fiscal_data(self):
        with self.assertRaisesRegex(ValidationError, "605"):  # wage earners: individuals only, refused at entry
            self.customer.copy({"l10n_mx_factureapp_regimen": "605"})
        move = self._invoice()
        move.l10n_mx_factureapp_uso_cfdi = "D01"  # medical fees: individuals only
        _wizard, alerts = self._alerts(move)
        self.assertIn("only for individuals", alerts["l10n_mx_factureapp_invalid"]["message"])
        ppd = self._invoice()
        ppd.write({"l10n_mx_factureapp_payment_method": "PPD", "l10n_mx_factureapp_payment_form": "03"})
        self.assertIn("payment form 99", "\n".join(ppd._l10n_mx_factureapp_precheck()))
        self._assert_nothing_sent(move | ppd)

    def test_negative_line_and_currency_without_rate_alerted_in_send_and_print(self):
        negative = self._invoice(
            lines=[
                {"product_id": self.product.id, "price_unit": 100.0, "tax_ids": [Command.set(self.iva16.ids)]},
                {"product_id": self.product.id, "price_unit": -10.0, "tax_ids": [Command.set(self.iva16.ids)]},
            ]
        )
        eur = self.env["res.currency"].with_context(active_test=False).search([("name", "=", "EUR")])
        eur.active = True
        eur.rate_ids.unlink()
        no_rate = self._invoice(currency_id=eur.id)
        good = self._invoice()
        self.assertIn("negative line", self._alerts(negative)[1]["l10n_mx_factureapp_invalid"]["message"])
        self.assertIn("exchange rate", self._alerts(no_rate)[1]["l10n_mx_factureapp_invalid"]["message"])
        self.assertNotIn("l10n_mx_factureapp_invalid", self._alerts(good)[1])
        results = (negative | no_rate | good)._l10n_mx_factureapp_stamp()
        self.assertFalse(results[good])
        self.assertIn("negative", results[negative])
        self.assertIn("EUR", results[no_rate])
        self.assertEqual(len(self.app.cfdis), 1, "the good one is stamped, the bad ones are not sent")
        self.assertFalse((negative | no_rate).l10n_mx_factureapp_document_ids)

    def test_draft_invoice(self):
        draft = self._invoice(post=False)
        with self.assertRaisesRegex(UserError, "not posted"):
            draft.action_l10n_mx_factureapp_stamp()
        with self.assertRaisesRegex(UserError, "not stamped yet"):
            draft.action_l10n_mx_factureapp_stamp_bulk()
        posted = self._invoice()
        (draft | posted).with_context(l10n_mx_factureapp_now=True).action_l10n_mx_factureapp_stamp_bulk()
        self.assertEqual(posted.l10n_mx_factureapp_state, "stamped")
        self.assertFalse(draft.l10n_mx_factureapp_state or draft.l10n_mx_factureapp_document_ids)

    def test_zero_credits_and_401_in_bulk_and_for_payments(self):
        moves = self._invoice(price=10.0) | self._invoice(price=20.0)
        self.app.credits = 0
        with mute_logger("odoo.addons.einvoice_common", "odoo.addons.l10n_mx_factureapp"):
            moves.with_context(l10n_mx_factureapp_now=True).action_l10n_mx_factureapp_stamp_bulk()
        self.assertFalse(self.app.cfdis)
        self.assertEqual(set(moves.mapped("l10n_mx_factureapp_state")), {"error"})
        self.assertTrue(
            all("credits" in e for e in moves.mapped("l10n_mx_factureapp_error")),
            moves.mapped("l10n_mx_factureapp_error"),
        )
        self.app.credits = 10
        self.credential.password = "wrong"
        with mute_logger("odoo.addons.einvoice_common", "odoo.addons.l10n_mx_factureapp"):
            moves.with_context(l10n_mx_factureapp_now=True).action_l10n_mx_factureapp_stamp_bulk()
        self.assertFalse(self.app.cfdis)
        self.assertEqual(set(moves.mapped("l10n_mx_factureapp_state")), {"waiting"}, "waiting for the connection")
        self.assertTrue(
            all("401" in e for e in moves.mapped("l10n_mx_factureapp_error")), moves.mapped("l10n_mx_factureapp_error")
        )
        self.assertEqual(self.credential.state, "error")
        # a payment complement refused with 401 keeps its reason on the payment and is not half-done
        self.credential.password = "demo-password"
        term = self.env["account.payment.term"].create(
            {"name": "60 days", "line_ids": [Command.create({"value": "percent", "value_amount": 100, "nb_days": 60})]}
        )
        ppd = self._invoice(invoice_payment_term_id=term.id)
        ppd.action_l10n_mx_factureapp_stamp()
        self.credential.password = "wrong"
        with mute_logger("odoo.addons.einvoice_common"):
            payment_move = (
                self.env["account.payment.register"]
                .with_context(active_model="account.move", active_ids=ppd.ids)
                .create({"amount": 100.0})
                ._create_payments()
                .move_id
            )
        complement = payment_move.l10n_mx_factureapp_document_ids
        self.assertEqual((complement.state, complement.waiting_reason), ("waiting", "connection"))
        self.assertIn("401", complement.message)
        self.assertTrue(payment_move.l10n_mx_factureapp_complement_pending, "not half-done: still to stamp")
        self.assertEqual(len(self.app.cfdis), 1, "only the invoice")
        self.credential.password = "demo-password"  # what waited for the connection goes now
        self._run_due_attempts(payment_move)
        self.assertEqual(complement.state, "accepted")
        self.assertEqual(set(moves.mapped("l10n_mx_factureapp_state")), {"stamped"})
        self.assertEqual(len(self.app.cfdis), 4, "two invoices, the PPD invoice and its complement: once each")
