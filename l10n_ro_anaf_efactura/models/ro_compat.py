"""Where Odoo 18.0 and 19.0 differ for this addon, in one place (what all addons share is in
einvoice_common/compat.py)."""

from odoo import fields

from odoo.addons.einvoice_common import compat

# 19.0 rewrote account_edi_ubl_cii's UBL builder around node dicts: models/__init__.py loads ubl_ro_nodes
# there and ubl_ro_vals (value dicts for QWeb templates) on 18.0.
UBL_NODE_BUILDER = compat.ODOO_VERSION >= (19, 0)

# 19.0 has self-billing journals of its own (account.journal.is_self_billing: numbering per supplier, the
# "Self-billed invoice" title, process type of the UBL builder): our flag is that same one there.
NATIVE_SELF_BILLING = compat.ODOO_VERSION >= (19, 0)


def self_billing_field(string, help_text):
    """The journal's self-billing flag: 19.0's own, or a field of ours on 18.0."""
    if NATIVE_SELF_BILLING:
        return fields.Boolean(string, help=help_text, related="is_self_billing", readonly=False)
    return fields.Boolean(string, help=help_text)


# l10n_ro_edi's documents (taken over on install, hooks.py): 18.0 keeps the upload index on the document
# (key_loading) and the file as attachment_id; 19.0 keeps the index on the invoice (l10n_ro_edi_index)
# and the file as a binary field (attachment).
def legacy_index(document):
    if "key_loading" in document._fields:
        return document.key_loading or False
    return document.invoice_id.l10n_ro_edi_index or False


def legacy_attachment(document):
    if "attachment_id" in document._fields:
        return document.attachment_id
    domain = [("res_model", "=", document._name), ("res_field", "=", "attachment"), ("res_id", "=", document.id)]
    return document.env["ir.attachment"].sudo().search(domain, limit=1)
