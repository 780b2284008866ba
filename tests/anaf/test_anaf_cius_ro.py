"""Odoo-generated CIUS-RO XML (fixtures written by the tier-2 test) through ANAF's official 1.0.9 stylesheet."""

import glob
import os

import pytest
from anaf_support import FIXTURES

from l10n_ro_anaf_efactura.anaf import cius_ro, documents

ODOO_XML = sorted(glob.glob(os.path.join(FIXTURES, "odoo", "*.xml")))

pytest.importorskip("saxonche")


def _read(path):
    with open(path, "rb") as handle:
        return handle.read()


def test_there_is_one_fixture_per_supported_kind():
    kinds = {os.path.basename(p)[5:-4] for p in ODOO_XML}
    assert kinds == {"invoice", "credit_note", "foreign_buyer", "bucharest_buyer"}


def test_odoo_xml_passes_the_official_stylesheet_and_our_preflight():
    contents = [_read(p) for p in ODOO_XML]
    assert cius_ro.fatal_asserts_many(contents) == [[] for _ in contents]
    assert all(documents.preflight(xml) == [] for xml in contents)


def test_the_stylesheet_catches_what_preflight_catches():
    xml = _read(os.path.join(FIXTURES, "odoo", "odoo_invoice.xml")).replace(b"RO-CJ", b"RO-XX")
    fatal = cius_ro.fatal_asserts(xml)
    assert any(f.startswith("BR-RO-111") or f.startswith("BR-RO-110") for f in fatal)
    assert {p.rule for p in documents.preflight(xml)} == {"BR-RO-110"}


def test_the_sandbox_accepts_odoo_xml(anaf_factory):
    anaf = anaf_factory(cifs=("8000000000",))
    for path in ODOO_XML:
        xml = _read(path)
        credit = b"<CreditNote" in xml[:400]
        index = anaf.client.upload(
            xml,
            cif="8000000000",
            standard="CN" if credit else "UBL",
            extern=b"DE123456788" in xml,
        ).index
        assert anaf.client.message_state(index).state == "ok", path
