import pytest

from einvoice_common.einvoice import errors as common_errors
from l10n_efact_aoc.efact import client as efact_client
from l10n_efact_aoc.efact import documents

ENTITY_A, ENTITY_B = "ESP0800001J", "ESP0800002H"


def test_1200_pending_invoices_3_pages_2_entities(hub):
    from .conftest import transport_for

    app, injector, server = hub()
    for n in range(1200):
        app.state.seed_invoice(
            nif=ENTITY_A if n % 2 else ENTITY_B,
            number=f"F{n:04d}",
            attachments=[("annex.pdf", b"%PDF-1")] if n % 100 == 0 else (),
        )
    api = efact_client.RcfClient(transport_for(server, "rcf"))
    items, more = api.pending_invoices()
    assert len(items) == 500 and more
    stored = {}

    def process(pending):
        invoice = api.get_invoice(pending.id)
        xml = api.get_facturae(pending.id)
        facturae = documents.parse_facturae(xml)
        assert facturae.invoice.total == documents.money(invoice.amount)
        files = [api.get_attachment(pending.id, att_id) for att_id, _name in invoice.attachments]
        stored.setdefault(pending.nif, {})[pending.id] = (invoice.number, files)
        return True

    delivered, refused = efact_client.drain_pending_invoices(api, process)
    assert len(delivered) == 1200 and not refused
    assert {nif: len(v) for nif, v in stored.items()} == {ENTITY_A: 600, ENTITY_B: 600}
    assert sum(len(files) for v in stored.values() for _n, files in v.values()) == 12
    assert set(app.state.deliveries.values()) == {1} and len(app.state.deliveries) == 1200
    assert injector.calls_to("/rcf/factures-pendents", "GET") == 4  # 3 pages + the empty check
    assert api.pending_invoices() == ([], False)


def test_crash_half_way_then_rerun_delivers_each_once(hub):
    from .conftest import transport_for

    app, _inj, server = hub(page_size=50)
    ids = [app.state.seed_invoice(nif=ENTITY_A, number=f"C{n}") for n in range(120)]
    api = efact_client.RcfClient(transport_for(server, "rcf"))
    bills = {}  # our "database": hub id -> bill, committed before DELIVERED

    class Crash(Exception):
        pass

    def process(pending):
        if len(bills) == 70:
            raise Crash()
        bills.setdefault(pending.id, object())
        return True

    with pytest.raises(Crash):
        efact_client.drain_pending_invoices(api, process)
    # crash between our commit and DELIVERED: the hub still lists it, we must not create it twice
    last = app.state.pending_for("rcf")[0]["id"]
    bills[last] = object()

    def process_again(pending):
        bills.setdefault(pending.id, object())  # idempotent on hub id
        return True

    delivered, _ = efact_client.drain_pending_invoices(api, process_again)
    assert len(bills) == 120 and set(bills) == set(ids)
    assert len(delivered) == 50 and all(v == 1 for v in app.state.deliveries.values())


def test_filters_and_entities(rcf):
    app, _inj, api = rcf
    a = app.state.seed_invoice(nif=ENTITY_A)
    b = app.state.seed_invoice(nif=ENTITY_B)
    assert [p.id for p in api.pending_invoices(nif=ENTITY_B)[0]] == [b]
    assert [p.id for p in api.pending_invoices(oficina_comptable="L01080193")[0]] == [a]
    assert {(e.nif, e.name) for e in api.entities()} == {
        (ENTITY_A, "Ajuntament de Proves"),
        (ENTITY_B, "Consell Comarcal de Proves"),
    }
    other = app.state.seed_invoice(nif="ESP0899999Z")  # an entity of another platform
    with pytest.raises(common_errors.RejectedError) as exc:
        api.get_invoice(other)
    assert exc.value.code == "2001"


