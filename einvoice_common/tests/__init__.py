from . import test_credential_tokens
from . import test_exchange_log
from . import test_idempotent_send
from . import test_attempt
