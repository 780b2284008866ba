import base64
import time

import pytest

from einvoice_common.einvoice import errors as common_errors
from l10n_efact_aoc.efact import client as efact_client
from l10n_efact_aoc.efact import documents, jwt

from .conftest import SECRET, transport_for


def facturae(
    number="F-1",
    buyer="ESP0800001J",
    centres=(("01", "L01080193"), ("02", "L01080193"), ("03", "L01080193")),
    **kw,
):
    return documents.build_sample_facturae(
        seller_nif="ESB12345674",
        seller_name="Prov SL",
        buyer_nif=buyer,
        buyer_name="Ajuntament",
        number=number,
        issue_date="2026-11-02",
        centres=centres,
        **kw,
    )


def test_send_registers_and_lists_states(supplier):
    app, _inj, api = supplier
    pdf = documents.Attachment("annex.pdf", documents.minimal_pdf("annex"))
    body = documents.build_submission("F-1.xml", facturae(), [pdf], email="a@b.cat")
    sent = api.send_invoice(body, reference="F-1")
    assert sent.id and sent.number == "F-1" and sent.amount == 121.0
    assert sent.state.code == "REGISTERED" and sent.registry_number.startswith("E")
    assert sent.dir3.oficina_comptable == "L01080193"
    history = api.get_history(sent.id)
    assert [s.code for s in history] == ["SENT", "REGISTERED"]
    assert api.get_receipt(sent.id).startswith(b"%PDF")
    states, more = api.pending_states()
    assert [s.state.code for s in states] == ["SENT", "REGISTERED"] and not more
    # the public body reports ANNOTATED, RECOGNISED, PAID: the supplier sees them with the payment date
    app.state.rcf_update(sent.id, "ANNOTATED", numeroRegistreRCF="RCF-1")
    app.state.rcf_update(sent.id, "RECOGNISED")
    app.state.rcf_update(sent.id, "PAID", dataPagament="2026-11-20")
    acked = []
    done, refused = efact_client.drain_pending_states(api, lambda item: acked.append(item) or True)
    assert len(done) == 5 and not refused
    assert acked[-1].state.code == "PAID" and acked[-1].state.payment_date == "2026-11-20"
    assert acked[2].state.rcf_number == "RCF-1"
    assert api.pending_states() == ([], False)
    invoice = api.get_invoice(sent.id)
    assert invoice.payment_date == "2026-11-20" and invoice.rcf_number == "RCF-1"


def test_wrong_dir3_is_rejected_by_the_hub_with_reason(supplier):
    _app, _inj, api = supplier
    sent = api.send_invoice(documents.build_submission("F-2.xml", facturae("F-2", centres=(("01", "X"),))))
    assert sent.state.code == "REJECTED"
    assert "DIR3" in sent.reject_reason and sent.reject_code == "DIR3"


