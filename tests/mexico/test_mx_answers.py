"""Tolerant reading of Facture APP answers: shapes no sandbox of ours produced first, hostile
answers (foreign download links, ZIP bombs, secrets in error texts), and the stamp's
"unknown outcome unless clearly a refusal" rule, over loopback HTTP."""

import base64
import io
import json
import zipfile
from decimal import Decimal as D

import pytest
from mx_common import IVA16, invoice
from werkzeug.wrappers import Response

from einvoice_common.einvoice import errors
from einvoice_common.einvoice.transport import BasicAuth, Transport
from l10n_mx_factureapp.factureapp import answers
from l10n_mx_factureapp.factureapp import client as fclient
from l10n_mx_factureapp.factureapp import documents as doc
from l10n_mx_factureapp.factureapp import errors as ferrors

UUID = "8A9E5B3C-1D2E-4F50-9A7B-0C1D2E3F4A5B"


def canned(serve_app, body, status=200, content_type="application/json"):
    """A client whose every call gets this one answer (an independent server's shape)."""
    body = body if isinstance(body, bytes) else json.dumps(body).encode()

    def app(environ, start_response):
        return Response(body, status, content_type=content_type)(environ, start_response)

    server = serve_app(app)
    transport = Transport(server.url, auth=BasicAuth("demo", "s3cret-pass"), sleep=lambda s: None, retries=0)
    return fclient.FactureClient(transport)


# ------------------------------------------------------------------ account and branches
@pytest.mark.parametrize(
    "body",
    [
        {"usuario": "demo", "nombre": "Demo", "creditos": 42},  # flat: crashed with 'str' has no .get
        {"succeed": True, "usuario": {"usuario": "demo", "creditos": "42"}},
        {"data": {"user": {"login": "demo", "credits": 42}}},
        [{"usuario": "demo", "timbresDisponibles": "42"}],
    ],
)
def test_account_flat_or_nested(serve_app, body):
    assert canned(serve_app, body).account().credits == 42


def test_account_in_xml_with_attributes(serve_app):
    body = b'<respuesta><usuario usuario="demo" creditos="42" activo="false"/></respuesta>'
    account = canned(serve_app, body, content_type="application/xml").account()
    assert account.credits == 42 and account.user == "demo" and not account.active


def test_account_without_credits_is_a_protocol_error(serve_app):
    with pytest.raises(errors.ProtocolError):
        canned(serve_app, {"succeed": True, "usuario": "demo"}).account()


@pytest.mark.parametrize(
    "body, content_type",
    [
        ([{"ID": 7, "nombre": "Tijuana", "codigoPostal": "22000"}], "application/json"),
        ({"data": [{"id": "7", "name": "Tijuana", "cp": "22000"}]}, "application/json"),
        ({"items": [{"idSucursal": 7, "nombre": "Tijuana", "codigo_postal": "22000"}]}, "application/json"),
        (b"<sucursales><sucursal><ID>7</ID><nombre>Tijuana</nombre><cp>22000</cp></sucursal></sucursales>", "text/xml"),
        (
            b'<respuesta><sucursales><sucursal ID="7" nombre="Tijuana" codigoPostal="22000"/></sucursales></respuesta>',
            "",
        ),
        (b'[{"ID": 7, "nombre": "Tijuana", "codigoPostal": "22000"}]', "text/html"),  # mislabelled
    ],
)
def test_branches_bare_wrapped_or_xml(serve_app, body, content_type):
    branches = canned(serve_app, body, content_type=content_type).branches()
    assert [(b.id, b.name, b.zip) for b in branches] == [("7", "Tijuana", "22000")]


def test_branches_without_a_list_are_not_zero_branches(serve_app):
    with pytest.raises(errors.ProtocolError):
        canned(serve_app, b"<respuesta><estado>ok</estado></respuesta>", content_type="application/xml").branches()
    assert canned(serve_app, {"sucursales": []}).branches() == []


