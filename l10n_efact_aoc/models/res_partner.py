from odoo import Command, _, fields, models
from odoo.exceptions import UserError

from ..efact import checks

ROLE_FIELDS = (
    ("01", "oficina_comptable"),
    ("02", "organ_gestor"),
    ("03", "unitat_tramitadora"),
)


class ResPartner(models.Model):
    _inherit = "res.partner"

    l10n_efact_aoc_dir3_id = fields.Many2one(
        "l10n_efact_aoc.dir3",
        string="eFACT DIR3 units",
        copy=False,
        help="The accounting office, managing body and processing unit invoices to this public body go to. "
        "Choosing them creates the Facturae administrative centres used by the Facturae file.",
    )

    def action_l10n_efact_aoc_load_dir3(self):
        """Fetch this public body's DIR3 units from eFACT."""
        self.ensure_one()
        credential = self.env["einvoice.credential"]._einvoice_for_company("efact", self.env.company)
        if not credential:
            raise UserError(_("Configure the eFACT connection first (Settings > Invoicing > E-invoicing)."))
        receptor = self.env["l10n_efact_aoc.receptor"]._l10n_efact_aoc_find(self.vat)
        if not receptor:
            self.env["l10n_efact_aoc.receptor"]._l10n_efact_aoc_sync(credential)
            receptor = self.env["l10n_efact_aoc.receptor"]._l10n_efact_aoc_find(self.vat)
        if not receptor:
            raise UserError(
                _(
                    "%(name)s (NIF %(vat)s) is not a public body adhered to eFACT.",
                    name=self.name,
                    vat=self.vat or "-",
                )
            )
        receptor._l10n_efact_aoc_load_detail(credential)
        if len(receptor.dir3_ids) == 1:
            self._l10n_efact_aoc_set_dir3(receptor.dir3_ids)
        return True

    def _l10n_efact_aoc_set_dir3(self, dir3):
        """Create/update the Facturae administrative centres (roles 01, 02, 03) from a DIR3 triple."""
        self.ensure_one()
        for label, field in (
            (_("accounting office"), "oficina_comptable"),
            (_("managing body"), "organ_gestor"),
            (_("processing unit"), "unitat_tramitadora"),
        ):
            if len(dir3[field] or "") > checks.MAX_DIR3_LENGTH:
                raise UserError(
                    _(
                        "%(partner)s: the DIR3 %(role)s %(code)s has %(length)s characters; Facturae accepts at "
                        "most 10 (it would be cut and refused).",
                        partner=self.display_name,
                        role=label,
                        code=dir3[field],
                        length=len(dir3[field]),
                    )
                )
        self.with_context(l10n_efact_aoc_setting_dir3=True).l10n_efact_aoc_dir3_id = dir3
        for role_code, field in ROLE_FIELDS:
            role = self.env.ref(f"l10n_es_edi_facturae.ac_role_type_{role_code}")
            code = dir3[field]
            centre = self.child_ids.filtered(
                lambda c, role=role: c.type == "facturae_ac" and role in c.l10n_es_edi_facturae_ac_role_type_ids
            )
            values = {
                "type": "facturae_ac",
                "parent_id": self.id,
                "l10n_es_edi_facturae_ac_center_code": code,
                "name": dir3[f"{field}_name"] or code,
                "l10n_es_edi_facturae_ac_role_type_ids": [Command.set(role.ids)],
                "country_id": self.country_id.id or self.env.ref("base.es").id,
                # Facturae requires an address on each administrative centre: the public body's
                "street": self.street or dir3.receptor_id.street,
                "zip": self.zip or dir3.receptor_id.zip,
                "city": self.city or dir3.receptor_id.city,
                "state_id": self.state_id.id,
            }
            if centre:
                centre[:1].write(values)
            else:
                self.create(values)

    def write(self, vals):
        # EXTENDS 'base'
        result = super().write(vals)
        if vals.get("l10n_efact_aoc_dir3_id") and not self.env.context.get("l10n_efact_aoc_setting_dir3"):
            for partner in self:
                partner.with_context(l10n_efact_aoc_setting_dir3=True)._l10n_efact_aoc_set_dir3(
                    partner.l10n_efact_aoc_dir3_id
                )
        return result
