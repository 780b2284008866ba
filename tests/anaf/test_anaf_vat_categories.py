"""VAT categories, credit notes and foreign buyers: the addon's XML (fixtures written by the tier-2 test
`test_anaf_vat_categories`) through ANAF's CIUS-RO 1.0.9 stylesheet and our EN 16931 category checks."""

import os

import pytest
from anaf_support import FIXTURES
from lxml import etree

from l10n_ro_anaf_efactura.anaf import cius_ro, documents, vat

NS = documents.NS_UBL
KINDS = {
    "reverse_charge": ("AE", "VATEX-EU-AE"),
    "eu_services": ("AE", "VATEX-EU-AE"),
    "eu_goods": ("K", "VATEX-EU-IC"),
    "export": ("G", "VATEX-EU-G"),
    "outside_scope": ("O", "VATEX-EU-O"),
    "exempt": ("E", "VATEX-EU-132-1B"),
}


def _read(kind):
    with open(os.path.join(FIXTURES, "odoo", f"odoo_{kind}.xml"), "rb") as handle:
        return handle.read()


def _rules(xml):
    return {p.rule for p in documents.preflight(xml)}


def _all_kinds():
    return [*KINDS, *(f"{kind}_credit_note" for kind in KINDS), "foreign_buyer_without_state", "eu_goods_eur"]


# -- resolve ----------------------------------------------------------------------------------------
def test_a_category_set_on_the_tax_wins_and_brings_its_code_and_legal_mention():
    category = vat.resolve(0.0, vat.Setting("AE"), vat.Setting("K"))
    assert (category.code, category.vatex, category.percent) == ("AE", "VATEX-EU-AE", 0.0)
    assert category.reason == "Taxare inversă"
    exempt = vat.resolve(0.0, vat.Setting("E", "VATEX-EU-132-1B", "Scutit art. 292"))
    assert (exempt.code, exempt.vatex, exempt.reason) == ("E", "VATEX-EU-132-1B", "Scutit art. 292")


def test_the_fiscal_position_applies_to_taxes_without_category():
    assert vat.resolve(0.0, vat.Setting(), vat.Setting("G")).vatex == "VATEX-EU-G"
    assert vat.resolve(0.0, vat.Setting(), vat.Setting("O")).percent is None  # BR-O-05: no rate


def test_without_any_setting_the_rate_decides_and_an_unnamed_exemption_stays_unnamed():
    assert vat.resolve(21.0, vat.Setting()) == vat.Category("S", percent=21.0)
    blank = vat.resolve(0.0, vat.Setting())
    assert (blank.code, blank.vatex, blank.reason) == ("E", "", "")  # refused before upload, naming the tax
    assert vat.resolve(21.0, vat.Setting("S", "VATEX-EU-AE", "x")) == vat.Category("S", percent=21.0)


def test_chart_defaults_fit_ciusro_lengths_and_codes():
    codes = {code for code, _label in vat.VATEX_CODES}
    assert len(codes) == len(vat.VATEX_CODES) == 57
    for category, vatex, reason in vat.RO_CHART_DEFAULTS.values():
        assert category in dict(vat.CATEGORIES)
        assert not vatex or vatex in codes
        assert 0 < len(reason) <= vat.MAX_REASON


# -- the addon's documents --------------------------------------------------------------------------
def test_every_kind_passes_the_official_stylesheet_and_our_checks():
    pytest.importorskip("saxonche")
    contents = [_read(kind) for kind in _all_kinds()]
    assert cius_ro.fatal_asserts_many(contents) == [[] for _ in contents]
    assert [documents.preflight(xml) for xml in contents] == [[] for _ in contents]


@pytest.mark.parametrize("kind", list(KINDS))
def test_each_kind_and_its_credit_note_carry_the_category_and_code(kind):
    for name in (kind, f"{kind}_credit_note"):
        root = documents.parse_xml(_read(name))
        breakdown = documents._breakdown(root)
        assert [(code, vatex) for code, vatex, _reason, _amount in breakdown] == [KINDS[kind]], name
        assert all(reason and "Directive" not in reason for _c, _v, reason, _a in breakdown)


@pytest.mark.parametrize("kind", list(KINDS))
def test_credit_notes_name_the_corrected_invoice(kind):
    root = documents.parse_xml(_read(f"{kind}_credit_note"))
    assert root.findtext("cbc:CreditNoteTypeCode", namespaces=NS) == "381"
    reference = root.find("cac:BillingReference/cac:InvoiceDocumentReference", NS)
    original = documents.parse_xml(_read(kind))
    assert reference.findtext("cbc:ID", namespaces=NS) == original.findtext("cbc:ID", namespaces=NS)
    assert reference.findtext("cbc:IssueDate", namespaces=NS) == original.findtext("cbc:IssueDate", namespaces=NS)
    assert "Retur" not in (root.findtext("cac:OrderReference/cbc:ID", namespaces=NS) or "")


