from . import (
    test_anaf_bad_input,
    test_anaf_b2c_self_billing,
    test_anaf_connection,
    test_anaf_connection_form,
    test_anaf_migration,
    test_anaf_oauth,
    test_anaf_rate_limit,
    test_anaf_receive,
    test_anaf_security,
    test_anaf_waiting,
    test_anaf_send,
    test_anaf_vat_categories,
)
