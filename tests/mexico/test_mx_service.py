"""Facture APP client against the sandbox over loopback HTTP: stamping, bulk, cancellation, SAT status."""

from decimal import Decimal as D

import pytest
from mx_common import CUSTOMER, IVA16, invoice

from einvoice_common.einvoice import errors
from einvoice_common.einvoice.transport import BasicAuth, HeaderAuth, Transport
from l10n_mx_factureapp.factureapp import client as fclient
from l10n_mx_factureapp.factureapp import documents as doc
from l10n_mx_factureapp.factureapp import sat

RAW_BODY_DIALECTS = ("xml", "mislabelled")


def stamp(facture, number="1", **kw):
    return facture.client.stamp(doc.build_invoice(invoice(number=number, **kw)), branch=1)


def test_account_and_branches(facture):
    account = facture.client.account()
    assert account.credits == 1000 and account.active
    branches = facture.client.branches()
    assert [b.id for b in branches] == ["1", "2"] and branches[0].zip == "20914"


def test_xml_answers_are_decoded(facture):
    client = fclient.FactureClient(facture.transport, accept=fclient.XML)
    assert client.account().credits == 1000
    assert [b.name for b in client.branches()] == ["Matriz", "Sucursal Norte"]
    assert client.stamp(doc.build_invoice(invoice()), branch=1).uuid


def test_bad_credentials_raise_auth_error(facture):
    bad = fclient.FactureClient(Transport(facture.server.url, auth=BasicAuth("demo", "wrong"), sleep=lambda s: None))
    with pytest.raises(errors.AuthError) as info:
        bad.account()
    assert info.value.code == "FA401"


def test_raw_token_scheme(facture):
    facture.app.tokens.add("tok-123")
    client = fclient.FactureClient(Transport(facture.server.url, auth=HeaderAuth("Authorization", "tok-123")))
    assert client.account().credits == 1000


def test_stamp_returns_tfd_and_valid_xml(facture):
    result = stamp(facture)
    assert len(result.uuid) == 36 and not result.previous
    assert doc.xsd_errors(result.xml) == []
    info = doc.stamp_info(result.xml)
    assert info.uuid == result.uuid and info.sat_certificate and info.pac_rfc
    assert facture.app.credits == 999
    url = doc.verification_url(info)
    assert f"id={result.uuid}" in url and "&fe=" in url


def test_identical_xml_gets_the_same_uuid_without_spending_a_credit(facture):
    xml = doc.build_invoice(invoice())
    first = facture.client.stamp(xml, branch=1)
    second = facture.client.stamp(xml, branch=1)
    assert first.uuid == second.uuid
    # a raw-body answer cannot say "previous stamp" (no code): the same UUID is what counts
    assert second.previous or facture.app.dialect in RAW_BODY_DIALECTS
    assert facture.app.credits == 999


def test_every_kind_stamps(facture):
    from test_mx_documents import kinds

    facture.app.check_date = True
    for name, inv in kinds().items():
        inv.series, inv.number = "K", name
        result = facture.client.stamp(doc.build_invoice(inv), branch=1)
        assert doc.xsd_errors(result.xml) == [], name


def test_payment_complement_stamps(facture):
    original = stamp(facture, payment_method="PPD", payment_form="99")
    pay = doc.Payment(
        date=invoice().date,
        issuer=invoice().issuer,
        receiver=CUSTOMER,
        place="20914",
        payment_form="03",
        currency="MXN",
        amount=D("3480.00"),
        documents=[
            doc.PaidDocument(
                uuid=original.uuid,
                currency="MXN",
                amount_paid=D("3480.00"),
                balance_before=D("3480.00"),
                installment=1,
                total=D("3480.00"),
                taxes=[(IVA16, D("3000.00"))],
            )
        ],
    )
    result = facture.client.stamp(doc.build_payment(pay), branch=1)
    assert doc.xsd_errors(result.xml) == []
    assert facture.app.cfdis[result.uuid].related == [("pago", original.uuid)]


def test_credits_run_out(facture):
    facture.app.credits = 1
    stamp(facture, "1")
    with pytest.raises(errors.RejectedError) as info:
        stamp(facture, "2")
    assert info.value.code == "FA402"


