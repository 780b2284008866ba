"""OAuth2 helpers against the demo service over loopback: code, refresh with rotation, revoke, state."""

import pytest

from einvoice_common.einvoice import errors, oauth2
from einvoice_common.einvoice.demo_sandbox import make_app
from einvoice_common.einvoice.transport import Transport


@pytest.fixture
def service():
    return make_app()


@pytest.fixture
def transport(serve_app, service):
    server = serve_app(service)
    return Transport(server.url, service="demo", timeout=(2, 2))


def test_code_exchange_then_refresh_rotates_and_the_old_refresh_token_dies(transport):
    tokens = oauth2.exchange_code(transport, "/oauth/token", "client", "secret", "good-code", "http://cb", None)
    assert tokens.access_token and tokens.refresh_token and tokens.access_expires_at
    renewed = oauth2.refresh(transport, "/oauth/token", "client", "secret", tokens.refresh_token, None)
    assert renewed.refresh_token != tokens.refresh_token
    with pytest.raises(errors.AuthError) as caught:  # a dead refresh token means: authenticate again
        oauth2.refresh(transport, "/oauth/token", "client", "secret", tokens.refresh_token, None)
    assert caught.value.code == "invalid_grant"


def test_wrong_client_is_an_auth_error(transport):
    with pytest.raises(errors.AuthError):
        oauth2.exchange_code(transport, "/oauth/token", "client", "wrong", "good-code", "http://cb", None)


def test_authorize_url_carries_state_and_extras():
    url = oauth2.authorize_url("https://idp/authorize", "cid", "https://odoo/cb", "st.sig", token_content_type="jwt")
    assert url.startswith("https://idp/authorize?response_type=code&client_id=cid")
    assert "state=st.sig" in url and "token_content_type=jwt" in url


def test_state_is_signed_and_expires():
    state = oauth2.sign_state("k", {"c": 7, "u": 2, "n": "abc"}, now=1000)
    assert oauth2.verify_state("k", state, max_age=900, now=1500)["c"] == 7
    assert oauth2.verify_state("other-key", state, now=1500) is None
    assert oauth2.verify_state("k", state, max_age=900, now=2000) is None
    encoded, signature = state.rsplit(".", 1)
    assert oauth2.verify_state("k", encoded[:-2] + "xx." + signature, now=1500) is None
    for junk in ("", "nodot", "a.b.c", None):
        assert oauth2.verify_state("k", junk, now=1500) is None


def test_expiry_from_jwt_or_expires_in():
    from datetime import datetime

    now = datetime(2026, 1, 1)
    assert oauth2.expiry("opaque", 60, now) == datetime(2026, 1, 1, 0, 1)
    assert oauth2.expiry("opaque", None, now) is None
    assert oauth2.expiry("opaque", "bogus", now) is None


def test_revoke_kills_the_refresh_token(transport):
    tokens = oauth2.exchange_code(transport, "/oauth/token", "client", "secret", "good-code", "http://cb", None)
    assert oauth2.revoke(transport, "/oauth/revoke", "client", "secret", tokens.refresh_token) is True
    with pytest.raises(errors.AuthError):
        oauth2.refresh(transport, "/oauth/token", "client", "secret", tokens.refresh_token, None)
