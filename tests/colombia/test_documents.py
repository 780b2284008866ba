"""Tier 1: LaFactura.co documents — NIT, CUFE, tolerant general.json reader, totals, taxes, plan."""

import json
from decimal import Decimal

import pytest

from l10n_co_lafactura.lafactura import documents as d
from l10n_co_lafactura.lafactura import fixtures as f
from l10n_co_lafactura.lafactura import nit


# ----------------------------------------------------------------------------- NIT
@pytest.mark.parametrize(
    "base,dv",
    [
        ("900373044", "9"),
        ("800197268", "4"),
        ("860034313", "7"),
        ("900900900", "0"),
        ("1018419008", "5"),
        ("90010828", "1"),
    ],
)
def test_check_digit_vectors(base, dv):
    assert nit.check_digit(base) == dv


@pytest.mark.parametrize(
    "typed",
    [
        "900373044",
        "900373044-9",
        "900.373.044-9",
        "CO900373044",
        "9003730449",
        " 900 373 044 - 9 ",
    ],
)
def test_nit_any_format_matches(typed):
    assert nit.same("900373044-9", typed)
    assert {"900373044", "9003730449"} & nit.candidates(typed)


def test_nit_split_and_format():
    assert nit.split("900.373.044-9") == ("900373044", "9")
    assert nit.split("900373044") == ("900373044", "9")
    assert nit.split("900373044", dv="9") == ("900373044", "9")
    assert nit.formatted("860034313") == "860034313-7"
    assert nit.dv_mismatch("860034313", "3") and not nit.dv_mismatch("860034313", "7")
    assert not nit.same("900373044-9", "800197268")
    with pytest.raises(ValueError):
        nit.check_digit("")


# ----------------------------------------------------------------------------- CUFE
def test_cufe_shape():
    doc = f.make_document()
    assert d.cufe_shape_ok(doc["general"]["cufe"])
    assert d.cufe_shape_ok(doc["general"]["cufe"].upper() + "  ")
    assert not d.cufe_shape_ok("0c35d069" * 13 + "e")  # 105 chars like the wiki sample
    assert not d.cufe_shape_ok("z" * 96)
    assert d.dian_link("ABC", "2").startswith("https://catalogo-vpfe-hab.dian.gov.co/")


def test_cufe_preimage_check():
    doc = f.make_document()
    ubl = d.parse_ubl(doc["general"]["json"])
    assert d.preimage_matches(ubl.note, ubl.uuid) is True
    assert d.preimage_matches(ubl.note + "x", ubl.uuid) is False
    assert d.preimage_matches("", ubl.uuid) is None


# ----------------------------------------------------------------------------- tolerant reader
LINES = (
    ("Papel", 3, "1000.00", "01", 19),
    ("Leche", 2, "500.00", "01", 5),
    ("Libro", 1, "20000.00", "01", 0),
)


@pytest.mark.parametrize("dialect", f.DIALECTS)
@pytest.mark.parametrize("kind", ["fc", "nc", "nd"])
def test_reader_every_dialect(dialect, kind):
    original = f.make_document("fc", "FE9", lines=LINES)
    doc = f.make_document(
        kind,
        "X1",
        lines=LINES,
        dialect=dialect,
        reference=None if kind == "fc" else original,
    )
    ubl = d.parse_ubl(doc["general"]["json"])
    assert ubl.kind == kind
    assert ubl.uuid == doc["general"]["cufe"]
    assert ubl.supplier.nit == f.SUPPLIER_NIT and ubl.supplier.dv == "7" and ubl.supplier.scheme_name == "31"
    assert ubl.supplier.vat == "860034313-7"
    assert ubl.customer.nit == f.OUR_NIT
    assert [(str(line.quantity), line.price_unit, line.unit_code) for line in ubl.lines] == [
        ("3", Decimal("1000.00"), "94"),
        ("2", Decimal("500.00"), "94"),
        ("1", Decimal("20000.00"), "94"),
    ]
    assert [(t.scheme, t.percent) for line in ubl.lines for t in line.taxes] == [
        ("01", Decimal("19.00")),
        ("01", Decimal("5.00")),
        ("01", Decimal("0.00")),
    ]
    assert ubl.totals["PayableAmount"] == doc["totals"]["PayableAmount"]
    assert ubl.mode == "1"
    if kind != "fc":
        assert ubl.reference_uuid == original["general"]["cufe"]
        assert ubl.reference_number == "FE9"


