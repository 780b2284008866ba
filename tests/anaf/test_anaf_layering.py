"""The addon's layers: the pure package imports nothing from Odoo; controllers and models import nothing from
each other (a controller calls the models through request.env; a model never needs a controller)."""

import ast
import os

import pytest

ADDON = os.path.join(os.path.dirname(__file__), os.pardir, os.pardir, "l10n_ro_anaf_efactura")


def _imports(folder):
    """{file name: [imported module names, relative ones with their leading dots]}."""
    found = {}
    for name in sorted(os.listdir(os.path.join(ADDON, folder))):
        if name.endswith(".py"):
            with open(os.path.join(ADDON, folder, name), encoding="utf-8") as handle:
                tree = ast.parse(handle.read())
            modules = []
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom):
                    base = "." * node.level + (node.module or "")
                    modules += [base] + [f"{base}.{alias.name}".replace("..", ".", 1) for alias in node.names]
                elif isinstance(node, ast.Import):
                    modules += [alias.name for alias in node.names]
            found[name] = modules
    return found


@pytest.mark.parametrize(("folder", "forbidden"), [("controllers", "models"), ("models", "controllers")])
def test_controllers_and_models_do_not_import_each_other(folder, forbidden):
    offending = {
        name: [m for m in modules if forbidden in m.lstrip(".").split(".")]
        for name, modules in _imports(folder).items()
    }
    assert {name: mods for name, mods in offending.items() if mods} == {}


def test_the_protocol_package_imports_nothing_from_odoo():
    offending = {name: [m for m in mods if m.startswith("odoo")] for name, mods in _imports("anaf").items()}
    assert {name: mods for name, mods in offending.items() if mods} == {}
