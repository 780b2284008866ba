from decimal import Decimal

from odoo import Command, fields
from odoo.exceptions import UserError
from odoo.tests import tagged
from odoo.tools import mute_logger

from ..factureapp import documents as cfdi
from .common import FactureAppCommon

NS = {"cfdi": cfdi.NS_CFDI, "pago20": cfdi.NS_PAGO}


@tagged("post_install", "post_install_l10n", "-at_install")
class TestFactureAppPayments(FactureAppCommon):
    """Payments complement (CFDI type P, Pagos 2.0) for every way a PPD invoice gets paid."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.term = cls.env["account.payment.term"].create(
            {
                "name": "60 days",
                "line_ids": [Command.create({"value": "percent", "value_amount": 100, "nb_days": 60})],
            }
        )
        cls.bank_journal = cls.company_data["default_journal_bank"]

    def _ppd(self, stamp=True, **values):
        move = self._invoice(invoice_payment_term_id=self.term.id, **values)
        self.assertEqual(move.l10n_mx_factureapp_payment_method, "PPD")
        if stamp:
            move.action_l10n_mx_factureapp_stamp()
            self._stamped_root(move)
        return move

    def _register(self, invoices, **values):
        wizard = (
            self.env["account.payment.register"]
            .with_context(active_model="account.move", active_ids=invoices.ids)
            .create({"payment_date": fields.Date.today(), **values})
        )
        return wizard._create_payments().move_id

    def _complements(self, move):
        return move.l10n_mx_factureapp_document_ids.filtered(lambda d: d.kind == "P")

    def _complement_root(self, doc):
        """The stamped complement as the service holds it, checked against the official Pagos20 XSD."""
        self.assertEqual((doc.kind, doc.state), ("P", "accepted"), doc.message)
        root = cfdi.parse(self.app.cfdis[doc.uuid].xml)
        self.assertEqual(cfdi.xsd_errors(root), [])
        self.assertEqual(root.get("TipoDeComprobante"), "P")
        return root

    def _related(self, root):
        return {
            node.get("IdDocumento"): (
                node.get("NumParcialidad"),
                node.get("ImpSaldoAnt"),
                node.get("ImpPagado"),
                node.get("ImpSaldoInsoluto"),
            )
            for node in root.iterfind(".//pago20:DoctoRelacionado", NS)
        }

    def _cron(self):
        self.env["account.move"]._cron_l10n_mx_factureapp_complements()

    def test_wizard_partial_payments_number_the_installments(self):
        invoice = self._ppd()
        first = self._register(invoice, amount=500.0)
        second = self._register(invoice, amount=660.0)
        uuid = invoice.l10n_mx_factureapp_uuid
        self.assertEqual(
            self._related(self._complement_root(self._complements(first))),
            {uuid: ("1", "1160.00", "500.00", "660.00")},
        )
        root = self._complement_root(self._complements(second))
        self.assertEqual(self._related(root), {uuid: ("2", "660.00", "660.00", "0.00")})
        self.assertEqual(root.find(".//pago20:Totales", NS).get("MontoTotalPagos"), "660.00")
        self.assertEqual(root.find(".//pago20:Pago", NS).get("FormaDePagoP"), "03")
        self.assertFalse((first | second).filtered("l10n_mx_factureapp_complement_pending"))
        # never twice: neither the job nor the button stamps the same payment again
        stamped = len(self.app.cfdis)
        self._cron()
        with self.assertRaisesRegex(UserError, "nothing to stamp"):
            first.origin_payment_id.action_l10n_mx_factureapp_stamp_payment()
        self.assertEqual(len(self.app.cfdis), stamped)
        self.assertEqual(len(self._complements(first)), 1)

    def test_outstanding_credit_reconciled_later_from_the_invoice(self):
        invoice = self._ppd()
        payment = self.env["account.payment"].create(
            {
                "payment_type": "inbound",
                "partner_type": "customer",
                "partner_id": self.customer.id,
                "amount": 1160.0,
                "journal_id": self.bank_journal.id,
                "memo": "TRANSF 4711",
            }
        )
        self.assertEqual(payment.l10n_mx_factureapp_payment_form, "03", "the customer's default")
        payment.l10n_mx_factureapp_payment_form = "04"  # paid by credit card
        payment.action_post()
        move = payment.move_id
        self.assertFalse(move.l10n_mx_factureapp_complement_pending, "not yet applied to an invoice")
        credit = move.line_ids.filtered(lambda line: line.account_type == "asset_receivable")
        invoice.js_assign_outstanding_line(credit.id)
        self.assertIn(invoice.payment_state, ("in_payment", "paid"))
        self.assertTrue(move.l10n_mx_factureapp_complement_pending)
        self.assertTrue(payment.l10n_mx_factureapp_complement_pending)
        self.assertFalse(self._complements(move), "the job stamps it, not the reconciliation itself")
        self._cron()
        root = self._complement_root(self._complements(move))
        self.assertEqual(self._related(root), {invoice.l10n_mx_factureapp_uuid: ("1", "1160.00", "1160.00", "0.00")})
        self.assertEqual(root.find(".//pago20:Pago", NS).get("NumOperacion"), "TRANSF 4711")
        self.assertEqual(root.find(".//pago20:Pago", NS).get("FormaDePagoP"), "04")
        self.assertEqual(self._complements(move).invoice_ids, invoice)
        self.assertFalse(move.l10n_mx_factureapp_complement_pending)
        self._cron()
        self.assertEqual(len(self._complements(move)), 1)

    def test_bank_statement_reconciliation(self):
        invoice = self._ppd()
        st_line = self.env["account.bank.statement.line"].create(
            {
                "journal_id": self.bank_journal.id,
                "date": fields.Date.today(),
                "payment_ref": "SPEI 123456",
                "partner_id": self.customer.id,
                "amount": 400.0,
            }
        )
        _liquidity, suspense, _other = st_line._seek_for_lines()
        receivable = invoice.line_ids.filtered(lambda line: line.account_type == "asset_receivable")
        suspense.account_id = receivable.account_id
        (suspense + receivable).reconcile()
        move = st_line.move_id
        self.assertTrue(move.l10n_mx_factureapp_complement_pending)
        self._cron()
        root = self._complement_root(self._complements(move))
        self.assertEqual(self._related(root), {invoice.l10n_mx_factureapp_uuid: ("1", "1160.00", "400.00", "760.00")})
        self.assertEqual(root.find(".//pago20:Totales", NS).get("MontoTotalPagos"), "400.00")
        # then the rest through the wizard: installment 2 starts from the statement's balance
        rest = self._register(invoice, amount=760.0)
        self.assertEqual(
            self._related(self._complement_root(self._complements(rest))),
            {invoice.l10n_mx_factureapp_uuid: ("2", "760.00", "760.00", "0.00")},
        )

    def test_one_payment_for_several_invoices(self):
        first = self._ppd()
        second = self._ppd(price=2000.0)
        self._register(first, amount=500.0)
        move = self._register(first | second, group_payment=True)
        self.assertEqual(len(move), 1)
        doc = self._complements(move)
        self.assertEqual(doc.invoice_ids, first | second)
        root = self._complement_root(doc)
        self.assertEqual(
            self._related(root),
            {
                first.l10n_mx_factureapp_uuid: ("2", "660.00", "660.00", "0.00"),
                second.l10n_mx_factureapp_uuid: ("1", "2320.00", "2320.00", "0.00"),
            },
        )
        totales = root.find(".//pago20:Totales", NS)
        self.assertEqual(totales.get("MontoTotalPagos"), "2980.00")
        self.assertEqual(totales.get("TotalTrasladosImpuestoIVA16"), "411.03")

    def test_payment_in_another_currency_than_the_invoice(self):
        usd = self.env.ref("base.USD")
        invoice = self._ppd(currency_id=usd.id)
        mxn = self.company.currency_id
        move = self._register(invoice, currency_id=mxn.id)
        root = self._complement_root(self._complements(move))
        pago = root.find(".//pago20:Pago", NS)
        related = root.find(".//pago20:DoctoRelacionado", NS)
        self.assertEqual((pago.get("MonedaP"), related.get("MonedaDR")), ("MXN", "USD"))
        self.assertEqual(related.get("ImpPagado"), "1160.00")
        equivalence = Decimal(related.get("EquivalenciaDR"))
        self.assertAlmostEqual(float(equivalence), 0.058, places=6)
        self.assertLessEqual(Decimal(related.get("ImpPagado")) / equivalence, Decimal(pago.get("Monto")))
        self.assertEqual(pago.get("Monto"), f"{abs(move.amount_total_signed):.2f}")
        # and a USD payment of an MXN invoice: TipoCambioP from the booked rate
        mxn_invoice = self._ppd()
        usd_move = self._register(mxn_invoice, currency_id=usd.id, amount=58.0)
        root = self._complement_root(self._complements(usd_move))
        pago = root.find(".//pago20:Pago", NS)
        self.assertEqual((pago.get("MonedaP"), pago.get("Monto")), ("USD", "58.00"))
        self.assertAlmostEqual(float(pago.get("TipoCambioP")), 1 / 0.058, places=3)
        related = root.find(".//pago20:DoctoRelacionado", NS)
        self.assertEqual(related.get("ImpPagado"), "1000.00")

    def test_paid_before_stamped_then_stamped(self):
        invoice = self._ppd(stamp=False)
        move = self._register(invoice, amount=1160.0)
        self.assertFalse(self._complements(move), "an unstamped invoice has no UUID to relate to")
        invoice.action_l10n_mx_factureapp_stamp()
        self.assertTrue(move.l10n_mx_factureapp_complement_pending)
        self._cron()
        self._complement_root(self._complements(move))

    def test_lost_answer_looked_up_never_stamped_twice(self):
        invoice = self._ppd()
        self.injector.inject("lost", path="/rest/timbrado/produccion/")
        with mute_logger("odoo.addons.einvoice_common"):
            move = self._register(invoice, amount=500.0)
        doc = self._complements(move)
        self.assertEqual(doc.state, "unknown")
        self.assertTrue(move.l10n_mx_factureapp_complement_pending)
        stamp_calls = self.app.stamp_calls
        self._cron()
        self.assertEqual(self.app.stamp_calls, stamp_calls, "looked up, not resent")
        self.assertEqual(doc.state, "accepted")
        self._complement_root(doc)
        self.assertFalse(move.l10n_mx_factureapp_complement_pending)
        payments = [c for c in self.app.cfdis.values() if ("pago", invoice.l10n_mx_factureapp_uuid) in c.related]
        self.assertEqual(len(payments), 1)

    def test_complement_refused_with_the_reason_and_retried_by_button(self):
        invoice = self._ppd()
        self.customer.l10n_mx_factureapp_regimen = False
        move = self._register(invoice, amount=500.0)
        self.assertIn("fiscal regime", move.l10n_mx_factureapp_complement_error)
        self.assertTrue(move.l10n_mx_factureapp_complement_pending)
        self.assertFalse(self._complements(move), "nothing sent")
        self._cron()  # waits for a person
        self.assertFalse(self._complements(move))
        self.customer.l10n_mx_factureapp_regimen = "601"
        move.origin_payment_id.action_l10n_mx_factureapp_stamp_payment()
        self._complement_root(self._complements(move))
        self.assertFalse(move.l10n_mx_factureapp_complement_error)

    def test_credit_note_applied_before_the_payment_lowers_the_balance(self):
        invoice = self._ppd()
        refund = self._invoice(move_type="out_refund", price=100.0, reversed_entry_id=invoice.id)
        refund_line = refund.line_ids.filtered(lambda line: line.account_type == "asset_receivable")
        if not refund_line.reconciled:  # posting a reversal may reconcile it already
            invoice.js_assign_outstanding_line(refund_line.id)
        self.assertEqual(invoice.amount_residual, 1044.0)
        move = self._register(invoice, amount=500.0)
        self.assertEqual(
            self._related(self._complement_root(self._complements(move))),
            {invoice.l10n_mx_factureapp_uuid: ("1", "1044.00", "500.00", "544.00")},
        )
        self.assertFalse(self._complements(refund), "a credit note is not a payment")

    def test_invoicing_user_pays_and_assigns_an_outstanding_credit(self):
        from odoo.tests.common import new_test_user

        user = new_test_user(
            self.env,
            login="mx_payments_user",
            groups="account.group_account_invoice",
            company_id=self.company.id,
            company_ids=[Command.set(self.company.ids)],
        )
        invoice = self._ppd()
        move = self._register(invoice.with_user(user), amount=300.0)
        self._complement_root(self._complements(move))
        payment = (
            self.env["account.payment"]
            .with_user(user)
            .create(
                {
                    "payment_type": "inbound",
                    "partner_type": "customer",
                    "partner_id": self.customer.id,
                    "amount": 200.0,
                    "journal_id": self.bank_journal.id,
                }
            )
        )
        payment.action_post()
        line = payment.move_id.line_ids.filtered(lambda ln: ln.account_type == "asset_receivable")
        invoice.with_user(user).js_assign_outstanding_line(line.id)
        payment.action_l10n_mx_factureapp_stamp_payment()
        self.assertEqual(
            self._related(self._complement_root(self._complements(payment.move_id))),
            {invoice.l10n_mx_factureapp_uuid: ("2", "860.00", "200.00", "660.00")},
        )
