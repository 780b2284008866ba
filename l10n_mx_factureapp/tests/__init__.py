from . import test_l10n_mx_factureapp_stamp
from . import test_l10n_mx_factureapp_bulk_cancel
from . import test_l10n_mx_factureapp_payments
from . import test_l10n_mx_factureapp_global
from . import test_l10n_mx_factureapp_bad_input
from . import test_l10n_mx_factureapp_once
from . import test_l10n_mx_factureapp_companies
from . import test_l10n_mx_factureapp_tour
