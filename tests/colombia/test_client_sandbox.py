"""Tier 1: LaFactura.co client against the sandbox over loopback HTTP, with faults."""

import json

import pytest
import requests

from einvoice_common.einvoice.faults import FaultInjector
from einvoice_common.einvoice.transport import BasicAuth, Transport
from l10n_co_lafactura.lafactura import client as lf_client
from l10n_co_lafactura.lafactura import fixtures as f
from l10n_co_lafactura.lafactura import sandbox

USER, PASSWORD = next(iter(sandbox.DEFAULT_USERS.items()))


@pytest.fixture
def service(serve_app):
    app = sandbox.make_app()
    faults = FaultInjector(app)
    server = serve_app(faults)
    return app, faults, server


def _client(server, password=PASSWORD, shape=None, retries=2):
    transport = Transport(
        server.url + "/facturacion.v30/",
        service="lafactura",
        auth=BasicAuth(USER, password),
        retries=retries,
        sleep=lambda s: None,
        timeout=(2, 5),
    )
    return lf_client.LaFacturaClient(transport, shape)


def test_get_document_info(service):
    app, _, server = service
    doc = app.state.add(f.make_document())
    info = _client(server).get_document_info(doc["general"]["cufe"].upper())
    assert info.cufe == doc["general"]["cufe"] and info.dian_approved is True and info.customer.id == f.OUR_NIT
    assert app.state.calls[-1] == ("getDocumentInfo", {"cufe": doc["general"]["cufe"]})


def test_unknown_cufe_is_not_found(service):
    _, _, server = service
    with pytest.raises(Transport.RejectedError) as info:
        _client(server).get_document_info("a" * 96)
    assert info.value.code == "404"


def test_wrong_password_is_auth_error(service):
    app, _, server = service
    with pytest.raises(Transport.AuthError):
        _client(server, password="nope").get_document_info("a" * 96)
    assert app.state.auth_failures == 1


def test_transient_faults_are_retried(service):
    app, faults, server = service
    doc = app.state.add(f.make_document())
    faults.inject("status", status=503).inject("lost").inject("rate_limit", retry_after=0)
    assert _client(server, retries=3).get_document_info(doc["general"]["cufe"]).num == "FE1"
    assert faults.calls_to("/general/", "POST") == 4


def test_html_page_is_protocol_error(service):
    app, faults, server = service
    doc = app.state.add(f.make_document())
    faults.inject("html", status=200)
    with pytest.raises(Transport.ProtocolError):
        _client(server).get_document_info(doc["general"]["cufe"])


def test_request_shape_is_configurable(serve_app):
    shape = lf_client.RequestShape.from_text("invoice/ documentInfo CUFE")
    assert (shape.path, shape.method_key, shape.param, shape.http_method) == (
        "invoice/",
        "documentInfo",
        "CUFE",
        "POST",
    )
    app = sandbox.make_app(shape=shape)
    server = serve_app(app)
    doc = app.state.add(f.make_document())
    assert _client(server, shape=shape).get_document_info(doc["general"]["cufe"]).num == "FE1"
    with pytest.raises(Transport.RejectedError) as info:  # the default shape is unknown there
        _client(server).get_document_info(doc["general"]["cufe"])
    assert info.value.code == "400"


def test_sandbox_protocol_rules(service):
    app, _, server = service
    url = server.url + "/facturacion.v30/general/"
    auth = (USER, PASSWORD)
    assert requests.post(url, data=b"{x", auth=auth).json()["status"]["code"] == 400
    assert requests.post(url, json={"a": {}, "b": {}}, auth=auth).json()["status"]["code"] == 400
    assert requests.post(url, json={"nope": {}}, auth=auth).json()["status"]["code"] == 400
    assert requests.put(url, json={}, auth=auth).status_code == 405
    assert requests.post(server.url + "/other/", json={}, auth=auth).status_code == 404
    assert requests.post(url, json={"getDocumentInfo": {}}, auth=auth).json()["status"]["code"] == 400
    assert requests.post(url, data=b"x" * (2 * 1024 * 1024), auth=auth).status_code == 413


def test_sender_posts_like_the_service(serve_app):
    received = []

    def hook(environ, start_response):
        length = int(environ.get("CONTENT_LENGTH") or 0)
        received.append(
            (
                environ["REQUEST_METHOD"],
                environ.get("CONTENT_TYPE"),
                environ["wsgi.input"].read(length),
            )
        )
        status = "503 Busy" if len(received) == 1 else "200 OK"
        start_response(status, [("Content-Type", "application/json")])
        return [b"{}"]

    server = serve_app(hook)
    doc = f.make_document()
    sender = sandbox.HookSender(server.url + "/hook", retries=2)
    assert sender.deliver(doc) == 200
    assert len(received) == 2  # redelivered after the 503
    method, ctype, body = received[-1]
    assert method == "POST" and ctype == "application/json"
    assert json.loads(body)["document"]["general"]["cufe"] == doc["general"]["cufe"]
    assert "dian" not in json.loads(body)["document"]
    assert sender.results[-1][1] == 2


def test_schedule_duplicates():
    docs = f.scenario(21)
    order = sandbox.schedule(docs, total=30, duplicate_rate=0.3, seed=1)
    assert len(order) == 30
    assert len({d["general"]["cufe"] for d in order}) == 21
    with pytest.raises(ValueError):
        sandbox.schedule(docs, total=1000)


def test_sandbox_control_delivers_like_the_service(serve_app):
    bodies = []

    def hook(environ, start_response):
        length = int(environ.get("CONTENT_LENGTH") or 0)
        bodies.append(json.loads(environ["wsgi.input"].read(length)))
        start_response("200 OK", [("Content-Type", "application/json")])
        return [b"{}"]

    receiver = serve_app(hook)
    app = sandbox.make_app()
    server = serve_app(app)
    answer = requests.post(
        server.url + "/_sandbox/deliver",
        json={
            "url": receiver.url + "/hook",
            "count": 20,
            "duplicate_rate": 0.3,
            "customer_nit": "900373044",
            "seed": 2,
        },
    ).json()
    assert answer == {"delivered": 20, "statuses": {"200": 20}, "documents": 14}
    cufes = [b["document"]["general"]["cufe"] for b in bodies]
    assert len(cufes) == 20 and len(set(cufes)) == 14
    assert all(app.state.get(c) for c in cufes)  # getDocumentInfo knows them
    extra = f.make_document(number="X9")
    assert requests.post(server.url + "/_sandbox/documents", json=extra).json()["cufe"] == extra["general"]["cufe"]
    assert app.state.get(extra["general"]["cufe"])
    assert requests.get(server.url + "/_sandbox/deliver").status_code == 405