def test_reader_single_line_object_and_json_numbers():
    data = {
        "Invoice": {
            "ID": "N1",
            "UUID": {"_attributes": {"schemeID": "1"}, "_text": "A" * 96},
            "AccountingCustomerParty": {
                "Party": {"PartyTaxScheme": {"CompanyID": {"@attributes": {"schemeID": 9}, "$": 900373044}}}
            },
            "LegalMonetaryTotal": {
                "PayableAmount": 119.0,
                "LineExtensionAmount": "100,00",
            },
            "InvoiceLine": {
                "InvoicedQuantity": {"-unitCode": "94", "#text": 1},
                "LineExtensionAmount": 100,
                "Item": {"Description": "Uno"},
                "Price": {"PriceAmount": {"value": 100}},
            },
        }
    }
    ubl = d.parse_ubl(json.dumps(data))
    assert ubl.uuid == "a" * 96 and ubl.uuid_scheme_id == "1"
    assert ubl.customer.nit == "900373044" and ubl.customer.dv == "9"
    assert len(ubl.lines) == 1 and ubl.lines[0].unit_code == "94" and ubl.lines[0].price_unit == 100
    assert d.to_decimal(ubl.totals["PayableAmount"]) == Decimal("119.0")
    assert d.to_decimal(ubl.totals["LineExtensionAmount"]) == Decimal("100.00")


def test_reader_root_without_wrapper_and_list_root():
    doc = f.make_document("nc", "NC7", dialect="compact")
    inner = json.loads(doc["general"]["json"])["CreditNote"]
    assert d.parse_ubl(json.dumps(inner)).kind == "nc"
    assert d.parse_ubl(json.dumps([{"CreditNote": inner}])).kind == "nc"


def test_reader_line_allowance_uses_line_amount():
    data = {
        "Invoice": {
            "InvoiceLine": {
                "InvoicedQuantity": "4",
                "LineExtensionAmount": "90.00",
                "AllowanceCharge": {"ChargeIndicator": "false", "Amount": "10.00"},
                "Price": {"PriceAmount": "25.00"},
                "Item": {"Description": "x"},
            }
        }
    }
    line = d.parse_ubl(json.dumps(data)).lines[0]
    assert line.price_unit == Decimal("22.5")


def test_reader_attached_document_unwrapped():
    xml = (
        '<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2" '
        'xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2" '
        'xmlns:cac="urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2">'
        '<cbc:ID>AD1</cbc:ID><cac:InvoiceLine><cbc:InvoicedQuantity unitCode="94">2</cbc:InvoicedQuantity>'
        "<cbc:LineExtensionAmount>20.00</cbc:LineExtensionAmount><cac:Item><cbc:Description>x</cbc:Description></cac:Item>"
        "<cac:Price><cbc:PriceAmount>10.00</cbc:PriceAmount></cac:Price></cac:InvoiceLine></Invoice>"
    )
    data = {"AttachedDocument": {"cac:Attachment": {"cac:ExternalReference": {"cbc:Description": xml}}}}
    ubl = d.parse_ubl(json.dumps(data))
    assert ubl.number == "AD1" and ubl.lines[0].quantity == 2
    evil = '<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><Invoice><ID>&e;</ID></Invoice>'
    with pytest.raises(d.DocumentError):
        d.parse_ubl(json.dumps({"AttachedDocument": {"Attachment": {"ExternalReference": {"Description": evil}}}}))


