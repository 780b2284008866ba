from . import test_anaf_oauth, test_anaf_send, test_anaf_receive
