import base64
import hmac as hmac_lib
import logging
import secrets
import time

from werkzeug.exceptions import BadRequest, Forbidden

from odoo import _, http
from odoo.http import request
from odoo.tools.misc import hmac as odoo_hmac

from ..anaf import oauth

_logger = logging.getLogger(__name__)

STATE_SCOPE = "l10n_ro_anaf_efactura.oauth_state"
STATE_TTL = 900  # seconds between "Authenticate" and ANAF's redirect (certificate + PIN)


def sign_state(env, credential_id, now=None):
    """`state` = payload.signature, binding the connection, the user and the time (HMAC with the db secret)."""
    payload = f"{int(credential_id)}.{int(env.uid)}.{int(now or time.time())}.{secrets.token_urlsafe(8)}"
    encoded = base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")
    return f"{encoded}.{odoo_hmac(env(su=True), STATE_SCOPE, payload)}"


def verify_state(env, state, now=None):
    """The connection id of a valid `state` made for the current user, else None."""
    try:
        encoded, signature = (state or "").rsplit(".", 1)
        payload = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
        credential_id, uid, issued, _nonce = payload.split(".", 3)
    except (ValueError, UnicodeDecodeError):
        return None
    expected = odoo_hmac(env(su=True), STATE_SCOPE, payload)
    if not hmac_lib.compare_digest(expected, signature):
        return None
    if int(uid) != env.uid or (now or time.time()) - int(issued) > STATE_TTL:
        return None
    return int(credential_id)


def _form_url(credential_id):
    return f"/odoo/action-einvoice_common.einvoice_credential_action/{credential_id}"


class AnafOAuthController(http.Controller):
    @http.route(
        "/l10n_ro_anaf_efactura/authorize/<int:credential_id>",
        type="http",
        auth="user",
        methods=["GET"],
    )
    def authorize(self, credential_id, **kwargs):
        env = request.env
        if not env.user.has_group("base.group_system"):
            raise Forbidden(_("Only administrators may authenticate an ANAF connection."))
        # Administrators only (checked above); sudo so that the companies selected in the session do not matter.
        credential = env["einvoice.credential"].sudo().browse(credential_id).exists()
        if not credential or credential.service != "anaf":
            raise BadRequest(_("Unknown ANAF connection."))
        sudo = credential.sudo()
        if not sudo.client_id:
            raise BadRequest(_("Enter the client ID and secret of your ANAF application first."))
        url = oauth.authorize_url(
            credential._l10n_ro_anaf_efactura_oauth_url(),
            sudo.client_id,
            credential.l10n_ro_anaf_efactura_callback_url,
            sign_state(env, credential.id),
        )
        return request.redirect(url, local=False)

    @http.route("/l10n_ro_anaf_efactura/callback", type="http", auth="user", methods=["GET"])
    def callback(self, code=None, state=None, error=None, **kwargs):
        env = request.env
        credential_id = verify_state(env, state)
        if not credential_id or not env.user.has_group("base.group_system"):
            _logger.warning("ANAF OAuth callback with an invalid state refused (user %s)", env.uid)
            raise Forbidden(_("This ANAF answer was not requested by you from this database; it is refused."))
        credential = env["einvoice.credential"].sudo().browse(credential_id).exists()
        if not credential:
            raise BadRequest(_("Unknown ANAF connection."))
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
        try:
            credential._l10n_ro_anaf_efactura_exchange_code(code)
        except Exception as exc:  # noqa: BLE001 - shown on the connection, never the secrets
            text = getattr(exc, "message", "") or str(exc)
            credential.write(
                {
                    "state": "error",
                    "last_error": _("Exchanging ANAF's code failed: %(error)s", error=text),
                }
            )
        return request.redirect(_form_url(credential.id))
