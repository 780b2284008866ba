"""Test-harness differences between Odoo 18.0 and 19.0, applied when a test module imports this.

Odoo 19.0's tests route every ``requests`` call through ``BaseCase._request_handler``, which
compares the timeout with an int: the transport's ``(connect, read)`` tuple makes it raise
TypeError, and it would stretch a short read timeout to 10 s (the fault tests rely on short ones).
Loopback is all the tests may reach, as in Odoo's own handler.
"""

from contextlib import contextmanager
from urllib.parse import urlsplit

import requests

from odoo.tests import common as odoo_common

_LOOPBACK = ("127.0.0.1", "localhost")
_original = odoo_common.BaseCase.__dict__.get("_request_handler")


def _request_handler(cls, s, r, /, **kw):
    if isinstance(kw.get("timeout"), tuple):
        if urlsplit(r.url).hostname in _LOOPBACK:
            return odoo_common._super_send(s, r, **kw)
        raise odoo_common.BlockedRequest(f"External requests verboten (was {r.method} {r.url})")
    return _original.__func__(cls, s, r, **kw)


if _original is not None and hasattr(odoo_common, "BlockedRequest"):
    odoo_common.BaseCase._request_handler = classmethod(_request_handler)


@contextmanager
def concurrent_session(case):
    """A requests session to the test server that many threads may use at once (HttpCase).

    18.0's opener may be shared by threads. 19.0's opener releases and re-takes the registry's
    test lock around every request, which fails from several threads: the lock is released
    once here, and the session carries the request key the test server expects.
    """
    if not hasattr(case, "allow_requests"):
        yield case.opener
        return
    case.env.flush_all()
    case.env.invalidate_all()
    with case.allow_requests(), requests.Session() as session:
        session.cookies.update(case.opener.cookies)
        yield session
    case.env.invalidate_all()
