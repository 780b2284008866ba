from . import test_credential_tokens
from . import test_exchange_log
from . import test_idempotent_send
from . import test_attempt
from . import test_rate_limit
from . import test_neutralize
from . import test_connection
from . import test_connection_form
