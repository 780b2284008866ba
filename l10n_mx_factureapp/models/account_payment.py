import logging

from odoo import _, api, fields, models
from odoo.exceptions import UserError

from ..factureapp import catalogs

_logger = logging.getLogger(__name__)


class AccountPartialReconcile(models.Model):
    _inherit = "account.partial.reconcile"

    @api.model_create_multi
    def create(self, vals_list):
        # EXTENDS 'account'
        partials = super().create(vals_list)
        partials._l10n_mx_factureapp_flag_complements()
        return partials

    def _l10n_mx_factureapp_flag_complements(self):
        """Whatever reconciled a payment with a stamped PPD invoice (payment wizard, outstanding
        credit, bank reconciliation), its entry now needs a payments complement."""
        payers = self.env["account.move"]
        for partial in self:
            invoice = partial.debit_move_id.move_id
            payer = partial.credit_move_id.move_id
            if (
                partial.debit_amount_currency
                and invoice._l10n_mx_factureapp_needs_complement()
                and payer._l10n_mx_factureapp_is_payer()
            ):
                payers |= payer
        if payers:
            payers.write({"l10n_mx_factureapp_complement_pending": True, "l10n_mx_factureapp_complement_error": False})
            self.env.ref("l10n_mx_factureapp.ir_cron_l10n_mx_factureapp_complements").sudo()._trigger()


class AccountPayment(models.Model):
    _inherit = "account.payment"

    l10n_mx_factureapp_payment_form = fields.Selection(
        [(code, label) for code, label in catalogs.FORMA_PAGO if code != "99"],
        string="Payment form (SAT)",
        compute="_compute_l10n_mx_factureapp_payment_form",
        store=True,
        readonly=False,
        help="FormaDePagoP of the payment complement; the customer's default payment form, else 03 (transfer).",
    )

    l10n_mx_factureapp_complement_pending = fields.Boolean(
        related="move_id.l10n_mx_factureapp_complement_pending", string="Payment complement to stamp"
    )
    l10n_mx_factureapp_complement_error = fields.Text(
        related="move_id.l10n_mx_factureapp_complement_error", string="Payment complement error"
    )

    @api.depends("partner_id")
    def _compute_l10n_mx_factureapp_payment_form(self):
        for payment in self:
            form = payment.partner_id.commercial_partner_id.l10n_mx_factureapp_payment_form
            if not payment.l10n_mx_factureapp_payment_form or payment._origin.partner_id != payment.partner_id:
                payment.l10n_mx_factureapp_payment_form = form if form and form != "99" else "03"

    def action_l10n_mx_factureapp_stamp_payment(self):
        if not self.move_id:
            raise UserError(_("This payment has no journal entry: nothing to stamp."))
        return self.move_id.action_l10n_mx_factureapp_stamp_payment()


class AccountPaymentRegister(models.TransientModel):
    _inherit = "account.payment.register"

    def _create_payments(self):
        # EXTENDS 'account'
        payments = super()._create_payments()
        for move in payments.move_id.filtered("l10n_mx_factureapp_complement_pending"):
            move._l10n_mx_factureapp_process_complement()  # at once; the attempts' job follows what is not final
        return payments
