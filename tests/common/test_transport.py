"""Transport against a real loopback server that injects faults."""

import json

import pytest

from einvoice_common.einvoice import errors
from einvoice_common.einvoice.demo_sandbox import make_app
from einvoice_common.einvoice.faults import FaultInjector
from einvoice_common.einvoice.transport import (
    BasicAuth,
    BearerAuth,
    Transport,
    parse_retry_after,
)


@pytest.fixture
def service():
    return make_app()


@pytest.fixture
def faults(service):
    return FaultInjector(service)


@pytest.fixture
def server(serve_app, faults):
    return serve_app(faults)


@pytest.fixture
def log():
    return []


@pytest.fixture
def sleeps():
    return []


@pytest.fixture
def transport(server, service, log, sleeps):
    token = service.issue()["access_token"]
    return Transport(
        server.url,
        service="demo",
        auth=BearerAuth(lambda force: token),
        recorder=log.append,
        sleep=sleeps.append,
        timeout=(2, 2),
        rng=lambda: 0.5,
    )


def post_document(transport, reference="INV/1"):
    return transport.post(
        "/documents",
        operation="send",
        json={"reference": reference},
        reference=reference,
    )


def test_post_succeeds_and_is_logged_once(transport, service, log):
    response = post_document(transport)
    assert response.status_code == 201
    assert [(d["id"], d["reference"]) for d in service.documents] == [(1, "INV/1")]
    assert [(e.operation, e.status, e.outcome, e.reference) for e in log] == [("send", 201, "ok", "INV/1")]


def test_lost_post_response_is_unknown_outcome_and_not_retried(transport, service, faults, log):
    faults.inject("lost", path="/documents", method="POST")
    with pytest.raises(errors.UnknownOutcome):
        post_document(transport)
    # The service did the work exactly once; nothing was resent.
    assert len(service.documents) == 1
    assert faults.calls_to("/documents", "POST") == 1
    assert [e.outcome for e in log] == ["transient"]


def test_reset_on_get_is_retried_with_backoff(transport, faults, sleeps):
    post_document(transport)
    faults.inject("reset", path="/documents", method="GET", times=2)
    response = transport.get("/documents", operation="find", params={"reference": "INV/1"})
    assert [d["reference"] for d in response.json()] == ["INV/1"]
    assert faults.calls_to("/documents", "GET") == 3
    # equal jitter with rng=0.5: 0.75 * base * 2**(attempt-1)
    assert sleeps == [0.375, 0.75]


def test_post_is_not_retried_on_503_but_get_is(transport, service, faults):
    faults.inject("status", status=503, path="/documents", method="POST")
    with pytest.raises(errors.TransientError) as caught:
        post_document(transport)
    assert caught.value.status == 503
    assert service.documents == []
    faults.inject("status", status=503, times=3, path="/documents", method="GET")
    assert transport.get("/documents", operation="find", params={"reference": "x"}).json() == []


def test_503_burst_longer_than_retries_gives_transient_error(transport, faults):
    faults.inject("status", status=503, times=10, path="/documents", method="GET")
    with pytest.raises(errors.TransientError):
        transport.get("/documents", operation="find", params={"reference": "x"})
    assert faults.calls_to("/documents", "GET") == 1 + transport.retries


def test_post_500_is_unknown_outcome(transport, faults):
    faults.inject("status", status=500, path="/documents", method="POST")
    with pytest.raises(errors.UnknownOutcome):
        post_document(transport)


def test_429_is_retried_after_the_announced_delay_even_for_post(transport, service, faults, sleeps):
    faults.inject("rate_limit", retry_after=7, path="/documents")
    assert post_document(transport).status_code == 201
    assert sleeps == [7.0]
    assert len(service.documents) == 1


def test_retry_after_beyond_the_cap_is_not_waited(transport, faults, sleeps):
    faults.inject("rate_limit", retry_after=3600, path="/documents")
    with pytest.raises(errors.TransientError) as caught:
        post_document(transport)
    assert caught.value.retry_after == 3600
    assert sleeps == []


def test_slow_answer_past_read_timeout_on_post_is_unknown(server, faults, service):
    token = service.issue()["access_token"]
    transport = Transport(
        server.url,
        auth=BearerAuth(lambda f: token),
        timeout=(1, 0.3),
        sleep=lambda s: None,
    )
    faults.inject("slow", seconds=5, path="/documents", method="POST")
    with pytest.raises(errors.UnknownOutcome):
        post_document(transport)


def test_oversized_answer_is_refused(transport, faults):
    transport.max_response_bytes = 1024
    faults.inject("oversize", size=4096, path="/documents")
    with pytest.raises(errors.ProtocolError):
        transport.get("/documents", operation="find")


def test_html_error_page_is_described(transport, faults):
    faults.inject("html", status=404, path="/documents")
    with pytest.raises(errors.RejectedError) as caught:
        transport.get("/documents", operation="find")
    assert "an HTML page" in str(caught.value)


