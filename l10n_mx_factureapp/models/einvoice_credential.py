import json
import logging

from odoo import _, api, fields, models
from odoo.exceptions import UserError

from odoo.addons.einvoice_common import dbtools
from odoo.addons.einvoice_common.einvoice import errors
from odoo.addons.einvoice_common.einvoice.transport import HeaderAuth

from ..factureapp import client as fclient
from ..factureapp import sat

_logger = logging.getLogger(__name__)

SERVICE = "factureapp"
# Hosts are not documented for the legacy /rest API (see readme/SERVICE.md, open points).
DEFAULT_URLS = {
    "test": "https://app.facture.com.mx/",
    "production": "https://app.facture.com.mx/",
}
SAT_URLS = {"test": sat.TEST, "production": sat.PRODUCTION}
# Writing any of these on a Facture APP connection wakes the stamps waiting for it.
WAKE_FIELDS = {"username", "password", "api_token", "l10n_mx_factureapp_auth_scheme", "base_url"}


class EinvoiceCredential(models.Model):
    _inherit = "einvoice.credential"

    service = fields.Selection(selection_add=[(SERVICE, "Facture APP (Mexico)")], ondelete={SERVICE: "cascade"})
    l10n_mx_factureapp_auth_scheme = fields.Selection(
        [("basic", "HTTP Basic (user / password)"), ("token", "Raw token (API token)")],
        string="Authorization scheme",
        default="basic",
        help="Facture APP does not publish the scheme of its /rest API: ask support and choose it here.",
    )
    l10n_mx_factureapp_accept = fields.Selection(
        [("application/json", "JSON"), ("application/xml", "XML")],
        string="Answer format",
        default="application/json",
    )
    l10n_mx_factureapp_paths = fields.Text(
        "Operation paths",
        help="JSON object overriding the path of an operation, e.g. "
        '{"stamp": "rest/timbrado/pruebas/"} when Facture APP gives test paths. '
        "Keys: account, branches, stamp, stamp_zip, cfdi, xml, pdf, cancel, acuse.",
    )
    l10n_mx_factureapp_cancel_motive_param = fields.Char("Motive parameter", default="motivo")
    l10n_mx_factureapp_cancel_replacement_param = fields.Char("Replacement UUID parameter", default="folioSustitucion")
    l10n_mx_factureapp_sat_url = fields.Char(
        "SAT status service URL",
        compute="_compute_l10n_mx_factureapp_sat_url",
        store=True,
        readonly=False,
        help="ConsultaCFDIService endpoint; the sandbox serves its own.",
    )
    l10n_mx_factureapp_branch_ids = fields.One2many("l10n_mx_factureapp.branch", "credential_id", string="Branches")
    l10n_mx_factureapp_credits = fields.Integer("Credits left", readonly=True, copy=False)
    l10n_mx_factureapp_credits_checked_at = fields.Datetime("Credits checked on", readonly=True, copy=False)
    l10n_mx_factureapp_credit_threshold = fields.Integer(
        "Warn under (credits)",
        default=50,
        help="An activity is scheduled when the credits fall under this number.",
    )
    l10n_mx_factureapp_chunk_size = fields.Integer(
        "Bulk ZIP size",
        default=100,
        help="Invoices per ZIP file sent by the bulk stamping action.",
    )

    @api.depends("service", "environment", "base_url")
    def _compute_l10n_mx_factureapp_sat_url(self):
        for credential in self:
            if credential.service != SERVICE:
                credential.l10n_mx_factureapp_sat_url = False
            elif credential.environment == "sandbox":
                base = (credential.base_url or "").rstrip("/")
                credential.l10n_mx_factureapp_sat_url = f"{base}/ConsultaCFDIService.svc" if base else False
            else:
                credential.l10n_mx_factureapp_sat_url = SAT_URLS[credential.environment]

    def _einvoice_default_base_url(self):
        # EXTENDS 'einvoice_common'
        url = super()._einvoice_default_base_url()
        if self.service == SERVICE and self.environment != "sandbox":
            return DEFAULT_URLS[self.environment]
        return url

    @api.depends("service", "l10n_mx_factureapp_auth_scheme")
    def _compute_einvoice_capabilities(self):
        # EXTENDS 'einvoice_common': the form follows the chosen authorization scheme at once
        return super()._compute_einvoice_capabilities()

    def _einvoice_auth_kind(self):
        # EXTENDS 'einvoice_common': HTTP Basic, or a raw API token where support says so
        if self.service != SERVICE:
            return super()._einvoice_auth_kind()
        return "token" if self.l10n_mx_factureapp_auth_scheme == "token" else "basic"

    # -- clients --------------------------------------------------------------------
    def _l10n_mx_factureapp_auth(self):
        self.ensure_one()
        sudo = self.sudo()
        if self.l10n_mx_factureapp_auth_scheme == "token":
            if not sudo.api_token:
                raise UserError(
                    _(
                        "Enter the API token of the Facture APP connection %(name)s.",
                        name=self.name,
                    )
                )
            return HeaderAuth("Authorization", sudo.api_token)
        if not sudo.username or not sudo.password:
            raise UserError(
                _(
                    "Enter the user and password of the Facture APP connection %(name)s.",
                    name=self.name,
                )
            )
        return self._einvoice_basic_auth()

    def _l10n_mx_factureapp_client(self, record=None):
        """A FactureClient bound to this connection; every call is logged on `record`."""
        self.ensure_one()
        try:
            paths = json.loads(self.l10n_mx_factureapp_paths) if self.l10n_mx_factureapp_paths else {}
        except ValueError as exc:
            raise UserError(_("The operation paths of %(name)s are not valid JSON.", name=self.name)) from exc
        transport = self._einvoice_transport(auth=self._l10n_mx_factureapp_auth(), record=record)
        return fclient.FactureClient(
            transport,
            accept=self.l10n_mx_factureapp_accept or fclient.JSON,
            paths=paths,
            cancel_params={
                "motive": self.l10n_mx_factureapp_cancel_motive_param or "motivo",
                "replacement": self.l10n_mx_factureapp_cancel_replacement_param or "folioSustitucion",
            },
        )

    def _l10n_mx_factureapp_sat_endpoint(self):
        """The SAT status URL: the one entered, else (sandbox) the sandbox's own, else SAT's."""
        self.ensure_one()
        if self.l10n_mx_factureapp_sat_url:
            return self.l10n_mx_factureapp_sat_url
        if self.environment == "sandbox":
            base = (self.base_url or self._einvoice_default_base_url() or "").rstrip("/")
            return f"{base}/ConsultaCFDIService.svc" if base else ""
        return SAT_URLS.get(self.environment, "")

    def _l10n_mx_factureapp_sat_client(self, record=None):
        self.ensure_one()
        endpoint = self._l10n_mx_factureapp_sat_endpoint()
        if not endpoint:
            raise UserError(
                _(
                    "Connection %(name)s has no base URL, so SAT's status service cannot be asked either: enter "
                    "the base URL (or the SAT status service URL) in the connection.",
                    name=self.name,
                )
            )
        transport = self._einvoice_transport(auth=None, record=record)
        return sat.SatStatusClient(transport, endpoint=endpoint)

    @api.model
    def _l10n_mx_factureapp_for_company(self, company):
        return self._einvoice_for_company(SERVICE, company)

    def _l10n_mx_factureapp_note_auth_error(self, exc):
        """Mark the connection in error and tell an administrator (also when an accountant stamped)."""
        self.ensure_one()
        credential = self.sudo()  # accountants may read connections, not write them
        credential.write({"state": "error", "last_error": str(exc)})
        credential._einvoice_admin_activity(
            _(
                "Facture APP refused the credentials of %(name)s: check the user, password or token.",
                name=self.name,
            )
        )

    def _l10n_mx_factureapp_note_no_credits(self):
        """Facture APP refused a stamp for lack of credits: show it and tell an administrator."""
        self.ensure_one()
        credential = self.sudo()  # accountants may read connections, not write them
        credential.write(
            {"l10n_mx_factureapp_credits": 0, "l10n_mx_factureapp_credits_checked_at": fields.Datetime.now()}
        )
        credential._einvoice_admin_activity(
            _("Facture APP has no stamping credits left for %(conn)s.", conn=credential.name)
        )

    def write(self, vals):
        # EXTENDS 'einvoice_common': new credentials of a Facture APP connection (user, password, token)
        # are its "Authenticate": the stamps waiting for this connection go at once.
        result = super().write(vals)
        if set(vals) & WAKE_FIELDS:
            for credential in self.filtered(lambda c: c.service == SERVICE):
                self.env["einvoice.attempt"]._einvoice_attempt_wake(credential)
        return result

    # -- actions ----------------------------------------------------------------------
    def action_l10n_mx_factureapp_sync_branches(self):
        self.check_access("write")  # administrators only, before any call
        Branch = self.env["l10n_mx_factureapp.branch"]
        for credential in self:
            with credential._l10n_mx_factureapp_client(record=credential) as api:
                try:
                    branches = api.branches()
                except errors.AuthError as exc:
                    credential._l10n_mx_factureapp_note_auth_error(exc)
                    raise UserError(_("Facture APP refused the credentials: %(error)s", error=exc)) from exc
                except errors.EInvoiceError as exc:
                    raise UserError(
                        _(
                            "Could not read the branches from Facture APP: %(error)s",
                            error=exc,
                        )
                    ) from exc
            seen = Branch
            for item in branches:
                branch = Branch.with_context(active_test=False).search(
                    [
                        ("credential_id", "=", credential.id),
                        ("facture_id", "=", item.id),
                    ],
                    limit=1,
                )
                values = {
                    "name": item.name,
                    "zip": item.zip,
                    "rfc": item.rfc,
                    "active": True,
                }
                if branch:
                    branch.write(values)
                else:
                    branch = Branch.create(
                        {
                            **values,
                            "credential_id": credential.id,
                            "facture_id": item.id,
                        }
                    )
                seen |= branch
            (credential.l10n_mx_factureapp_branch_ids - seen).write({"active": False})
            credential.write({"state": "connected", "last_error": False})
            for company in credential.company_ids | credential.company_id:
                mine = seen.filtered(lambda b, c=company: b.company_id == c)
                mine = mine or seen.filtered(lambda b: not b.company_id)
                if not company.l10n_mx_factureapp_branch_id and mine:
                    company.l10n_mx_factureapp_branch_id = mine[0]
        return True

    def action_l10n_mx_factureapp_check_credits(self):
        self.check_access("write")
        for credential in self:
            credential._l10n_mx_factureapp_check_credits(raise_errors=True)
        return True

    def _l10n_mx_factureapp_check_credits(self, raise_errors=False):
        """Read the credits left; schedule an activity under the threshold."""
        self.ensure_one()
        try:
            with self._l10n_mx_factureapp_client(record=self) as api:
                account = api.account()
        except errors.AuthError as exc:
            self._l10n_mx_factureapp_note_auth_error(exc)
            if raise_errors:
                raise UserError(_("Facture APP refused the credentials: %(error)s", error=exc)) from exc
            return False
        except errors.EInvoiceError as exc:
            self.write({"last_error": str(exc)})
            if raise_errors:
                raise UserError(
                    _(
                        "Could not read the credits from Facture APP: %(error)s",
                        error=exc,
                    )
                ) from exc
            return False
        self.write(
            {
                "l10n_mx_factureapp_credits": account.credits,
                "l10n_mx_factureapp_credits_checked_at": fields.Datetime.now(),
                "state": "connected",
                "last_error": False,
            }
        )
        self.env["einvoice.attempt"]._einvoice_attempt_wake(self)  # the connection works: what waited goes now
        if account.credits < (self.l10n_mx_factureapp_credit_threshold or 0):
            self._einvoice_admin_activity(
                _(
                    "Only %(credits)s stamping credits are left at Facture APP for %(name)s: buy more before "
                    "stamping stops.",
                    credits=account.credits,
                    name=self.name,
                )
            )
        return account.credits

    @api.model
    def _cron_l10n_mx_factureapp_check_credits(self):
        for credential in self.search([("service", "=", SERVICE), ("state", "!=", "draft")]):
            credential._l10n_mx_factureapp_check_credits()
            dbtools.commit(self.env)
