"""ANAF OAuth in the sandbox through einvoice_common's OAuth2 module: authorize page (approve/deny),
60 s code, JWT expiries, rotating refresh."""

from datetime import datetime
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from einvoice_common.einvoice import errors as taxonomy
from einvoice_common.einvoice import oauth2

CALLBACK = "https://erp.example.ro/l10n_ro_anaf_efactura/callback"


def _authorize(anaf, decision=None, state="signed-state"):
    url = oauth2.authorize_url(anaf.oauth_url + "/authorize", "anaf-client", CALLBACK, state, token_content_type="jwt")
    assert "token_content_type=jwt" in url
    page = requests.get(url, allow_redirects=False, timeout=5)
    if decision is None:
        return page
    link = page.text.split(f'id="{decision}" href="')[1].split('"')[0].replace("&amp;", "&")
    answer = requests.get(anaf.server.url + link, allow_redirects=False, timeout=5)
    assert answer.status_code == 302
    target = urlsplit(answer.headers["Location"])
    assert f"{target.scheme}://{target.netloc}{target.path}" == CALLBACK
    return parse_qs(target.query)


def test_authorize_page_then_approve_gives_code_and_state(anaf):
    page = _authorize(anaf)
    assert page.status_code == 200 and 'id="approve"' in page.text and 'id="deny"' in page.text
    query = _authorize(anaf, "approve")
    assert query["state"] == ["signed-state"] and query["code"]
    tokens = oauth2.exchange_code(
        anaf.oauth_transport,
        anaf.oauth_url + "/token",
        "anaf-client",
        "anaf-secret",
        query["code"][0],
        CALLBACK,
        datetime.utcnow(),
    )
    assert tokens.access_expires_at and tokens.refresh_expires_at
    days = (tokens.access_expires_at - datetime.utcnow()).days
    assert 88 <= days <= 90
    assert (tokens.refresh_expires_at - datetime.utcnow()).days >= 364
    assert oauth2.jwt_claims(tokens.access_token)["serial"] == "SERIAL-1"


def test_deny_gives_no_code(anaf):
    query = _authorize(anaf, "deny")
    assert "code" not in query and query["error"] == ["access_denied"]


def test_code_works_once_and_only_within_60_seconds(anaf):
    code = _authorize(anaf, "approve")["code"][0]
    oauth2.exchange_code(
        anaf.oauth_transport,
        anaf.oauth_url + "/token",
        "anaf-client",
        "anaf-secret",
        code,
        CALLBACK,
        datetime.utcnow(),
    )
    with pytest.raises(taxonomy.AuthError):
        oauth2.exchange_code(
            anaf.oauth_transport,
            anaf.oauth_url + "/token",
            "anaf-client",
            "anaf-secret",
            code,
            CALLBACK,
            datetime.utcnow(),
        )
    late = _authorize(anaf, "approve")["code"][0]
    anaf.clock.advance(61)
    with pytest.raises(taxonomy.AuthError):
        oauth2.exchange_code(
            anaf.oauth_transport,
            anaf.oauth_url + "/token",
            "anaf-client",
            "anaf-secret",
            late,
            CALLBACK,
            datetime.utcnow(),
        )


def test_wrong_client_secret_is_an_auth_error(anaf):
    code = _authorize(anaf, "approve")["code"][0]
    with pytest.raises(taxonomy.AuthError):
        oauth2.exchange_code(
            anaf.oauth_transport,
            anaf.oauth_url + "/token",
            "anaf-client",
            "wrong",
            code,
            CALLBACK,
            datetime.utcnow(),
        )


def test_refresh_rotates_and_the_old_refresh_token_dies(anaf):
    first = anaf.holder.tokens
    second = oauth2.refresh(
        anaf.oauth_transport,
        anaf.oauth_url + "/token",
        "anaf-client",
        "anaf-secret",
        first.refresh_token,
        datetime.utcnow(),
    )
    assert second.refresh_token != first.refresh_token and second.access_token != first.access_token
    with pytest.raises(taxonomy.AuthError):
        oauth2.refresh(
            anaf.oauth_transport,
            anaf.oauth_url + "/token",
            "anaf-client",
            "anaf-secret",
            first.refresh_token,
            datetime.utcnow(),
        )
    oauth2.refresh(
        anaf.oauth_transport,
        anaf.oauth_url + "/token",
        "anaf-client",
        "anaf-secret",
        second.refresh_token,
        datetime.utcnow(),
    )


def test_revoke_kills_the_refresh_token(anaf):
    tokens = anaf.holder.tokens
    oauth2.revoke(
        anaf.oauth_transport,
        anaf.oauth_url + "/revoke",
        "anaf-client",
        "anaf-secret",
        tokens.refresh_token,
    )
    with pytest.raises(taxonomy.AuthError):
        oauth2.refresh(
            anaf.oauth_transport,
            anaf.oauth_url + "/token",
            "anaf-client",
            "anaf-secret",
            tokens.refresh_token,
            datetime.utcnow(),
        )


def test_unregistered_callback_is_refused(anaf_factory):
    anaf = anaf_factory(redirect_uris=["https://other.example/cb"])
    assert _authorize(anaf).status_code == 400
