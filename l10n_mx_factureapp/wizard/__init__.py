from . import l10n_mx_factureapp_cancel
from . import l10n_mx_factureapp_global_invoice
