from odoo import api, fields, models

from .. import compat


class EinvoiceServiceSettings(models.AbstractModel):
    """The place for one service's settings of one connection, off `einvoice.credential`.

    A service addon keeps its settings (paths, journals, filters) in its own model:

        class L10nXxSettings(models.Model):
            _name = "l10n_xx.settings"
            _inherit = ["einvoice.service.settings"]
            l10n_xx_journal_id = fields.Many2one("account.journal")

    and reads them with `env["l10n_xx.settings"]._einvoice_settings_for(credential)`.
    Settings that follow the company rather than the connection stay on `res.company`
    (prefixed), shown through `res.config.settings` related fields, as Odoo does.
    """

    _name = "einvoice.service.settings"
    _description = "E-invoicing service settings of a connection"
    _rec_name = "credential_id"

    credential_id = fields.Many2one("einvoice.credential", "Connection", required=True, ondelete="cascade", index=True)
    company_id = fields.Many2one(related="credential_id.company_id", store=True, index=True)

    compat.sql_constraints(
        locals(), [("credential_unique", "unique(credential_id)", "One settings record per connection.")]
    )

    @api.model
    def _einvoice_settings_for(self, credential):
        """The settings of `credential` for this service, created with defaults on first use."""
        settings = self.search([("credential_id", "=", credential.id)], limit=1)
        return settings or self.create({"credential_id": credential.id})
