"""Issue 10 (eFACT supplier): corrective Facturae, tax summary, NIF control character, DIR3 checks,
exact attachment sizes. Every corrective method is validated against the official 3.2.2 XSD."""

import copy

import pytest
from lxml import etree

from l10n_efact_aoc.efact import checks, corrective, documents

SAMPLE = dict(
    seller_nif="ESB12345674",
    seller_name="Prov",
    buyer_nif="ESP0800001J",
    buyer_name="Ajuntament",
    number="R-1",
    issue_date="2026-11-02",
    centres=[("01", "L01080193"), ("02", "L01080194"), ("03", "L01080195")],
    signed=False,
)


def _with_corrective(values):
    """A sample Facturae whose header carries `values` as its Corrective block (core's element order)."""
    root = etree.fromstring(documents.build_sample_facturae(**SAMPLE))
    header = root.find("Invoices/Invoice/InvoiceHeader")
    node = etree.SubElement(header, "Corrective")
    for tag in ("InvoiceNumber", "InvoiceSeriesCode", "ReasonCode", "ReasonDescription"):
        if values[tag]:
            etree.SubElement(node, tag).text = values[tag]
    period = etree.SubElement(node, "TaxPeriod")
    etree.SubElement(period, "StartDate").text = values["TaxPeriod"]["StartDate"]
    etree.SubElement(period, "EndDate").text = values["TaxPeriod"]["EndDate"]
    for tag in ("CorrectionMethod", "CorrectionMethodDescription", "InvoiceIssueDate"):
        if values[tag]:
            etree.SubElement(node, tag).text = values[tag]
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


@pytest.mark.parametrize("method", sorted(corrective.CORRECTION_METHODS))
@pytest.mark.parametrize("reason", sorted(corrective.REASONS))
def test_every_method_and_reason_passes_the_xsd(method, reason):
    values = corrective.corrective(method, reason, "INV/2026/00001", "INV", ("2026-10-01", "2026-10-31"), "2026-10-15")
    assert documents.validate_facturae(_with_corrective(values)) == []


def test_core_texts_fail_the_xsd():
    """What Odoo core writes (the reason's English label, its own method text) is refused by the schema."""
    values = corrective.corrective("01", "16", "INV/2026/00001", period=("2026-10-01", "2026-10-31"))
    bad = dict(values, ReasonDescription="Taxable Base", CorrectionMethodDescription="Rectificación modelo íntegro.")
    errors = documents.validate_facturae(_with_corrective(bad))
    assert any("ReasonDescription" in e for e in errors)
    assert any("CorrectionMethodDescription" in e for e in errors)


def test_corrective_refuses_what_the_schema_would():
    with pytest.raises(ValueError, match="method"):
        corrective.corrective("05", "10", "F1", period=("2026-01-01", "2026-01-31"))
    with pytest.raises(ValueError, match="reason"):
        corrective.corrective("01", "17", "F1", period=("2026-01-01", "2026-01-31"))
    with pytest.raises(ValueError, match="required for methods 01 and 02"):
        corrective.corrective("02", "10", "", period=("2026-01-01", "2026-01-31"))
    with pytest.raises(ValueError, match="longer than 20"):
        corrective.corrective("01", "10", "X" * 21, period=("2026-01-01", "2026-01-31"))
    # 03 (volume discount over a period) corrects no single invoice
    assert corrective.corrective("03", "83", "", period=("2026-01-01", "2026-03-31"))["InvoiceNumber"] == ""


def test_default_method():
    assert corrective.default_method(1210.0, 1210.0) == "01"
    assert corrective.default_method(1210.0, 121.0) == "02"


def test_tax_nodes_grouped_per_type_and_rate():
    def node(rate, base, tax, kind="01"):
        return {
            "kind": kind,
            "TaxRate": rate,
            "TaxableBase": {"TotalAmount": base, "EquivalentInEuros": base},
            "TaxAmount": {"TotalAmount": tax, "EquivalentInEuros": tax},
        }

    nodes = [
        node("21.000", 100.0, 21.0),
        node("10.000", 50.0, 5.0),
        node("21.000", 0.1, 0.02),
        node("21.000", 10, 2.1, "03"),
    ]
    original = copy.deepcopy(nodes)
    grouped = corrective.group_tax_nodes(nodes, key=lambda n: (n["kind"], n["TaxRate"]))
    assert [(g["kind"], g["TaxRate"]) for g in grouped] == [("01", "21.000"), ("01", "10.000"), ("03", "21.000")]
    assert grouped[0]["TaxableBase"] == {"TotalAmount": 100.1, "EquivalentInEuros": 100.1}
    assert grouped[0]["TaxAmount"]["TotalAmount"] == 21.02
    assert nodes == original, "the input nodes are not modified"


@pytest.mark.parametrize(
    "nif, ok",
    [
        ("ESP0800001J", True),
        ("B12345674", True),
        ("12345678Z", True),
        ("X1234567L", True),
        ("ESB12345678", False),  # wrong control digit (hub code 3021)
        ("12345678A", False),
        ("P0800001A", False),
        ("", False),
        ("ES123", False),
    ],
)
def test_nif_control_character(nif, ok):
    assert checks.nif_control_ok(nif) is ok


