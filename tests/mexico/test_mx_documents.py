"""CFDI 4.0 builder: every invoice kind builds and passes the official XSDs; rules and rounding."""

from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree
from mx_common import CUSTOMER, ISSUER, IVA16, invoice, now

from l10n_mx_factureapp.factureapp import catalogs
from l10n_mx_factureapp.factureapp import documents as doc

UUID = "8A9E5B3C-1D2E-4F50-9A7B-0C1D2E3F4A5B"


def kinds():
    iva8 = doc.Tax("iva", "Tasa", D("0.08"))
    iva0 = doc.Tax("iva", "Tasa", D(0))
    exempt = doc.Tax("iva", "Exento")
    ieps = doc.Tax("ieps", "Tasa", D("0.08"), affects_base=True)
    ret_iva = doc.Tax("iva", "Tasa", D("0.106667"), withholding=True)
    ret_isr = doc.Tax("isr", "Tasa", D("0.10"), withholding=True)

    def line(taxes, **kw):
        return doc.Line("Producto", D(3), D("99.99"), "01010101", "H87", taxes=taxes, **kw)

    public = doc.Party("XAXX010101000", "PUBLICO EN GENERAL", "616", "20914", "S01")
    foreign = doc.Party(
        "XEXX010101000",
        "ACME INC",
        "616",
        "20914",
        "S01",
        foreign_country="USA",
        foreign_tax_id="123456789",
    )
    person = doc.Party("CACX7605101P8", "XOCHILT CASAS CHAVEZ", "612", "36257", "D01")
    return {
        "iva16": invoice(),
        "iva8": invoice(lines=[line([iva8])]),
        "iva0": invoice(lines=[line([iva0])]),
        "exempt": invoice(lines=[line([exempt])]),
        "ieps+iva": invoice(lines=[line([ieps, IVA16])]),
        "retentions": invoice(
            lines=[
                doc.Line(
                    "Honorarios",
                    D(1),
                    D(10000),
                    "80111600",
                    "E48",
                    taxes=[IVA16, ret_iva, ret_isr],
                )
            ]
        ),
        "discount": invoice(lines=[line([IVA16], discount=D("10.50")), line([])]),
        "no-tax": invoice(lines=[line([])]),
        "ppd": invoice(payment_method="PPD", payment_form="99"),
        "public-global": invoice(
            receiver=public,
            global_info=("04", "11", 2026),
            lines=[
                doc.Line(
                    "Venta",
                    D(1),
                    D(250),
                    "01010101",
                    "ACT",
                    product_code="T-1",
                    taxes=[IVA16],
                )
            ],
        ),
        "public-nominative": invoice(receiver=doc.Party("XAXX010101000", "JUAN PEREZ", "616", "20914", "S01")),
        "foreign": invoice(receiver=foreign, export="02"),
        "usd": invoice(currency="USD", rate=D("17.253100")),
        "jpy": invoice(currency="JPY", rate=D("0.115"), lines=[line([IVA16])]),
        "individual": invoice(receiver=person),
        "egreso": invoice(
            kind="E",
            related=[("01", [UUID])],
            receiver=doc.Party(**{**CUSTOMER.__dict__, "uso_cfdi": "G02"}),
        ),
        "substitution": invoice(related=[("04", [UUID])]),
    }


@pytest.mark.parametrize("name", sorted(kinds()))
def test_every_kind_builds_and_passes_xsd(name):
    xml = doc.build_invoice(kinds()[name])
    assert doc.xsd_errors(xml) == []
    root = doc.parse(xml)
    assert root.get("Sello") is None  # unsigned pre-CFDI: Facture seals it