def test_unknown_branch_and_invalid_xml(facture):
    with pytest.raises(errors.RejectedError) as info:
        facture.client.stamp(doc.build_invoice(invoice()), branch=99)
    assert info.value.code == "FA404"
    bad = doc.build_invoice(invoice()).replace(b'ClaveUnidad="E48"', b'ClaveUnidad="NOPE"')
    with pytest.raises(errors.RejectedError) as info:
        facture.client.stamp(bad, branch=1)
    assert info.value.code == "FA410" and "ClaveUnidad" in info.value.message
    total = doc.build_invoice(invoice()).replace(b'Total="3480.00"', b'Total="3480.01"')
    with pytest.raises(errors.RejectedError) as info:
        facture.client.stamp(total, branch=1)
    assert info.value.code == "CFDI40119"


def test_lost_answer_then_reconcile_then_retry_yields_one_uuid(facture):
    xml = doc.build_invoice(invoice(number="77"))
    facture.injector.inject("lost", path="/rest/timbrado/produccion/")
    with pytest.raises(errors.UnknownOutcome):
        facture.client.stamp(xml, branch=1)
    assert len(facture.app.cfdis) == 1  # the service did stamp
    found = facture.client.find("INV", "77", "EKU9003173C9")
    assert found is not None
    retried = facture.client.stamp(xml, branch=1)  # the stored bytes, verbatim
    assert retried.uuid == found.uuid and (retried.previous or facture.app.dialect in RAW_BODY_DIALECTS)
    assert len(facture.app.cfdis) == 1 and facture.app.credits == 999
    assert facture.client.find("INV", "78") is None


def test_bulk_zip_500_with_5_percent_bad(facture):
    files, bad = {}, set()
    count = 500 if facture.app.dialect == "json" else 60  # the other dialects read the same report shapes
    for n in range(count):
        lines = None
        if n % 20 == 7:  # 25 bad ones: an unknown unit key
            lines = [doc.Line("Malo", D(1), D(10), "01010101", "H87", taxes=[IVA16])]
            xml = doc.build_invoice(invoice(number=str(n), lines=lines)).replace(b'"H87"', b'"BAD"')
            bad.add(f"INV-{n}.xml")
        else:
            xml = doc.build_invoice(invoice(number=str(n)))
        files[f"INV-{n}.xml"] = xml
    report = facture.client.stamp_zip(fclient.make_zip(files), branch=1, sent_names=files)
    assert len(report.items) == count and not report.unknown and not report.missing
    failed = {n for n, i in report.items.items() if not i.ok}
    assert failed == bad and all(report.items[n].code == "FA410" and report.items[n].message for n in failed)
    stamped = fclient.read_zip(facture.client.download(report.download_url))
    assert len(stamped) == count - len(bad) and set(stamped) == set(files) - bad
    for name, xml in list(stamped.items())[:20]:
        assert doc.stamp_info(xml).uuid == report.items[name].uuid
    assert len(facture.app.cfdis) == count - len(bad) and facture.app.credits == 1000 - count + len(bad)


def test_bulk_report_with_unknown_names():
    body = (
        b'<reporte><archivo nombre="a.xml" estado="timbrado" uuid="8A9E5B3C-1D2E-4F50-9A7B-0C1D2E3F4A5B"/>'
        b'<archivo nombre="zzz.xml" estado="timbrado" uuid="8A9E5B3C-1D2E-4F50-9A7B-0C1D2E3F4A5C"/>'
        b"<descarga>http://h/d</descarga></reporte>"
    )
    report = fclient.parse_bulk_report(body, {"a.xml", "b.xml"})
    assert list(report.items) == ["a.xml"] and report.unknown == ["zzz.xml"] and report.missing == ["b.xml"]


def test_download_refuses_foreign_host(facture):
    with pytest.raises(errors.ProtocolError):
        facture.client.download("https://evil.example.com/rest/descarga/?id=1")


def test_xml_and_pdf_retrieval(facture):
    result = stamp(facture)
    assert facture.client.xml(result.uuid) == result.xml
    assert facture.client.pdf(result.uuid).startswith(b"%PDF")
    info = facture.client.cfdi(result.uuid)
    assert info.uuid == result.uuid and info.status == "vigente" and "verificacfdi" in info.verification_url


def sat_client(facture):
    return sat.SatStatusClient(facture.transport, endpoint=facture.server.url + "/ConsultaCFDIService.svc")


def sat_status(facture, uuid, total="3480.00"):
    return sat_client(facture).status(uuid, "EKU9003173C9", CUSTOMER.rfc, total)