# ------------------------------------------------------------------ error bodies
@pytest.mark.parametrize(
    "body",
    [
        {"error": "XML mal formado", "codigo": "301"},
        {"mensaje": "XML mal formado", "code": "301"},
        {"message": "XML mal formado", "codigo": "301", "succeed": False},
        {"error": {"code": "301", "message": "XML mal formado"}},
        {"exito": "false", "codigoError": "301", "mensaje": "XML mal formado"},
    ],
)
def test_error_bodies_in_any_combination(serve_app, body):
    client = canned(serve_app, body, status=400)
    with pytest.raises(errors.RejectedError) as info:
        client.stamp(doc.build_invoice(invoice()), branch=1)
    assert info.value.code == "301" and "XML mal formado" in info.value.message


def test_error_body_with_status_200_is_a_refusal(serve_app):
    with pytest.raises(errors.RejectedError) as info:
        canned(serve_app, {"codigo": "CFDI40108", "mensaje": "SubTotal"}).stamp(doc.build_invoice(invoice()), 1)
    assert info.value.code == "CFDI40108" and not isinstance(info.value, errors.UnknownOutcome)


@pytest.mark.parametrize("body", [{"mensaje": "Sin créditos"}, b"", b"<html>Payment Required</html>"])
def test_http_402_is_no_credits(serve_app, body):
    with pytest.raises(ferrors.NoCredits) as info:
        canned(serve_app, body, status=402).stamp(doc.build_invoice(invoice()), branch=1)
    assert isinstance(info.value, errors.RejectedError) and info.value.code == "FA402"


def test_error_text_is_short_redacted_and_the_raw_kept_apart(serve_app):
    long_text = "Fallo interno con la clave s3cret-pass " + "x" * 1000
    with pytest.raises(errors.RejectedError) as info:
        canned(serve_app, {"codigo": "E1", "mensaje": long_text}, status=400).stamp(b"<x/>", branch=1)
    assert "s3cret-pass" not in info.value.message and len(info.value.message) < 300
    assert "s3cret-pass" not in json.dumps(info.value.details) and info.value.details[0]["raw"]


# ------------------------------------------------------------------ the stamp: success by the TFD, else unknown
def stamped_xml(facture_app_xml=None):
    """A stamped CFDI from the sandbox's sealer (a valid TFD)."""
    from l10n_mx_factureapp.factureapp import sandbox

    app = sandbox.make_app()
    xml = doc.build_invoice(invoice())
    ok, data = app.stamp_bytes(xml, app.branches[0])
    assert ok
    return xml, data["xml"].encode(), data["uuid"]


@pytest.mark.parametrize("where", ["xml", "cfdi", "comprobante", "timbre", "encode", "nested", "b64nested"])
def test_stamped_cfdi_under_any_key(serve_app, where):
    sent, stamped, uuid = stamped_xml()
    text = stamped.decode()
    body = {
        "xml": {"xml": text},
        "cfdi": {"cfdi": text, "codigo": "200"},
        "comprobante": {"comprobante": text},
        "timbre": {"timbre": text},
        "encode": {"items": [{"encode": base64.b64encode(stamped).decode(), "succeed": True}]},
        "nested": {"data": {"resultado": {"xmlTimbrado": text}}},
        "b64nested": {"respuesta": {"cfdi": base64.b64encode(b"\xef\xbb\xbf" + stamped).decode()}},
    }[where]
    result = canned(serve_app, body).stamp(sent, branch=1)
    assert result.uuid == uuid and doc.stamp_info(result.xml).uuid == uuid


@pytest.mark.parametrize("content_type", ["application/xml", "text/plain", "application/json", ""])
def test_stamped_cfdi_as_the_raw_body(serve_app, content_type):
    sent, stamped, uuid = stamped_xml()
    assert canned(serve_app, stamped, content_type=content_type).stamp(sent, branch=1).uuid == uuid