def test_amounts_and_grouping():
    ieps = doc.Tax("ieps", "Tasa", D("0.08"), affects_base=True)
    ret = doc.Tax("iva", "Tasa", D("0.106667"), withholding=True)
    inv = invoice(
        lines=[
            doc.Line(
                "A",
                D(3),
                D("100.50"),
                "01010101",
                "H87",
                discount=D(10),
                taxes=[ieps, IVA16],
            ),
            doc.Line("B", D(1), D(1000), "80111600", "E48", taxes=[IVA16, ret]),
        ]
    )
    root = doc.parse(doc.build_invoice(inv))
    assert root.get("SubTotal") == "1301.50" and root.get("Descuento") == "10.00"
    imp = root.find("cfdi:Impuestos", {"cfdi": doc.NS_CFDI})
    # IEPS 291.50*0.08 = 23.32; IVA base 314.82 + 1000 -> 210.3712 -> 210.37
    assert imp.get("TotalImpuestosTrasladados") == "233.69"
    assert imp.get("TotalImpuestosRetenidos") == "106.67"
    assert root.get("Total") == "1418.52"


def test_zero_decimal_currency_rounds_document_amounts():
    inv = invoice(
        currency="JPY",
        rate=D("0.115"),
        lines=[doc.Line("A", D(3), D("99.99"), "01010101", "H87", taxes=[IVA16])],
    )
    root = doc.parse(doc.build_invoice(inv))
    assert root.get("SubTotal") == "300" and root.get("Total") == "348"


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.decimals("0.01", "999", places=2),
            st.decimals("1", "99999", places=2),
            st.sampled_from(["0.16", "0.08", "0", None]),
        ),
        min_size=1,
        max_size=8,
    )
)
def test_property_totals_add_up_and_validate(rows):
    lines = [
        doc.Line(
            "X",
            q,
            p,
            "01010101",
            "H87",
            taxes=[doc.Tax("iva", "Tasa", D(r))] if r is not None else [doc.Tax("iva", "Exento")],
        )
        for q, p, r in rows
    ]
    xml = doc.build_invoice(invoice(lines=lines))
    root = doc.parse(xml)
    assert doc.xsd_errors(root) == []
    ns = {"cfdi": doc.NS_CFDI}
    subtotal = sum(D(c.get("Importe")) for c in root.findall("cfdi:Conceptos/cfdi:Concepto", ns))
    assert doc.rnd(subtotal, 2) == D(root.get("SubTotal"))
    imp = root.find("cfdi:Impuestos", ns)
    transferred = D(imp.get("TotalImpuestosTrasladados", "0"))
    assert D(root.get("SubTotal")) + transferred == D(root.get("Total"))
    doc_level = sum(D(t.get("Importe", "0")) for t in imp.findall("cfdi:Traslados/cfdi:Traslado", ns))
    assert doc_level == transferred


@pytest.mark.parametrize(
    "changes, code",
    [
        (dict(receiver=doc.Party("BAD", "X", "601", "86991", "G03")), "rfc_invalid"),
        (
            dict(receiver=doc.Party("URE180429TM6", "X", "", "86991", "G03")),
            "regimen_missing",
        ),
        (
            dict(receiver=doc.Party("URE180429TM6", "X", "612", "86991", "G03")),
            "regimen_person",
        ),
        (
            dict(receiver=doc.Party("URE180429TM6", "X", "601", "86991", "D01")),
            "uso_person",
        ),
        (
            dict(receiver=doc.Party("URE180429TM6", "X", "601", "0000", "G03")),
            "zip_invalid",
        ),
        (
            dict(receiver=doc.Party("XEXX010101000", "ACME", "616", "20914", "S01")),
            "foreign_country",
        ),
        (
            dict(receiver=doc.Party("XAXX010101000", "PUBLICO EN GENERAL", "616", "20914", "S01")),
            "public_needs_global",
        ),
        (dict(global_info=("04", "11", 2026)), "global_needs_public"),
        (dict(currency="USD"), "rate_missing"),
        (dict(payment_method="PPD", payment_form="03"), "ppd_form"),
        (dict(payment_form="99"), "pue_form"),
        (dict(kind="E"), "egreso_related"),
        (dict(lines=[]), "no_lines"),
        (
            dict(lines=[doc.Line("A", D(1), D(-5), "01010101", "H87")]),
            "price_negative",
        ),
        (dict(lines=[doc.Line("A", D(0), D(5), "01010101", "H87")]), "quantity"),
        (
            dict(lines=[doc.Line("A", D(1), D(5), "99999999", "H87")]),
            "clave_prod_serv",
        ),
        (
            dict(lines=[doc.Line("A", D(1), D(5), "01010101", "ZZZ")]),
            "clave_unidad",
        ),
        (dict(expected_total=D("1.00")), "total_mismatch"),
    ],
)
def test_bad_input_names_the_field(changes, code):
    with pytest.raises(doc.CfdiError) as info:
        doc.build_invoice(invoice(**changes))
    assert code in [p.code for p in info.value.problems]
    assert all(p.field for p in info.value.problems)


