from . import test_efact_supplier
from . import test_efact_rcf
