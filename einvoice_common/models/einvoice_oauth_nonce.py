from datetime import timedelta

from odoo import api, fields, models
from odoo.tools import SQL

from .. import compat


class EinvoiceOauthNonce(models.Model):
    """The single-use part of an OAuth `state`: stored when the flow starts, consumed once."""

    _name = "einvoice.oauth.nonce"
    _description = "E-invoicing OAuth state nonce"
    _log_access = False

    nonce = fields.Char(required=True, index=True, readonly=True)
    credential_id = fields.Many2one("einvoice.credential", required=True, ondelete="cascade", readonly=True)
    user_id = fields.Many2one("res.users", required=True, ondelete="cascade", readonly=True)
    created_at = fields.Datetime(required=True, default=fields.Datetime.now, readonly=True)

    compat.sql_constraints(locals(), [("nonce_unique", "unique(nonce)", "A nonce is used once.")])

    @api.model
    def _einvoice_consume(self, nonce, credential_id, user_id):
        """True once for a stored nonce of this connection and user; False ever after."""
        self.env.cr.execute(
            SQL(
                "DELETE FROM einvoice_oauth_nonce "
                "WHERE nonce = %s AND credential_id = %s AND user_id = %s RETURNING id",
                nonce,
                credential_id,
                user_id,
            )
        )
        return bool(self.env.cr.fetchone())

    @api.model
    def _einvoice_void(self, credential_id):
        """Forget the pending states of a connection (a new authorization replaces them)."""
        self.env.cr.execute(SQL("DELETE FROM einvoice_oauth_nonce WHERE credential_id = %s", credential_id))

    @api.autovacuum
    def _gc_einvoice_oauth_nonces(self):
        self.sudo().search([("created_at", "<", fields.Datetime.now() - timedelta(days=1))]).unlink()
