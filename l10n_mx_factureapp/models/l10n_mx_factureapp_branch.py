from odoo import api, fields, models

from odoo.addons.base.models.res_partner import _tz_get
from odoo.addons.einvoice_common import compat


class L10nMxFactureappBranch(models.Model):
    """A Facture APP branch (sucursal): its ID is sent in the `Sucursal` header to stamp.

    A branch belongs to the company it stamps for (the one whose RFC it carries), not to the
    company that owns the connection: one connection may serve several companies.
    """

    _name = "l10n_mx_factureapp.branch"
    _description = "Facture APP branch"
    _order = "credential_id, name"

    name = fields.Char(required=True)
    facture_id = fields.Char("Facture APP ID", required=True, help="The branch ID used to stamp (Sucursal).")
    zip = fields.Char(
        "Postal code",
        help="Used as LugarExpedicion of the CFDI stamped from this branch.",
    )
    tz = fields.Selection(
        _tz_get,
        string="Time zone",
        help="Time zone of the place of issue: the CFDI's Fecha is written in its local time. Empty: the "
        "company's time zone of the place of issue.",
    )
    rfc = fields.Char("RFC")
    credential_id = fields.Many2one("einvoice.credential", required=True, ondelete="cascade", index=True)
    company_id = fields.Many2one(
        "res.company",
        compute="_compute_company_id",
        store=True,
        readonly=False,
        index=True,
        help="The company this branch stamps for: the served company with the branch's RFC.",
    )
    active = fields.Boolean(default=True)

    compat.sql_constraints(
        locals(),
        [
            (
                "facture_id_unique",
                "unique(credential_id, facture_id)",
                "A branch ID appears once per connection.",
            ),
        ],
    )

    @api.depends("rfc", "credential_id.company_id", "credential_id.company_ids")
    def _compute_company_id(self):
        for branch in self:
            served = branch.credential_id.sudo().company_ids | branch.credential_id.sudo().company_id
            rfc = (branch.rfc or "").strip().upper()
            match = served.filtered(lambda c, rfc=rfc: rfc and (c.vat or "").strip().upper() == rfc)
            branch.company_id = match[:1] or (served if len(served) == 1 else False)

    def _compute_display_name(self):
        for branch in self:
            branch.display_name = f"{branch.name} [{branch.facture_id}]"