def test_life_cycle_and_transitions(rcf):
    app, _inj, api = rcf
    invoice_id = app.state.seed_invoice(nif=ENTITY_A)
    invoice = api.get_invoice(invoice_id)
    assert invoice.state == "REGISTERED" and invoice.registry_number

    def refused(code, state, **kw):
        with pytest.raises(common_errors.RejectedError) as exc:
            api.update_state(invoice_id, state, **kw)
        assert exc.value.code == code, exc.value

    refused("3001", "SENT")
    refused("3002", "ANNOTATED")
    refused("3003", "REJECTED")
    refused("3008", "ANNOTATED", rcf_number="R1", reject_reason="x")
    refused("3007", "RECOGNISED")  # ANNOTATED first
    api.update_state(invoice_id, "DELIVERED")
    assert api.update_state(invoice_id, "ANNOTATED", rcf_number="RCF-2026-1").rcf_number == "RCF-2026-1"
    refused("3007", "DELIVERED")  # backwards
    refused("3004", "PAID")
    refused("3006", "PAID", payment_date="20/11/2026")
    refused("3007", "PAID", payment_date="2026-11-20")  # RECOGNISED first
    api.update_state(invoice_id, "RECEIVED")
    api.update_state(invoice_id, "RECOGNISED")
    paid = api.update_state(invoice_id, "PAID", payment_date="2026-11-20")
    assert paid.state == "PAID" and paid.payment_date == "2026-11-20"
    refused("3007", "REJECTED", reject_reason="too late")  # never once PAID
    states = api.get_states(invoice_id)
    assert [s.code for s in states] == [
        "SENT",
        "REGISTERED",
        "DELIVERED",
        "ANNOTATED",
        "RECEIVED",
        "RECOGNISED",
        "PAID",
    ]
    assert states[1].registry_number and states[3].rcf_number == "RCF-2026-1"
    assert states[-1].payment_date == "2026-11-20"
    assert api.get_receipt(invoice_id).startswith(b"%PDF")


def test_reject_and_unregistered(rcf):
    app, _inj, api = rcf
    invoice_id = app.state.seed_invoice(nif=ENTITY_A)
    rejected = api.update_state(invoice_id, "REJECTED", reject_code="E01", reject_reason="Falta l'expedient")
    assert rejected.state == "REJECTED" and rejected.reject_reason == "Falta l'expedient"
    assert api.pending_invoices() == (
        [],
        False,
    )  # a rejected invoice is no longer pending
    with pytest.raises(common_errors.RejectedError):
        api.update_state(invoice_id, "ANNOTATED", rcf_number="R")
    unregistered = app.state.seed_invoice(nif=ENTITY_A)
    app.state.invoices[unregistered]["registre"] = None
    with pytest.raises(common_errors.RejectedError) as exc:
        api.update_state(unregistered, "DELIVERED")
    assert exc.value.code == "3005"


def test_state_update_lost_answer_is_reconciled(rcf):
    app, injector, api = rcf
    invoice_id = app.state.seed_invoice(nif=ENTITY_A)
    injector.inject("lost", path=f"/rcf/factura/{invoice_id}", method="PATCH")
    result = api.update_state(invoice_id, "DELIVERED")
    assert result.state == "DELIVERED" and app.state.deliveries[invoice_id] == 1
    assert injector.calls_to(f"/rcf/factura/{invoice_id}", "PATCH") == 1


def test_state_update_reset_before_reaching_is_sent_again(rcf):
    app, injector, api = rcf
    invoice_id = app.state.seed_invoice(nif=ENTITY_A)
    injector.inject("reset", path=f"/rcf/factura/{invoice_id}", method="PATCH")
    result = api.update_state(invoice_id, "DELIVERED")
    assert result.state == "DELIVERED" and app.state.deliveries[invoice_id] == 1