def test_rfc_validation():
    assert catalogs.rfc_person_type("EKU9003173C9") == "moral"
    assert catalogs.rfc_person_type("CACX7605101P8") == "fisica"
    assert catalogs.rfc_person_type("XAXX010101000") == "generic"
    assert catalogs.rfc_person_type("XEXX010101000") == "generic"
    assert catalogs.rfc_person_type("EKU9013173C9") is None  # month 13
    assert catalogs.rfc_person_type("eku9003173c9") is None


def test_payment_complement_valid():
    pay = doc.Payment(
        date=now(),
        issuer=ISSUER,
        receiver=CUSTOMER,
        place="20914",
        payment_form="03",
        currency="MXN",
        amount=D("2000.00"),
        documents=[
            doc.PaidDocument(
                uuid=UUID,
                currency="MXN",
                amount_paid=D("2000.00"),
                balance_before=D("3480.00"),
                installment=1,
                total=D("3480.00"),
                taxes=[(IVA16, D("3000.00"))],
                series="INV",
                number="1",
            )
        ],
    )
    xml = doc.build_payment(pay)
    assert doc.xsd_errors(xml) == []
    root = doc.parse(xml)
    assert root.get("TipoDeComprobante") == "P" and root.get("Moneda") == "XXX"
    ns = {"pago20": doc.NS_PAGO}
    totales = root.find(".//pago20:Totales", ns)
    assert totales.get("MontoTotalPagos") == "2000.00"
    assert totales.get("TotalTrasladosBaseIVA16") == "1724.14"
    assert totales.get("TotalTrasladosImpuestoIVA16") == "275.86"
    rel = root.find(".//pago20:DoctoRelacionado", ns)
    assert rel.get("ImpSaldoInsoluto") == "1480.00"


def test_payment_usd_with_retention_valid():
    ret = doc.Tax("isr", "Tasa", D("0.10"), withholding=True)
    pay = doc.Payment(
        date=now(),
        issuer=ISSUER,
        receiver=CUSTOMER,
        place="20914",
        payment_form="03",
        currency="USD",
        rate=D("17.5"),
        amount=D(100),
        documents=[
            doc.PaidDocument(
                uuid=UUID,
                currency="USD",
                amount_paid=D(100),
                balance_before=D(106),
                installment=2,
                total=D(106),
                taxes=[(IVA16, D(100)), (ret, D(100))],
            )
        ],
    )
    assert doc.xsd_errors(doc.build_payment(pay)) == []


def test_safe_parser_refuses_doctype_and_entities():
    evil = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>'
    with pytest.raises((ValueError, etree.XMLSyntaxError)):
        doc.parse(evil)


def test_xsd_rejects_bad_catalog_value():
    xml = doc.build_invoice(invoice()).replace(b'UsoCFDI="G03"', b'UsoCFDI="Z99"')
    errors = doc.xsd_errors(xml)
    assert errors and "UsoCFDI" in errors[0]


def test_fecha_is_local_naive():
    root = doc.parse(doc.build_invoice(invoice()))
    assert "T" in root.get("Fecha") and len(root.get("Fecha")) == 19
    assert now().year >= 2026


