from . import test_processing
from . import test_webhook
