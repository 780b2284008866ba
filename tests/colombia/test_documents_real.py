"""Tier 1: documents a Colombian supplier really sends, and hostile bodies (issue 10).

Document-level discounts and freight, advances (anticipos), a wrong check digit, JSON
nested far beyond any document, NUL characters: each read the way DIAN's annex says, or
refused with a 400 and a reason, never an exception.
"""

import json
from decimal import Decimal

import pytest

from l10n_co_lafactura.lafactura import documents as d
from l10n_co_lafactura.lafactura import fixtures as f

SUPPLIER = "830122566"  # DV 1


def _discount_and_freight(dialect="xmltodict"):
    # A hardware store's invoice: 5 % unconditional discount on the invoice, freight billed on top.
    return f.make_document(
        "fc",
        "FEFT-1024",
        lines=(
            ("Cemento gris 50 kg", 40, "32000.00", "01", 19),
            ("Varilla corrugada 3/8", 25, "18500.00", "01", 19),
        ),
        supplier_nit=SUPPLIER,
        doc_charges=((False, "87125.00", "00", "Descuento por pronto pago"), (True, "60000.00", "", "Flete Bogotá")),
        dialect=dialect,
    )


@pytest.mark.parametrize("dialect", f.DIALECTS)
def test_document_level_allowance_and_charge_read(dialect):
    doc = _discount_and_freight(dialect)
    ubl = d.parse_ubl(doc["general"]["json"])
    assert [(c.is_charge, c.amount, c.reason_code, c.reason) for c in ubl.charges] == [
        (False, Decimal("87125.00"), "00", "Descuento por pronto pago"),
        (True, Decimal("60000.00"), "", "Flete Bogotá"),
    ]
    assert [c.signed_amount for c in ubl.charges] == [Decimal("-87125.00"), Decimal("60000.00")]
    assert len(ubl.lines) == 2  # the document's charges are not taken for the lines' ones


def test_totals_with_document_level_charges_add_up_as_a_bill():
    doc = _discount_and_freight()
    ubl = d.parse_ubl(doc["general"]["json"])
    expected = d.expected_move_totals(ubl.totals, ubl.tax_amount)
    lines = sum(line.subtotal for line in ubl.lines) + sum(c.signed_amount for c in ubl.charges)
    assert expected["amount_untaxed"] == lines == Decimal("1715375.00")
    assert expected["amount_tax"] == ubl.tax_amount == Decimal("331075.00")  # taxes on the lines only (DIAN)
    assert expected["amount_total"] == Decimal(ubl.totals["PayableAmount"]) == Decimal("2046450.00")


def test_plan_carries_document_charges_with_their_taxes():
    doc = _discount_and_freight()
    table = d.TaxTable([("01", 19, "iva19")])
    planned = d.plan(d.hook_document(doc), d.hook_document(doc), company_nit=f.OUR_NIT, tax_table=table)
    assert [(c.signed_amount, keys) for c, keys in planned.charges] == [
        (Decimal("-87125.00"), []),
        (Decimal("60000.00"), []),
    ]
    assert planned.total_differences == []


def test_advance_is_a_payment_and_the_tax_is_the_declared_one():
    doc = f.make_document(
        "fc", "SETT-88", lines=(("Almuerzo ejecutivo", 100, "18000.00", "04", 8),), prepaid="500000.00"
    )
    ubl = d.parse_ubl(doc["general"]["json"])
    assert ubl.totals["PayableAmount"] == "1444000.00"
    expected = d.expected_move_totals(ubl.totals, ubl.tax_amount)
    assert expected == {
        "amount_untaxed": Decimal("1800000.00"),
        "amount_tax": Decimal("144000.00"),  # INC 8 % as declared; payable - untaxed would be -356000
        "amount_total": Decimal("1944000.00"),
    }


def test_wrong_check_digit_is_a_warning_and_the_nit_is_read_without_it():
    doc = f.make_document("fc", "FV-9", supplier_nit=SUPPLIER, supplier_dv="7")
    ubl = d.parse_ubl(doc["general"]["json"])
    assert (ubl.supplier.nit, ubl.supplier.dv) == (SUPPLIER, "7")
    planned = d.plan(d.hook_document(doc), None, company_nit=f.OUR_NIT, tax_table=d.TaxTable([("01", None, 1)]))
    assert "supplier_dv_mismatch" in planned.warnings


# ----------------------------------------------------------------------------- hostile bodies
def _nested(levels):
    return b"[" * levels + b"]" * levels


@pytest.mark.parametrize("levels", [100, 5_000, 100_000])
def test_deeply_nested_body_is_a_400_with_a_reason(levels):
    result = d.inspect_delivery("POST", "application/json", _nested(levels))
    assert (result.http_status, result.state, result.code) == (400, "rejected", "too_deep")
    assert "deep" in result.reason


def test_deeply_nested_object_body_is_a_400():
    body = b'{"a":' * 100_000 + b"1" + b"}" * 100_000
    result = d.inspect_delivery("POST", "application/json", body)
    assert (result.http_status, result.code) == (400, "too_deep")


@pytest.mark.parametrize("as_text", [True, False])
def test_nested_general_json_is_refused_not_crashed(as_text):
    doc = f.make_document("fc", "FE-DEEP")
    nested = '{"Invoice": {"ID": "FE-DEEP", "X": ' + '{"X": ' * 3000 + "1" + "}" * 3002
    body = json.dumps(f.hook_body(doc)).encode()
    if as_text:
        body = body.replace(json.dumps(doc["general"]["json"]).encode(), json.dumps(nested).encode())
    else:
        body = body.replace(json.dumps(doc["general"]["json"]).encode(), nested.encode())
    result = d.inspect_delivery("POST", "application/json", body)
    if not as_text:
        assert (result.http_status, result.code) == (400, "too_deep")
        return
    assert result.http_status == 200  # the hook itself is fine; general.json is read by the processor
    with pytest.raises(d.Refusal) as refusal:
        d.plan(d.hook_document(d.load_json(body)), None, company_nit=f.OUR_NIT)
    assert (refusal.value.state, refusal.value.code) == ("rejected", "too_deep")


def test_nul_characters_never_reach_the_stored_keys():
    doc = f.make_document("fc", "FE-NUL")
    body = f.hook_body(doc)
    body["document"]["general"]["num"] = "FE\u0000NUL"
    body["document"]["provider"]["name"] = "Prov\u0000eedor"
    result = d.inspect_delivery("POST", "application/json", json.dumps(body).encode())
    assert result.http_status == 200
    assert (result.keys["num"], result.keys["provider_name"]) == ("FENUL", "Proveedor")


@pytest.mark.parametrize(
    "body",
    [
        b'{"document": {"general": {"num": 1' + b"0" * 5000 + b"}}}",  # int beyond Python's digit limit
        b"\xff\xfe{}",
        b"\x00",
        b'{"document": NaN}',
        b'"' + b"\\ud800" + b'"',
    ],
)
def test_unreadable_bodies_always_400(body):
    result = d.inspect_delivery("POST", "application/json", body)
    assert (result.http_status, result.state) == (400, "rejected")
    assert result.reason
