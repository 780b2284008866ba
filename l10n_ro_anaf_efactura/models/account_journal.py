from odoo import models

from . import ro_compat


class AccountJournal(models.Model):
    _inherit = "account.journal"

    l10n_ro_anaf_efactura_self_billing = ro_compat.self_billing_field(
        "Self-billing (autofactura)",
        "Vendor bills of this purchase journal are issued by the company on behalf of the supplier "
        "(invoice type 389) and are sent to ANAF's e-Factura with autofactura=DA.",
    )
