import base64
import hmac
import logging
import secrets
import time
from datetime import timedelta
from urllib.parse import urlsplit

from odoo import _, api, fields, models
from odoo.exceptions import UserError
from odoo.tools import SQL
from odoo.tools.misc import hmac as odoo_hmac

from odoo.addons.einvoice_common.einvoice.errors import EInvoiceError

from ..anaf import errors as anaf_errors
from ..anaf import oauth
from ..anaf.client import AnafClient, normalise_cif

_logger = logging.getLogger(__name__)

API_HOSTS = {
    "test": "https://api.anaf.ro/test/FCTEL/rest",
    "production": "https://api.anaf.ro/prod/FCTEL/rest",
}
CALLBACK_PATH = "/l10n_ro_anaf_efactura/callback"
STATE_SCOPE = "l10n_ro_anaf_efactura.oauth_state"
STATE_TTL = 900  # seconds between "Authenticate" and ANAF's redirect (certificate + PIN)


def callback_url(env):
    """The one callback URL to register at ANAF (Settings and the connection show this same value)."""
    return env["ir.config_parameter"].sudo().get_param("web.base.url", "").rstrip("/") + CALLBACK_PATH


class EinvoiceCredential(models.Model):
    _inherit = "einvoice.credential"

    service = fields.Selection(selection_add=[("anaf", "ANAF e-Factura")], ondelete={"anaf": "cascade"})
    l10n_ro_anaf_efactura_refresh_days = fields.Integer(
        "Refresh days before expiry",
        default=20,
        help="The access token is renewed this many days before it expires (ANAF issues 90-day tokens).",
    )
    l10n_ro_anaf_efactura_callback_url = fields.Char(
        "Callback URL",
        compute="_compute_l10n_ro_anaf_efactura_callback_url",
        help="Register this exact URL as Callback URL of your application at ANAF.",
    )
    l10n_ro_anaf_efactura_coverage = fields.Text(
        "CIF coverage",
        readonly=True,
        help="Which companies' CIFs ANAF accepts for this connection, last checked.",
    )
    l10n_ro_anaf_efactura_oauth_nonce = fields.Char(
        groups="base.group_system",
        copy=False,
        readonly=True,
        help="Nonce of the pending 'Authenticate with ANAF': consumed by ANAF's redirect, so a state works once.",
    )

    @api.depends("service")
    def _compute_l10n_ro_anaf_efactura_callback_url(self):
        url = callback_url(self.env)
        for credential in self:
            credential.l10n_ro_anaf_efactura_callback_url = url if credential.service == "anaf" else False

    def _l10n_ro_anaf_efactura_check_admin(self):
        """State-changing connection actions are for administrators, checked before any call to ANAF."""
        self._einvoice_check_admin()

    # -- einvoice_common hooks ----------------------------------------------------
    def _einvoice_auth_kind(self):
        # EXTENDS 'einvoice_common': OAuth 2.0 authorization code (Authenticate), refreshed tokens
        return "oauth2" if self.service == "anaf" else super()._einvoice_auth_kind()

    def _einvoice_default_base_url(self):
        # EXTENDS 'einvoice_common'
        self.ensure_one()
        if self.service != "anaf":
            return super()._einvoice_default_base_url()
        if self.environment == "sandbox":
            # the simulator's root (system parameter or setup/run's sandboxes file), then ANAF's REST path
            root = super()._einvoice_default_base_url() or ""
            return f"{root.rstrip('/')}/test/FCTEL/rest" if root else ""
        return API_HOSTS.get(self.environment, "")

    def _l10n_ro_anaf_efactura_oauth_url(self):
        """logincert.anaf.ro in test and production; the sandbox serves its own OAuth pages."""
        self.ensure_one()
        if self.environment != "sandbox":
            return oauth.LOGINCERT
        base_url = self.base_url or self._einvoice_default_base_url()
        if not base_url:
            raise UserError(
                _("The ANAF sandbox is not running: start it with setup/run, or choose the test environment.")
            )
        parts = urlsplit(base_url)
        return f"{parts.scheme}://{parts.netloc}/anaf-oauth2/v1"

    def _einvoice_token_url(self):
        # EXTENDS 'einvoice_common'
        if self.service != "anaf":
            return super()._einvoice_token_url()
        return self._l10n_ro_anaf_efactura_oauth_url() + "/token"

    def _einvoice_refresh_margin(self):
        # EXTENDS 'einvoice_common': ANAF tokens are renewed days, not hours, before they expire.
        if self.service != "anaf":
            return super()._einvoice_refresh_margin()
        return timedelta(days=self.l10n_ro_anaf_efactura_refresh_days or 0)

    def _einvoice_fetch_tokens(self, refresh_token):
        # EXTENDS 'einvoice_common'
        if self.service != "anaf":
            return super()._einvoice_fetch_tokens(refresh_token)
        sudo = self.sudo()
        with self._l10n_ro_anaf_efactura_oauth_transport() as transport:
            tokens = oauth.refresh(
                transport,
                self._l10n_ro_anaf_efactura_oauth_url(),
                sudo.client_id,
                sudo.client_secret,
                refresh_token,
                fields.Datetime.now(),
            )
        return _token_set(tokens)

    def _einvoice_store_tokens(self, tokens):
        # EXTENDS 'einvoice_common': both tokens (ANAF rotates the refresh token) and their JWT expiries.
        if self.service != "anaf":
            return super()._einvoice_store_tokens(tokens)
        self.ensure_one()
        sudo = self.sudo()
        access_exp = getattr(tokens, "access_expires_at", None) or getattr(tokens, "access_token_expires_at", None)
        refresh_exp = getattr(tokens, "refresh_expires_at", None) or getattr(tokens, "refresh_token_expires_at", None)
        sudo.write(
            {
                "access_token": tokens.access_token,
                "access_token_expires_at": access_exp or oauth.expiry(tokens.access_token) or False,
                "refresh_token": tokens.refresh_token or sudo.refresh_token,
                "refresh_token_expires_at": refresh_exp
                or oauth.expiry(tokens.refresh_token or "")
                or sudo.refresh_token_expires_at,
            }
        )
        self.write({"state": "connected", "last_error": False})
        self.env["einvoice.attempt"]._einvoice_attempt_wake(self)  # after an Authenticate or a refresh
        _logger.info("ANAF connection %s: tokens renewed", self.id)
        return True

    # -- ANAF helpers ---------------------------------------------------------------
    def _l10n_ro_anaf_efactura_oauth_transport(self):
        self.ensure_one()
        return self._einvoice_transport(auth=None, record=self, retries=0)

    def _l10n_ro_anaf_efactura_client(self, record=None):
        """An AnafClient on this connection: Bearer token refreshed proactively and on 401."""
        self.ensure_one()
        if self.service != "anaf":
            raise UserError(_("The connection %(name)s is not an ANAF connection.", name=self.name))
        transport = self._einvoice_transport(auth=self._einvoice_bearer_auth(), record=record)
        return AnafClient(transport)

    def _l10n_ro_anaf_efactura_state_token(self, now=None):
        """A signed, single-use OAuth `state` binding this connection to the current user.

        A fresh nonce is stored on the connection; ANAF's redirect consumes it (so a state works once,
        and starting a new authentication voids the previous one).
        """
        self.ensure_one()
        self._l10n_ro_anaf_efactura_check_admin()
        nonce = secrets.token_urlsafe(16)
        self.sudo().l10n_ro_anaf_efactura_oauth_nonce = nonce
        payload = f"{self.id}.{self.env.uid}.{int(now or time.time())}.{nonce}"
        encoded = base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")
        return f"{encoded}.{odoo_hmac(self.env(su=True), STATE_SCOPE, payload)}"

    @api.model
    def _l10n_ro_anaf_efactura_consume_state(self, state, now=None):
        """The connection of a valid, unexpired `state` made for the current user, its nonce consumed; else empty."""
        try:
            encoded, signature = (state or "").rsplit(".", 1)
            payload = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
            credential_id, uid, issued, nonce = payload.split(".", 3)
            credential_id, uid, issued = int(credential_id), int(uid), int(issued)
        except (ValueError, UnicodeDecodeError):
            return self.browse()
        expected = odoo_hmac(self.env(su=True), STATE_SCOPE, payload)
        if not hmac.compare_digest(expected, signature):
            return self.browse()
        if uid != self.env.uid or (now or time.time()) - issued > STATE_TTL or not self.env.is_system():
            return self.browse()
        # single use: the UPDATE succeeds for one request only, whatever runs concurrently
        self.flush_model(["l10n_ro_anaf_efactura_oauth_nonce"])
        self.env.cr.execute(
            SQL(
                "UPDATE einvoice_credential SET l10n_ro_anaf_efactura_oauth_nonce = NULL "
                "WHERE id = %s AND service = 'anaf' AND l10n_ro_anaf_efactura_oauth_nonce = %s RETURNING id",
                credential_id,
                nonce,
            )
        )
        row = self.env.cr.fetchone()
        self.invalidate_model(["l10n_ro_anaf_efactura_oauth_nonce"])
        return self.sudo().browse(row[0]) if row else self.browse()

    def _l10n_ro_anaf_efactura_exchange_code(self, code):
        """Exchange an authorization code (within ANAF's 60 s) and store both tokens."""
        self.ensure_one()
        self._l10n_ro_anaf_efactura_check_admin()
        sudo = self.sudo()
        if not sudo.client_id or not sudo.client_secret:
            raise UserError(_("Enter the client ID and secret of your ANAF application first."))
        with self._l10n_ro_anaf_efactura_oauth_transport() as transport:
            tokens = oauth.exchange_code(
                transport,
                self._l10n_ro_anaf_efactura_oauth_url(),
                sudo.client_id,
                sudo.client_secret,
                code,
                self.l10n_ro_anaf_efactura_callback_url,
                fields.Datetime.now(),
            )
        with self._einvoice_locked_self() as credential:
            credential._einvoice_store_tokens(_token_set(tokens))
        self.invalidate_recordset()
        self.message_post(
            body=_(
                "Authenticated with ANAF; the access token expires on %(date)s.",
                date=tokens.access_expires_at,
            )
        )
        return tokens

    def _l10n_ro_anaf_efactura_authenticated(self, code):
        """ANAF's redirect with a code: store the tokens, then send what waited for this connection at once."""
        self.ensure_one()
        try:
            self._l10n_ro_anaf_efactura_exchange_code(code)
        except (EInvoiceError, UserError) as exc:  # shown on the connection, never the secrets
            self.write(
                {
                    "state": "error",
                    "last_error": _(
                        "Exchanging ANAF's code failed: %(error)s", error=getattr(exc, "message", "") or exc
                    ),
                }
            )
            return False
        return True

    # -- actions ---------------------------------------------------------------------
    def action_l10n_ro_anaf_efactura_authenticate(self):
        self.ensure_one()
        self._l10n_ro_anaf_efactura_check_admin()
        if not self.sudo().client_id:
            raise UserError(_("Enter the client ID and secret of your ANAF application first."))
        return {
            "type": "ir.actions.act_url",
            "url": f"/l10n_ro_anaf_efactura/authorize/{self.id}",
            "target": "self",
        }

    def action_l10n_ro_anaf_efactura_check_cifs(self):
        """Ask ANAF, company by company, whether this connection may act for its CIF."""
        self._l10n_ro_anaf_efactura_check_admin()
        now = fields.Datetime.now()
        for credential in self:
            lines = []
            for company in credential.company_ids | credential.company_id:
                cif = normalise_cif(company.vat or company.company_registry or "")
                if not cif:
                    lines.append(_("%(company)s: no VAT number", company=company.name))
                    continue
                client = credential._l10n_ro_anaf_efactura_client(record=company)  # logged for that company
                end = int(time.time() * 1000)
                try:
                    client.list_messages_page(end - 60000, end - 1, cif, 1)
                    lines.append(
                        _(
                            "%(company)s (%(cif)s): accepted",
                            company=company.name,
                            cif=cif,
                        )
                    )
                except EInvoiceError as exc:  # reported per company
                    lines.append(
                        _(
                            "%(company)s (%(cif)s): refused - %(advice)s",
                            company=company.name,
                            cif=cif,
                            advice=_(anaf_errors.advice_for(exc.code)) or exc.message or str(exc),
                        )
                    )
            credential.l10n_ro_anaf_efactura_coverage = "{}\n{}".format(
                _("Checked on %(date)s", date=fields.Datetime.to_string(now)),
                "\n".join(lines),
            )
        return True

    def action_l10n_ro_anaf_efactura_revoke(self):
        self._l10n_ro_anaf_efactura_check_admin()
        for credential in self:
            sudo = credential.sudo()
            if sudo.refresh_token:
                try:
                    with credential._l10n_ro_anaf_efactura_oauth_transport() as transport:
                        oauth.revoke(
                            transport,
                            credential._l10n_ro_anaf_efactura_oauth_url(),
                            sudo.client_id,
                            sudo.client_secret,
                            sudo.refresh_token,
                        )
                except Exception as exc:  # noqa: BLE001 - the tokens are forgotten anyway
                    _logger.warning(
                        "ANAF revoke of connection %s failed: %s",
                        credential.id,
                        type(exc).__name__,
                    )
            sudo.write(
                {
                    "access_token": False,
                    "refresh_token": False,
                    "access_token_expires_at": False,
                    "refresh_token_expires_at": False,
                }
            )
            credential.write({"state": "draft", "last_error": False})
            credential.message_post(body=_("Tokens revoked and forgotten."))
        return True

    @api.model
    def _l10n_ro_anaf_efactura_for_company(self, company):
        return self.sudo()._einvoice_for_company("anaf", company)


def _token_set(tokens):
    from odoo.addons.einvoice_common.einvoice.oauth2 import TokenSet

    return TokenSet(
        tokens.access_token,
        tokens.refresh_token,
        tokens.access_expires_at,
        tokens.refresh_expires_at,
    )
