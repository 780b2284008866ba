"""Checks of the bootstrap helpers in setup/ (no Odoo needed)."""

import importlib.util
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _load_odoo_requirements():
    path = ROOT / "setup" / "odoo_requirements.py"
    spec = importlib.util.spec_from_file_location("odoo_requirements", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_pins_map_psycopg2_and_skip_ldap(tmp_path):
    reqs = tmp_path / "requirements.txt"
    reqs.write_text(
        "# comment\n"
        "psycopg2==2.9.9 ; python_version >= '3.12'\n"
        "psycopg2==2.8.6 ; python_version < '3.12'  # old\n"
        "python-ldap==3.4.4 ; sys_platform != 'win32'\n"
        "gevent==24.2.1\n"
        "lxml==5.2.1\n"
        "pypiwin32 ; sys_platform == 'win32'\n",
        encoding="utf-8",
    )
    pins = list(_load_odoo_requirements().pins(str(reqs)))
    assert pins == ["psycopg2-binary==2.9.9", "lxml==5.2.1"]
