from . import test_efact_supplier
from . import test_efact_supplier_documents
from . import test_efact_supplier_security
from . import test_efact_demo
from . import test_efact_tour
from . import test_efact_rcf
from . import test_efact_rcf_concurrency
from . import test_efact_connection_form