def test_late_attachments(rcf):
    app, _inj, api = rcf
    invoice_id = app.state.seed_invoice(nif=ENTITY_A, attachments=[("first.pdf", b"%PDF-1")])
    late = app.state.add_attachment(invoice_id, "albara.txt", b"hello")
    items, more = api.pending_attachments()
    assert [(i.id, i.invoice_id, i.name) for i in items] == [(late, invoice_id, "albara.txt")] and not more
    content, mime = api.get_attachment(invoice_id, late)
    assert content == b"hello" and mime.startswith("text/plain")
    api.delete_pending_attachment(late)
    assert api.pending_attachments() == ([], False)
    with pytest.raises(common_errors.RejectedError) as exc:
        api.get_attachment(invoice_id, "42")
    assert exc.value.code == "2002"
    with pytest.raises(common_errors.RejectedError) as exc:
        api.delete_pending_attachment(late)
    assert exc.value.code == "2002"


def test_5xx_are_retried_then_transient(rcf):
    _app, injector, api = rcf
    injector.inject("status", status=503, path="/rcf/ens", times=2)
    assert api.entities()
    injector.inject("status", status=503, path="/rcf/ens", times=10)
    with pytest.raises(common_errors.TransientError):
        api.entities()


def test_html_error_page_is_a_protocol_error(rcf):
    _app, injector, api = rcf
    injector.inject("html", status=200, path="/rcf/factures-pendents")
    with pytest.raises(common_errors.ProtocolError):
        api.pending_invoices()


def test_sequential_pull_with_batched_delivery_and_a_limit(hub):
    from .conftest import transport_for

    app, injector, server = hub(page_size=40)
    ids = [app.state.seed_invoice(nif=ENTITY_A if n % 2 else ENTITY_B, number=f"P{n}") for n in range(100)]
    api = efact_client.RcfClient(transport_for(server, "rcf"))
    stored, batches = [], []

    def process(pending):
        assert documents.parse_facturae(api.get_facturae(pending.id)).buyer_nif == pending.nif
        stored.append(pending.id)
        return True

    def deliver(batch):
        assert set(batch) <= set(stored), "DELIVERED only after process stored it"
        batches.append(len(batch))
        for invoice_id in batch:
            api.update_state(invoice_id, "DELIVERED")

    pages = []
    delivered, refused = efact_client.drain_pending_invoices(
        api, process, deliver=deliver, chunk=25, limit=60, on_page=lambda items: pages.append(len(items))
    )
    assert len(delivered) == 60 and not refused
    assert pages == [40, 20], "each page is shown before its invoices are processed, up to the limit"
    assert batches == [25, 15, 20], "a page's rest is delivered before the next page is read"
    delivered_2, _ = efact_client.drain_pending_invoices(api, process, deliver=deliver, chunk=25)
    assert sorted(delivered + delivered_2) == sorted(ids) == sorted(stored)
    assert set(app.state.deliveries.values()) == {1}
    assert injector.calls_to("/facturae", "GET") == 100


def test_drain_in_batches_delivers_each_committed_batch_before_the_next(hub):
    from .conftest import transport_for

    app, injector, server = hub(page_size=40)
    ids = [app.state.seed_invoice(nif=ENTITY_A, number=f"B{n}") for n in range(70)]
    api = efact_client.RcfClient(transport_for(server, "rcf"))
    batches, events = [], []

    def process_batch(items):
        batches.append(len(items))
        events.append(("stored", len(items)))
        return [p.id for p in items if p.id != ids[3]]  # one refused: stays pending, not offered again

    def deliver(done):
        events.append(("delivered", len(done)))
        for invoice_id in done:
            api.update_state(invoice_id, "DELIVERED")

    delivered, refused = efact_client.drain_pending_batches(api, process_batch, deliver=deliver, chunk=25, limit=60)
    assert batches == [25, 15, 20], "a page is cut in batches; the limit stops the run"
    assert events[:2] == [("stored", 25), ("delivered", 24)], "a batch is delivered before the next one"
    assert refused == [ids[3]] and len(delivered) == 59
    assert set(app.state.deliveries.values()) == {1}
    again, _ = efact_client.drain_pending_batches(api, process_batch, deliver=deliver, chunk=25)
    assert sorted(delivered + again) == sorted(set(ids) - {ids[3]})
    assert injector.calls_to("/factures-pendents", "GET") >= 3
