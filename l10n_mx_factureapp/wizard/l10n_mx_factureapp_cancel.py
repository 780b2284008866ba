from odoo import _, api, fields, models
from odoo.exceptions import UserError

from ..factureapp import catalogs


class L10nMxFactureappCancel(models.TransientModel):
    """Ask SAT (through Facture APP) to cancel a stamped CFDI with a motive."""

    _name = "l10n_mx_factureapp.cancel"
    _description = "Cancel a CFDI"

    move_id = fields.Many2one("account.move", required=True)
    motive = fields.Selection(catalogs.MOTIVO_CANCELACION, required=True, default="02")
    replacement_id = fields.Many2one(
        "account.move",
        string="Replacing invoice",
        domain="[('l10n_mx_factureapp_substituted_id', '=', move_id), ('l10n_mx_factureapp_state', '=', 'stamped')]",
        help="Motive 01: the stamped invoice that replaces this one (it relates to it with relation 04).",
    )
    sat_cancellable = fields.Char(related="move_id.l10n_mx_factureapp_sat_cancellable")

    @api.onchange("motive")
    def _onchange_motive(self):
        if self.motive != "01":
            self.replacement_id = False

    def action_create_replacement(self):
        """Motive 01 starts with a corrected copy of the invoice that replaces it."""
        self.ensure_one()
        new = self.move_id.copy({"l10n_mx_factureapp_substituted_id": self.move_id.id})
        return {
            "type": "ir.actions.act_window",
            "res_model": "account.move",
            "res_id": new.id,
            "view_mode": "form",
        }

    def action_cancel(self):
        self.ensure_one()
        if self.motive == "01" and not self.replacement_id:
            raise UserError(_("Motive 01 needs the stamped invoice that replaces this one."))
        outcome = self.move_id._l10n_mx_factureapp_request_cancel(self.motive, self.replacement_id)
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "type": "success" if outcome in ("cancelled", "already_cancelled") else "info",
                "message": {
                    "cancelled": _("The CFDI is cancelled."),
                    "already_cancelled": _("The CFDI was already cancelled."),
                    "pending_acceptance": _("The customer must accept the cancellation (72 hours)."),
                    "in_process": _("The cancellation is already in process."),
                    "unknown": _("The answer was lost: SAT's status tells whether the cancellation was registered."),
                }.get(outcome, outcome),
                "next": {"type": "ir.actions.act_window_close"},
            },
        }