def test_cancel_motive_02_small_amount_without_acceptance(facture):
    result = stamp(
        facture,
        lines=[doc.Line("A", D(1), D(100), "01010101", "H87", taxes=[IVA16])],
    )
    answer = facture.client.cancel(result.uuid, 1, "02")
    assert answer.outcome == "cancelled"
    status = sat_status(facture, result.uuid, "116.00")
    assert status.state == "Cancelado" and status.cancel_status == "Cancelado sin aceptación"
    acuse = facture.client.acuse(result.uuid)
    assert result.uuid.encode() in acuse and b"<EstatusUUID>201" in acuse
    again = facture.client.cancel(result.uuid, 1, "02")
    assert again.outcome == "already_cancelled"


def test_cancel_motive_03_needs_receiver_acceptance(facture):
    result = stamp(facture)
    facture.app.advance(48)  # past the next business day, total above $1,000
    status = sat_status(facture, result.uuid)
    assert status.cancellable == "Cancelable con aceptación"
    answer = facture.client.cancel(result.uuid, 1, "03")
    assert answer.outcome == "pending_acceptance" and answer.link.startswith("http")
    assert sat_status(facture, result.uuid).settled_cancel == "pending"
    assert facture.client.cancel(result.uuid, 1, "03").outcome == "in_process"
    with pytest.raises(errors.RejectedError) as info:
        facture.client.acuse(result.uuid)
    assert info.value.code == "FA430"
    facture.app.receiver_answer(result.uuid, accept=True)
    status = sat_status(facture, result.uuid)
    assert status.state == "Cancelado" and status.cancel_status == "Cancelado con aceptación"
    assert facture.client.acuse(result.uuid)


def test_cancel_rejected_by_receiver_then_silence_is_not_acceptance(facture):
    result = stamp(facture)
    facture.app.advance(48)
    facture.client.cancel(result.uuid, 1, "02")
    facture.app.receiver_answer(result.uuid, accept=False)
    status = sat_status(facture, result.uuid)
    assert status.state == "Vigente" and status.settled_cancel == "rejected"


def test_cancel_pending_expires_after_72_hours(facture):
    result = stamp(facture)
    facture.app.advance(48)
    facture.client.cancel(result.uuid, 1, "02")
    facture.app.advance(73)
    status = sat_status(facture, result.uuid)
    assert status.state == "Cancelado" and status.cancel_status == "Plazo vencido"


def test_cancel_motive_01_requires_stamped_substitute(facture):
    original = stamp(facture, "1")
    with pytest.raises(errors.RejectedError) as info:
        facture.client.cancel(original.uuid, 1, "01")
    assert info.value.code == "FA421"
    substitute = stamp(facture, "2", related=[("04", [original.uuid])])
    answer = facture.client.cancel(original.uuid, 1, "01", replacement=substitute.uuid)
    assert answer.outcome == "cancelled"
    assert sat_status(facture, substitute.uuid).state == "Vigente"


def test_cancel_motive_04_and_invalid_motive(facture):
    result = stamp(facture)
    with pytest.raises(errors.RejectedError) as info:
        facture.client.cancel(result.uuid, 1, "09")
    assert info.value.code == "FA420"
    assert facture.client.cancel(result.uuid, 1, "04").outcome == "cancelled"


def test_configurable_cancel_parameter_names(facture):
    result = stamp(facture)
    renamed = fclient.FactureClient(facture.transport, cancel_params={"motive": "motive"})
    with pytest.raises(errors.RejectedError):  # the sandbox expects "motivo": a wrong name is caught
        renamed.cancel(result.uuid, 1, "02")


def test_cannot_cancel_with_related_children(facture):
    original = stamp(facture, "1")
    stamp(
        facture,
        "2",
        kind="E",
        related=[("01", [original.uuid])],
        receiver=doc.Party(**{**CUSTOMER.__dict__, "uso_cfdi": "G02"}),
        lines=[doc.Line("Devolución", D(1), D(100), "01010101", "H87", taxes=[IVA16])],
    )
    assert sat_status(facture, original.uuid).cancellable == "No cancelable"
    assert facture.client.cancel(original.uuid, 1, "02").outcome == "not_cancellable"


def test_cancel_unknown_uuid(facture):
    answer = facture.client.cancel("8A9E5B3C-1D2E-4F50-9A7B-0C1D2E3F4A5B", 1, "02")
    assert answer.outcome == "not_found" and not answer.accepted


def test_sat_status_not_found_and_efos(facture):
    result = stamp(facture)
    status = sat_status(facture, result.uuid)
    assert status.found and status.state == "Vigente" and status.efos == "200" and not status.efos_listed
    assert sat_status(facture, result.uuid, total="1.00").state == "No Encontrado"


