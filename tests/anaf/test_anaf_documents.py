"""ANAF answers and invoices: parsing, sniffing, safe XML, pre-upload checks, error texts, quotas, deadline."""

import os
from datetime import date, datetime

import pytest
from anaf_support import fixture_bytes, make_invoice
from lxml import etree

from l10n_ro_anaf_efactura.anaf import deadline, documents, errors, quota, sandbox


def test_nok_sample_zip_gives_anaf_errors():
    answer = documents.parse_zip(fixture_bytes("3828.zip"))
    assert answer.is_error_document
    assert answer.index == "3828"
    assert "R6.1" in answer.errors[0]
    assert answer.signature_name == "semnatura_3828.xml"


@pytest.mark.parametrize("name", ["5004552043.zip", "5004879752.zip", "invoice.zip"])
def test_ok_sample_zips_give_invoice_and_signature(name):
    answer = documents.parse_zip(fixture_bytes(name))
    assert not answer.is_error_document and not answer.errors
    summary = documents.summarise_invoice(answer.xml)
    assert summary.number and summary.supplier_vat.isdigit()
    value, cert = documents.signature_values(answer.signature)
    assert value and cert and " " not in value


def test_sniff_tells_bodies_apart():
    assert documents.sniff(fixture_bytes("3828.zip")) == "zip"
    assert documents.sniff(b'{"eroare": "x"}') == "json"
    assert documents.sniff(b"<html><body>The requested URL was rejected</body></html>") == "html"
    assert documents.sniff(b"%PDF-1.4") == "pdf"
    assert documents.sniff(b"<?xml version='1.0'?><a/>") == "xml"
    assert documents.sniff(b"") == "empty"


def test_doctype_and_entities_are_refused():
    evil = b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]><a>&x;</a>'
    with pytest.raises(documents.DocumentError):
        documents.parse_xml(evil)


def test_upload_and_status_answers():
    ok = documents.parse_upload(
        b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><header xmlns="mfp:anaf:dgti:spv:respUploadFisier:v1"'
        b' dateResponse="202211011415" ExecutionStatus="0" index_incarcare="3828"/>'
    )
    assert ok.ok and ok.index == "3828"
    bad = documents.parse_upload(
        b'<header xmlns="mfp:anaf:dgti:spv:respUploadFisier:v1" ExecutionStatus="1">'
        b'<Errors errorMessage="Nu aveti drept in SPV pentru CIF=123"/></header>'
    )
    assert not bad.ok and bad.errors == ["Nu aveti drept in SPV pentru CIF=123"]
    status = documents.parse_status(
        b'<header xmlns="mfp:anaf:dgti:efactura:stareMesajFactura:v1" stare="ok" id_descarcare="1234"/>'
    )
    assert (status.state, status.download_id) == ("ok", "1234")
    with pytest.raises(documents.DocumentError):
        documents.parse_status(b'<header xmlns="urn:other"/>')


def test_preflight_names_missing_county_sector_and_lengths():
    assert documents.preflight(make_invoice()) == []
    problems = documents.preflight(make_invoice(seller_county="", item="x" * 101))
    rules = {p.rule for p in problems}
    assert "BR-RO-110" in rules and "BR-RO-L100" in rules
    assert any(p.field == "Seller: county (state)" for p in problems)
    bucharest = documents.preflight(make_invoice(seller_county="RO-B", seller_city="Bucuresti"))
    assert [p.rule for p in bucharest] == ["BR-RO-100"]
    assert documents.preflight(make_invoice(seller_county="RO-B", seller_city="SECTOR3")) == []
    assert [p.rule for p in documents.preflight(make_invoice(number="ABC"))] == ["BR-RO-010"]


@pytest.mark.parametrize(
    "text, code, kind",
    [
        (
            "S-au facut deja 100 descarcari de mesaj in cursul zilei",
            "quota_status",
            "quota",
        ),
        (
            "S-au facut deja 10 descarcari de mesaj in cursul zilei",
            "quota_status",
            "quota",
        ),
        (
            "S-au facut deja 1000 interogari de lista mesaje de catre utilizator in cursul zilei",
            "quota_list",
            "quota",
        ),
        (
            "S-au incarcat deja 1000 de mesaje de tip RASP pentru cui=123 in cursul zilei",
            "quota_rasp",
            "quota",
        ),
        ("Nu aveti drept in SPV pentru CIF=8000000000", "no_rights_cif", "rights"),
        (
            "Nu exista niciun CIF pentru care sa aveti drept in SPV",
            "no_cif_rights",
            "rights",
        ),
        ("Nu exista niciun CIF petru care sa aveti drept", "no_cif_rights", "rights"),
        (
            "Nu aveti dreptul de inteorgare pentru id_incarcare= 18",
            "no_rights_index",
            "rights",
        ),
        (
            "Nu aveti dreptul sa descarcati acesta factura",
            "no_rights_download",
            "rights",
        ),
        (
            "Valorile acceptate pentru parametrul standard sunt UBL, CN, CII sau RASP",
            "bad_standard",
            "business",
        ),
        ("CIF introdus= 123a nu este un numar", "bad_cif", "business"),
        ("Marime fisier transmis mai mare de 10 MB.", "too_big", "business"),
        (
            "Fisierul transmis nu este valid. org.xml.sax.SAXParseException; x",
            "invalid_xml",
            "business",
        ),
        (
            "Daca parametrul extern|autofacturare|executare trebuie completat, valoarea acceptata este DA",
            "bad_flag",
            "business",
        ),
        (
            "CIF introdus= 1 nu este inregistrat in Registrul RO e-Factura executari silite",
            "not_enforcement",
            "business",
        ),
        ("A aparut o eroare tehnica. Cod: 500", "technical", "transient"),
        ("Parametrii standard si cif sunt obligatorii", "missing_params", "business"),
        ("Nu exista factura cu id_incarcare= 15000", "unknown_index", "not_found"),
        ("Id_incarcare introdus= aaa nu este un numar intreg", "bad_index", "business"),
        (
            "Pentru id=21 nu exista inregistrata nici o factura",
            "unknown_download",
            "not_found",
        ),
        (
            "Id descarcare introdus= 123a nu este un numar intreg",
            "bad_download_id",
            "business",
        ),
        ("Numarul de zile trebuie sa fie intre 1 si 60", "days_range", "business"),
        ("Nu exista mesaje in ultimele 15 zile", "empty_list", "empty"),
        ("Nu exista mesaje in intervalul selectat", "empty_list", "empty"),
        (
            "Lista de mesaje este mai mare decat numarul de 500 elemente permise in pagina.",
            "list_too_big",
            "business",
        ),
        (
            "Pagina solicitata 50 este mai mare decat numarul toatal de pagini 29",
            "page_out_of_range",
            "business",
        ),
        (
            "startTime = 1 nu poate fi mai vechi de 60 de zile fata de momentul requestului",
            "start_too_old",
            "business",
        ),
        (
            "E: validari globale eroare regula: R6.1: CIF-ul vanzatorului nu figureaza",
            "anaf",
            "business",
        ),
    ],
)
def test_every_documented_text_is_classified_with_advice(text, code, kind):
    found = errors.classify(text)
    assert (found.code, found.kind) == (code, kind)
    assert code in _advice() or kind == "empty"


