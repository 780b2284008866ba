from odoo import api, fields, models


class ResConfigSettings(models.TransientModel):
    _inherit = "res.config.settings"

    l10n_efact_aoc_credential_id = fields.Many2one(
        "einvoice.credential",
        compute="_compute_l10n_efact_aoc_credential_id",
        string="eFACT connection",
    )
    l10n_efact_aoc_environment = fields.Selection(
        [
            ("sandbox", "Sandbox (local simulator)"),
            ("test", "Test (efact-pre.aoc.cat)"),
            ("production", "Production (efact.aoc.cat)"),
        ],
        string="eFACT environment",
        default="sandbox",
    )
    l10n_efact_aoc_user = fields.Char("eFACT user", groups="base.group_system")
    l10n_efact_aoc_secret_key = fields.Char("eFACT secret key", groups="base.group_system")
    l10n_efact_aoc_role_supplier = fields.Boolean("Send invoices to public bodies")
    l10n_efact_aoc_role_rcf = fields.Boolean("Receive invoices as a public body (RCF)")
    l10n_efact_aoc_filter_nif = fields.Char("Receive only for NIF")
    l10n_efact_aoc_filter_oficina = fields.Char("Receive only for accounting office (DIR3)")
    l10n_efact_aoc_registry_mode = fields.Selection(related="company_id.l10n_efact_aoc_registry_mode", readonly=False)
    l10n_efact_aoc_purchase_journal_id = fields.Many2one(
        related="company_id.l10n_efact_aoc_purchase_journal_id", readonly=False
    )

    @api.depends("company_id")
    def _compute_l10n_efact_aoc_credential_id(self):
        for settings in self:
            settings.l10n_efact_aoc_credential_id = self.env["einvoice.credential"]._einvoice_for_company(
                "efact", settings.company_id
            )

    @api.model
    def default_get(self, fields_list):
        values = super().default_get(fields_list)
        credential = self.env["einvoice.credential"]._einvoice_for_company("efact", self.env.company)
        if credential:
            values.update(
                {
                    "l10n_efact_aoc_environment": credential.environment,
                    "l10n_efact_aoc_role_supplier": credential.l10n_efact_aoc_role_supplier,
                    "l10n_efact_aoc_role_rcf": credential.l10n_efact_aoc_role_rcf,
                    "l10n_efact_aoc_filter_nif": credential.l10n_efact_aoc_filter_nif,
                    "l10n_efact_aoc_filter_oficina": credential.l10n_efact_aoc_filter_oficina,
                }
            )
            if self.env.user.has_group("base.group_system"):
                values["l10n_efact_aoc_user"] = credential.sudo().username
        return values

    def set_values(self):
        super().set_values()
        if not self.env.user.has_group("base.group_system"):
            return
        for settings in self:
            credential = settings.l10n_efact_aoc_credential_id
            wanted = settings.l10n_efact_aoc_role_supplier or settings.l10n_efact_aoc_role_rcf
            if not credential and not wanted:
                continue
            values = {
                "environment": settings.l10n_efact_aoc_environment or "sandbox",
                "l10n_efact_aoc_role_supplier": settings.l10n_efact_aoc_role_supplier,
                "l10n_efact_aoc_role_rcf": settings.l10n_efact_aoc_role_rcf,
                "username": settings.l10n_efact_aoc_user,
                "l10n_efact_aoc_filter_nif": settings.l10n_efact_aoc_filter_nif or False,
                "l10n_efact_aoc_filter_oficina": settings.l10n_efact_aoc_filter_oficina or False,
            }
            if settings.l10n_efact_aoc_secret_key:  # never shown back; only replaced when typed
                values["secret_key"] = settings.l10n_efact_aoc_secret_key
            if credential:
                credential.sudo().write(values)
            else:
                self.env["einvoice.credential"].sudo().create(
                    dict(
                        values,
                        name=f"eFACT - {settings.company_id.name}",
                        service="efact",
                        company_id=settings.company_id.id,
                        company_ids=[(6, 0, settings.company_id.ids)],
                    )
                )
