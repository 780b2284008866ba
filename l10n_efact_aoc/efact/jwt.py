"""HS256 JSON Web Tokens for eFACT, with the standard library only.

Both eFACT APIs (suppliers and RCF) authenticate each request with a short-lived
JWT: ``iss`` = the integrator user, ``aud`` = "efact", ``iat``/``nbf``/``exp`` in
epoch seconds, ``exp - iat`` at most 300 s, signed with the secret key the AOC
assigned. The secret never travels.
"""

import base64
import hashlib
import hmac
import json
import time

AUDIENCE = "efact"
MAX_LIFETIME = 300


def b64url_encode(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def b64url_decode(text):
    if isinstance(text, str):
        text = text.encode("ascii")
    return base64.urlsafe_b64decode(text + b"=" * (-len(text) % 4))


def _sign(signing_input, secret):
    if isinstance(secret, str):
        secret = secret.encode("utf-8")
    return hmac.new(secret, signing_input, hashlib.sha256).digest()


def encode(claims, secret):
    """Sign `claims` (a dict) with HS256 and return the compact token."""
    header = {"alg": "HS256", "typ": "JWT"}
    segments = [
        b64url_encode(json.dumps(header, separators=(",", ":")).encode()),
        b64url_encode(json.dumps(claims, separators=(",", ":")).encode()),
    ]
    signing_input = ".".join(segments).encode("ascii")
    return ".".join(segments + [b64url_encode(_sign(signing_input, secret))])


def make_token(user, secret, *, now=None, lifetime=60, skew=5):
    """A fresh eFACT token for `user`.

    `nbf`/`iat` are set `skew` seconds in the past so a server clock slightly behind
    ours still accepts it; `exp - iat` never exceeds the 300 s the hub allows.
    """
    if not user or not secret:
        raise ValueError("eFACT needs both a user and a secret key to build a token.")
    now = int(now if now is not None else time.time())
    issued = now - max(0, int(skew))
    lifetime = max(1, min(int(lifetime), MAX_LIFETIME - max(0, int(skew))))
    claims = {
        "iss": user,
        "aud": AUDIENCE,
        "iat": issued,
        "nbf": issued,
        "exp": now + lifetime,
    }
    return encode(claims, secret)


class InvalidToken(Exception):
    """Raised by `verify`; `code` is the eFACT error code (1001-1012)."""

    def __init__(self, code, message=""):
        super().__init__(message or str(code))
        self.code = code


def parse(token):
    """(header, claims, signing_input, signature) or InvalidToken(1012) if malformed."""
    parts = (token or "").split(".")
    if len(parts) != 3:
        raise InvalidToken(1012, "malformed token")
    try:
        header = json.loads(b64url_decode(parts[0]))
        claims = json.loads(b64url_decode(parts[1]))
        signature = b64url_decode(parts[2])
    except (ValueError, TypeError) as exc:
        raise InvalidToken(1012, "malformed token") from exc
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise InvalidToken(1012, "malformed token")
    return header, claims, (parts[0] + "." + parts[1]).encode("ascii"), signature


def verify(token, secret_for_user, *, now=None, leeway=0, max_lifetime=MAX_LIFETIME):
    """Check a token the way the hub does and return its claims.

    `secret_for_user(iss) -> secret or None`. Raises InvalidToken with the hub's code:
    1001 no token, 1002 no iss, 1003 unknown user, 1004 no exp, 1005 no iat, 1006 no nbf,
    1007 no aud, 1008 expired, 1009 not yet valid, 1010 lifetime over the maximum,
    1011 wrong audience, 1012 bad signature (or malformed token / algorithm).
    """
    if not token:
        raise InvalidToken(1001)
    header, claims, signing_input, signature = parse(token)
    if not claims.get("iss"):
        raise InvalidToken(1002)
    secret = secret_for_user(claims["iss"])
    if not secret:
        raise InvalidToken(1003)
    for name, code in (("exp", 1004), ("iat", 1005), ("nbf", 1006), ("aud", 1007)):
        if claims.get(name) in (None, ""):
            raise InvalidToken(code)
    if header.get("alg") != "HS256" or not hmac.compare_digest(_sign(signing_input, secret), signature):
        raise InvalidToken(1012)
    try:
        exp, iat, nbf = int(claims["exp"]), int(claims["iat"]), int(claims["nbf"])
    except (TypeError, ValueError) as exc:
        raise InvalidToken(1012, "non-numeric time claim") from exc
    now = int(now if now is not None else time.time())
    if exp < now - leeway:
        raise InvalidToken(1008)
    if nbf > now + leeway:
        raise InvalidToken(1009)
    if exp - iat > max_lifetime:
        raise InvalidToken(1010)
    audience = claims["aud"]
    audiences = audience if isinstance(audience, list) else [audience]
    if AUDIENCE not in audiences:
        raise InvalidToken(1011)
    return claims