def test_stamped_cfdi_embedded_or_escaped_in_xml(serve_app):
    sent, stamped, uuid = stamped_xml()
    inner = stamped.split(b"?>", 1)[1]
    embedded = b"<respuesta><exito>true</exito><cfdi>" + inner + b"</cfdi></respuesta>"
    assert canned(serve_app, embedded, content_type="application/xml").stamp(sent, 1).uuid == uuid
    escaped = b"<respuesta><xml>" + inner.replace(b"&", b"&amp;").replace(b"<", b"&lt;") + b"</xml></respuesta>"
    assert canned(serve_app, escaped, content_type="application/xml").stamp(sent, 1).uuid == uuid


@pytest.mark.parametrize(
    "body, status, content_type",
    [
        ({"succeed": True, "message": "Comprobante timbrado correctamente"}, 200, "application/json"),
        ({"xml": "<cfdi:Comprobante xmlns:cfdi='http://www.sat.gob.mx/cfd/4'/>"}, 200, "application/json"),
        (b"OK", 200, "text/plain"),
        (b"", 200, "application/json"),
        (b"<html><body>Gateway</body></html>", 200, "text/html"),
        (b"{not json", 200, "application/json"),
        (b"<html><body>Conflict</body></html>", 409, "text/html"),
        ({"codigo": "200", "mensaje": "Timbrado"}, 200, "application/json"),
    ],
)
def test_anything_not_a_stamp_nor_a_refusal_is_unknown(serve_app, body, status, content_type):
    with pytest.raises(errors.UnknownOutcome) as info:
        canned(serve_app, body, status, content_type).stamp(doc.build_invoice(invoice()), branch=1)
    assert info.value.details and "raw" in info.value.details[0]


def test_stamp_of_another_document_is_unknown(serve_app):
    _sent, stamped, _uuid = stamped_xml()
    other = doc.build_invoice(invoice(number="999"))
    with pytest.raises(errors.UnknownOutcome) as info:
        canned(serve_app, {"xml": stamped.decode()}).stamp(other, branch=1)
    assert "Folio" in info.value.message


@pytest.mark.parametrize("shape", ["no_xml", "text", "html"])
def test_success_in_an_unexpected_shape_is_unknown_then_reconciled(facture, shape):
    xml = doc.build_invoice(invoice(number="501"))
    facture.app.stamp_shape = shape
    with pytest.raises(errors.UnknownOutcome):
        facture.client.stamp(xml, branch=1)
    facture.app.stamp_shape = ""
    found = facture.client.reconcile(xml)
    assert found.state == "stamped" and found.result.uuid in facture.app.cfdis
    assert doc.stamp_info(found.result.xml).uuid == found.result.uuid
    assert len(facture.app.cfdis) == 1 and facture.app.credits == 999


def test_reconcile_absent_then_identical_bytes_stamp_once(facture):
    xml = doc.build_invoice(invoice(number="502"))
    assert facture.client.reconcile(xml).state == "absent"
    facture.client.stamp(xml, branch=1)
    assert facture.client.reconcile(xml).state == "stamped"
    assert facture.client.stamp(xml, branch=1).uuid == facture.client.reconcile(xml).result.uuid
    assert len(facture.app.cfdis) == 1


def test_reconcile_conflict_on_same_number_other_content(facture):
    facture.client.stamp(doc.build_invoice(invoice(number="503")), branch=1)
    lines = [doc.Line("Otro", D(1), D(10), "01010101", "H87", taxes=[IVA16])]
    other = doc.build_invoice(invoice(number="503", lines=lines))
    found = facture.client.reconcile(other)
    assert found.state == "conflict" and "Total" in found.message


def test_uuid_only_answer_fetches_the_xml(facture):
    facture.app.stamp_shape = "tfd_only"
    result = facture.client.stamp(doc.build_invoice(invoice(number="504")), branch=1)
    assert result.uuid in facture.app.cfdis and doc.xsd_errors(result.xml) == []


