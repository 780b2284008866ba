import logging
from decimal import Decimal

from odoo import _, fields, models
from odoo.exceptions import UserError

from ..factureapp import documents as cfdi

_logger = logging.getLogger(__name__)


def _dec(value, digits=6):
    return Decimal(str(round(value, digits)))


class L10nMxFactureappPaymentMixin(models.AbstractModel):
    """Payments complement (CFDI type P) of a payment's journal entry; mixed into account.move."""

    _name = "l10n_mx_factureapp.payment.mixin"
    _description = "Facture APP payment complement"

    def _l10n_mx_factureapp_payment_invoices(self):
        """[(invoice, amount paid in the invoice currency)] for the stamped PPD invoices this payment pays."""
        self.ensure_one()
        partials, _exchange = self._get_reconciled_invoices_partials()
        paid = {}
        for _partial, amount, line in partials:
            invoice = line.move_id
            if (
                invoice.move_type == "out_invoice"
                and invoice.l10n_mx_factureapp_payment_method == "PPD"
                and invoice.l10n_mx_factureapp_state in ("stamped", "cancel_rejected")
            ):
                paid[invoice] = paid.get(invoice, 0.0) + amount
        return list(paid.items())

    def _l10n_mx_factureapp_payment_data(self):
        self.ensure_one()
        payment = self.origin_payment_id
        pairs = self._l10n_mx_factureapp_payment_invoices()
        if not pairs:
            raise UserError(
                _(
                    "Payment %(name)s pays no stamped PPD invoice: no payment complement is needed.",
                    name=self.display_name,
                )
            )
        invoice0 = pairs[0][0]
        branch = (
            invoice0.l10n_mx_factureapp_branch_id
            or self.company_id.l10n_mx_factureapp_branch_id
        )
        place = (branch.zip or self.company_id.zip or "").strip()
        receiver = invoice0._l10n_mx_factureapp_receiver(place, "CP01")
        currency = self.currency_id.name
        docs = []
        for invoice, amount in pairs:
            previous = invoice.l10n_mx_factureapp_document_ids.browse()
            for move in self.search(
                [
                    ("id", "!=", self.id),
                    ("l10n_mx_factureapp_document_ids.kind", "=", "P"),
                    ("l10n_mx_factureapp_document_ids.state", "=", "stamped"),
                ]
            ):
                if invoice in [
                    inv for inv, _amt in move._l10n_mx_factureapp_payment_invoices()
                ]:
                    previous |= move.l10n_mx_factureapp_document_ids
            installment = (
                len(previous.filtered(lambda d: d.kind == "P" and d.state == "stamped"))
                + 1
            )
            info = invoice._l10n_mx_factureapp_stamp_info()
            data = invoice._l10n_mx_factureapp_invoice_data()
            totals = cfdi.compute(data)
            taxes = []
            for (impuesto, factor, rate), (base, _amount) in totals.traslados.items():
                kind = {"001": "isr", "002": "iva", "003": "ieps"}[impuesto]
                taxes.append(
                    (
                        cfdi.Tax(kind, factor, Decimal(rate) if rate else Decimal(0)),
                        base,
                    )
                )
            for impuesto, _amount in totals.retenciones.items():
                kind = {"001": "isr", "002": "iva", "003": "ieps"}[impuesto]
                bases = [
                    ln
                    for ln in data.lines
                    for t in ln.taxes
                    if t.withholding and t.kind == kind
                ]
                rate = next(
                    t.rate
                    for ln in bases
                    for t in ln.taxes
                    if t.withholding and t.kind == kind
                )
                base = sum(
                    (
                        cfdi.d(ln.quantity) * cfdi.d(ln.unit_price)
                        - cfdi.d(ln.discount)
                        for ln in bases
                    ),
                    Decimal(0),
                )
                taxes.append(
                    (cfdi.Tax(kind, "Tasa", rate, withholding=True), cfdi.rnd(base, 2))
                )
            balance_before = invoice.amount_residual + amount
            equivalence = Decimal(1)
            if invoice.currency_id != self.currency_id:
                # units of the invoice currency per unit of the payment currency
                equivalence = _dec(
                    amount / (payment.amount if payment else self.amount_total), 10
                )
            docs.append(
                cfdi.PaidDocument(
                    uuid=info.uuid,
                    currency=invoice.currency_id.name,
                    amount_paid=_dec(amount, 2),
                    balance_before=_dec(balance_before, 2),
                    installment=installment,
                    total=Decimal(info.total),
                    taxes=taxes,
                    series=info.series,
                    number=info.number,
                    equivalence=equivalence,
                )
            )
        rate = None
        if currency != "MXN":
            rate = (
                _dec(1.0 / self.invoice_currency_rate, 6)
                if self.invoice_currency_rate
                else None
            )
            if not rate and payment:
                rate = _dec(
                    self.company_id.currency_id._get_conversion_rate(
                        self.currency_id,
                        self.company_id.currency_id,
                        self.company_id,
                        self.date,
                    ),
                    6,
                )
        paid_date = self.date or fields.Date.context_today(self)
        return cfdi.Payment(
            date=fields.Datetime.to_datetime(paid_date).replace(hour=12),
            issuer=invoice0._l10n_mx_factureapp_issuer(),
            receiver=receiver,
            place=place,
            payment_form=(
                payment.partner_id.commercial_partner_id.l10n_mx_factureapp_payment_form
                if payment
                and payment.partner_id.commercial_partner_id.l10n_mx_factureapp_payment_form
                not in (False, "99")
                else "03"
            ),
            currency=currency,
            amount=_dec(payment.amount if payment else self.amount_total, 2),
            documents=docs,
            rate=rate,
            operation=(payment.memo if payment and "memo" in payment._fields else "")
            or "",
            date_issued=self._l10n_mx_factureapp_local_now(),
        )

    def _l10n_mx_factureapp_build_payment(self):
        try:
            xml = cfdi.build_payment(self._l10n_mx_factureapp_payment_data())
        except cfdi.CfdiError as exc:
            raise UserError(
                _(
                    "The payment complement of %(name)s cannot be built: %(problems)s",
                    name=self.display_name,
                    problems=exc,
                )
            ) from exc
        problems = cfdi.xsd_errors(xml)
        if problems:
            raise UserError(
                _(
                    "The payment complement of %(name)s does not pass the SAT schema:\n%(errors)s",
                    name=self.display_name,
                    errors="\n".join(problems),
                )
            )
        return xml

    def _l10n_mx_factureapp_stamp_payment(self):
        """Stamp the payments complement (CFDI type P) of this payment's move."""
        self.ensure_one()
        invoice = self._l10n_mx_factureapp_payment_invoices()[:1]
        if not invoice:
            return False
        if self.l10n_mx_factureapp_document_ids.filtered(
            lambda d: d.kind == "P" and d.state == "stamped"
        ):
            return False
        move_branch = invoice[0][0].l10n_mx_factureapp_branch_id
        if move_branch and not self.l10n_mx_factureapp_branch_id:
            self.l10n_mx_factureapp_branch_id = move_branch
        return self._l10n_mx_factureapp_stamp_one(
            kind="P", build=self._l10n_mx_factureapp_build_payment
        )

    def action_l10n_mx_factureapp_stamp_payment(self):
        for move in self:
            error = move._l10n_mx_factureapp_stamp_payment()
            if error:
                raise UserError(error)
        return True


class AccountPaymentRegister(models.TransientModel):
    _inherit = "account.payment.register"

    def _create_payments(self):
        # EXTENDS 'account'
        payments = super()._create_payments()
        for payment in payments.filtered(lambda p: p.move_id and p.state != "draft"):
            move = payment.move_id
            if (
                move.country_code != "MX"
                or not move._l10n_mx_factureapp_payment_invoices()
            ):
                continue
            try:
                error = move._l10n_mx_factureapp_stamp_payment()
            except UserError as exc:
                error = exc.args[0]
            if error:
                move.with_context(no_new_invoice=True).message_post(
                    body=_(
                        "The payment complement could not be stamped: %(error)s",
                        error=error,
                    )
                )
        return payments