def _paid(uuid, amount, balance, installment, currency="MXN", equivalence=D(1), total=None):
    total = total if total is not None else balance
    base = (D(total) / D("1.16")).quantize(D("0.01"))
    return doc.PaidDocument(
        uuid=uuid,
        currency=currency,
        amount_paid=D(amount),
        balance_before=D(balance),
        installment=installment,
        total=D(total),
        taxes=[(IVA16, base)],
        equivalence=equivalence,
    )


def test_payment_several_documents_validate_against_pagos20():
    other = "6F1A2B3C-4D5E-4F60-8A7B-9C0D1E2F3A4B"
    pay = doc.Payment(
        date=now(),
        issuer=ISSUER,
        receiver=CUSTOMER,
        place="20914",
        payment_form="03",
        currency="MXN",
        amount=D("2980.00"),
        documents=[_paid(UUID, "660.00", "660.00", 2, total="1160.00"), _paid(other, "2320.00", "2320.00", 1)],
        series="PBNK1",
        number="7",
    )
    root = doc.parse(doc.build_payment(pay))
    assert doc.xsd_errors(root) == []
    ns = {"pago20": doc.NS_PAGO}
    related = root.findall(".//pago20:DoctoRelacionado", ns)
    assert [(r.get("NumParcialidad"), r.get("ImpSaldoAnt"), r.get("ImpSaldoInsoluto")) for r in related] == [
        ("2", "660.00", "0.00"),
        ("1", "2320.00", "0.00"),
    ]
    assert (root.get("Serie"), root.get("Folio")) == ("PBNK1", "7")
    assert root.find(".//pago20:Totales", ns).get("MontoTotalPagos") == "2980.00"


def test_payment_in_mxn_of_a_usd_invoice_uses_equivalencia_dr():
    pay = doc.Payment(
        date=now(),
        issuer=ISSUER,
        receiver=CUSTOMER,
        place="20914",
        payment_form="03",
        currency="MXN",
        amount=D("20000.00"),
        documents=[_paid(UUID, "1160.00", "1160.00", 1, currency="USD", equivalence=D("0.058"))],
    )
    root = doc.parse(doc.build_payment(pay))
    assert doc.xsd_errors(root) == []
    ns = {"pago20": doc.NS_PAGO}
    related = root.find(".//pago20:DoctoRelacionado", ns)
    assert (related.get("MonedaDR"), related.get("EquivalenciaDR")) == ("USD", "0.058")
    traslado = root.find(".//pago20:TrasladoP", ns)
    assert traslado.get("BaseP") == "17241.37931"  # 1000 USD / 0.058 in MXN
    assert root.find(".//pago20:Totales", ns).get("TotalTrasladosImpuestoIVA16") == "2758.62"


def test_equivalencia_dr_integer_is_well_formed():
    pay = doc.Payment(
        date=now(),
        issuer=ISSUER,
        receiver=CUSTOMER,
        place="20914",
        payment_form="03",
        currency="USD",
        rate=D("17"),
        amount=D("100.00"),
        documents=[_paid(UUID, "1700.00", "1700.00", 1, equivalence=D("17"))],
    )
    root = doc.parse(doc.build_payment(pay))
    assert doc.xsd_errors(root) == []
    assert root.find(f".//{{{doc.NS_PAGO}}}DoctoRelacionado").get("EquivalenciaDR") == "17"


def test_payment_applying_more_than_its_amount_is_refused():
    pay = doc.Payment(
        date=now(),
        issuer=ISSUER,
        receiver=CUSTOMER,
        place="20914",
        payment_form="03",
        currency="MXN",
        amount=D("19999.00"),
        documents=[_paid(UUID, "1160.00", "1160.00", 1, currency="USD", equivalence=D("0.058"))],
    )
    with pytest.raises(doc.CfdiError) as info:
        doc.build_payment(pay)
    assert [p.code for p in info.value.problems] == ["payment_applied"]
    pay.amount = D("20000.00")
    assert doc.xsd_errors(doc.build_payment(pay)) == []
