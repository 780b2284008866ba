from . import test_concurrency
from . import test_processing
from . import test_real_documents
from . import test_security
from . import test_webhook
from . import test_tour
from . import test_performance
from . import test_connection_form