@pytest.mark.parametrize(
    "text,code",
    [
        ("", "json_not_json"),
        ("{not json", "json_not_json"),
        ('{"Order": {"ID": "1"}}', "json_not_ubl"),
        ("[]", "json_not_ubl"),
        ('"Invoice"', "json_not_ubl"),
        ('{"ApplicationResponse": {}}', "json_not_ubl"),
    ],
)
def test_reader_refuses_non_invoices(text, code):
    with pytest.raises(d.DocumentError) as info:
        d.parse_ubl(text)
    assert info.value.code == code


# ----------------------------------------------------------------------------- hook, delivery
def test_hook_document_shapes():
    doc = f.make_document()
    body = f.hook_body(doc)
    for data in (body, body["document"], [body]):
        hook = d.hook_document(data)
        assert hook.type == "fc" and hook.cufe == doc["general"]["cufe"] and hook.provider.id == f.SUPPLIER_NIT
        assert hook.dian is None and hook.customer is None
    full = d.hook_document({"document": doc})
    assert full.dian_approved is True and full.customer.id == f.OUR_NIT
    rejected = d.hook_document(f.make_document(approved=False, dian_messages=["Regla: 90, Rechazo: X"]))
    assert rejected.dian_approved is False and rejected.dian_messages() == ["Regla: 90, Rechazo: X"]


@pytest.mark.parametrize(
    "method,ctype,body,status,state,code",
    [
        ("GET", "application/json", b"", 405, "", "method"),
        ("POST", "text/plain", b"{}", 415, "", "content_type"),
        ("POST", "", b"{}", 415, "", "content_type"),
        ("POST", "application/json", b"x" * 101, 413, "", "too_large"),
        ("POST", "application/json", b"", 400, "rejected", "empty_body"),
        ("POST", "application/json", b"{oops", 400, "rejected", "invalid_json"),
        ("POST", "application/json", b"\xff\xfe", 400, "rejected", "invalid_json"),
        ("POST", "application/json", b'{"a": 1}', 400, "rejected", "not_a_document"),
        (
            "POST",
            "application/json",
            b'{"document": {"general": {"type": "fc"}}}',
            400,
            "rejected",
            "not_a_document",
        ),
    ],
)
def test_inspect_delivery_bad_input(method, ctype, body, status, state, code):
    result = d.inspect_delivery(method, ctype, body, max_bytes=100)
    assert (result.http_status, result.state, result.code) == (status, state, code)
    assert result.reason


def test_inspect_delivery_good():
    doc = f.make_document()
    body = json.dumps(f.hook_body(doc)).encode()
    result = d.inspect_delivery("POST", "application/json; charset=utf-8", body)
    assert result.http_status == 200 and result.state == "received"
    assert result.keys["cufe"] == doc["general"]["cufe"] and result.keys["type"] == "fc"
    assert len(result.sha256) == 64
    assert d.inspect_delivery("POST", "application/json", b"", content_length=10**9).http_status == 413


# ----------------------------------------------------------------------------- totals, taxes
def test_compare_totals():
    a = {"LineExtensionAmount": "100.00", "PayableAmount": "119.00"}
    assert d.compare_totals(a, {"LineExtensionAmount": "100.00", "PayableAmount": "119.004"}) == []
    assert d.compare_totals(a, {"LineExtensionAmount": "100.00", "PayableAmount": "120.00"}) == [
        ("PayableAmount", Decimal("119.00"), Decimal("120.00"))
    ]
    assert d.compare_totals(a, {"LineExtensionAmount": "100.00"}) == [("PayableAmount", Decimal("119.00"), Decimal(0))]
    # DIAN: Payable = LineExtension + taxes - allowances + charges - advances (anticipos).
    expected = d.expected_move_totals(
        {
            "LineExtensionAmount": "100",
            "AllowanceTotalAmount": "10",
            "ChargeTotalAmount": "5",
            "PayableAmount": "64",
            "PrepaidAmount": "50",
        },
        declared_tax=Decimal(19),
    )
    assert expected == {
        "amount_untaxed": Decimal(95),
        "amount_tax": Decimal(19),  # the declared TaxTotal, not payable - untaxed (-31)
        "amount_total": Decimal(114),  # the advance is a payment, not a reduction of the bill
    }


