from . import einvoice_credential
from . import l10n_co_lafactura_tax_map
from . import l10n_co_lafactura_inbox
from . import l10n_co_lafactura_inbox_repeat
from . import account_move
from . import res_partner
from . import res_config_settings
from . import ir_ui_menu