@pytest.mark.parametrize(
    "mutate, code",
    [
        (
            lambda b: b.update(
                adjunts=[{"nom": f"{i}.pdf", "mime": "application/pdf", "contingut": "JVBE"} for i in range(6)]
            ),
            "3001",
        ),
        (lambda b: b["factura"].update(nom="F.pdf"), "3003"),
        (
            lambda b: b.update(adjunts=[{"mime": "application/pdf", "contingut": "JVBE"}]),
            "3006",
        ),
        (lambda b: b.update(adjunts=[{"nom": "a.pdf", "contingut": "JVBE"}]), "3007"),
        (
            lambda b: b.update(adjunts=[{"nom": "a.pdf", "mime": "application/pdf"}]),
            "3008",
        ),
        (
            lambda b: b.update(adjunts=[{"nom": "a.exe", "mime": "application/x-exe", "contingut": "JVBE"}]),
            "3009",
        ),
        (
            lambda b: b.update(adjunts=[{"nom": "a.txt", "mime": "application/pdf", "contingut": "JVBE"}]),
            "3010",
        ),
        (
            lambda b: b.update(adjunts=[{"nom": "a.exe", "mime": "application/pdf", "contingut": "JVBE"}]),
            "3015",
        ),
        (lambda b: b["factura"].update(nom=""), "3013"),
        (lambda b: b["factura"].update(contingut=""), "3014"),
        (lambda b: b["factura"].update(contingut="!!!"), "3011"),
        (
            lambda b: b["factura"].update(contingut=base64.b64encode(b"<x").decode()),
            "3016",
        ),
        (lambda b: b.update(correuElectronic="x" * 513), "3022"),
        (lambda b: b.update(correuElectronic="no-at-sign"), "3023"),
        (lambda b: b.update(face=True), "3025"),
    ],
)
def test_submission_validation_codes(supplier, mutate, code):
    _app, _inj, api = supplier
    body = documents.build_submission("F-3.xml", facturae("F-3"))
    mutate(body)
    with pytest.raises(common_errors.RejectedError) as exc:
        api.send_invoice(body)
    assert exc.value.code == code and exc.value.status == 400
    assert f"[{code}]" in str(exc.value)


@pytest.mark.parametrize(
    "xml, code",
    [
        (lambda: facturae("F-4", buyer="ESP9999999Z"), "3004"),
        (lambda: facturae("F-4", signed=False), "3024"),
        (
            lambda: (
                facturae("F-4")
                .replace(b"<ds:SignatureValue>", b"<ds:SignatureValue>")
                .replace(b"c2FuZGJveC1zaWduYXR1cmUtRVNCMTIzNDU2NzQtRi00", b"")
            ),
            "3005",
        ),
        (lambda: facturae("F-4", invoices=2), "3019"),
        (
            lambda: facturae("F-4").replace(b"Facturaev3_2_2.xml", b"Facturaev0.xml"),
            "3017",
        ),
        (lambda: facturae("F-4", buyer="BAD"), "3021"),
    ],
)
def test_document_validation_codes(supplier, xml, code):
    _app, _inj, api = supplier
    body = {"factura": {"nom": "F-4.xml", "contingut": base64.b64encode(xml()).decode()}}
    with pytest.raises(common_errors.RejectedError) as exc:
        api.send_invoice(body)
    assert exc.value.code == code


def test_request_too_large(hub):
    app, _inj, server = hub(max_request_bytes=2000)
    api = efact_client.SupplierClient(transport_for(server, "prov"))
    with pytest.raises(common_errors.RejectedError) as exc:
        api.send_invoice(documents.build_submission("F.xml", facturae(lines=[("x" * 3000, 1, 1.0, 21.0)])))
    assert exc.value.code == "3002"


def test_receptors_and_dir3(supplier):
    _app, _inj, api = supplier
    assert {r.nif for r in api.receptors()} == {"ESP0800001J", "ESP0800002H"}
    detail = api.receptor("ESP0800002H")
    assert detail.dir3[0].unitat_tramitadora == "L05000003" and detail.address["codiPostal"] == "08008"
    with pytest.raises(common_errors.RejectedError):
        api.receptor("ESX")


def test_not_found_codes(supplier):
    _app, _inj, api = supplier
    with pytest.raises(common_errors.RejectedError) as exc:
        api.get_invoice("1")
    assert exc.value.code == "2001" and exc.value.status == 404


def test_lost_response_reconciles_without_second_submission(supplier):
    app, injector, api = supplier
    injector.inject("lost", path="/proveidors/factura", method="POST")
    body = documents.build_submission("F-9.xml", facturae("F-9"))
    with pytest.raises(common_errors.UnknownOutcome):
        api.send_invoice(body)
    assert len(app.state.invoices) == 1  # the hub did register it
    found = api.find_submission("F-9", receiver_nif="P0800001J")
    assert found and found.number == "F-9"
    assert injector.calls_to("/proveidors/factura", "POST") == 1
    assert api.find_submission("F-404") is None