def test_tax_table():
    table = d.TaxTable(
        [
            ("01", 19, "iva19"),
            ("1", "5.00", "iva5"),
            ("01", 0, "iva0"),
            ("04", None, "inc"),
            ("ZZ", None, False),
        ]
    )
    T = d.TaxLine
    assert table.map_taxes([T("01", Decimal("19.00"), 1), T("04", Decimal(8), 1)]) == (
        ["iva19", "inc"],
        [],
    )
    assert table.map_taxes([T("01", Decimal(5), 1), T("06", Decimal("2.5"), 1), T("ZZ", Decimal(0), 0)]) == (
        ["iva5"],
        [],
    )
    assert table.map_taxes([T("01", Decimal(16), 1)]) == ([], [("01", Decimal(16))])


# ----------------------------------------------------------------------------- plan
TABLE = d.TaxTable([("01", 19, 1), ("01", 5, 2), ("01", 0, 3), ("04", 8, 4)])


def _plan(doc, **kw):
    hook = d.hook_document(f.hook_body(doc))
    info = d.hook_document({"document": doc}) if kw.pop("confirm", True) else None
    options = dict(company_nit="900373044-9", company_mode="1", tax_table=TABLE)
    options.update(kw)
    return d.plan(hook, info, **options)


def test_plan_invoice_and_notes():
    fc = f.make_document("fc", "FE1", lines=LINES)
    p = _plan(fc)
    assert p.move_type == "in_invoice" and p.kind == "fc" and [k for _, k in p.lines] == [[1], [2], [3]]
    assert p.total_differences == [] and p.warnings == []
    nc = _plan(f.make_document("nc", "NC1", reference=fc))
    assert nc.move_type == "in_refund" and nc.reference_cufe == fc["general"]["cufe"]
    nd = _plan(f.make_document("nd", "ND1", reference=fc))
    assert nd.move_type == "in_invoice" and nd.kind == "nd" and nd.reference_cufe == fc["general"]["cufe"]
    assert _plan(f.make_document("nc", "NC2")).reference_cufe == ""  # CustomizationID 22: no reference


def _refusal(doc, **kw):
    with pytest.raises(d.Refusal) as info:
        _plan(doc, **kw)
    return info.value.state, info.value.code


def test_plan_refusals():
    assert _refusal(f.make_document(approved=False)) == ("rejected", "dian_rejected")
    assert _refusal(f.make_document(customer_nit="800197268")) == (
        "rejected",
        "other_company",
    )
    assert _refusal(f.make_document(mode="2")) == ("ignored", "test_mode")
    assert _refusal(f.make_document(), company_mode="2") == ("ignored", "test_mode")
    assert _refusal(f.make_document(lines=(("x", 1, "10.00", "01", 16),))) == (
        "error",
        "unknown_tax",
    )
    bad = f.make_document()
    bad["general"]["cufe"] = "0c35d069" * 13 + "e"
    assert _refusal(bad) == ("rejected", "bad_cufe")
    other = f.make_document()
    other["general"]["type"] = "nc"
    assert _refusal(other) == ("rejected", "type_mismatch")
    garbage = f.make_document()
    garbage["general"]["json"] = "<Invoice/>"
    assert _refusal(garbage, confirm=False) == ("rejected", "json_not_json")
    order = f.make_document()
    order["general"]["json"] = '{"Order": {}}'
    assert _refusal(order, confirm=False) == ("rejected", "json_not_ubl")
    weird = f.make_document()
    weird["general"]["type"] = "ds"
    assert _refusal(weird) == ("ignored", "unsupported_type")


def test_plan_test_mode_accepted_when_configured():
    p = _plan(f.make_document(mode="2"), accept_test=True)
    assert "test_mode" in p.warnings


def test_plan_totals_difference_reported():
    doc = f.make_document(hook_totals_override={"PayableAmount": "999.00"})
    p = _plan(doc, confirm=False)
    assert [k for k, _, _ in p.total_differences] == ["PayableAmount"]
