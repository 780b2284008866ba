"""ANAF client against the sandbox over loopback: every operation, errors in HTTP 200 bodies, quotas, faults."""

import pytest
from anaf_support import BUYER, SELLER, make_invoice

from einvoice_common.einvoice import errors as taxonomy
from l10n_ro_anaf_efactura.anaf import documents


def test_upload_status_download_ok(anaf):
    xml = make_invoice("INV/2026/00001")
    answer = anaf.client.upload(xml, cif="RO" + SELLER)
    assert answer.index.isdigit() and len(answer.date) == 12
    status = anaf.client.message_state(answer.index)
    assert status.state == "ok" and status.download_id
    zipped = anaf.client.download(status.download_id)
    assert zipped.xml == xml and not zipped.is_error_document
    assert zipped.signature_name == f"semnatura_{answer.index}.xml"
    value, cert = documents.signature_values(zipped.signature)
    assert value and cert


def test_processing_then_nok_with_anaf_errors(anaf_factory):
    anaf = anaf_factory(processing_polls=1)
    anaf.state.force_nok["INV/2026/00002"] = "R6.1: CIF-ul vanzatorului nu figureaza in baza de date:1"
    index = anaf.client.upload(make_invoice("INV/2026/00002"), cif=SELLER).index
    assert anaf.client.message_state(index).state == "in prelucrare"
    status = anaf.client.message_state(index)
    assert status.state == "nok"
    zipped = anaf.client.download(status.download_id)
    assert zipped.is_error_document and "R6.1" in zipped.errors[0]
    listed = anaf.client.list_messages(1, SELLER, filter="E")
    assert [m.index for m in listed] == [index]


def test_upload_refusals_in_http_200_bodies(anaf):
    with pytest.raises(taxonomy.AuthError) as caught:
        anaf.client.upload(make_invoice(), cif="1234")
    assert caught.value.code == "no_rights_cif" and "Nu aveti drept" in caught.value.message
    with pytest.raises(taxonomy.RejectedError) as caught:
        anaf.client.upload(b"<not xml", cif=SELLER)
    assert caught.value.code == "invalid_xml"
    with pytest.raises(taxonomy.RejectedError) as caught:
        anaf.client.upload(make_invoice(), cif="12a")
    assert caught.value.code == "bad_cif"
    with pytest.raises(taxonomy.RejectedError) as caught:
        anaf.client.upload(make_invoice(), cif=SELLER, standard="CN")  # an Invoice sent as credit note
    assert caught.value.code == "invalid_xml"
    assert not anaf.state.uploads


def test_upload_variants_reach_the_right_endpoint(anaf):
    anaf.client.upload(make_invoice("B2C/1"), cif=SELLER, b2c=True)
    anaf.client.upload(make_invoice("EXT/1"), cif=SELLER, extern=True)
    anaf.client.upload(make_invoice("AUTO/1"), cif=SELLER, autofactura=True)
    ops = [(op, params.get("extern"), params.get("autofactura")) for op, params in anaf.state.calls]
    assert ops == [
        ("uploadb2c", None, None),
        ("upload", "DA", None),
        ("upload", None, "DA"),
    ]


def test_status_errors_and_quota(anaf_factory):
    anaf = anaf_factory(processing_polls=1000, daily={"status": 3})
    with pytest.raises(taxonomy.RejectedError) as caught:
        anaf.client.message_state("abc")
    assert caught.value.code == "bad_index"
    with pytest.raises(taxonomy.RejectedError) as caught:
        anaf.client.message_state("15000")
    assert caught.value.code == "unknown_index"
    index = anaf.client.upload(make_invoice(), cif=SELLER).index
    for _ in range(3):
        assert anaf.client.message_state(index).state == "in prelucrare"
    with pytest.raises(taxonomy.TransientError) as caught:
        anaf.client.message_state(index)
    assert caught.value.code == "quota_status"


