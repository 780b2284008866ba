"""On install: take over what l10n_ro_edi already holds, so nothing is lost and nothing is sent twice.

- Each company's l10n_ro_edi tokens become (or join) an ANAF connection of einvoice_common.
- Each l10n_ro_edi.document becomes one of our attempts: sent ones keep their index and are followed
  by our status cron; validated ones stay accepted with their signature; failed ones stay readable.
"""

from odoo import fields

from .models import ro_compat

STATE_MAP = {
    "invoice_sent": "sent",
    "invoice_validated": "accepted",
    "invoice_sending_failed": "error",  # 18.0
    "invoice_refused": "error",  # 19.0
}


LEGACY_CRON = "l10n_ro_edi.ir_cron_l10n_ro_edi_refresh_access_token"
LEGACY_STATUS_ACTION = "l10n_ro_edi.l10n_ro_edi_action_fetch_ciusro_status"


def post_init_hook(env):
    migrate_l10n_ro_edi(env)
    take_over_l10n_ro_edi(env)
    env["account.tax"]._l10n_ro_anaf_efactura_set_chart_defaults()  # e-Factura VAT categories (ro-docs)


def uninstall_hook(env):
    """Give l10n_ro_edi its token cron and its status action back."""
    cron = env.ref(LEGACY_CRON, raise_if_not_found=False)
    if cron:
        cron.sudo().active = True
    action = env.ref(LEGACY_STATUS_ACTION, raise_if_not_found=False)
    if action:
        action.sudo().binding_model_id = env.ref("account.model_account_move").id


def take_over_l10n_ro_edi(env):
    """One SPV path: l10n_ro_edi's token cron would rotate the refresh token our connection now
    holds (killing it), and its manual status action duplicates our status cron."""
    cron = env.ref(LEGACY_CRON, raise_if_not_found=False)
    if cron:
        cron.sudo().active = False
    action = env.ref(LEGACY_STATUS_ACTION, raise_if_not_found=False)
    if action:
        action.sudo().unlink_action()


def migrate_l10n_ro_edi(env):
    Credential = env["einvoice.credential"].sudo()
    companies = env["res.company"].sudo().search([])
    for company in companies:
        access = company.l10n_ro_edi_access_token
        if not access and not company.l10n_ro_edi_refresh_token:
            continue
        environment = "test" if company.l10n_ro_edi_test_env else "production"
        credential = Credential.search(
            [
                ("service", "=", "anaf"),
                ("environment", "=", environment),
                ("client_id", "=", company.l10n_ro_edi_client_id),
            ],
            limit=1,
        )
        if not credential:
            credential = Credential.create(
                {
                    "name": f"ANAF ({company.name})",
                    "service": "anaf",
                    "environment": environment,
                    "company_id": company.id,
                    "company_ids": [(6, 0, company.ids)],
                    "client_id": company.l10n_ro_edi_client_id,
                    "client_secret": company.l10n_ro_edi_client_secret,
                }
            )
        else:
            credential.company_ids = [(4, company.id)]
        if not credential.access_token:
            credential.write(
                {
                    "access_token": access,
                    "refresh_token": company.l10n_ro_edi_refresh_token,
                    "access_token_expires_at": company.l10n_ro_edi_access_expiry_date
                    and fields.Datetime.to_datetime(company.l10n_ro_edi_access_expiry_date),
                    # l10n_ro_edi assumes 3 years; keep it unknown unless the refresh token tells (JWT exp)
                    "refresh_token_expires_at": _jwt_expiry(company.l10n_ro_edi_refresh_token),
                    "state": "connected" if access else "expired",
                }
            )
    migrate_documents(env)


def _jwt_expiry(token):
    from odoo.addons.einvoice_common.einvoice import oauth2

    return oauth2.expiry(token) if token else False


def migrate_documents(env):
    Document = env["l10n_ro_anaf_efactura.document"].sudo()
    Credential = env["einvoice.credential"].sudo()
    done = set(Document.search([("legacy_document_id", "!=", False)]).mapped("legacy_document_id").ids)
    legacy = env["l10n_ro_edi.document"].sudo().search([("id", "not in", list(done))], order="id")
    now = fields.Datetime.now()
    for old in legacy:
        move = old.invoice_id
        state = STATE_MAP.get(old.state, "error")
        Document.create(
            {
                "move_id": move.id,
                "credential_id": Credential._l10n_ro_anaf_efactura_for_company(move.company_id).id,
                "state": state,
                "index": ro_compat.legacy_index(old),
                "upload_date": old.datetime,
                "standard": "CN" if move.move_type == "out_refund" else "UBL",
                "message": old.message or False,
                "anaf_result": "ok" if state == "accepted" else False,
                "service_reference": ro_compat.legacy_index(old),
                "signature_attachment_id": ro_compat.legacy_attachment(old).id if state == "accepted" else False,
                "key_signature": old.key_signature,
                "key_certificate": old.key_certificate,
                "next_check": now if state == "sent" else False,
                "legacy_document_id": old.id,
            }
        )
