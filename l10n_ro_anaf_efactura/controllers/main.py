import logging

from werkzeug.exceptions import BadRequest, Forbidden

from odoo import _, http
from odoo.http import request

_logger = logging.getLogger(__name__)


def _form_url(credential_id):
    return f"/odoo/action-einvoice_common.einvoice_credential_action/{credential_id}"


class AnafOAuthController(http.Controller):
    """ANAF's OAuth round trip. The signed single-use state and the token exchange live on the connection
    (einvoice_common's OAuth2 module); this controller imports nothing from the models."""

    @http.route(
        "/l10n_ro_anaf_efactura/authorize/<int:credential_id>",
        type="http",
        auth="user",
        methods=["GET"],
    )
    def authorize(self, credential_id, **kwargs):
        env = request.env
        if not env.user._is_system():
            raise Forbidden(_("Only administrators may authenticate an ANAF connection."))
        # Administrators only (checked above); sudo so that the companies selected in the session do not matter.
        credential = env["einvoice.credential"].sudo().browse(credential_id).exists()
        if not credential or credential.service != "anaf":
            raise BadRequest(_("Unknown ANAF connection."))
        if not credential.client_id:
            raise BadRequest(_("Enter the client ID and secret of your ANAF application first."))
        # the state is bound to this administrator (einvoice_common's single-use nonce)
        return request.redirect(credential.with_user(env.uid)._l10n_ro_anaf_efactura_authorize_url(), local=False)

    @http.route("/l10n_ro_anaf_efactura/callback", type="http", auth="user", methods=["GET"])
    def callback(self, code=None, state=None, error=None, **kwargs):
        env = request.env
        credential = env["einvoice.credential"]._l10n_ro_anaf_efactura_consume_state(state)
        if not credential:
            _logger.warning("ANAF OAuth callback with an invalid or used state refused (user %s)", env.uid)
            raise Forbidden(_("This ANAF answer was not requested by you from this database, or was already used."))
        if error or not code:
            credential.write(
                {
                    "state": "error",
                    "last_error": _(
                        "ANAF did not authorise the access (%(error)s). "
                        "Use the qualified certificate registered in SPV.",
                        error=error or _("no code"),
                    ),
                }
            )
            credential.message_post(body=_("ANAF authentication refused or cancelled."))
            return request.redirect(_form_url(credential.id))
        # the administrator's right was checked with the state; sudo: the session's companies do not matter
        credential._l10n_ro_anaf_efactura_authenticated(code)
        return request.redirect(_form_url(credential.id))