def test_download_json_error_instead_of_zip_and_quota(anaf_factory):
    anaf = anaf_factory(daily={"download": 2})
    with pytest.raises(taxonomy.RejectedError) as caught:
        anaf.client.download("21")
    assert caught.value.code == "unknown_download"
    index = anaf.client.upload(make_invoice(), cif=SELLER).index
    download_id = anaf.client.message_state(index).download_id
    anaf.client.download(download_id)
    anaf.client.download(download_id)
    with pytest.raises(taxonomy.TransientError) as caught:
        anaf.client.download(download_id)
    assert caught.value.code == "quota_status"  # same text as ANAF uses for stareMesaj


def test_html_page_where_zip_expected_is_a_protocol_error(anaf):
    anaf.faults.inject("html", status=200, path="descarcare")
    with pytest.raises(taxonomy.ProtocolError) as caught:
        anaf.client.download("1")
    assert "HTML page" in caught.value.message


def test_lists_simple_cap_500_and_pagination(anaf):
    start = anaf.now_ms() - 1000
    for n in range(501):
        anaf.state.add_received(make_invoice(f"F{n:04d}", seller="7000000000", buyer=BUYER), BUYER)
    with pytest.raises(taxonomy.RejectedError) as caught:
        anaf.client.list_messages(60, BUYER)
    assert caught.value.code == "list_too_big"
    assert anaf.client.list_messages(60, SELLER) == []  # "Nu exista mesaje" is an empty list
    with pytest.raises(taxonomy.RejectedError) as caught:
        anaf.client.list_messages(61, BUYER)
    assert caught.value.code == "days_range"
    page = anaf.client.list_messages_page(start, anaf.now_ms(), BUYER, 1, filter="P")
    assert (page.total, page.total_pages, len(page.messages)) == (501, 2, 500)
    assert len(list(anaf.client.iter_messages(start, anaf.now_ms(), BUYER, filter="P"))) == 501
    with pytest.raises(taxonomy.RejectedError) as caught:
        anaf.client.list_messages_page(start, anaf.now_ms(), BUYER, 3)
    assert caught.value.code == "page_out_of_range"
    with pytest.raises(taxonomy.RejectedError) as caught:
        anaf.client.list_messages_page(anaf.now_ms() - 61 * 86400 * 1000, anaf.now_ms(), BUYER, 1)
    assert caught.value.code == "start_too_old"
    message = page.messages[0]
    assert message.issuer_cif == "7000000000" and message.buyer_cif == BUYER and message.filter_code == "P"


def test_validate_and_transform(anaf):
    ok = anaf.client.validate(make_invoice())
    assert ok.ok and not ok.messages
    bad = anaf.client.validate(make_invoice(seller_county="RO-XX"))
    assert not bad.ok and "BR-RO-110" in bad.messages[0]
    assert anaf.client.transform(make_invoice())[:5] == b"%PDF-"
    with pytest.raises(taxonomy.RejectedError):
        anaf.client.transform(make_invoice(seller_county="RO-XX"))
    assert anaf.client.transform(make_invoice(seller_county="RO-XX"), validate=False)[:5] == b"%PDF-"
    assert not anaf.state.uploads  # validation costs no upload


def test_expired_access_token_is_refreshed_once_on_401(anaf):
    anaf.state.expire_access_tokens()
    old_refresh = anaf.holder.tokens.refresh_token
    answer = anaf.client.upload(make_invoice(), cif=SELLER)
    assert answer.index and anaf.holder.refreshes == 1
    assert anaf.holder.tokens.refresh_token != old_refresh
    assert anaf.state.token_calls == ["refresh_token"]
    assert len(anaf.state.uploads) == 1


def test_revoked_tokens_give_a_clear_auth_error_and_no_upload(anaf):
    anaf.state.revoke_all()
    with pytest.raises(taxonomy.AuthError):
        anaf.client.upload(make_invoice(), cif=SELLER)
    assert not anaf.state.uploads


def test_rate_limit_429_is_honoured(anaf):
    anaf.faults.inject("rate_limit", retry_after=2, path="stareMesaj")
    index = anaf.client.upload(make_invoice(), cif=SELLER).index
    assert anaf.client.message_state(index).state == "ok"
    assert 2 in anaf.sleeps


