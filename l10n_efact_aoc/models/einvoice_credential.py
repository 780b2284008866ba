from odoo import _, fields, models
from odoo.exceptions import UserError

from odoo.addons.einvoice_common.einvoice import errors as common_errors

from ..efact import client as efact_client
from ..efact import documents
from ..efact import errors as efact_errors

BASE_URLS = {"test": "https://efact-pre.aoc.cat", "production": "https://efact.aoc.cat"}


class EinvoiceCredential(models.Model):
    _inherit = "einvoice.credential"

    service = fields.Selection(
        selection_add=[("efact", "eFACT (AOC, Catalonia)")],
        ondelete={"efact": "cascade"},
    )
    l10n_efact_aoc_role_supplier = fields.Boolean(
        "eFACT: send as supplier",
        default=True,
        help="Send invoices to Catalan public bodies through eFACT (API for suppliers).",
    )
    l10n_efact_aoc_role_rcf = fields.Boolean(
        "eFACT: receive as public body (RCF)",
        help="Receive supplier invoices addressed to the companies served (API for accounting registries).",
    )
    l10n_efact_aoc_notify_email = fields.Char(
        "eFACT notification e-mail",
        help="Optional address where eFACT mails the state changes of sent invoices.",
    )

    l10n_efact_aoc_filter_nif = fields.Char(
        "eFACT: receive only for NIF",
        help="RCF pull filter (nif): download only the pending invoices addressed to this NIF. Empty: all the "
        "entities of the connection.",
    )
    l10n_efact_aoc_filter_oficina = fields.Char(
        "eFACT: receive only for accounting office",
        help="RCF pull filter (oficinaComptable): download only the pending invoices of this DIR3 accounting office.",
    )

    def write(self, vals):
        # EXTENDS 'einvoice_common': eFACT has no token to renew; a new user, key or URL is the fix a
        # waiting submission needs, so the submissions waiting for this connection go at once
        result = super().write(vals)
        if {"username", "secret_key", "base_url", "environment"}.intersection(vals):
            for credential in self.filtered(lambda c: c.service == "efact"):
                self.env["einvoice.attempt"]._einvoice_attempt_wake(credential)
        return result

    # EXTENDS 'einvoice_common'
    def _einvoice_default_base_url(self):
        self.ensure_one()
        if self.service == "efact" and self.environment in BASE_URLS:
            return BASE_URLS[self.environment]
        return super()._einvoice_default_base_url()

    def _einvoice_auth_kind(self):
        # EXTENDS 'einvoice_common': a user and a secret key sign each request's JWT (nothing to refresh)
        return "jwt_secret" if self.service == "efact" else super()._einvoice_auth_kind()

    def _l10n_efact_aoc_auth(self):
        self.ensure_one()
        sudo = self.sudo()
        if not sudo.username or not sudo.secret_key:
            raise UserError(
                _(
                    "The eFACT connection %(name)s needs the user and the secret key given by the AOC.",
                    name=self.name,
                )
            )
        return efact_client.JwtAuth(sudo.username, sudo.secret_key)

    def _l10n_efact_aoc_supplier_client(self, record=None):
        self.ensure_one()
        if not self.l10n_efact_aoc_role_supplier:
            raise UserError(
                _(
                    "The eFACT connection %(name)s is not enabled for sending invoices.",
                    name=self.name,
                )
            )
        return efact_client.SupplierClient(self._einvoice_transport(auth=self._l10n_efact_aoc_auth(), record=record))

    def _l10n_efact_aoc_rcf_client(self, record=None):
        self.ensure_one()
        if not self.l10n_efact_aoc_role_rcf:
            raise UserError(
                _(
                    "The eFACT connection %(name)s is not enabled for receiving invoices.",
                    name=self.name,
                )
            )
        return efact_client.RcfClient(self._einvoice_transport(auth=self._l10n_efact_aoc_auth(), record=record))

    def _l10n_efact_aoc_mark(self, error=None):
        """Connection state from the last call: auth errors need a person."""
        for credential in self:
            if error is None:
                # in a cursor of its own and skipped when locked: a cron of another server may note
                # the same success at the same moment (a serialization error failed the cron)
                credential._einvoice_note_outcome("ok")
            elif getattr(error, "kind", "") == "auth":
                credential.write({"state": "error", "last_error": efact_error_text(self.env, error)})

    def action_l10n_efact_aoc_test_connection(self):
        self.ensure_one()
        unmapped = []
        try:
            if self.l10n_efact_aoc_role_supplier:
                self._l10n_efact_aoc_supplier_client(record=self).receptors()
            if self.l10n_efact_aoc_role_rcf:
                entities = self._l10n_efact_aoc_rcf_client(record=self).entities()
                nifs = {c._l10n_efact_aoc_nif() for c in (self.company_ids | self.company_id) if c.vat}
                unmapped = [f"{e.nif} ({e.name})" for e in entities if documents.normalize_nif(e.nif) not in nifs]
        except common_errors.EInvoiceError as exc:
            self._l10n_efact_aoc_mark(exc)
            raise UserError(
                _("eFACT refused the connection: %(error)s", error=efact_error_text(self.env, exc))
            ) from exc
        self._l10n_efact_aoc_mark()
        message = _("eFACT accepted the connection.")
        if unmapped:
            message += " " + _(
                "These entities served by the platform have no company with their NIF here, their invoices "
                "will stay pending: %s",
                ", ".join(unmapped),
            )
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "type": "warning" if unmapped else "success",
                "message": message,
                "sticky": bool(unmapped),
                "next": {"type": "ir.actions.act_window_close"},
            },
        }

    def action_l10n_efact_aoc_sync_receptors(self):
        self.env["l10n_efact_aoc.receptor"]._l10n_efact_aoc_sync(self)
        return self.env["ir.actions.act_window"]._for_xml_id("l10n_efact_aoc.l10n_efact_aoc_receptor_action")


def efact_error_text(env, exc):
    """The text of an error for a person, in the user's language: the eFACT error table's message and
    hint translated (they are extracted from efact/errors.py to the .pot), then the hub's own words."""
    if not isinstance(exc, common_errors.EInvoiceError) or not str(exc.code or "").isdigit():
        return str(exc)
    api, rest = efact_errors.split_message(exc.code, exc.message)
    if api is None:
        return str(exc)

    def translate(text):
        return env._(text)  # pylint: disable=translation-not-lazy

    return f"[{exc.code}] " + efact_errors.message(exc.code, api, with_code=False, translate=translate) + rest
