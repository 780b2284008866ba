"""ANAF OAuth2 (logincert.anaf.ro): authorization code with JWT tokens, rotating refresh.

Client authentication is HTTP Basic (as ANAF documents). Expiries are read from
the JWTs' `exp`, never assumed. Pure: the caller passes a transport and `now`.
"""

import base64
import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from urllib.parse import urlencode

LOGINCERT = "https://logincert.anaf.ro/anaf-oauth2/v1"


@dataclass
class Tokens:
    access_token: str
    refresh_token: str
    access_expires_at: datetime  # naive UTC
    refresh_expires_at: datetime = None


def claims(token):
    try:
        payload = token.split(".")[1]
        payload += "=" * (-len(payload) % 4)
        value = json.loads(base64.urlsafe_b64decode(payload))
        return value if isinstance(value, dict) else {}
    except (IndexError, ValueError, AttributeError):
        return {}


def expiry(token, expires_in=None, now=None):
    exp = claims(token).get("exp")
    if isinstance(exp, (int, float)):
        return datetime.fromtimestamp(exp, tz=timezone.utc).replace(tzinfo=None)
    if expires_in and now:
        return now + timedelta(seconds=int(expires_in))
    return None


def authorize_url(base, client_id, redirect_uri, state):
    query = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "token_content_type": "jwt",
        "state": state,
    }
    return f"{base.rstrip('/')}/authorize?{urlencode(query)}"


def _token_error(response):
    try:
        body = response.json()
    except ValueError:
        return None, "", []
    if not isinstance(body, dict):
        return None, "", []
    return (
        body.get("error"),
        body.get("error_description") or body.get("error") or "",
        [],
    )


def _call(transport, base, client_id, client_secret, data, now, operation):
    try:
        response = transport.request(
            "POST",
            f"{base.rstrip('/')}/token",
            operation=operation,
            data=data,
            auth=(client_id, client_secret),
            idempotent=False,
            error_parser=_token_error,
        )
    except transport.RejectedError as exc:
        if exc.code in ("invalid_grant", "invalid_client", "unauthorized_client"):
            # A dead refresh token or code, or wrong client credentials: a person must authenticate again.
            raise transport.AuthError(exc.message, code=exc.code, status=exc.status) from exc
        raise
    body = transport.json(response)
    access = body.get("access_token")
    if not access:
        raise transport.AuthError(body.get("error_description") or "ANAF's token endpoint gave no access token.")
    refresh = body.get("refresh_token") or ""
    return Tokens(
        access,
        refresh,
        expiry(access, body.get("expires_in"), now),
        expiry(refresh, body.get("refresh_token_expires_in"), now) if refresh else None,
    )


def exchange_code(transport, base, client_id, client_secret, code, redirect_uri, now):
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "token_content_type": "jwt",
    }
    return _call(transport, base, client_id, client_secret, data, now, "oauth_code")


def refresh(transport, base, client_id, client_secret, refresh_token, now):
    data = {
        "grant_type": "refresh_token",
        "refresh_token": refresh_token,
        "token_content_type": "jwt",
    }
    return _call(transport, base, client_id, client_secret, data, now, "oauth_refresh")


def revoke(transport, base, client_id, client_secret, token, hint="refresh_token"):
    transport.request(
        "POST",
        f"{base.rstrip('/')}/revoke",
        operation="oauth_revoke",
        auth=(client_id, client_secret),
        data={"token": token, "token_type_hint": hint},
        idempotent=True,
        error_parser=_token_error,
    )
    return True
