"""Keep the webhook secret out of every log line.

LaFactura.co's hook carries its secret in the URL path (`/l10n_co_lafactura/hook/<secret>`)
because the service sends no signature and may not send headers; Odoo's HTTP access log
(the `werkzeug` logger) writes that path on every delivery. `SecretPathFilter` rewrites
the segment after the hook prefix in a record's message and arguments before any handler
formats it.
"""

import logging
import re

PREFIX = "/l10n_co_lafactura/hook/"
MASK = "[redacted]"
_SEGMENT = re.compile(re.escape(PREFIX) + r"[^/?#\s\"']+")


def redact(text):
    """`text` with every hook secret replaced by [redacted]."""
    if PREFIX not in text:
        return text
    return _SEGMENT.sub(PREFIX + MASK, text)


def _redact_value(value):
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, bytes) and PREFIX.encode() in value:
        return redact(value.decode("utf-8", "replace"))
    return value


class SecretPathFilter(logging.Filter):
    """Redacts the hook secret in place; never drops a record."""

    def filter(self, record):
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_redact_value(arg) for arg in record.args)
        elif isinstance(record.args, dict):
            record.args = {key: _redact_value(value) for key, value in record.args.items()}
        return True


LOGGERS = ("werkzeug", "odoo.http", "odoo.addons.base.models.ir_http", "odoo.service.server")


def install(loggers=LOGGERS):
    """Attach one filter to the named loggers and to the root logger's handlers (idempotent).

    Handler filters also catch records that propagate from any other logger.
    """
    targets = [logging.getLogger(name) for name in loggers] + list(logging.getLogger().handlers)
    for target in targets:
        if not any(isinstance(f, SecretPathFilter) for f in target.filters):
            target.addFilter(SecretPathFilter())