def test_sat_unreachable_is_transient():
    client = sat.SatStatusClient(
        Transport("http://127.0.0.1:9", sleep=lambda s: None, timeout=(1, 1)),
        endpoint="http://127.0.0.1:9/ConsultaCFDIService.svc",
    )
    with pytest.raises(errors.TransientError):
        client.status(
            "8A9E5B3C-1D2E-4F50-9A7B-0C1D2E3F4A5B",
            "EKU9003173C9",
            "URE180429TM6",
            "1.00",
        )


def test_html_error_page_is_a_protocol_error(facture):
    facture.injector.inject("html", status=200, path="/rest/administracion/usuario/")
    with pytest.raises(errors.ProtocolError):
        facture.client.account()


def test_cancel_outcome_texts():
    from l10n_mx_factureapp.factureapp.errors import cancel_outcome

    assert cancel_outcome(True, "El comprobante X fue cancelado, pero su estado no ha cambiado") == "cancelled"
    assert cancel_outcome(True, "X ya se encuentra previamente cancelado") == "already_cancelled"
    assert cancel_outcome(False, "X ya se encuetra en proceso de cancelación") == "in_process"
    assert cancel_outcome(True, "Envie el siguiente enlace al receptor") == "pending_acceptance"
    assert cancel_outcome(False, "Primero debes cancelar sus comprobantes de relación tipo padre.") == "not_cancellable"
    assert cancel_outcome(False, "CA205 - El UUID no existe") == "not_found"
    assert cancel_outcome(False, "algo raro") == "rejected"


def _payment(
    uuid, paid="1000.00", before="3480.00", after=None, amount=None, currency="MXN", equivalence=D(1), pay_amount=None
):
    docto = doc.PaidDocument(
        uuid=uuid,
        currency=currency,
        amount_paid=D(paid),
        balance_before=D(before),
        installment=1,
        total=D("3480.00"),
        taxes=[(IVA16, D("3000.00"))],
        equivalence=equivalence,
    )
    xml = doc.build_payment(
        doc.Payment(
            date=invoice().date,
            issuer=invoice().issuer,
            receiver=CUSTOMER,
            place="20914",
            payment_form="03",
            currency="MXN",
            amount=D(pay_amount or paid),
            documents=[docto],
        )
    )
    root = doc.parse(xml)
    if after is not None:  # tamper with the balance after the payment
        root.find(f".//{{{doc.NS_PAGO}}}DoctoRelacionado").set("ImpSaldoInsoluto", after)
    if amount is not None:  # and with the amount (the builder refuses a smaller one)
        root.find(f".//{{{doc.NS_PAGO}}}Pago").set("Monto", amount)
        totales = root.find(f".//{{{doc.NS_PAGO}}}Totales")
        totales.set("MontoTotalPagos", amount)
    xml = doc.serialize(root)
    return xml


@pytest.mark.parametrize(
    "case, code",
    [
        ({"after": "2000.00"}, "CRP-SBX-3"),  # ImpSaldoInsoluto != ImpSaldoAnt - ImpPagado
        ({"amount": "900.00"}, "CRP-SBX-1"),  # more applied than the payment's amount
        ({"before": "5000.00", "paid": "100.00"}, "CRP-SBX-6"),  # balance above the invoice's total
        ({"unknown": True}, "CRP-SBX-4"),  # a document this PAC never stamped
        ({"pue": True}, "CRP-SBX-5"),  # a PUE invoice needs no complement
    ],
)
def test_payment_complement_business_rules(facture, case, code):
    case = dict(case)
    if case.pop("unknown", False):
        uuid = "8A9E5B3C-1D2E-4F50-9A7B-0C1D2E3F4A5B"
    elif case.pop("pue", False):
        uuid = stamp(facture).uuid
    else:
        uuid = stamp(facture, payment_method="PPD", payment_form="99").uuid
    with pytest.raises(errors.RejectedError) as info:
        facture.client.stamp(_payment(uuid, **case), branch=1)
    assert info.value.code == code


def test_payment_in_mxn_of_a_usd_invoice_stamps(facture):
    original = stamp(facture, payment_method="PPD", payment_form="99", currency="USD", rate=D("17.2413"))
    # 3480 USD paid with 60000 MXN: EquivalenciaDR 0.058 USD per MXN
    xml = _payment(original.uuid, paid="3480.00", currency="USD", equivalence=D("0.058"), pay_amount="60000.00")
    result = facture.client.stamp(xml, branch=1)
    assert doc.xsd_errors(result.xml) == []