def test_503_on_status_is_retried(anaf):
    index = anaf.client.upload(make_invoice(), cif=SELLER).index
    anaf.faults.inject("status", status=503, path="stareMesaj", times=2)
    assert anaf.client.message_state(index).state == "ok"


def test_anaf_down_on_upload_is_transient_not_a_rejection(anaf):
    anaf.state.down = True
    with pytest.raises(taxonomy.TransientError):
        anaf.client.upload(make_invoice(), cif=SELLER)
    assert not anaf.state.uploads


def test_lost_upload_answer_is_reconciled_without_a_second_upload(anaf):
    xml = make_invoice("INV/2026/00777")
    start = anaf.now_ms() - 1000
    anaf.faults.inject("lost", path="/upload", method="POST")
    with pytest.raises(taxonomy.UnknownOutcome):
        anaf.client.upload(xml, cif=SELLER)
    assert anaf.faults.calls_to("/upload", "POST") == 1
    message, zipped = anaf.client.find_upload(SELLER, start, anaf.now_ms(), payload_sha256=documents.sha256(xml))
    assert message is not None and zipped.xml == xml
    assert len(anaf.state.uploads_of("INV/2026/00777")) == 1
    assert message.index == anaf.state.uploads_of("INV/2026/00777")[0].index
    assert anaf.faults.calls_to("/upload", "POST") == 1


def test_reconcile_finds_nothing_when_the_upload_never_arrived(anaf):
    xml = make_invoice("INV/2026/00778")
    anaf.client.upload(make_invoice("OTHER/1"), cif=SELLER)
    known = [u.index for u in anaf.state.uploads.values()]
    anaf.faults.inject("reset", path="/upload", method="POST")
    with pytest.raises((taxonomy.UnknownOutcome, taxonomy.TransientError)):
        anaf.client.upload(xml, cif=SELLER)
    message, _ = anaf.client.find_upload(
        SELLER,
        anaf.now_ms() - 5000,
        anaf.now_ms(),
        payload_sha256=documents.sha256(xml),
        known_indexes=known,
    )
    assert message is None


def test_unreadable_upload_answer_is_an_unknown_outcome(anaf):
    anaf.faults.inject("html", status=200, path="/upload")
    with pytest.raises(taxonomy.UnknownOutcome):
        anaf.client.upload(make_invoice(), cif=SELLER)


def test_upload_answer_in_a_gateway_json_dialect_is_read(anaf):
    anaf.state.upload_dialect = "json"
    answer = anaf.client.upload(make_invoice("JSON/1"), cif=SELLER)
    assert answer.index == anaf.state.uploads_of("JSON/1")[0].index
    assert anaf.client.message_state(answer.index).state == "ok"


def test_success_in_an_unexpected_shape_is_unknown_then_found_once(anaf):
    xml = make_invoice("SHAPE/1")
    start = anaf.now_ms() - 1000
    anaf.state.upload_dialect = "unexpected"
    with pytest.raises(taxonomy.UnknownOutcome):  # not an error: ANAF may well have it
        anaf.client.upload(xml, cif=SELLER)
    message, zipped = anaf.client.find_upload(SELLER, start, anaf.now_ms(), payload_sha256=documents.sha256(xml))
    assert message is not None and zipped.xml == xml
    assert len(anaf.state.uploads_of("SHAPE/1")) == 1


def test_exchanges_are_recorded_without_the_token(anaf):
    anaf.client.upload(make_invoice(), cif=SELLER)
    token = anaf.holder.tokens.access_token
    assert anaf.exchanges and all(token not in str(e.request_headers) for e in anaf.exchanges)


def test_default_sandbox_lets_the_demo_certificate_act_for_any_company(serve_app):
    from anaf_support import Anaf

    anaf = Anaf(serve_app, cifs=None)
    assert anaf.client.upload(make_invoice(seller="65379"), cif="RO65379").index