# ------------------------------------------------------------------ bulk reports
REPORTS = {
    "reporte": (
        f'<reporte><archivo nombre="a.xml" estado="timbrado" uuid="{UUID}"/>'
        '<archivo nombre="b.xml" estado="error" codigo="FA410" mensaje="Malo"/>'
        "<descarga>/rest/descarga/?id=1</descarga></reporte>"
    ),
    "TimbradoMasivo": (
        f'<TimbradoMasivo><Archivo Nombre="a.xml" Estatus="Timbrado" UUID="{UUID}"/>'
        '<Archivo Nombre="b.xml" Estatus="Error" Codigo="FA410" Mensaje="Malo"/>'
        "<Descarga>/rest/descarga/?id=1</Descarga></TimbradoMasivo>"
    ),
    "json": json.dumps(
        {
            "data": {
                "archivos": [
                    {"nombre": "a.xml", "estatus": "timbrado", "uuid": UUID},
                    {"nombre": "b.xml", "estatus": "error", "codigo": "FA410", "mensaje": "Malo"},
                ],
                "descarga": "/rest/descarga/?id=1",
            }
        }
    ),
}


@pytest.mark.parametrize("naming", sorted(REPORTS))
def test_bulk_report_either_naming(naming):
    report = fclient.parse_bulk_report(REPORTS[naming].encode(), {"a.xml", "b.xml", "c.xml"})
    assert report.items["a.xml"].ok and report.items["a.xml"].uuid == UUID
    assert not report.items["b.xml"].ok and report.items["b.xml"].code == "FA410"
    assert report.missing == ["c.xml"] and report.download_url == "/rest/descarga/?id=1"


def test_bulk_line_with_an_unclear_state_is_missing_not_failed():
    body = f'<reporte><archivo nombre="a.xml" estado="en cola" uuid="{UUID}"/></reporte>'.encode()
    report = fclient.parse_bulk_report(body, {"a.xml"})
    assert report.items == {} and report.missing == ["a.xml"]


def test_unreadable_bulk_answer_is_unknown(serve_app):
    with pytest.raises(errors.UnknownOutcome):
        canned(serve_app, {"succeed": True}).stamp_zip(b"PK", branch=1, sent_names=["a.xml"])


# ------------------------------------------------------------------ hostile download links and ZIPs
@pytest.mark.parametrize(
    "link",
    [
        "HTTP://other.host/x.zip",
        "https://other.host/x.zip",
        "//other.host/x.zip",
        "http://demo:pw@127.0.0.1:1/x.zip",
        "HTTPS://127.0.0.1/x.zip",
        "http:\\\\other.host\\x.zip",
        "",
    ],
)
def test_download_link_elsewhere_is_refused_before_any_call(facture, link):
    facture.app.report_link = link
    xml = doc.build_invoice(invoice(number="601"))
    report = facture.client.stamp_zip(fclient.make_zip({"a.xml": xml}), branch=1, sent_names=["a.xml"])
    calls = len(facture.injector.calls)
    with pytest.raises(errors.ProtocolError):
        facture.client.download(report.download_url)
    assert len(facture.injector.calls) == calls  # nothing left for that host


def test_download_relative_and_same_host_links_work(facture):
    xml = doc.build_invoice(invoice(number="602"))
    report = facture.client.stamp_zip(fclient.make_zip({"a.xml": xml}), branch=1, sent_names=["a.xml"])
    relative = "/" + report.download_url.split("/", 3)[3]
    assert set(fclient.read_zip(facture.client.download(relative))) == {"a.xml"}
    upper = report.download_url.replace("http://", "HTTP://")
    assert set(fclient.read_zip(facture.client.download(upper))) == {"a.xml"}


def _zip(entries, compression=zipfile.ZIP_DEFLATED):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in entries:
            archive.writestr(name, data)
    return buffer.getvalue()


