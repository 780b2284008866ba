"""Fixtures for the Facture APP (Mexico) tier-1 tests (helpers live in mx_common.py)."""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from mx_common import Facture

from einvoice_common.einvoice.faults import FaultInjector
from l10n_mx_factureapp.factureapp import sandbox, sandbox_dialects


@pytest.fixture(params=sandbox_dialects.DIALECTS)
def facture(request, serve_app):
    """The client against the sandbox, once per answer dialect (the legacy API's formats are
    undocumented: every test of the client must pass whatever plausible shape comes back)."""
    app = sandbox.make_app(dialect=request.param)
    injector = FaultInjector(app)
    server = serve_app(injector)
    return Facture(app, server, injector)
