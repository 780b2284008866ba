from . import test_efact_supplier
from . import test_efact_rcf
from . import test_efact_rcf_concurrency
