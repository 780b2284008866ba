from odoo import _, api, fields, models
from odoo.exceptions import UserError
from odoo.tools import SQL

from ..lafactura import documents as lf_docs


class AccountMove(models.Model):
    _inherit = "account.move"

    l10n_co_lafactura_cufe = fields.Char(
        "CUFE/CUDE (LaFactura.co)",
        copy=False,
        readonly=True,
        index=True,
        help="The DIAN key of the supplier's document this bill was made from.",
    )
    l10n_co_lafactura_mode = fields.Selection(
        [("1", "Production"), ("2", "Test")], "DIAN mode", copy=False, readonly=True
    )
    l10n_co_lafactura_test_mode = fields.Boolean("Test document", copy=False, readonly=True)
    l10n_co_lafactura_dian_url = fields.Char("DIAN link", compute="_compute_l10n_co_lafactura_dian_url")
    l10n_co_lafactura_inbox_ids = fields.One2many("l10n_co_lafactura.inbox", "move_id", "LaFactura deliveries")

    def init(self):
        result = super().init()
        # One bill per supplier document (CUFE) and company, whatever the concurrency.
        self.env.cr.execute(
            SQL(
                "CREATE UNIQUE INDEX IF NOT EXISTS account_move_l10n_co_lafactura_cufe_uniq "
                "ON account_move (company_id, l10n_co_lafactura_cufe) WHERE l10n_co_lafactura_cufe IS NOT NULL"
            )
        )
        return result

    @api.depends("l10n_co_lafactura_cufe", "l10n_co_lafactura_mode")
    def _compute_l10n_co_lafactura_dian_url(self):
        for move in self:
            move.l10n_co_lafactura_dian_url = (
                lf_docs.dian_link(move.l10n_co_lafactura_cufe, move.l10n_co_lafactura_mode or "1")
                if move.l10n_co_lafactura_cufe
                else False
            )

    # EXTENDS 'account'
    def _post(self, soft=True):
        tests = self.filtered("l10n_co_lafactura_test_mode")
        if tests:
            raise UserError(
                _(
                    "%(bills)s come from test-mode LaFactura.co documents and can never be posted.",
                    bills=", ".join(tests.mapped("display_name")),
                )
            )
        return super()._post(soft=soft)