def test_zip_bomb_duplicates_and_member_count_are_refused(facture):
    bomb = _zip([("a.xml", b"0" * (20 * 1024 * 1024))])
    assert len(bomb) < 100 * 1024
    facture.app.download_body = bomb
    xml = doc.build_invoice(invoice(number="603"))
    report = facture.client.stamp_zip(fclient.make_zip({"a.xml": xml}), branch=1, sent_names=["a.xml"])
    with pytest.raises(ValueError, match="too large"):
        fclient.read_zip(facture.client.download(report.download_url))
    with pytest.raises(ValueError, match="too large"):
        fclient.read_zip(_zip([("a.xml", b"0" * 4096), ("b.xml", b"0" * 4096)]), max_bytes=6000)
    with pytest.raises(ValueError, match="twice"):
        fclient.read_zip(_zip([("a.xml", b"<a/>"), ("dir/a.xml", b"<b/>")]))
    with pytest.raises(ValueError, match="files"):
        fclient.read_zip(_zip([(f"{n}.xml", b"<a/>") for n in range(11)]), max_files=10)
    with pytest.raises(ValueError):
        fclient.read_zip(b"not a zip")


def test_zip_whose_header_lies_about_its_size():
    data = bytearray(_zip([("a.xml", b"0" * 100000)]))
    central = data.index(b"PK\x01\x02")
    data[central + 24 : central + 28] = (10).to_bytes(4, "little")  # "10 bytes once inflated"
    with pytest.raises(ValueError):
        fclient.read_zip(bytes(data))


# ------------------------------------------------------------------ reader internals
def test_read_follows_content_type_then_sniffs():
    assert answers.read(b'{"a": 1}', "application/xml").kind == "json"
    assert answers.read(b"<a>1</a>", "application/json").kind == "xml"
    assert answers.read(b"<!DOCTYPE html><html/>", "application/json").kind == "html"
    assert answers.read(b"[" * 100000, "application/json").kind == "text"  # no RecursionError
    assert answers.read(b'<!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>', "application/xml").kind != "xml"


def test_oversized_sat_answer_is_refused(facture):
    from l10n_mx_factureapp.factureapp import sat

    facture.injector.inject("oversize", size=300 * 1024, path="/ConsultaCFDIService.svc")
    client = sat.SatStatusClient(facture.transport, endpoint=facture.server.url + "/ConsultaCFDIService.svc")
    with pytest.raises(errors.ProtocolError, match="larger|announces"):
        client.status(UUID, "EKU9003173C9", "URE180429TM6", "1.00")


def test_sandbox_dialect_from_the_environment(monkeypatch):
    from l10n_mx_factureapp.factureapp import sandbox

    monkeypatch.setenv("EINVOICE_SANDBOX_FACTURE_DIALECT", "xml")
    assert sandbox.make_app().dialect == "xml"
    assert sandbox.make_app(dialect="flat").dialect == "flat"
    monkeypatch.delenv("EINVOICE_SANDBOX_FACTURE_DIALECT")
    assert sandbox.make_app().dialect == "json"
    with pytest.raises(ValueError):
        sandbox.make_app(dialect="yaml")


def test_informative_code_beside_the_data_is_not_a_refusal(serve_app):
    body = {"codigo": "0001", "mensaje": "Consulta exitosa", "sucursales": [{"ID": 7, "nombre": "Tijuana"}]}
    assert [b.id for b in canned(serve_app, body).branches()] == ["7"]
    body = {"codigo": "0001", "mensaje": "Consulta exitosa", "creditos": 3}
    assert canned(serve_app, body).account().credits == 3
    with pytest.raises(errors.RejectedError) as info:  # the same code without the data: a refusal
        canned(serve_app, {"codigo": "E77", "mensaje": "Usuario bloqueado"}).account()
    assert info.value.code == "E77"
