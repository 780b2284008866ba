import logging
import time
from urllib.parse import urlsplit

from odoo import _, api, fields, models
from odoo.exceptions import UserError

from odoo.addons.einvoice_common.einvoice import oauth2
from odoo.addons.einvoice_common.einvoice.errors import EInvoiceError, QuotaError

from ..anaf import quota
from ..anaf.client import LOGINCERT, OAUTH_EXTRA, AnafClient, normalise_cif
from .l10n_ro_anaf_efactura_document import error_text

_logger = logging.getLogger(__name__)

API_HOSTS = {
    "test": "https://api.anaf.ro/test/FCTEL/rest",
    "production": "https://api.anaf.ro/prod/FCTEL/rest",
}
CALLBACK_PATH = "/l10n_ro_anaf_efactura/callback"
STATE_TTL = 900  # seconds between "Authenticate" and ANAF's redirect (certificate + PIN)
RATE_WINDOW_S = 60  # ANAF counts its 1000 calls in any minute (tests shorten the window, not the rule)


def callback_url(env):
    """The one callback URL to register at ANAF (Settings and the connection show this same value)."""
    return env["ir.config_parameter"].sudo().get_param("web.base.url", "").rstrip("/") + CALLBACK_PATH


class EinvoiceCredential(models.Model):
    _inherit = "einvoice.credential"

    service = fields.Selection(selection_add=[("anaf", "ANAF e-Factura")], ondelete={"anaf": "cascade"})
    l10n_ro_anaf_efactura_callback_url = fields.Char(
        "Callback URL",
        compute="_compute_l10n_ro_anaf_efactura_callback_url",
        help="Register this exact URL as Callback URL of your application at ANAF.",
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
            return LOGINCERT
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
        return self.env["l10n_ro_anaf_efactura.settings"]._l10n_ro_anaf_efactura_refresh_margin(self)

    def _einvoice_fetch_tokens(self, refresh_token):
        # EXTENDS 'einvoice_common': ANAF's token endpoint, asked for JWTs (their `exp` is the expiry)
        if self.service != "anaf":
            return super()._einvoice_fetch_tokens(refresh_token)
        sudo = self.sudo()
        with self._l10n_ro_anaf_efactura_oauth_transport() as transport:
            return oauth2.refresh(
                transport,
                self._einvoice_token_url(),
                sudo.client_id,
                sudo.client_secret,
                refresh_token,
                fields.Datetime.now(),
                **OAUTH_EXTRA,
            )

    # -- ANAF helpers ---------------------------------------------------------------
    def _l10n_ro_anaf_efactura_oauth_transport(self):
        self.ensure_one()
        return self._einvoice_transport(auth=None, record=self, retries=0)

    def _l10n_ro_anaf_efactura_client(self, record=None):
        """An AnafClient on this connection: Bearer token refreshed proactively and on 401."""
        self.ensure_one()
        if self.service != "anaf":
            raise UserError(_("The connection %(name)s is not an ANAF connection.", name=self.name))
        transport = self._einvoice_transport(
            auth=self._einvoice_bearer_auth(), record=record, throttle=self._l10n_ro_anaf_efactura_throttle
        )
        return AnafClient(transport)

    # -- ANAF's call limits, counted in PostgreSQL for every worker and server ------------------
    def _l10n_ro_anaf_efactura_throttle(self, operation, params):
        """Count one request before it leaves (retries too): its daily counter when ANAF keeps one for it
        (status and download per message, lists per CIF), then the per-minute window, waiting for room."""
        self.ensure_one()
        daily = quota.daily_key(operation, params)
        if daily:
            self._l10n_ro_anaf_efactura_daily(*daily)
        limit = self.env["ir.config_parameter"].sudo().get_param("l10n_ro_anaf_efactura.calls_per_minute")
        self.env["einvoice.rate.limit"].sudo()._einvoice_acquire(
            self._l10n_ro_anaf_efactura_minute_key(),
            int(limit or quota.PER_MINUTE_OURS),
            RATE_WINDOW_S,
            max_wait=RATE_WINDOW_S + 5,
        )

    def _l10n_ro_anaf_efactura_minute_key(self):
        """ANAF's per-minute limit is per API host: every connection to it shares one counter."""
        self.ensure_one()
        return "anaf:minute:" + (urlsplit(self.base_url or self._einvoice_default_base_url()).netloc or "anaf")

    @api.model
    def _l10n_ro_anaf_efactura_daily(self, operation, key):
        """One of ANAF's daily calls `operation` for `key` (Bucharest day); QuotaError when none is left."""
        start, end = quota.day_window(fields.Datetime.now())
        limit = quota.daily_limit(operation)
        try:
            self.env["einvoice.rate.limit"].sudo()._einvoice_acquire_fixed(f"anaf:{operation}:{key}", limit, start, end)
        except QuotaError as exc:
            raise QuotaError(
                _(
                    "ANAF's daily limit of %(op)s calls for %(key)s is reached; asked again tomorrow.",
                    op=operation,
                    key=key,
                ),
                retry_after=exc.retry_after,
            ) from exc

    def _l10n_ro_anaf_efactura_authorize_url(self):
        """Where the administrator's browser goes to authenticate at ANAF, with a single-use signed `state`
        (einvoice_common's OAuth2 module and nonce model)."""
        self.ensure_one()
        self._l10n_ro_anaf_efactura_check_admin()
        if not self.sudo().client_id:
            raise UserError(_("Enter the client ID and secret of your ANAF application first."))
        return oauth2.authorize_url(
            self._l10n_ro_anaf_efactura_oauth_url() + "/authorize",
            self.sudo().client_id,
            callback_url(self.env),
            self._einvoice_oauth_state(),
            **OAUTH_EXTRA,
        )

    @api.model
    def _l10n_ro_anaf_efactura_consume_state(self, state):
        """The ANAF connection a valid, unexpired `state` of the current administrator was made for, once."""
        if not self.env.is_system():
            return self.browse()
        # sudo: the companies selected in the administrator's session do not matter (the state names the
        # connection; its user and nonce are checked against the current uid)
        credential = self.sudo()._einvoice_oauth_consume_state(state, max_age=STATE_TTL)
        return credential if credential.service == "anaf" else self.browse()

    def _l10n_ro_anaf_efactura_exchange_code(self, code):
        """Exchange an authorization code (within ANAF's 60 s) and store both tokens."""
        self.ensure_one()
        self._l10n_ro_anaf_efactura_check_admin()
        sudo = self.sudo()
        if not sudo.client_id or not sudo.client_secret:
            raise UserError(_("Enter the client ID and secret of your ANAF application first."))
        with self._l10n_ro_anaf_efactura_oauth_transport() as transport:
            tokens = oauth2.exchange_code(
                transport,
                self._einvoice_token_url(),
                sudo.client_id,
                sudo.client_secret,
                code,
                callback_url(self.env),
                fields.Datetime.now(),
                **OAUTH_EXTRA,
            )
        with self._einvoice_locked_self() as credential:
            credential._einvoice_store_tokens(tokens)
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
        except (EInvoiceError, UserError) as exc:  # shown on the connection (typed errors are redacted texts)
            self.write(
                {
                    "state": "error",
                    "last_error": _(
                        "Exchanging ANAF's code failed: %(error)s",
                        error=exc.args[0] if isinstance(exc, UserError) else error_text(self.env, exc),
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
                            advice=self.env["einvoice.error.advice"]._einvoice_advice("anaf", exc.code).advice
                            or exc.message
                            or str(exc),
                        )
                    )
            credential._l10n_ro_anaf_efactura_settings().l10n_ro_anaf_efactura_coverage = "{}\n{}".format(
                _("Checked on %(date)s", date=fields.Datetime.to_string(now)),
                "\n".join(lines),
            )
        return self[:1].action_l10n_ro_anaf_efactura_settings() if len(self) == 1 else True

    def _l10n_ro_anaf_efactura_settings(self):
        """ANAF's settings record of this connection (created with defaults on first use)."""
        self.ensure_one()
        return self.env["l10n_ro_anaf_efactura.settings"].sudo()._einvoice_settings_for(self)

    def action_l10n_ro_anaf_efactura_settings(self):
        """The connection's ANAF settings (token renewal, CIF coverage), administrators only."""
        self.ensure_one()
        self._l10n_ro_anaf_efactura_check_admin()
        return {
            "type": "ir.actions.act_window",
            "name": _("ANAF settings of %(name)s", name=self.name),
            "res_model": "l10n_ro_anaf_efactura.settings",
            "res_id": self._l10n_ro_anaf_efactura_settings().id,
            "view_mode": "form",
            "target": "new",
        }

    def action_l10n_ro_anaf_efactura_revoke(self):
        self._l10n_ro_anaf_efactura_check_admin()
        for credential in self:
            sudo = credential.sudo()
            if sudo.refresh_token:
                try:
                    with credential._l10n_ro_anaf_efactura_oauth_transport() as transport:
                        oauth2.revoke(
                            transport,
                            credential._l10n_ro_anaf_efactura_oauth_url() + "/revoke",
                            sudo.client_id,
                            sudo.client_secret,
                            sudo.refresh_token,
                        )
                except EInvoiceError as exc:  # the tokens are forgotten anyway
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
