from . import einvoice_error_advice
from . import einvoice_credential
from . import einvoice_exchange
from . import einvoice_attempt
from . import einvoice_demo_attempt
from . import res_config_settings
