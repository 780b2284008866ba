"""Repository-level pytest hooks.

Only one thing lives here: the pytest-odoo developer loop on Odoo 18.

pytest-odoo 2.3.0 sets ``odoo.modules.module.current_test`` only on Odoo >= 19, so
on 18 ``account.move.send._can_commit()`` and every ``if not current_test:
cr.commit()`` guard commit inside a test and hit "Cannot commit or rollback a
cursor from inside a test". The fixture below sets the flag for each test.

It must sit at the repository root (a conftest inside ``<addon>/tests`` breaks
pytest-odoo's module naming) and it is harmless for tier 1 (``pytest tests/``,
no Odoo): it does nothing unless the pytest-odoo plugin is loaded and Odoo imports.
"""

import sys

import pytest


def _odoo_module_module():
    if "pytest_odoo" not in sys.modules:  # pytest-odoo not active
        return None
    try:
        from odoo.modules import module as odoo_module
    except ImportError:
        return None
    return odoo_module


@pytest.fixture(autouse=True)
def _odoo18_current_test():
    odoo_module = _odoo_module_module()
    if odoo_module is None:
        yield
        return
    previous = getattr(odoo_module, "current_test", None)
    odoo_module.current_test = True
    try:
        yield
    finally:
        odoo_module.current_test = previous
