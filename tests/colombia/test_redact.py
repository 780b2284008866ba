"""Tier 1: the webhook secret never reaches a log line (issue 10)."""

import logging

from l10n_co_lafactura.lafactura import redact

SECRET = "Zq3" * 21


def test_redact_every_shape_of_the_path():
    for line in (
        f'"POST /l10n_co_lafactura/hook/{SECRET} HTTP/1.1" 200 -',
        f"/l10n_co_lafactura/hook/{SECRET}?x=1",
        f"http://127.0.0.1:8069/l10n_co_lafactura/hook/{SECRET}",
    ):
        out = redact.redact(line)
        assert SECRET not in out
        assert "/l10n_co_lafactura/hook/[redacted]" in out
    assert redact.redact("POST /web/login HTTP/1.1") == "POST /web/login HTTP/1.1"


def test_filter_redacts_werkzeug_access_line_arguments():
    # werkzeug's access log: message with %s placeholders, the request line as an argument
    record = logging.LogRecord(
        "werkzeug",
        logging.INFO,
        __file__,
        1,
        '%s - - [%s] "%s" %s %s',
        ("127.0.0.1", "05/Dec/2026 06:00:00", f"POST /l10n_co_lafactura/hook/{SECRET} HTTP/1.1", "200", "-"),
        None,
    )
    assert redact.SecretPathFilter().filter(record) is True
    assert SECRET not in record.getMessage()
    assert "hook/[redacted] HTTP/1.1" in record.getMessage()


def test_install_is_idempotent_and_covers_propagated_records(caplog):
    logger = logging.getLogger("test.redact.child")
    redact.install(loggers=("test.redact.child",))
    redact.install(loggers=("test.redact.child",))
    assert sum(isinstance(f, redact.SecretPathFilter) for f in logger.filters) == 1
    with caplog.at_level(logging.INFO, logger="test.redact.child"):
        logger.info("delivery to %s", f"/l10n_co_lafactura/hook/{SECRET}")
    assert SECRET not in caplog.text and "[redacted]" in caplog.text
