from . import einvoice_credential
from . import res_company
from . import res_config_settings
from . import l10n_efact_aoc_document
from . import l10n_efact_aoc_receptor
from . import res_partner
from . import account_move
from . import account_move_send