def test_post_is_not_retried_on_503_but_gets_are(supplier):
    _app, injector, api = supplier
    injector.inject("status", status=503, path="/proveidors/receptors")
    assert api.receptors()
    assert injector.calls_to("/proveidors/receptors", "GET") == 2


@pytest.mark.parametrize(
    "make, code",
    [
        (lambda: efact_client.JwtAuth("prov", "wrong-secret"), "1012"),
        (lambda: efact_client.JwtAuth("nobody", SECRET), "1003"),
        (
            lambda: efact_client.JwtAuth("rcf", SECRET),
            "1003",
        ),  # user without the supplier role
        (
            lambda: efact_client.JwtAuth("prov", SECRET, clock=lambda: time.time() - 3600),
            "1008",
        ),
        (
            lambda: efact_client.JwtAuth("prov", SECRET, clock=lambda: time.time() + 3600),
            "1009",
        ),
    ],
)
def test_auth_errors_over_http_are_never_retried(hub, make, code):
    _app, injector, server = hub()
    from einvoice_common.einvoice.transport import Transport

    api = efact_client.SupplierClient(Transport(server.url, service="eFACT", auth=make(), sleep=lambda s: None))
    with pytest.raises(common_errors.AuthError) as exc:
        api.receptors()
    assert exc.value.code == code and exc.value.status == 401
    assert injector.calls_to("/proveidors/receptors", "GET") == 1


@pytest.mark.parametrize(
    "claims_patch, code",
    [
        ({"iss": None}, 1002),
        ({"exp": None}, 1004),
        ({"iat": None}, 1005),
        ({"nbf": None}, 1006),
        ({"aud": None}, 1007),
        ({"exp": "+400"}, 1010),
        ({"aud": "other"}, 1011),
    ],
)
def test_every_token_claim_code_over_http(hub, claims_patch, code):
    import requests

    _app, _inj, server = hub()
    now = int(time.time())
    claims = {"iss": "prov", "aud": "efact", "iat": now, "nbf": now, "exp": now + 60}
    for key, value in claims_patch.items():
        if value is None:
            del claims[key]
        elif isinstance(value, str) and value.startswith("+"):
            claims[key] = now + int(value[1:])
        else:
            claims[key] = value
    response = requests.get(
        server.url + "/proveidors/receptors",
        headers={"Authorization": "Bearer " + jwt.encode(claims, SECRET)},
        timeout=5,
    )
    assert response.status_code == 401 and response.json()["codiError"] == code
    assert requests.get(server.url + "/proveidors/receptors", timeout=5).json()["codiError"] == 1001


def test_pending_states_paginate(hub):
    app, _inj, server = hub(page_size=4)
    api = efact_client.SupplierClient(transport_for(server, "prov"))
    for n in range(5):  # 5 invoices x (SENT, REGISTERED) = 10 states
        api.send_invoice(documents.build_submission(f"P{n}.xml", facturae(f"P{n}")))
    items, more = api.pending_states()
    assert len(items) == 4 and more
    done, _ = efact_client.drain_pending_states(api, lambda item: True)
    assert len(done) == 10 and not app.state.pending_states
    # a state we could not apply stays on the hub
    api.send_invoice(documents.build_submission("Q.xml", facturae("Q")))
    done, refused = efact_client.drain_pending_states(api, lambda item: item.state.code == "SENT")
    assert len(done) == 1 and len(refused) == 1 and len(app.state.pending_states) == 1


def test_schema_invalid_facturae_is_refused_with_3016(supplier):
    _app, _inj, api = supplier
    xml = facturae("S-1").replace(b"<InvoiceClass>OO</InvoiceClass>", b"<InvoiceClass>XX</InvoiceClass>")
    with pytest.raises(common_errors.RejectedError) as exc:
        api.send_invoice(documents.build_submission("S-1.xml", xml))
    assert exc.value.code == "3016" and "InvoiceClass" in str(exc.value)
