"""OAuth 2.0 authorization-code flow, refresh with rotation and revocation (RFC 6749/7009), pure.

Expiries come from the JWT's `exp` claim when the token is a JWT (ANAF issues JWTs with
`token_content_type=jwt`), else from `expires_in`; never assumed.

`sign_state`/`verify_state` bind the `state` parameter to a payload (connection, user, nonce)
with an HMAC; single use is the caller's part: store the nonce, consume it once (the Odoo
layer does it in `einvoice.credential`).
"""

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from urllib.parse import urlencode

# Token endpoint errors that mean "a person must authenticate again", never "try later".
AUTH_ERRORS = {"invalid_grant", "invalid_client", "unauthorized_client", "invalid_token"}


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
        claims = json.loads(base64.urlsafe_b64decode(payload))
    except (IndexError, ValueError, AttributeError):
        return {}
    return claims if isinstance(claims, dict) else {}


def expiry(token, expires_in=None, now=None):
    """When `token` expires: its JWT `exp`, else now + `expires_in`, else None."""
    claims = jwt_claims(token)
    if isinstance(claims.get("exp"), (int, float)):
        return datetime.fromtimestamp(claims["exp"], tz=timezone.utc).replace(tzinfo=None)
    if expires_in and now is not None:
        try:
            return now + timedelta(seconds=int(expires_in))
        except (TypeError, ValueError):
            return None
    return None


_expiry = expiry  # former private name


def authorize_url(authorize_endpoint, client_id, redirect_uri, state, **extra):
    """The URL the user's browser opens; `extra` adds service parameters (scope, token_content_type)."""
    query = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "state": state,
    }
    query.update({k: v for k, v in extra.items() if v is not None})
    return f"{authorize_endpoint}?{urlencode(query)}"


def _token_call(transport, token_url, client_id, client_secret, data, now, operation):
    try:
        response = transport.request(
            "POST",
            token_url,
            operation=operation,
            data=data,
            auth=(client_id, client_secret),
            idempotent=False,
            error_parser=token_error,
        )
    except transport.RejectedError as exc:
        if exc.code in AUTH_ERRORS:
            raise transport.AuthError(exc.message, code=exc.code, status=exc.status) from exc
        raise
    body = transport.json(response)
    access = body.get("access_token") if isinstance(body, dict) else None
    if not access:
        raise transport.AuthError("The token endpoint answered without an access token.")
    # Rotation: a new refresh token replaces the old one; without one the old one stays valid.
    refresh_token = body.get("refresh_token") or data.get("refresh_token", "")
    refresh_expiry = expiry(refresh_token, body.get("refresh_token_expires_in"), now) if refresh_token else None
    return TokenSet(access, refresh_token, expiry(access, body.get("expires_in"), now), refresh_expiry)


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


def revoke(transport, revoke_url, client_id, client_secret, token, hint="refresh_token"):
    """RFC 7009: revoking an unknown or already revoked token is a success too."""
    transport.request(
        "POST",
        revoke_url,
        operation="oauth_revoke",
        auth=(client_id, client_secret),
        data={"token": token, "token_type_hint": hint},
        idempotent=True,
        error_parser=token_error,
    )
    return True


def token_error(response):
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


# -- signed state -----------------------------------------------------------------------------
def new_nonce():
    return secrets.token_urlsafe(18)


def sign_state(key, payload, now=None):
    """`state` = base64(payload + issued-at) "." HMAC-SHA256; `key` is a server-side secret."""
    body = dict(payload, iat=int(now if now is not None else time.time()))
    encoded = base64.urlsafe_b64encode(json.dumps(body, sort_keys=True).encode()).rstrip(b"=").decode()
    return f"{encoded}.{_signature(key, encoded)}"


def verify_state(key, state, max_age=900, now=None):
    """The payload of a genuine, fresh `state`, else None (forged, altered, expired, malformed)."""
    try:
        encoded, signature = (state or "").rsplit(".", 1)
    except ValueError:
        return None
    if not hmac.compare_digest(_signature(key, encoded), signature):
        return None
    try:
        body = json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
    except ValueError:
        return None
    now = now if now is not None else time.time()
    if not isinstance(body, dict) or not isinstance(body.get("iat"), int) or not 0 <= now - body["iat"] <= max_age:
        return None
    return body


def _signature(key, encoded):
    key = key.encode() if isinstance(key, str) else key
    return hmac.new(key, encoded.encode(), hashlib.sha256).hexdigest()
