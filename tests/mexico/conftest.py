"""Fixtures for the Facture APP (Mexico) tier-1 tests (helpers live in mx_common.py)."""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from mx_common import Facture

from einvoice_common.einvoice.faults import FaultInjector
from l10n_mx_factureapp.factureapp import sandbox


@pytest.fixture
def facture(serve_app):
    app = sandbox.make_app()
    injector = FaultInjector(app)
    server = serve_app(injector)
    return Facture(app, server, injector)
