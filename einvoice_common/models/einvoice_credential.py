import json
import logging
import os
from contextlib import contextmanager
from datetime import timedelta

from odoo import _, api, fields, models, modules
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tools import SQL

from .. import compat, dbtools
from ..einvoice import errors, oauth2, redact
from ..einvoice.transport import BasicAuth, BearerAuth, Transport

_logger = logging.getLogger(__name__)

SECRET = "base.group_system"
# Which secret fields each kind of authentication uses (the form shows only those).
AUTH_KINDS = [
    ("basic", "User and password"),
    ("jwt_secret", "Signed with a secret key"),
    ("oauth2", "OAuth 2.0"),
    ("token", "API token"),
    ("webhook", "Webhook secret"),
]
AUTH_FIELDS = {
    "basic": {"username", "password"},
    "jwt_secret": {"username", "secret_key"},
    "oauth2": {"client_id", "client_secret"},
    "token": {"api_token"},
    "webhook": {"api_token"},
}
TOKEN_FIELDS = [
    "access_token",
    "access_token_expires_at",
    "refresh_token",
    "refresh_token_expires_at",
]


class TokenUnavailable(errors.AuthError, UserError):
    """No usable access token: an AuthError for the service flows, a UserError for a person."""


class EinvoiceCredential(models.Model):
    """One connection to one e-invoicing service: where, who, and the tokens.

    One credential may serve several companies (one ANAF token serves every company its
    certificate holder may act for). Secrets are readable by administrators only.
    """

    _name = "einvoice.credential"
    _description = "E-invoicing service connection"
    _inherit = ["mail.thread", "mail.activity.mixin"]
    _order = "service, name"

    name = fields.Char(required=True, tracking=True)
    active = fields.Boolean(default=True)
    service = fields.Selection([("demo", "Demo service")], required=True, tracking=True)
    environment = fields.Selection(
        [
            ("sandbox", "Sandbox (local simulator)"),
            ("test", "Test"),
            ("production", "Production"),
        ],
        required=True,
        default="sandbox",
        tracking=True,
        help="Sandbox talks to the local simulator started by setup/run; test and production to the provider.",
    )
    base_url = fields.Char(
        "Base URL",
        compute="_compute_base_url",
        store=True,
        readonly=False,
        help="Filled from the service and environment; change it only when the provider says so.",
    )
    company_id = fields.Many2one("res.company", required=True, default=lambda self: self.env.company)
    company_ids = fields.Many2many(
        "res.company",
        string="Companies served",
        default=lambda self: self.env.company,
        help="Companies that use this connection. One connection may act for several companies.",
    )
    state = fields.Selection(
        [
            ("draft", "Not connected"),
            ("connected", "Connected"),
            ("error", "Error"),
            ("expired", "Expired"),
        ],
        default="draft",
        required=True,
        tracking=True,
    )
    last_error = fields.Text(readonly=True)
    timeout_connect = fields.Float(default=10.0, help="Seconds allowed to open a connection.")
    timeout_read = fields.Float(default=60.0, help="Seconds allowed for the service to answer.")
    max_retries = fields.Integer(default=3, help="Retries of idempotent calls on transient errors.")
    refresh_margin_hours = fields.Integer(default=1, help="Refresh the access token this many hours before it expires.")

    # Secrets: administrators only, never copied, never exported by default.
    username = fields.Char(groups=SECRET, copy=False)
    password = fields.Char(groups=SECRET, copy=False)
    client_id = fields.Char("Client ID", groups=SECRET, copy=False)
    client_secret = fields.Char(groups=SECRET, copy=False)
    secret_key = fields.Char(groups=SECRET, copy=False)
    api_token = fields.Char("API token", groups=SECRET, copy=False)
    access_token = fields.Char(groups=SECRET, copy=False)
    access_token_expires_at = fields.Datetime(groups=SECRET, copy=False, readonly=True)
    refresh_token = fields.Char(groups=SECRET, copy=False)
    refresh_token_expires_at = fields.Datetime(groups=SECRET, copy=False, readonly=True)
    token_expires_display = fields.Datetime(
        "Access token expires",
        compute="_compute_token_expires_display",
        compute_sudo=True,
    )
    exchange_count = fields.Integer(compute="_compute_exchange_count")
    # What the form shows, from the service's capabilities (`_einvoice_capabilities`).
    einvoice_auth_kind = fields.Selection(AUTH_KINDS, "Authentication", compute="_compute_einvoice_capabilities")
    einvoice_uses_username = fields.Boolean(compute="_compute_einvoice_capabilities")
    einvoice_uses_password = fields.Boolean(compute="_compute_einvoice_capabilities")
    einvoice_uses_secret_key = fields.Boolean(compute="_compute_einvoice_capabilities")
    einvoice_uses_api_token = fields.Boolean(compute="_compute_einvoice_capabilities")
    einvoice_uses_oauth = fields.Boolean(compute="_compute_einvoice_capabilities")
    einvoice_can_refresh = fields.Boolean(compute="_compute_einvoice_capabilities")

    # -- computes ---------------------------------------------------------------
    @api.depends("service", "environment")
    def _compute_base_url(self):
        for credential in self:
            credential.base_url = credential._einvoice_default_base_url() or credential.base_url

    @api.depends("service")
    def _compute_einvoice_capabilities(self):
        for credential in self:
            capabilities = credential._einvoice_capabilities()
            used = capabilities["fields"]
            credential.einvoice_auth_kind = capabilities["auth"]
            credential.einvoice_uses_username = "username" in used
            credential.einvoice_uses_password = "password" in used
            credential.einvoice_uses_secret_key = "secret_key" in used
            credential.einvoice_uses_api_token = "api_token" in used
            credential.einvoice_uses_oauth = "client_id" in used or "client_secret" in used
            credential.einvoice_can_refresh = capabilities["refresh"]

    def _einvoice_auth_kind(self):
        """HOOK per service: basic / jwt_secret / oauth2 / token / webhook (False: unknown)."""
        return "oauth2" if self.service == "demo" else False

    def _einvoice_capabilities(self):
        """What this service's connection uses: {"auth", "fields" (secret fields), "refresh"}.

        Derived from `_einvoice_auth_kind`; extend it when a service uses more fields.
        An unknown kind shows every field (nothing hidden that a service might need).
        """
        kind = self._einvoice_auth_kind()
        every = {"username", "password", "client_id", "client_secret", "secret_key", "api_token"}
        return {"auth": kind, "fields": set(AUTH_FIELDS.get(kind, every)), "refresh": kind in ("oauth2", False)}

    @api.model
    def _einvoice_demo_allowed(self):
        """The demo service is for demo databases and tests only."""
        if modules.module.current_test:
            return True
        module = self.env["ir.module.module"].sudo().search([("name", "=", "einvoice_common")], limit=1)
        return bool(module.demo)

    @api.model
    def fields_get(self, allfields=None, attributes=None):
        # EXTENDS 'base': "Demo service" is offered only in demo and test databases
        result = super().fields_get(allfields, attributes)
        service = result.get("service")
        if service and "selection" in service and not self._einvoice_demo_allowed():
            service["selection"] = [option for option in service["selection"] if option[0] != "demo"]
        return result

    @api.constrains("service")
    def _check_einvoice_demo_service(self):
        if any(credential.service == "demo" for credential in self) and not self._einvoice_demo_allowed():
            raise ValidationError(_("The demo service is only available in demo and test databases."))

    def _compute_token_expires_display(self):
        for credential in self:
            credential.token_expires_display = credential.access_token_expires_at

    def _compute_exchange_count(self):
        counts = dict(
            self.env["einvoice.exchange"]._read_group(
                [("credential_id", "in", self.ids)], ["credential_id"], ["__count"]
            )
        )
        for credential in self:
            credential.exchange_count = counts.get(credential, 0)

    def write(self, vals):
        # Settings forms write every field back: re-saving the same service or environment
        # must not recompute (and so reset) a base URL an integrator entered by hand.
        for key in ("service", "environment"):
            if key in vals and all(credential[key] == vals[key] for credential in self):
                vals = {k: v for k, v in vals.items() if k != key}
        result = super().write(vals)
        if vals.get("access_token"):
            # A new token (Authenticate, refresh, by any addon's path): what waited for it goes now.
            for credential in self:
                self.env["einvoice.attempt"]._einvoice_attempt_wake(credential)
        return result

    # -- service hooks (extended by the service addons) -------------------------
    def _einvoice_default_base_url(self):
        """The API base URL for this service and environment. EXTENDED per service."""
        self.ensure_one()
        if self.environment == "sandbox" and self.service:
            return self._einvoice_sandbox_url()
        return ""

    def _einvoice_sandbox_url(self):
        """Where the local simulator of this service listens.

        An `einvoice.sandbox_url.<service>` system parameter wins; else the sandboxes file
        that setup/run hands to Odoo (EINVOICE_SANDBOXES_JSON, entry named after the service).
        """
        self.ensure_one()
        url = self.env["ir.config_parameter"].sudo().get_param(f"einvoice.sandbox_url.{self.service}")
        if url:
            return url
        path = os.environ.get("EINVOICE_SANDBOXES_JSON")
        if path and os.path.isfile(path):
            with open(path, encoding="utf-8") as handle:
                entries = json.load(handle).get("sandboxes", [])
            for entry in entries:
                if entry.get("name") == self.service and entry.get("port"):
                    return f"http://127.0.0.1:{entry['port']}"
        return ""

    def _einvoice_token_url(self):
        """OAuth2 token endpoint. EXTENDED by services using OAuth2."""
        self.ensure_one()
        return f"{(self.base_url or '').rstrip('/')}/oauth/token"

    def _einvoice_fetch_tokens(self, refresh_token):
        """Obtain a new TokenSet from `refresh_token`. Default: standard OAuth2 refresh."""
        self.ensure_one()
        with self._einvoice_transport(auth=None, record=self) as transport:
            return oauth2.refresh(
                transport,
                self._einvoice_token_url(),
                self.sudo().client_id,
                self.sudo().client_secret,
                refresh_token,
                fields.Datetime.now(),
            )

    # -- transport ------------------------------------------------------------------
    def _einvoice_transport(self, auth=None, record=None, operation_prefix="", company=None, **options):
        """A Transport to this service, logging every attempt in the exchange log.

        The log rows belong to `company` when given, else to `record`'s company, else to the
        current company when this connection serves it.
        """
        self.ensure_one()
        base_url = self.base_url or self._einvoice_default_base_url()
        if not base_url:
            raise UserError(
                _(
                    "The connection %(name)s has no base URL: choose an environment or enter the URL.",
                    name=self.name,
                )
            )
        secrets = self._einvoice_secrets()
        recorder = self.env["einvoice.exchange"]._einvoice_recorder(self, record, operation_prefix, company)
        options.setdefault("timeout", (self.timeout_connect or 10.0, self.timeout_read or 60.0))
        options.setdefault("retries", self.max_retries)
        options.setdefault("loopback_only", self._einvoice_loopback_only())
        return Transport(
            base_url,
            service=dict(self._fields["service"]._description_selection(self.env)).get(self.service, self.service),
            auth=auth,
            recorder=recorder,
            extra_secrets=[s for s in secrets if s],
            **options,
        )

    def _einvoice_note_outcome(self, outcome):
        """The state follows the last call: a successful call means connected.

        Skipped when the row is locked or changed by a concurrent token rotation: a cosmetic
        state must neither block the call nor make the caller's transaction fail. Written in a
        cursor of its own, committed at once: the caller's transaction must not keep the row
        locked, or its own token storage (`_einvoice_locked_self`, another cursor) would wait for
        it until lock_timeout (ANAF's first Authenticate did, on a real server).
        """
        if outcome != "ok" or self.state == "connected":
            return
        try:
            with dbtools.own_env(self.env) as env, env.cr.savepoint(flush=False):
                env.cr.execute(
                    SQL(
                        """UPDATE einvoice_credential SET state = 'connected', last_error = NULL
                            WHERE id IN (SELECT id FROM einvoice_credential WHERE id = %s AND state != 'connected'
                                         FOR NO KEY UPDATE SKIP LOCKED)""",
                        self.id,
                    ),
                    log_exceptions=False,  # a concurrent update is expected and handled: not a server error
                )
        except dbtools.CONCURRENCY_ERRORS:
            return
        self.invalidate_recordset(["state", "last_error"])

    def _einvoice_loopback_only(self):
        """A sandbox connection, or any connection of a neutralized copy, reaches 127.0.0.1 only."""
        self.ensure_one()
        neutralized = self.env["ir.config_parameter"].sudo().get_param("database.is_neutralized")
        return self.environment == "sandbox" or bool(neutralized) and neutralized not in ("0", "False", "false")

    def _einvoice_secrets(self):
        """Every secret value of this connection, to mask wherever a text is stored or logged."""
        sudo = self.sudo()
        names = ("password", "client_secret", "secret_key", "api_token", "access_token", "refresh_token")
        return [sudo[name] for name in names if sudo[name]]

    def _einvoice_basic_auth(self):
        self.ensure_one()
        return BasicAuth(self.sudo().username, self.sudo().password)

    def _einvoice_bearer_auth(self):
        """Bearer auth whose token is refreshed proactively and once on a 401."""
        self.ensure_one()
        seen = {}

        def token_source(force_refresh):
            token = self._einvoice_access_token(force_refresh=force_refresh, stale_token=seen.get("token"))
            seen["token"] = token
            return token

        return BearerAuth(token_source)

    # -- tokens ---------------------------------------------------------------------
    def _einvoice_refresh_margin(self):
        """How long before its expiry an access token is renewed. EXTENDED per service."""
        self.ensure_one()
        return timedelta(hours=self.refresh_margin_hours or 0)

    def _einvoice_token_is_fresh(self, now=None):
        sudo = self.sudo()
        if not sudo.access_token:
            return False
        if not sudo.access_token_expires_at:
            return True
        now = now or fields.Datetime.now()
        return sudo.access_token_expires_at - self._einvoice_refresh_margin() > now

    def _einvoice_access_token(self, force_refresh=False, stale_token=None):
        """A valid access token, refreshed when it is about to expire or was refused.

        With `force_refresh` (after a 401) the refresh happens only if the stored token is
        still the refused one: another worker may have rotated it meanwhile.
        """
        self.ensure_one()
        if not force_refresh and self._einvoice_token_is_fresh():
            return self.sudo().access_token
        token, error = self._einvoice_refresh_tokens(
            stale_token=stale_token if force_refresh else None, force=force_refresh
        )
        if not token:
            raise TokenUnavailable(
                _(
                    "The connection %(name)s has no valid access token (%(error)s): authenticate again.",
                    name=self.name,
                    error=error or _("no token"),
                )
            )
        return token

    @contextmanager
    def _einvoice_locked_self(self):
        """This credential locked FOR NO KEY UPDATE, in its own cursor committed at exit.

        A rotated refresh token must survive a rollback of the caller's transaction, and two
        workers must never rotate it twice. Under tests the records live in the test
        transaction, so the current cursor is used unless the test asks for a real one.
        """
        own_cursor = not modules.module.current_test or self.env.context.get("einvoice_own_cursor")
        if not own_cursor:
            self.env.cr.execute(
                SQL(
                    "SELECT id FROM einvoice_credential WHERE id = %s FOR NO KEY UPDATE",
                    self.id,
                )
            )
            self.invalidate_recordset()
            yield self
            return
        with self.env.registry.cursor() as cr:
            # READ COMMITTED: after waiting for the lock we must see what the holder committed
            # (under Odoo's REPEATABLE READ the lock would fail with a serialization error).
            cr.execute("SET TRANSACTION ISOLATION LEVEL READ COMMITTED")
            cr.execute("SET LOCAL lock_timeout = '60s'")
            cr.execute(
                SQL(
                    "SELECT id FROM einvoice_credential WHERE id = %s FOR NO KEY UPDATE",
                    self.id,
                )
            )
            if not cr.fetchone():
                raise UserError(
                    _(
                        "The connection %(name)s must be saved before it is used.",
                        name=self.name,
                    )
                )
            cr.transaction = compat.Transaction(self.env.registry)  # no registry lookup (and its lock)
            yield self.with_env(self.env(cr=cr))

    def _einvoice_refresh_tokens(self, stale_token=None, force=False):
        """Rotate the tokens under the row lock; return (access token or None, error text).

        The token is returned rather than re-read: the caller's transaction may not see
        what the locked cursor committed (Odoo runs REPEATABLE READ).
        """
        self.ensure_one()
        with self._einvoice_locked_self() as credential:
            sudo = credential.sudo()
            if stale_token and sudo.access_token and sudo.access_token != stale_token:
                return (
                    sudo.access_token,
                    None,
                )  # rotated by another worker while we waited
            if not force and credential._einvoice_token_is_fresh():
                return sudo.access_token, None
            if not sudo.refresh_token:
                error = _("No refresh token: authenticate again.")
                credential.write({"state": "expired", "last_error": error})
                return None, error
            try:
                tokens = credential._einvoice_fetch_tokens(sudo.refresh_token)
            except errors.EInvoiceError as exc:
                credential._einvoice_note_refresh_failure(exc)
                return None, str(exc)
            credential._einvoice_store_tokens(tokens)
            return tokens.access_token, None

    def _einvoice_store_tokens(self, tokens):
        """Write a TokenSet (after a code exchange or a refresh)."""
        self.ensure_one()
        self.sudo().write(
            {
                "access_token": tokens.access_token,
                "access_token_expires_at": tokens.access_expires_at,
                "refresh_token": tokens.refresh_token or self.sudo().refresh_token,
                "refresh_token_expires_at": tokens.refresh_expires_at or self.sudo().refresh_token_expires_at,
            }
        )
        self.write({"state": "connected", "last_error": False})
        _logger.info("E-invoicing connection %s: access token renewed", self.id)

    def _einvoice_note_refresh_failure(self, exc):
        state = "expired" if isinstance(exc, errors.AuthError) or exc.code == "invalid_grant" else "error"
        text = redact.snippet(str(exc), self._einvoice_secrets())
        self.write({"state": state, "last_error": text})
        self._einvoice_admin_activity(
            _(
                "Renewing the access token of %(name)s failed: %(error)s",
                name=self.name,
                error=text,
            )
        )
        _logger.warning("E-invoicing connection %s: token refresh failed (%s)", self.id, exc.kind)

    def _einvoice_admin_activity(self, note):
        """One open to-do for an administrator per connection; updated, not duplicated."""
        self.ensure_one()
        admin = self.env.ref("base.user_admin", raise_if_not_found=False) or self.env.user
        activity_type = self.env.ref("mail.mail_activity_data_todo")
        existing = self.activity_ids.filtered(lambda a: a.activity_type_id == activity_type)
        if existing:
            existing[:1].write({"note": note})
            return existing[:1]
        return self.activity_schedule(
            "mail.mail_activity_data_todo",
            summary=_("E-invoicing connection needs attention"),
            note=note,
            user_id=admin.id,
        )

    # -- OAuth2 signed, single-use state ---------------------------------------------------------
    @api.model
    def _einvoice_state_key(self):
        secret = self.env["ir.config_parameter"].sudo().get_param("database.secret")
        return f"{secret}:einvoice.oauth_state"

    def _einvoice_oauth_state(self, now=None):
        """A `state` for an authorization request: signed, bound to this connection and user, single use.

        Starting a new authorization voids the pending ones of this connection: only the last
        redirect a person started can come back.
        """
        self.ensure_one()
        self._einvoice_check_admin()
        nonce = oauth2.new_nonce()
        Nonce = self.env["einvoice.oauth.nonce"].sudo()
        Nonce._einvoice_void(self.id)
        Nonce.create({"nonce": nonce, "credential_id": self.id, "user_id": self.env.uid})
        return oauth2.sign_state(self._einvoice_state_key(), {"c": self.id, "u": self.env.uid, "n": nonce}, now)

    @api.model
    def _einvoice_oauth_consume_state(self, state, max_age=900, now=None):
        """The connection a genuine, fresh `state` of the current user was made for, once; else empty."""
        payload = oauth2.verify_state(self._einvoice_state_key(), state, max_age, now)
        if not payload or payload.get("u") != self.env.uid or not isinstance(payload.get("c"), int):
            return self.browse()
        if not self.env["einvoice.oauth.nonce"].sudo()._einvoice_consume(payload.get("n"), payload["c"], self.env.uid):
            return self.browse()  # replayed, or never issued here
        return self.browse(payload["c"]).exists()

    # -- actions -----------------------------------------------------------------------
    def _einvoice_check_admin(self):
        """State-changing connection actions are for administrators, checked before any call."""
        if not (self.env.su or self.env.user.has_group("base.group_system")):
            raise AccessError(_("Only an administrator may change the connection %(name)s.", name=self[:1].name))

    def action_einvoice_refresh_token(self):
        self._einvoice_check_admin()
        for credential in self:
            if not credential.einvoice_can_refresh:
                raise UserError(_("%(name)s signs its calls itself: it has no token to renew.", name=credential.name))
            token, error = credential._einvoice_refresh_tokens(force=True)
            if not token:
                raise UserError(
                    _(
                        "The token of %(name)s could not be renewed: %(error)s",
                        name=credential.name,
                        error=error,
                    )
                )
        return True

    def action_einvoice_view_exchanges(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id("einvoice_common.einvoice_exchange_action")
        action["domain"] = [("credential_id", "=", self.id)]
        return action

    # -- crons ------------------------------------------------------------------------
    @api.model
    def _cron_einvoice_refresh_tokens(self, limit=50):
        """Refresh tokens that expire soon; warn an administrator before a refresh token dies."""
        now = fields.Datetime.now()
        credentials = self.sudo().search([("refresh_token", "!=", False), ("state", "!=", "draft")])
        due = credentials.filtered(lambda c: not c._einvoice_token_is_fresh(now))
        for credential in due[:limit]:
            credential._einvoice_refresh_tokens()
            self._einvoice_commit()
        warn_days = int(self.env["ir.config_parameter"].sudo().get_param("einvoice.refresh_token_warn_days", 30))
        warn_at = now + timedelta(days=warn_days)
        for credential in credentials.filtered(
            lambda c: c.refresh_token_expires_at and c.refresh_token_expires_at < warn_at
        ):
            credential._einvoice_admin_activity(
                _(
                    "The refresh token of %(name)s expires on %(date)s: authenticate again before then.",
                    name=credential.name,
                    date=credential.refresh_token_expires_at,
                )
            )
        if len(due) > limit:
            self.env.ref("einvoice_common.ir_cron_einvoice_refresh_tokens")._trigger()

    # -- transaction helpers: thin aliases of ..dbtools, kept while the addons still call them ---
    @api.model
    def _einvoice_can_commit(self):
        return dbtools.can_commit(self.env)

    @api.model
    def _einvoice_commit(self):
        """Commit outside tests: what we sent or received must not be rolled back."""
        dbtools.commit(self.env)

    @api.model
    def _einvoice_lock_skip_locked(self, records):
        """The subset of `records` this transaction could lock; the rest is busy elsewhere."""
        return dbtools.lock_skip_locked(records)

    @api.model
    def _einvoice_for_company(self, service, company):
        """The active connection of `service` serving `company`, if any."""
        return self.search(
            [
                ("service", "=", service),
                "|",
                ("company_ids", "in", company.id),
                ("company_id", "=", company.id),
            ],
            limit=1,
        )
