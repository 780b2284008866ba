"""Tier 1: make each addon's pure package importable without Odoo.

Each addon folder is registered as a bare package (its __init__, which imports
Odoo, is not run), so `import l10n_ro_anaf_efactura.anaf.client` works here.
"""

import os
import sys
import types

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _register_addons():
    if REPO not in sys.path:
        sys.path.insert(0, REPO)
    for name in sorted(os.listdir(REPO)):
        folder = os.path.join(REPO, name)
        if name not in sys.modules and os.path.isfile(os.path.join(folder, "__manifest__.py")):
            module = types.ModuleType(name)
            module.__path__ = [folder]
            sys.modules[name] = module


_register_addons()


@pytest.fixture
def serve_app():
    """Serve WSGI apps on 127.0.0.1 for the test; yields a function app -> server."""
    from einvoice_common.einvoice.runner import serve

    servers = []

    def start(app):
        server = serve(app)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
