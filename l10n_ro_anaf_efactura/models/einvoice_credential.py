import logging
import time
from datetime import timedelta
from urllib.parse import urlsplit

from odoo import _, api, fields, models
from odoo.exceptions import UserError

from ..anaf import errors as anaf_errors
from ..anaf import oauth
from ..anaf.client import AnafClient, normalise_cif

_logger = logging.getLogger(__name__)

API_HOSTS = {
    "test": "https://api.anaf.ro/test/FCTEL/rest",
    "production": "https://api.anaf.ro/prod/FCTEL/rest",
}
CALLBACK_PATH = "/l10n_ro_anaf_efactura/callback"


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

    def _compute_l10n_ro_anaf_efactura_callback_url(self):
        url = self.env["ir.config_parameter"].sudo().get_param("web.base.url", "")
        for credential in self:
            credential.l10n_ro_anaf_efactura_callback_url = url.rstrip("/") + CALLBACK_PATH

    # -- einvoice_common hooks ----------------------------------------------------
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

    def _l10n_ro_anaf_efactura_state_token(self):
        """A signed OAuth `state` binding this connection to the current user."""
        self.ensure_one()
        from ..controllers.main import sign_state

        return sign_state(self.env, self.id)

    def _l10n_ro_anaf_efactura_exchange_code(self, code):
        """Exchange an authorization code (within ANAF's 60 s) and store both tokens."""
        self.ensure_one()
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

    # -- actions ---------------------------------------------------------------------
    def action_l10n_ro_anaf_efactura_authenticate(self):
        self.ensure_one()
        if not self.sudo().client_id:
            raise UserError(_("Enter the client ID and secret of your ANAF application first."))
        return {
            "type": "ir.actions.act_url",
            "url": f"/l10n_ro_anaf_efactura/authorize/{self.id}",
            "target": "self",
        }

    def action_l10n_ro_anaf_efactura_check_cifs(self):
        """Ask ANAF, company by company, whether this connection may act for its CIF."""
        now = fields.Datetime.now()
        for credential in self:
            client = credential._l10n_ro_anaf_efactura_client(record=credential)
            lines = []
            for company in credential.company_ids | credential.company_id:
                cif = normalise_cif(company.vat or company.company_registry or "")
                if not cif:
                    lines.append(_("%(company)s: no VAT number", company=company.name))
                    continue
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
                except Exception as exc:  # noqa: BLE001 - reported per company
                    found = anaf_errors.classify(getattr(exc, "message", str(exc)))
                    lines.append(
                        _(
                            "%(company)s (%(cif)s): refused - %(advice)s",
                            company=company.name,
                            cif=cif,
                            advice=_(found.advice) if found.advice else str(exc),
                        )
                    )
            credential.l10n_ro_anaf_efactura_coverage = "{}\n{}".format(
                _("Checked on %(date)s", date=fields.Datetime.to_string(now)),
                "\n".join(lines),
            )
        return True

    def action_l10n_ro_anaf_efactura_revoke(self):
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