UNITS = [
    checks.Unit("ESP0800001J", "L01080193", "L01080194", "L01080195"),
    checks.Unit("P0800002H", "L05000001", "L05000002", "L05000003"),
]


def _kinds(centres, owner="P0800001J"):
    return [(p.role, p.kind) for p in checks.check_dir3(centres, owner, UNITS)]


def test_dir3_checked_against_synced_units():
    good = {"01": "L01080193", "02": "L01080194", "03": "L01080195"}
    assert _kinds(good) == []
    assert _kinds(dict(good, **{"03": "L0108019512345"})) == [("03", "too_long")]
    assert _kinds(dict(good, **{"02": ""})) == [("02", "missing")]
    problems = checks.check_dir3(dict(good, **{"01": "L05000001"}), "ESP0800001J", UNITS)
    assert [(p.role, p.kind, p.detail) for p in problems] == [("01", "other_owner", "P0800002H")]
    assert _kinds(dict(good, **{"03": "L99999999"})) == [("03", "unknown")]
    # a body nobody synced: every code unknown
    assert [k for _r, k in _kinds(good, owner="Q0801175A")] == ["other_owner"] * 3


def test_dir3_triple_must_be_one_eFACT_lists():
    units = [*UNITS, checks.Unit("P0800001J", "L01080193", "L01080194", "L01089999")]
    centres = {"01": "L01080193", "02": "L01080194", "03": "L01089999"}
    assert checks.check_dir3(centres, "P0800001J", units) == []
    units = [checks.Unit("P0800001J", "A", "B", "C"), checks.Unit("P0800001J", "A2", "B2", "C2")]
    assert [p.kind for p in checks.check_dir3({"01": "A", "02": "B2", "03": "C"}, "P0800001J", units)] == [
        "combination"
    ]


def test_exact_sizes_in_attachment_messages():
    att = documents.Attachment("informe.pdf", b"x" * 2_100_000)
    (problem,) = documents.check_attachments([att])
    assert "2,100,000 bytes" in problem and "at most 2,097,152 bytes" in problem
    assert "empty" in documents.check_attachments([documents.Attachment("buit.pdf", b"")])[0]


def test_schema_errors_point_at_the_invoice_part():
    errors = [
        "line 40: Element 'InvoiceTotals': This element is not expected. Expected is ( TaxesOutputs ).",
        "line 12: Element 'CentreCode': [facet 'maxLength'] The value 'L0108019512' has a length of '11'.",
        "line 3: Element '{http://www.w3.org/2000/09/xmldsig#}Foo': something",
    ]
    assert checks.schema_error_kinds(errors) == ["tax", "centre"]
    assert checks.schema_error_kinds(["line 9: Element 'PostCode': This element is not expected."]) == ["address"]
    assert checks.schema_error_kinds(["garbage"]) == []


@pytest.mark.parametrize("dialect", ["plain", "wrapped"])
def test_submission_answer_read_in_every_dialect(supplier, dialect):
    app, _injector, api = supplier
    app.state.send_dialect = dialect
    xml = documents.build_sample_facturae(**dict(SAMPLE, signed=True, number=f"D-{dialect}"))
    sent = api.send_invoice(documents.build_submission("D.xml", xml), reference="D")
    assert sent.id in app.state.invoices and sent.number == f"D-{dialect}"


@pytest.mark.parametrize("dialect", ["ack", "noid", "html", "empty"])
def test_success_without_an_invoice_id_is_an_unknown_outcome(supplier, dialect):
    from einvoice_common.einvoice import errors

    app, _injector, api = supplier
    app.state.send_dialect = dialect
    number = f"ACK-{dialect}"
    xml = documents.build_sample_facturae(**dict(SAMPLE, signed=True, number=number))
    with pytest.raises(errors.UnknownOutcome):
        api.send_invoice(documents.build_submission("A.xml", xml), reference="A")
    assert len(app.state.invoices) == 1, "the hub has it: it must be reconciled, not resent"
    found = api.find_submission(number, receiver_nif="ESP0800001J", supplier_nif=SAMPLE["seller_nif"])
    assert found and found.id in app.state.invoices
    assert api.find_submission(number, receiver_nif="ESP0800001J", supplier_nif="ESA58818501") is None, (
        "another supplier's invoice with the same number is not ours"
    )


def test_lookup_cannot_conclude_absence_while_states_wait_on_later_pages(supplier):
    from einvoice_common.einvoice import errors

    app, _injector, api = supplier
    app.state.page_size = 1
    for number in ("P-1", "P-2"):
        xml = documents.build_sample_facturae(**dict(SAMPLE, signed=True, number=number))
        api.send_invoice(documents.build_submission("P.xml", xml), reference=number)
    known = list(app.state.invoices)
    with pytest.raises(errors.TransientError):
        api.find_submission("P-404", known_ids=known)
    app.state.page_size = 500
    assert api.find_submission("P-404", known_ids=known) is None