def test_foreign_buyer_without_state_and_its_delivery_subdivision():
    root = documents.parse_xml(_read("foreign_buyer_without_state"))
    address = root.find("cac:AccountingCustomerParty/cac:Party/cac:PostalAddress", NS)
    assert address.findtext("cbc:CountrySubentity", namespaces=NS) is None
    # BR-RO-211: a delivery address always carries a subdivision (the city where Odoo has no state)
    delivery = root.find("cac:Delivery/cac:DeliveryLocation/cac:Address", NS)
    assert delivery.findtext("cbc:CountrySubentity", namespaces=NS) == "München"


def test_an_invoice_in_euros_states_its_vat_in_ron_too():
    root = documents.parse_xml(_read("eu_goods_eur"))
    assert root.findtext("cbc:DocumentCurrencyCode", namespaces=NS) == "EUR"
    assert root.findtext("cbc:TaxCurrencyCode", namespaces=NS) == "RON"
    currencies = {t.find("cbc:TaxAmount", NS).get("currencyID") for t in root.iterfind("cac:TaxTotal", NS)}
    assert currencies == {"EUR", "RON"}
    assert [row[:2] for row in documents._breakdown(root)] == [("K", "VATEX-EU-IC")]


def test_foreign_state_code_is_not_prefixed_twice():
    root = documents.parse_xml(_read("eu_goods"))
    county = root.findtext(
        "cac:AccountingCustomerParty/cac:Party/cac:PostalAddress/cbc:CountrySubentity", namespaces=NS
    )
    assert county == "DE-BE"


# -- what the checks refuse ---------------------------------------------------------------------------
def test_an_exemption_without_reason_is_refused():
    xml = _read("exempt")
    root = documents.parse_xml(xml)
    reason = root.findtext(".//cac:TaxSubtotal/cac:TaxCategory/cbc:TaxExemptionReason", namespaces=NS).encode()
    bare = xml.replace(b"<cbc:TaxExemptionReasonCode>VATEX-EU-132-1B</cbc:TaxExemptionReasonCode>", b"")
    bare = bare.replace(b"<cbc:TaxExemptionReason>" + reason + b"</cbc:TaxExemptionReason>", b"")
    assert "BR-E-10" in _rules(bare)


def test_a_category_with_another_categorys_code_is_refused():
    xml = _read("eu_services").replace(b"VATEX-EU-AE", b"VATEX-EU-IC")
    assert "VATEX" in _rules(xml)


def test_intra_community_supply_needs_the_buyers_vat_number_and_delivery():
    xml = _read("eu_goods")
    root = documents.parse_xml(xml)
    party = root.find("cac:AccountingCustomerParty/cac:Party", NS)
    buyer_vat = party.findtext("cac:PartyTaxScheme/cbc:CompanyID", namespaces=NS).encode()
    unprefixed = xml.replace(
        b"<cbc:CompanyID>" + buyer_vat + b"</cbc:CompanyID>", b"<cbc:CompanyID>123</cbc:CompanyID>"
    )
    assert "BR-CO-09" in _rules(unprefixed)
    party.remove(party.find("cac:PartyTaxScheme", NS))
    assert "BR-IC-02" in _rules(etree.tostring(root))
    no_delivery = xml.replace(b"<cac:Delivery>", b"<cac:Ignored>").replace(b"</cac:Delivery>", b"</cac:Ignored>")
    assert {"BR-IC-11", "BR-IC-12"} <= _rules(no_delivery)


def test_outside_scope_refuses_vat_ids_and_other_categories():
    xml = _read("outside_scope")
    assert "BR-O-02" in _rules(xml.replace(b"<cbc:ID>NO_VAT</cbc:ID>", b"<cbc:ID>VAT</cbc:ID>"))
    mixed = xml.replace(b"</cac:TaxTotal>", _subtotal("S", "21") + b"</cac:TaxTotal>", 1)
    assert "BR-O-11" in _rules(mixed)


def test_standard_rate_with_an_exemption_reason_is_refused():
    xml = _read("exempt").replace(b"<cbc:ID>E</cbc:ID>", b"<cbc:ID>S</cbc:ID>")
    assert "BR-S-10" in _rules(xml)


def _subtotal(code, percent):
    return (
        b'<cac:TaxSubtotal><cbc:TaxableAmount currencyID="RON">1.00</cbc:TaxableAmount>'
        b'<cbc:TaxAmount currencyID="RON">0.21</cbc:TaxAmount><cac:TaxCategory><cbc:ID>'
        + code.encode()
        + b"</cbc:ID><cbc:Percent>"
        + percent.encode()
        + b"</cbc:Percent><cac:TaxScheme><cbc:ID>VAT</cbc:ID></cac:TaxScheme></cac:TaxCategory></cac:TaxSubtotal>"
    )
