from odoo import fields, models


class L10nMxFactureappBranch(models.Model):
    """A Facture APP branch (sucursal): its ID is sent in the `Sucursal` header to stamp."""

    _name = "l10n_mx_factureapp.branch"
    _description = "Facture APP branch"
    _order = "credential_id, name"

    name = fields.Char(required=True)
    facture_id = fields.Char("Facture APP ID", required=True, help="The branch ID used to stamp (Sucursal).")
    zip = fields.Char(
        "Postal code",
        help="Used as LugarExpedicion of the CFDI stamped from this branch.",
    )
    rfc = fields.Char("RFC")
    credential_id = fields.Many2one("einvoice.credential", required=True, ondelete="cascade", index=True)
    company_id = fields.Many2one(related="credential_id.company_id", store=True, index=True)
    active = fields.Boolean(default=True)

    _sql_constraints = [
        (
            "facture_id_unique",
            "unique(credential_id, facture_id)",
            "A branch ID appears once per connection.",
        ),
    ]

    def _compute_display_name(self):
        for branch in self:
            branch.display_name = f"{branch.name} [{branch.facture_id}]"
