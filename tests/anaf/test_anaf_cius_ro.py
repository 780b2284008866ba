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
    assert kinds == {
        "invoice",
        "credit_note",
        "foreign_buyer",
        "bucharest_buyer",
        "individual",
        "individual_cnp",
        "self_billing",
        "self_billing_credit_note",
        # VAT categories, each with its credit note (test_anaf_vat_categories)
        *(
            f"{kind}{suffix}"
            for kind in ("reverse_charge", "eu_services", "eu_goods", "export", "outside_scope", "exempt")
            for suffix in ("", "_credit_note")
        ),
        "foreign_buyer_without_state",
        "eu_goods_eur",
    }


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
            b2c="individual" in path,
            autofactura="self_billing" in path,
        ).index
        assert anaf.client.message_state(index).state == "ok", path
        assert anaf.state.uploads[index].b2c == ("individual" in path)


def test_individual_buyers_carry_the_cnp_or_13_zeros():
    for kind, expected in (("individual", documents.CNP_UNKNOWN), ("individual_cnp", "1800101221144")):
        root = documents.parse_xml(_read(os.path.join(FIXTURES, "odoo", f"odoo_{kind}.xml")))
        party = root.find("cac:AccountingCustomerParty/cac:Party", documents.NS_UBL)
        assert party.findtext("cac:PartyLegalEntity/cbc:CompanyID", namespaces=documents.NS_UBL) == expected
        assert party.find("cac:PartyTaxScheme", documents.NS_UBL) is None


def test_the_stylesheet_refuses_an_individual_without_identifier():
    xml = _read(os.path.join(FIXTURES, "odoo", "odoo_individual.xml"))
    xml = xml.replace(b"<cbc:CompanyID>0000000000000</cbc:CompanyID>", b"")
    fatal = cius_ro.fatal_asserts(xml)
    assert any(f.startswith("BR-RO-120") for f in fatal), fatal
    assert "BR-RO-120" in {p.rule for p in documents.preflight(xml)}


def test_self_billing_is_a_389_uploaded_by_the_buyer(anaf_factory):
    xml = _read(os.path.join(FIXTURES, "odoo", "odoo_self_billing.xml"))
    summary = documents.summarise_invoice(xml)
    assert (summary.type_code, summary.customer_vat) == ("389", "8000000000")
    anaf = anaf_factory(cifs=("8000000000",))
    # without autofactura=DA, and with autofactura=DA on an ordinary invoice: refused (nok)
    plain = anaf.client.upload(xml, cif="8000000000").index
    assert anaf.client.message_state(plain).state == "nok"
    ordinary = _read(os.path.join(FIXTURES, "odoo", "odoo_invoice.xml"))
    wrong = anaf.client.upload(ordinary, cif="8000000000", autofactura=True).index
    assert anaf.client.message_state(wrong).state == "nok"
    good = anaf.client.upload(xml, cif="8000000000", autofactura=True).index
    assert anaf.client.message_state(good).state == "ok"
    assert anaf.state.uploads[good].flags == {"autofactura": "DA"}
