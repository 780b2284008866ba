"""OAuth 2.0 authorization-code flow and refresh (RFC 6749), pure.

Expiries come from the JWT's `exp` claim when the token is a JWT (ANAF issues
JWTs with `token_content_type=jwt`), else from `expires_in`; never assumed.
"""

import base64
import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from urllib.parse import urlencode


@dataclass
class TokenSet:
    access_token: str
    refresh_token: str
    access_expires_at: datetime  # naive UTC, like Odoo datetimes
    refresh_expires_at: datetime = None


def jwt_claims(token):
    """The payload of a JWT without verifying it (we are its audience, not its judge)."""
    try:
        payload = token.split(".")[1]
        payload += "=" * (-len(payload) % 4)
        return json.loads(base64.urlsafe_b64decode(payload))
    except (IndexError, ValueError, AttributeError):
        return {}


def _expiry(token, expires_in, now):
    claims = jwt_claims(token)
    if isinstance(claims.get("exp"), (int, float)):
        return datetime.fromtimestamp(claims["exp"], tz=timezone.utc).replace(tzinfo=None)
    if expires_in:
        return now + timedelta(seconds=int(expires_in))
    return None


def authorize_url(authorize_endpoint, client_id, redirect_uri, state, **extra):
    query = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "state": state,
    }
    query.update({k: v for k, v in extra.items() if v is not None})
    return f"{authorize_endpoint}?{urlencode(query)}"


def _token_call(transport, token_url, client_id, client_secret, data, now, operation):
    response = transport.request(
        "POST",
        token_url,
        operation=operation,
        data=data,
        auth=(client_id, client_secret),
        idempotent=False,
        error_parser=token_error,
    )
    body = transport.json(response)
    access = body.get("access_token")
    if not access:
        raise transport.AuthError("The token endpoint answered without an access token.")
    refresh = body.get("refresh_token") or data.get("refresh_token", "")
    refresh_expiry = _expiry(refresh, body.get("refresh_token_expires_in"), now) if refresh else None
    return TokenSet(access, refresh, _expiry(access, body.get("expires_in"), now), refresh_expiry)


def exchange_code(transport, token_url, client_id, client_secret, code, redirect_uri, now, **extra):
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
    }
    data.update({k: v for k, v in extra.items() if v is not None})
    return _token_call(transport, token_url, client_id, client_secret, data, now, "oauth_code")


def refresh(transport, token_url, client_id, client_secret, refresh_token, now, **extra):
    data = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    data.update({k: v for k, v in extra.items() if v is not None})
    return _token_call(transport, token_url, client_id, client_secret, data, now, "oauth_refresh")


def token_error(response):
    try:
        body = response.json()
    except ValueError:
        return None, "", []
    return (
        body.get("error"),
        body.get("error_description") or body.get("error") or "",
        [],
    )
