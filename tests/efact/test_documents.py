import pytest

from l10n_efact_aoc.efact import documents

SAMPLE = dict(
    seller_nif="ESB12345674",
    seller_name="Prov",
    buyer_nif="ESP0800001J",
    buyer_name="Ajuntament",
    number="F-1",
    issue_date="2026-11-02",
    centres=[("01", "L1"), ("02", "L2"), ("03", "L3")],
)


def test_parse_sample():
    facturae = documents.parse_facturae(
        documents.build_sample_facturae(lines=[("A", 2, 10.0, 21.0), ("B", 1, 50.0, 10.0)], **SAMPLE)
    )
    assert facturae.version == "3.2.2"
    assert facturae.invoice.total == documents.money("79.20")
    assert facturae.centre("03") == "L3"
    assert facturae.signed and facturae.signature_value


@pytest.mark.parametrize(
    "content",
    [
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "boom">]><x>&e;</x>',
        b'<?xml version="1.0"?><!DOCTYPE x SYSTEM "http://example.com/x.dtd"><x/>',
        b"<not closed",
        b"",
    ],
)
def test_hostile_or_broken_xml_refused(content):
    with pytest.raises(documents.DocumentError) as exc:
        documents.parse_facturae(content)
    assert exc.value.code == 3016


def test_unknown_version_and_batch():
    xml = documents.build_sample_facturae(**SAMPLE).replace(b"Facturaev3_2_2.xml", b"Facturaev9.xml")
    with pytest.raises(documents.DocumentError) as exc:
        documents.parse_facturae(xml)
    assert exc.value.code == 3017
    batch = documents.parse_facturae(documents.build_sample_facturae(invoices=2, **SAMPLE))
    assert batch.invoices_count == 2


def test_unsigned_detected():
    assert not documents.parse_facturae(documents.build_sample_facturae(signed=False, **SAMPLE)).signed


def test_attachment_limits_name_the_file():
    big = documents.Attachment("plànol.pdf", b"x" * (documents.MAX_ATTACHMENT_BYTES + 1))
    problems = documents.check_attachments([big])
    assert len(problems) == 1 and "plànol.pdf" in problems[0] and "2,097,152 bytes" in problems[0]
    six = [documents.Attachment(f"{i}.pdf", b"%PDF") for i in range(6)]
    assert "at most 5" in documents.check_attachments(six)[0]
    assert "file type" in documents.check_attachments([documents.Attachment("virus.exe", b"MZ")])[0]
    assert "MIME" in documents.check_attachments([documents.Attachment("a.pdf", b"1", "text/plain")])[0]
    assert documents.mime_for("x.docx") == "application/msword"


def test_build_submission_checks_request_size_and_email():
    xml = documents.build_sample_facturae(**SAMPLE)
    atts = [documents.Attachment(f"{i}.pdf", b"x" * (documents.MAX_ATTACHMENT_BYTES - 10)) for i in range(5)]
    body_ok = documents.build_submission("F-1.xml", xml, atts[:3], email="a@b.cat")
    assert body_ok["correuElectronic"] == "a@b.cat" and len(body_ok["adjunts"]) == 3
    with pytest.raises(documents.DocumentError) as exc:  # 5 x ~2 MB -> base64 -> > 10 MB
        documents.build_submission("F-1.xml", xml, atts)
    assert exc.value.code == 3002 and "10,485,760 bytes" in str(exc.value)
    with pytest.raises(documents.DocumentError):
        documents.build_submission("F-1.pdf", xml)
    with pytest.raises(documents.DocumentError):
        documents.build_submission("F-1.xml", xml, email="not an email")


def test_receipt_pdf():
    pdf = documents.minimal_pdf("rebut (1)")
    assert pdf.startswith(b"%PDF-1.4") and pdf.rstrip().endswith(b"%%EOF")


def test_sample_is_valid_against_the_official_xsd_and_errors_are_reported():
    xml = documents.build_sample_facturae(lines=[("A", 1, 10.0, 21.0)], **SAMPLE)
    assert documents.validate_facturae(xml) == []
    broken = xml.replace(b"<InvoiceClass>OO</InvoiceClass>", b"<InvoiceClass>XX</InvoiceClass>")
    problems = documents.validate_facturae(broken)
    assert problems and "InvoiceClass" in problems[0]


def _sample(**kw):
    return documents.build_sample_facturae(
        seller_nif="ESB12345674",
        seller_name="Prov",
        buyer_nif="ESP0800001J",
        buyer_name="Aj",
        issue_date="2026-11-02",
        centres=[("01", "L1"), ("02", "L2"), ("03", "L3")],
        number="X1",
        **kw,
    )


def test_received_facturae_schema_check():
    good = _sample()
    assert documents.validate_facturae(good) == []
    bad = good.replace(b"<InvoiceNumber>", b"<Nonsense>1</Nonsense><InvoiceNumber>", 1)
    problems = documents.validate_facturae(bad)
    assert problems and "Nonsense" in problems[0]


def test_older_facturae_versions_are_accepted_by_namespace():
    older = _sample().replace(documents.NS_322.encode(), b"http://www.facturae.es/Facturae/2014/v3.2.1/Facturae")
    assert documents.parse_facturae(older).version == "3.2.1"
    assert documents.validate_facturae(older) == []  # no official 3.2.1 schema shipped
    unknown = _sample().replace(documents.NS_322.encode(), b"urn:example:not-facturae")
    with pytest.raises(documents.DocumentError):
        documents.parse_facturae(unknown)
