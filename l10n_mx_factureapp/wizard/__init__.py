from . import l10n_mx_factureapp_cancel