def test_json_helper_names_what_came_instead(transport, faults):
    faults.inject("html", status=200, path="/documents")
    response = transport.get("/documents", operation="find", expected=(200,))
    with pytest.raises(errors.ProtocolError, match="HTML page"):
        transport.json(response)


def test_connection_refused_is_transient_and_retried_even_for_post(sleeps):
    transport = Transport("http://127.0.0.1:9", retries=2, sleep=sleeps.append, timeout=(0.5, 0.5))
    with pytest.raises(errors.TransientError):
        transport.post("/documents", operation="send", json={})
    assert len(sleeps) == 2  # nothing was sent, so resending is safe


def test_401_refreshes_once_then_succeeds(server, service, log):
    good = service.issue()["access_token"]
    calls = []

    def token_source(force):
        calls.append(force)
        return good if force else "stale"

    transport = Transport(server.url, auth=BearerAuth(token_source), recorder=log.append)
    assert post_document(transport).status_code == 201
    assert calls == [False, True]
    assert [e.status for e in log] == [401, 201]


def test_401_twice_is_auth_error(server):
    transport = Transport(server.url, auth=BearerAuth(lambda force: "bad"))
    with pytest.raises(errors.AuthError):
        post_document(transport)


def test_no_secret_reaches_the_exchange_record(server, service, log):
    transport = Transport(server.url, recorder=log.append, extra_secrets=["secret"])
    response = transport.post(
        "/oauth/token",
        operation="token",
        data={"grant_type": "authorization_code", "code": "good-code"},
        auth=("client", "secret"),
    )
    tokens = response.json()
    dumped = json.dumps([vars(e) for e in log], default=str)
    for secret in (
        "secret",
        "good-code",
        tokens["access_token"],
        tokens["refresh_token"],
    ):
        assert secret not in dumped
    bearer = Transport(
        server.url,
        auth=BearerAuth(lambda f: tokens["access_token"]),
        recorder=log.append,
    )
    post_document(bearer)
    assert tokens["access_token"] not in json.dumps([vars(e) for e in log], default=str)
    assert log[-1].request_headers["Authorization"] == "***"


def test_basic_auth_is_sent_and_masked(server, log):
    transport = Transport(server.url, auth=BasicAuth("client", "secret"), recorder=log.append)
    response = transport.post(
        "/oauth/token",
        operation="token",
        data={"grant_type": "authorization_code", "code": "good-code"},
    )
    assert response.status_code == 200
    assert "secret" not in json.dumps([vars(e) for e in log], default=str)


@pytest.mark.parametrize(
    "value, expected",
    [
        ("5", 5.0),
        ("0", 0.0),
        (None, None),
        ("garbage", None),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),
    ],
)
def test_parse_retry_after(value, expected):
    assert parse_retry_after(value, now=1445412480 + 3600) == expected


def test_loopback_only_transport_refuses_any_other_host_before_sending(server, service, log):
    transport = Transport(server.url, service="demo", recorder=log.append, loopback_only=True, timeout=(2, 2))
    for url in (
        "https://efact.aoc.cat/api",
        "HTTP://Other.Host/x.zip",
        "http://10.0.0.1/x",
        "http://127.0.0.1.nip.io/",
    ):
        with pytest.raises(errors.HostRefused) as caught:
            transport.get(url, operation="probe")
        assert isinstance(caught.value, errors.AuthError)
    assert log == []  # nothing was even attempted
    with pytest.raises(errors.AuthError) as caught:  # the sandbox itself is reached (and wants a token)
        transport.get("/documents?reference=x", operation="list")
    assert caught.value.status == 401


def test_error_snippets_are_redacted_like_bodies(server, faults, service, log):
    token = service.issue()["access_token"]
    transport = Transport(server.url, service="demo", auth=BearerAuth(lambda force: token), recorder=log.append)
    echo = json.dumps({"error": "bad", "echo": f"Authorization: Bearer {token}", "refresh_token": "r-123456"})
    faults.inject("body", status=400, body=echo.encode(), path="/documents")
    with pytest.raises(errors.RejectedError) as caught:
        post_document(transport)
    for text in (str(caught.value), log[-1].error, log[-1].response_body):
        assert token not in text and "r-123456" not in text


def test_throttle_runs_before_every_attempt_and_a_quota_error_sends_nothing(server, service, faults, sleeps):
    token = service.issue()["access_token"]
    seen = []

    def throttle(operation, params):
        seen.append((operation, dict(params)))
        if len(seen) > 3:
            raise errors.QuotaError("not now", retry_after=5)

    transport = Transport(
        server.url, auth=BearerAuth(lambda force: token), sleep=sleeps.append, rng=lambda: 0.5, throttle=throttle
    )
    faults.inject("status", status=503, times=2, path="/documents", method="GET")
    transport.get("/documents", operation="find", params={"reference": "x"})
    assert seen == [("find", {"reference": "x"})] * 3  # the two retries were counted too
    with pytest.raises(errors.QuotaError):
        post_document(transport)
    assert service.documents == []
    assert faults.calls_to("/documents", "POST") == 0
