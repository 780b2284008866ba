"""The payment complement (CFDI type P) of payments and bank statement lines."""

from decimal import ROUND_CEILING, Decimal

from odoo import _, api, fields, models
from odoo.exceptions import UserError

from odoo.addons.einvoice_common import dbtools
from odoo.addons.einvoice_common.models.einvoice_attempt import ACTIVE_STATES

from ..factureapp import documents as cfdi
from .helpers import _dec
from .l10n_mx_factureapp_document import HOLDING_STATES

COMPLEMENT_INVOICE_STATES = ("stamped", "cancel_rejected")  # an invoice whose payments need a complement
IMPUESTO_KIND = {"001": "isr", "002": "iva", "003": "ieps"}


class L10nMxFactureappMoveComplement(models.AbstractModel):
    """Mixed into account.move only (its fields and methods are the invoice's)."""

    _name = "l10n_mx_factureapp.move.complement"
    _description = "Facture APP: payment complement"

    # The entry that pays is an `account.payment`'s move or a bank statement line's move; whichever
    # way it got reconciled with stamped PPD invoices (payment wizard, outstanding credits on the
    # invoice, bank reconciliation), `account.partial.reconcile` flags it and a job stamps it.

    def _l10n_mx_factureapp_needs_complement(self):
        """This move is a stamped PPD customer invoice: payments of it need a complement."""
        self.ensure_one()
        return (
            self.move_type == "out_invoice"
            and self.l10n_mx_factureapp_payment_method == "PPD"
            and self.l10n_mx_factureapp_state in COMPLEMENT_INVOICE_STATES
        )

    def _l10n_mx_factureapp_is_payer(self):
        """This move is a payment (wizard, outstanding credit) or a bank statement line."""
        self.ensure_one()
        return (
            self.move_type == "entry"
            and self.state == "posted"
            and bool(self.origin_payment_id or self.statement_line_id)
        )

    def _l10n_mx_factureapp_payment_applications(self):
        """{invoice: {"amount": paid in the invoice currency, "amount_payment": in this entry's
        currency, "first_partial": id of its first reconciliation}} for each stamped PPD invoice
        this entry pays, in reconciliation order."""
        self.ensure_one()
        lines = self.line_ids.filtered(lambda line: line.account_type == "asset_receivable")
        applications = {}
        for partial in lines.matched_debit_ids.sorted("id"):
            invoice = partial.debit_move_id.move_id
            if invoice == self or not invoice._l10n_mx_factureapp_needs_complement():
                continue
            if not partial.debit_amount_currency:
                continue  # an exchange difference, not a payment
            entry = applications.setdefault(
                invoice, {"amount": 0.0, "amount_payment": 0.0, "first_partial": partial.id}
            )
            entry["amount"] += partial.debit_amount_currency
            entry["amount_payment"] += partial.credit_amount_currency
        return applications

    def _l10n_mx_factureapp_covered_invoices(self):
        """Invoices already in a stamped (or possibly stamped) complement of this entry."""
        self.ensure_one()
        return (
            self.sudo()
            .l10n_mx_factureapp_document_ids.filtered(lambda d: d.kind == "P" and d.state in HOLDING_STATES)
            .invoice_ids.sudo(False)
        )

    def _l10n_mx_factureapp_pending_applications(self):
        self.ensure_one()
        covered = self._l10n_mx_factureapp_covered_invoices()
        return {
            invoice: entry
            for invoice, entry in self._l10n_mx_factureapp_payment_applications().items()
            if invoice not in covered
        }

    def _l10n_mx_factureapp_applications_of(self, invoices):
        """The applications of this entry to `invoices` (those a complement attempt reports)."""
        self.ensure_one()
        return {inv: entry for inv, entry in self._l10n_mx_factureapp_payment_applications().items() if inv in invoices}

    def _l10n_mx_factureapp_payment_currency(self):
        lines = self.line_ids.filtered(lambda line: line.account_type == "asset_receivable")
        return lines.currency_id[:1] or self.currency_id

    def _l10n_mx_factureapp_installment(self, invoice, first_partial_id):
        """(NumParcialidad, ImpSaldoAnt) of `invoice` for this entry: counted from the invoice's
        reconciliations made before this entry's, so the numbers are right whatever order the
        complements are stamped in."""
        lines = invoice.line_ids.filtered(lambda line: line.account_type == "asset_receivable")
        earlier = lines.matched_credit_ids.filtered(lambda p: p.id < first_partial_id and p.debit_amount_currency)
        payers = earlier.credit_move_id.move_id.filtered(lambda m: m != self and m._l10n_mx_factureapp_is_payer())
        paid_before = sum(earlier.mapped("debit_amount_currency"))
        return len(payers) + 1, invoice.amount_total - paid_before

    @api.model
    def _l10n_mx_factureapp_invoice_tax_bases(self, invoice):
        """[(cfdi.Tax, base)] of a whole invoice, as its CFDI states them (to prorate per payment)."""
        data = invoice._l10n_mx_factureapp_invoice_data()
        totals = cfdi.compute(data)
        taxes = []
        for (impuesto, factor, rate), (base, _amount) in totals.traslados.items():
            tax = cfdi.Tax(IMPUESTO_KIND[impuesto], factor, Decimal(rate) if rate else Decimal(0))
            taxes.append((tax, base))
        for impuesto in totals.retenciones:
            kind = IMPUESTO_KIND[impuesto]
            withheld = [
                (line, tax) for line in data.lines for tax in line.taxes if tax.withholding and tax.kind == kind
            ]
            base = sum(
                (cfdi.d(line.quantity) * cfdi.d(line.unit_price) - cfdi.d(line.discount) for line, _tax in withheld),
                Decimal(0),
            )
            taxes.append((cfdi.Tax(kind, "Tasa", withheld[0][1].rate, withholding=True), cfdi.rnd(base, 2)))
        return taxes

    def _l10n_mx_factureapp_paid_document(self, invoice, entry, payment_currency):
        info = invoice._l10n_mx_factureapp_stamp_info()
        installment, balance_before = self._l10n_mx_factureapp_installment(invoice, entry["first_partial"])
        equivalence = Decimal(1)
        if invoice.currency_id != payment_currency:
            equivalence = _equivalence(entry["amount"], entry["amount_payment"])
        digits = invoice.currency_id.decimal_places
        return cfdi.PaidDocument(
            uuid=info.uuid,
            currency=invoice.currency_id.name,
            amount_paid=_dec(entry["amount"], digits),
            balance_before=_dec(balance_before, digits),
            installment=installment,
            total=Decimal(info.total),
            taxes=self._l10n_mx_factureapp_invoice_tax_bases(invoice),
            series=info.series,
            number=info.number,
            equivalence=equivalence,
        )

    def _l10n_mx_factureapp_payment_rate(self, currency):
        """TipoCambioP: MXN per unit of the payment currency, as booked on this entry."""
        if currency.name == "MXN":
            return None
        lines = self.line_ids.filtered(lambda line: line.account_type == "asset_receivable")
        amount_currency = sum(lines.mapped("amount_currency"))
        balance = sum(lines.mapped("balance"))
        if amount_currency:
            return _dec(balance / amount_currency, 6)
        rate = self.company_id.currency_id._get_conversion_rate(
            currency, self.company_id.currency_id, self.company_id, self.date
        )
        return _dec(rate, 6) if rate else None

    def _l10n_mx_factureapp_payment_form_code(self):
        payment = self.origin_payment_id
        form = payment.l10n_mx_factureapp_payment_form if payment else False
        if not form and self.statement_line_id:
            form = self.statement_line_id.partner_id.commercial_partner_id.l10n_mx_factureapp_payment_form
        return form if form and form != "99" else "03"

    def _l10n_mx_factureapp_payment_data(self, applications=None):
        self.ensure_one()
        if applications is None:
            applications = self._l10n_mx_factureapp_pending_applications()
        if not applications:
            raise UserError(
                _(
                    "Payment %(name)s pays no stamped PPD invoice without a complement: no payment complement is "
                    "needed.",
                    name=self.display_name,
                )
            )
        invoices = self.env["account.move"].union(*applications)
        if len(invoices.partner_id.commercial_partner_id) > 1:
            raise UserError(
                _(
                    "Payment %(name)s pays invoices of several customers (%(customers)s): a payment complement has "
                    "one receiver. Split the payment per customer.",
                    name=self.display_name,
                    customers=", ".join(invoices.partner_id.commercial_partner_id.mapped("display_name")),
                )
            )
        invoice0 = invoices[0]
        branch = invoice0.l10n_mx_factureapp_branch_id or self.company_id.l10n_mx_factureapp_branch_id
        place = (branch.zip or self.company_id.zip or "").strip()
        currency = self._l10n_mx_factureapp_payment_currency()
        docs = [
            self._l10n_mx_factureapp_paid_document(invoice, entry, currency) for invoice, entry in applications.items()
        ]
        amount = sum(entry["amount_payment"] for entry in applications.values())
        payment = self.origin_payment_id
        operation = (payment.memo if payment else self.statement_line_id.payment_ref) or ""
        series, number = self._l10n_mx_factureapp_series_number()
        return cfdi.Payment(
            date=fields.Datetime.to_datetime(self.date or fields.Date.context_today(self)).replace(hour=12),
            issuer=invoice0._l10n_mx_factureapp_issuer(),
            receiver=invoice0._l10n_mx_factureapp_receiver(place, "CP01"),
            place=place,
            payment_form=self._l10n_mx_factureapp_payment_form_code(),
            currency=currency.name,
            amount=_dec(amount, currency.decimal_places),
            documents=docs,
            rate=self._l10n_mx_factureapp_payment_rate(currency),
            operation=operation,
            date_issued=self._l10n_mx_factureapp_local_now(),
            series=series,
            number=number,
        )

    def _l10n_mx_factureapp_build_payment(self, applications=None):
        try:
            xml = cfdi.build_payment(self._l10n_mx_factureapp_payment_data(applications))
        except cfdi.CfdiError as exc:
            raise UserError(
                _(
                    "The payment complement of %(name)s cannot be built: %(problems)s",
                    name=self.display_name,
                    problems="\n".join(self._l10n_mx_factureapp_problem_text(p) for p in exc.problems),
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
        """Stamp the complement of the invoices this entry pays that no complement of it covers yet.
        A live attempt is checked now (looked up, or its stored bytes sent); nothing new is built
        meanwhile. Returns a translated text, or False."""
        self.ensure_one()
        dbtools.commit(self.env)  # the engine's own cursor must see this payment
        live = self._l10n_mx_factureapp_check_live()
        if not live:
            applications = self._l10n_mx_factureapp_pending_applications()
            if not applications:
                return False
            invoices = self.env["account.move"].union(*applications)
            move_branch = invoices[:1].l10n_mx_factureapp_branch_id
            if move_branch and not self.l10n_mx_factureapp_branch_id:
                self.l10n_mx_factureapp_branch_id = move_branch

            def build():
                return self._l10n_mx_factureapp_build_payment(applications)

            extra = {"kind": "P", "invoice_ids": [(6, 0, invoices.ids)]}
            refused = self._l10n_mx_factureapp_start([(self, build, extra)])
            if refused.get(self):
                return refused[self]
        attempt = self._l10n_mx_factureapp_complement_attempt()
        return attempt._l10n_mx_factureapp_outcome() if attempt else False

    def _l10n_mx_factureapp_complement_attempt(self):
        attempts = self.sudo().l10n_mx_factureapp_document_ids.filtered(lambda d: d.kind == "P")
        return attempts.sorted("id", reverse=True)[:1]

    def _l10n_mx_factureapp_process_complement(self):
        """Stamp this entry's complement, record the outcome on it; never raises. Returns the error."""
        self.ensure_one()
        try:
            error = self._l10n_mx_factureapp_stamp_payment()
        except UserError as exc:
            error = exc.args[0]
        attempt = self._l10n_mx_factureapp_complement_attempt()
        live = attempt.state in ACTIVE_STATES
        values = {
            "l10n_mx_factureapp_complement_pending": bool(live or self._l10n_mx_factureapp_pending_applications()),
            # a live attempt is followed by the attempts' job; anything else waits for a person
            "l10n_mx_factureapp_complement_error": error if error and not live else False,
        }
        if any(self[key] != value for key, value in values.items()):
            self._l10n_mx_factureapp_write(values)
        if error and not live:
            self.with_context(no_new_invoice=True).message_post(
                body=_("The payment complement could not be stamped: %(error)s", error=error)
            )
        return error

    def action_l10n_mx_factureapp_stamp_payment(self):
        self.check_access("write")
        for move in self:
            live = self.env["l10n_mx_factureapp.document"].sudo()._einvoice_attempt_live(move)
            if not live and not move._l10n_mx_factureapp_pending_applications():
                raise UserError(
                    _(
                        "%(name)s pays no stamped PPD invoice without a complement: nothing to stamp.",
                        name=move.display_name,
                    )
                )
            error = move._l10n_mx_factureapp_process_complement()
            attempt = move._l10n_mx_factureapp_complement_attempt()
            if error and attempt.state not in ACTIVE_STATES:
                raise UserError(error)
        return True

    @api.model
    def _cron_l10n_mx_factureapp_complements(self, limit=50):
        """Stamp the complements of entries flagged when they were reconciled with stamped PPD invoices."""
        moves = self.env["account.move"].search(
            [
                ("l10n_mx_factureapp_complement_pending", "=", True),
                ("l10n_mx_factureapp_complement_error", "=", False),
            ],
            limit=limit,
            order="id",
        )
        for move in dbtools.lock_skip_locked(moves):
            move._l10n_mx_factureapp_process_complement()
            dbtools.commit(self.env)  # one payment at a time
        if len(moves) == limit:
            self.env.ref("l10n_mx_factureapp.ir_cron_l10n_mx_factureapp_complements").sudo()._trigger()

    def _l10n_mx_factureapp_flag_payers(self):
        """Flag the payments of this (just stamped) PPD invoice that were reconciled before its stamp."""
        lines = self.line_ids.filtered(lambda line: line.account_type == "asset_receivable")
        payers = lines.matched_credit_ids.credit_move_id.move_id.filtered(lambda m: m._l10n_mx_factureapp_is_payer())
        if payers:
            payers.write({"l10n_mx_factureapp_complement_pending": True, "l10n_mx_factureapp_complement_error": False})
            self.env.ref("l10n_mx_factureapp.ir_cron_l10n_mx_factureapp_complements").sudo()._trigger()


def _equivalence(invoice_amount, payment_amount):
    """EquivalenciaDR: units of the invoice currency per unit of the payment currency, rounded up at
    10 decimals so that ImpPagado / EquivalenciaDR never exceeds the amount actually paid."""
    if not payment_amount:
        return Decimal(1)
    value = Decimal(str(invoice_amount)) / Decimal(str(payment_amount))
    return value.quantize(Decimal("0.0000000001"), rounding=ROUND_CEILING)