def test_daily_limits_are_keyed_per_message_or_cif_and_bucharest_day():
    assert quota.daily_key("status", {"id_incarcare": "5001"}) == ("status", "5001")
    assert quota.daily_key("download", {"id": 3001}) == ("download", "3001")
    assert quota.daily_key("list_page", {"cif": "8000000000", "pagina": 2}) == ("list_page", "8000000000")
    assert quota.daily_key("upload", {"cif": "8000000000"}) is None  # invoices: per minute only
    assert quota.daily_limit("status") == 95 and quota.daily_limit("download") == 9
    assert quota.daily_limit("upload") is None
    assert quota.PER_MINUTE_OURS == 950
    now = datetime(2026, 11, 22, 21, 30)  # 23:30 in Bucharest
    assert quota.day_window(now) == (datetime(2026, 11, 21, 22, 0), datetime(2026, 11, 22, 22, 0))
    assert quota.day_window(datetime(2026, 11, 22, 22, 5))[0] == datetime(2026, 11, 22, 22, 0)
    assert quota.next_bucharest_midnight(now) == datetime(2026, 11, 22, 22, 0)


def test_sandbox_counts_calls_in_any_window():
    state = sandbox.make_app(window=60).state
    state.call_times.extend([0.0, 10.0, 59.9, 60.0, 61.0, 130.0])
    assert state.most_calls_in_window() == 4  # 10.0, 59.9, 60.0, 61.0
    assert state.most_calls_in_window(1) == 2


def test_poll_schedule_stays_far_below_100_a_day():
    now, polls = datetime(2026, 1, 1), 0
    while now < datetime(2026, 1, 2):
        now = quota.next_poll(now, polls)
        polls += 1
    assert polls < 30


def test_deadline_counts_working_days_and_romanian_holidays():
    assert deadline.deadline(date(2026, 11, 23)) == date(2026, 12, 2)  # 30 Nov (Sun) and 1 Dec holidays
    assert deadline.deadline(date(2025, 4, 17)) == date(2025, 4, 28)  # Good Friday + Easter Monday
    assert deadline.working_days_left(date(2026, 11, 23), date(2026, 11, 23)) == 5
    assert deadline.working_days_left(date(2026, 11, 23), date(2026, 12, 3)) == -1


@pytest.mark.parametrize(
    ("cnp", "valid"),
    [
        ("1800101221144", True),
        ("1800101221145", False),  # wrong check digit
        ("0000000000000", True),  # the placeholder for an unknown CNP
        ("180010122114", False),  # 12 digits
        ("18001012211AB", False),
        ("", False),
        (None, False),
    ],
)
def test_valid_cnp(cnp, valid):
    assert documents.valid_cnp(cnp) is valid


def _advice():
    """{code: advice} of ANAF's rows of einvoice.error.advice (the addon's data file)."""
    path = os.path.join(os.path.dirname(errors.__file__), os.pardir, "data", "einvoice_error_advice.xml")
    records = etree.parse(path).getroot().iter("record")
    return {r.find("field[@name='code']").text: r.find("field[@name='advice']").text for r in records}


def test_every_error_advice_has_a_romanian_translation():
    """Each documented ANAF error maps to advice that the addon's ro.po translates (placeholders kept)."""
    babel_pofile = pytest.importorskip("babel.messages.pofile")

    po_path = os.path.join(os.path.dirname(errors.__file__), os.pardir, "i18n", "ro.po")
    with open(po_path, "rb") as handle:
        translated = {m.id: m.string for m in babel_pofile.read_po(handle) if m.id}
    advice = list(_advice().values())
    assert set(_advice()) == {c for c, k, _p in errors.CATALOGUE if k != "empty"} | {errors.GENERIC_CODE}
    missing = [a for a in advice if not translated.get(a)]
    assert missing == []
    assert all(translated[a] != a for a in advice)
