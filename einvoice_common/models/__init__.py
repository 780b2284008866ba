from . import einvoice_credential
from . import einvoice_exchange
from . import res_config_settings
