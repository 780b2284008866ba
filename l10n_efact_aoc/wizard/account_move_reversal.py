from odoo import fields, models

from ..efact.corrective import METHOD_LABELS


class AccountMoveReversal(models.TransientModel):
    _inherit = "account.move.reversal"

    l10n_efact_aoc_correction_method = fields.Selection(
        METHOD_LABELS,
        string="Correction method",
        help="Facturae correction method of the credit note. Empty: 01 (full) when it cancels the whole "
        "invoice, 02 (by differences) otherwise; both are accepted by Catalan public bodies.",
    )

    def reverse_moves(self, is_modify=False):
        # EXTENDS 'l10n_es_edi_facturae'
        result = super().reverse_moves(is_modify)
        if self.l10n_efact_aoc_correction_method:
            self.new_move_ids.l10n_efact_aoc_correction_method = self.l10n_efact_aoc_correction_method
        return result
