"""Remove secrets from anything that is logged or stored in the exchange log."""

import contextlib
import json
import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

MASK = "***"
SECRET_HEADERS = {
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
}
# Keys whose values are secrets wherever they appear (JSON, form, query string).
SECRET_KEY_RE = re.compile(
    r"(pass(word)?|secret|token|api[_-]?key|authorization|^code$|^assertion$|signature)",
    re.IGNORECASE,
)
TEXT_LIMIT = 20000


def is_secret_key(key):
    return bool(SECRET_KEY_RE.search(str(key)))


def headers(values):
    return {k: (MASK if k.lower() in SECRET_HEADERS else v) for k, v in (values or {}).items()}


def _walk(value):
    if isinstance(value, dict):
        return {k: (MASK if is_secret_key(k) and v not in (None, "") else _walk(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_walk(v) for v in value]
    return value


def url(raw):
    parts = urlsplit(raw)
    if not parts.query:
        return raw
    query = [(k, MASK if is_secret_key(k) else v) for k, v in parse_qsl(parts.query, keep_blank_values=True)]
    return urlunsplit(parts._replace(query=urlencode(query, safe="*")))


def text(body, secrets=(), content_type=""):
    """Return a printable, redacted, bounded rendering of a body."""
    if body is None:
        return ""
    if isinstance(body, (dict, list, tuple)):
        body = json.dumps(
            _walk(dict(body) if isinstance(body, tuple) else body),
            ensure_ascii=False,
            default=str,
        )
    if isinstance(body, bytes):
        try:
            body = body.decode("utf-8")
        except UnicodeDecodeError:
            return f"<{len(body)} bytes of binary data>"
    body = str(body)
    stripped = body.lstrip()
    if stripped[:1] in "{[":
        with contextlib.suppress(ValueError):  # not JSON after all: masked as text below
            body = json.dumps(_walk(json.loads(body)), ensure_ascii=False)
    elif "x-www-form-urlencoded" in (content_type or "") or re.fullmatch(
        r"[\w.\-%+]+=[^\s<]*(&[\w.\-%+]+=[^\s<]*)*", stripped
    ):
        pairs = parse_qsl(stripped, keep_blank_values=True)
        if pairs:
            body = urlencode([(k, MASK if is_secret_key(k) else v) for k, v in pairs], safe="*")
    body = values(body, secrets)
    body = _SCHEME_RE.sub(lambda m: f"{m.group(1)} {MASK}", body)  # credentials quoted in a value
    body = _JWT_RE.sub(MASK, body)
    if len(body) > TEXT_LIMIT:
        body = body[:TEXT_LIMIT] + f"... <{len(body) - TEXT_LIMIT} more characters>"
    return body


def values(body, secrets=()):
    """Mask every occurrence of each known secret value (tokens, passwords)."""
    for secret in secrets or ():
        if secret and len(str(secret)) >= 4:
            body = body.replace(str(secret), MASK)
    return body


_SECRET_WORD = r"[\w\-]*(?:pass(?:word)?|secret|token|api[_-]?key|authorization|signature)[\w\-]*"
# key: value / key=value inside free text, quoted or not (a truncated JSON or form fragment).
_PAIR_RE = re.compile(
    r"""(?P<key>["']?""" + _SECRET_WORD + r"""["']?\s*[:=]\s*)(?P<value>"[^"]*"?|'[^']*'?|[^\s,&;}\]"']+)""",
    re.IGNORECASE,
)
_SCHEME_RE = re.compile(r"\b(Bearer|Basic)\s+[A-Za-z0-9\-._~+/]+=*", re.IGNORECASE)
_JWT_RE = re.compile(r"\beyJ[\w-]{4,}\.[\w-]{4,}\.[\w-]*")
SNIPPET_LIMIT = 500


def _looks_secret(value):
    return len(value) >= 16 or any(ch.isdigit() for ch in value)


def snippet(message, secrets=(), limit=SNIPPET_LIMIT):
    """Redact a short free text (an error message quoting the service's answer).

    The same rules as bodies, for text that is no longer JSON or a form: known secret
    values, `token: ...`/`password=...` pairs, Bearer/Basic credentials and JWTs are masked.
    """
    if message is None:
        return ""
    text = values(str(message), secrets)
    text = _SCHEME_RE.sub(lambda m: f"{m.group(1)} {MASK}", text)
    text = _JWT_RE.sub(MASK, text)

    def mask(match):
        key, value = match.group("key"), match.group("value")
        quote = value[:1] if value[:1] in "\"'" else ""
        if not quote and key[:1] not in "\"'" and ":" in key and not _looks_secret(value):
            return match.group(0)  # prose ("no valid token: authenticate again")
        return f"{match.group('key')}{quote}{MASK}{quote}"

    text = _PAIR_RE.sub(mask, text)
    if limit and len(text) > limit:
        text = text[:limit] + "..."
    return text
