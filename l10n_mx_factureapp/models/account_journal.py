from odoo import fields, models


class AccountJournal(models.Model):
    _inherit = "account.journal"

    l10n_mx_factureapp_branch_id = fields.Many2one(
        "l10n_mx_factureapp.branch",
        string="Facture APP branch",
        help="Branch (sucursal) stamping this journal's invoices; the company's default when empty.",
    )
