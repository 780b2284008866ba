"""HTTP transport shared by every service client.

A `Transport` owns a `requests.Session` and applies, to every call: connect/read
timeouts, retries with exponential backoff and jitter (idempotent calls only, plus
429 which the service refused before doing anything), `Retry-After`, one token
refresh on 401, a response size cap, the error taxonomy of `errors`, and one
exchange record per attempt handed to `recorder` (already redacted).

`throttle(operation, params)`, when given, runs before every HTTP attempt (retries
included): a rate limiter that waits or raises errors.QuotaError, nothing being sent.

Service clients receive a Transport as an argument and raise its error classes
(`transport.RejectedError(...)`), so their packages never import this one.
"""

import ipaddress
import random
import time
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from urllib.parse import urljoin, urlsplit

import requests
from requests.exceptions import ConnectionError as RequestsConnectionError
from requests.exceptions import ConnectTimeout, ReadTimeout, SSLError

from . import errors, redact

IDEMPOTENT_METHODS = {"GET", "HEAD", "OPTIONS", "PUT", "DELETE"}
RETRY_STATUSES = {502, 503, 504}
DEFAULT_TIMEOUT = (5.0, 60.0)
DEFAULT_MAX_BYTES = 50 * 1024 * 1024


@dataclass
class Exchange:
    """One HTTP attempt, redacted; what the exchange log stores."""

    service: str
    operation: str
    method: str
    url: str
    attempt: int
    status: int = 0
    duration_ms: int = 0
    outcome: str = "ok"
    error: str = ""
    request_headers: dict = field(default_factory=dict)
    request_body: str = ""
    response_body: str = ""
    request_payload: bytes = None  # raw bytes, only when the caller asks to keep them
    response_payload: bytes = None
    reference: str = ""  # the caller's business key (invoice number, hub id ...)


class BasicAuth:
    def __init__(self, user, password):
        self.user, self.password = user or "", password or ""

    def headers(self):
        return {}

    def requests_auth(self):
        return (self.user, self.password)

    def secrets(self):
        return [self.password]


class BearerAuth:
    """Bearer token from `token_source(force_refresh: bool) -> str`."""

    def __init__(self, token_source):
        self.token_source = token_source
        self._token = None

    def headers(self):
        if self._token is None:
            self._token = self.token_source(False)
        return {"Authorization": f"Bearer {self._token}"}

    def refresh(self):
        self._token = self.token_source(True)
        return bool(self._token)

    def requests_auth(self):
        return None

    def secrets(self):
        return [self._token] if self._token else []


class HeaderAuth:
    """A fixed header (raw token schemes)."""

    def __init__(self, name, value):
        self.name, self.value = name, value or ""

    def headers(self):
        return {self.name: self.value}

    def requests_auth(self):
        return None

    def secrets(self):
        return [self.value]


def parse_retry_after(value, now=None):
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP date)."""
    if not value:
        return None
    if value.strip().replace(".", "", 1).isdigit():
        return max(0.0, float(value))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    now = now if now is not None else time.time()
    return max(0.0, when.timestamp() - now)


class Transport:
    TransientError = errors.TransientError
    AuthError = errors.AuthError
    RejectedError = errors.RejectedError
    UnknownOutcome = errors.UnknownOutcome
    ProtocolError = errors.ProtocolError

    def __init__(
        self,
        base_url,
        *,
        service="",
        auth=None,
        timeout=DEFAULT_TIMEOUT,
        retries=3,
        backoff=0.5,
        max_backoff=30.0,
        max_retry_after=120.0,
        max_response_bytes=DEFAULT_MAX_BYTES,
        session=None,
        recorder=None,
        sleep=time.sleep,
        rng=random.random,
        clock=time.monotonic,
        extra_secrets=(),
        headers=None,
        loopback_only=False,
        throttle=None,
    ):
        self.base_url = base_url.rstrip("/") + "/"
        self.service = service
        self.auth = auth
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.max_retry_after = max_retry_after
        self.max_response_bytes = max_response_bytes
        self.session = session or requests.Session()
        self.recorder = recorder
        self.sleep = sleep
        self.rng = rng
        self.clock = clock
        self.extra_secrets = [s for s in extra_secrets if s]
        self.default_headers = headers or {}
        # A neutralized copy or a sandbox connection reaches 127.0.0.1 and nothing else.
        self.loopback_only = loopback_only
        # Every request the service counts goes through the caller's limiter (a QuotaError: nothing sent).
        self.throttle = throttle

    # -- public API -------------------------------------------------------
    def url(self, path):
        if path.startswith(("http://", "https://")):
            return path
        return urljoin(self.base_url, path.lstrip("/"))

    def request(
        self,
        method,
        path,
        *,
        operation,
        idempotent=None,
        expected=(200, 201, 202, 204),
        error_parser=None,
        keep_payload=False,
        reference="",
        timeout=None,
        **kwargs,
    ):
        """Send one logical call; return the `requests.Response` (content read).

        `error_parser(response) -> (code, message, details)` lets the client turn
        the service's error bodies into `RejectedError` codes.
        """
        method = method.upper()
        if idempotent is None:
            idempotent = method in IDEMPOTENT_METHODS
        url = self.url(path)
        self._check_host(url, kwargs)
        refreshed = False
        attempt = 0
        while True:
            attempt += 1
            exchange = Exchange(
                self.service,
                operation,
                method,
                redact.url(url),
                attempt,
                reference=reference,
            )
            if self.throttle is not None:
                self.throttle(operation, kwargs.get("params") or {})
            try:
                response = self._send(method, url, exchange, keep_payload, timeout, kwargs)
            except errors.EInvoiceError as exc:
                self._failed_send(exc, exchange, attempt, idempotent)  # returns only to try again
                continue
            status = response.status_code
            exchange.status = status
            if status in expected:
                self._record(exchange)
                return response
            error = self._status_error(response, error_parser, idempotent)
            exchange.outcome, exchange.error = error.kind, str(error)
            self._record(exchange)
            if status == 401 and not refreshed and getattr(self.auth, "refresh", None):
                refreshed = True
                if self.auth.refresh():
                    continue
            if error.kind == "transient" and attempt <= self.retries and (idempotent or status == 429):
                if error.retry_after is not None and error.retry_after > self.max_retry_after:
                    raise error
                self.sleep(self._delay(attempt, error.retry_after))
                continue
            raise error

    def get(self, path, **kwargs):
        return self.request("GET", path, **kwargs)

    def post(self, path, **kwargs):
        return self.request("POST", path, **kwargs)

    def json(self, response):
        """Decode a JSON answer or raise ProtocolError naming what came instead."""
        try:
            return response.json()
        except ValueError as exc:
            raise errors.ProtocolError(
                f"{self.service or 'The service'} answered {describe_body(response)} where JSON was expected.",
                status=response.status_code,
            ) from exc

    def secrets(self):
        found = list(self.extra_secrets)
        if self.auth is not None:
            found += [s for s in self.auth.secrets() if s]
        return found

    def close(self):
        self.session.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- internals ----------------------------------------------------------
    def _failed_send(self, exc, exchange, attempt, idempotent):
        """Record a call that got no HTTP answer; sleep and return to retry, or raise.

        A non-idempotent call that may have reached the service becomes UnknownOutcome.
        """
        exchange.outcome, exchange.error = exc.kind, redact.snippet(str(exc), self.secrets(), limit=None)
        self._record(exchange)
        before = getattr(exc, "_before_send", False)
        if exc.kind == "transient" and (before or idempotent) and attempt <= self.retries:
            self.sleep(self._delay(attempt, None))
            return
        if not idempotent and not before and exc.kind in ("transient", "protocol"):
            raise errors.UnknownOutcome(
                f"{exc.message} The request may have reached {self.service or 'the service'}: "
                "check there before sending again.",
                status=exc.status,
            ) from exc
        raise exc

    def _check_host(self, url, kwargs):
        """A loopback-only transport (neutralized copy, sandbox) refuses any other host, before sending."""
        if not self.loopback_only:
            return
        if not is_loopback(url):
            raise errors.HostRefused(
                f"{self.service or 'This connection'} may only reach the local sandbox (127.0.0.1) "
                f"from this database; {redact.url(url)} was refused and nothing was sent."
            )
        kwargs.setdefault("allow_redirects", False)  # a redirect must not lead elsewhere either

    def _send(self, method, url, exchange, keep_payload, timeout, kwargs):
        kwargs = dict(kwargs)  # retried attempts reuse the caller's arguments
        headers = dict(self.default_headers)
        headers.update(kwargs.pop("headers", None) or {})
        auth = kwargs.pop("auth", None)
        if self.auth is not None:
            headers.update(self.auth.headers())
            auth = auth or self.auth.requests_auth()
        secrets = self.secrets() + ([auth[1]] if isinstance(auth, tuple) else [])  # the token is known now
        body = kwargs.get("data") if kwargs.get("data") is not None else kwargs.get("json")
        if kwargs.get("json") is not None:
            import json as jsonlib

            body = jsonlib.dumps(kwargs["json"])
        exchange.request_headers = redact.headers(headers)
        if kwargs.get("files"):
            exchange.request_body = f"<multipart: {', '.join(sorted(kwargs['files']))}>"
        else:
            exchange.request_body = redact.text(body, secrets, headers.get("Content-Type", ""))
        if keep_payload and isinstance(body, (bytes, str)):
            exchange.request_payload = body if isinstance(body, bytes) else body.encode()
        start = self.clock()
        try:
            response = self.session.request(
                method,
                url,
                headers=headers,
                auth=auth,
                timeout=timeout or self.timeout,
                stream=True,
                **kwargs,
            )
            try:
                content = self._read_capped(response)
            finally:
                response.close()
        except ConnectTimeout as exc:
            raise _transient(f"Could not connect to {self.service or url} in time.", before=True) from exc
        except ReadTimeout as exc:
            raise _transient(f"{self.service or url} did not answer in time.", after=True) from exc
        except SSLError as exc:
            raise _transient(f"TLS error talking to {self.service or url}: {exc}", before=True) from exc
        except RequestsConnectionError as exc:
            before = _never_connected(exc)
            text = "Could not connect to" if before else "Connection lost with"
            raise _transient(f"{text} {self.service or url}.", before=before, after=not before) from exc
        except requests.RequestException as exc:
            raise _transient(f"HTTP error with {self.service or url}: {exc}", after=True) from exc
        finally:
            exchange.duration_ms = int((self.clock() - start) * 1000)
        response._content = content
        exchange.status = response.status_code
        exchange.response_body = redact.text(content, secrets, response.headers.get("Content-Type", ""))
        if keep_payload:
            exchange.response_payload = content
        return response

    def _read_capped(self, response):
        declared = response.headers.get("Content-Length")
        if declared and declared.isdigit() and int(declared) > self.max_response_bytes:
            raise _oversize(self.service, self.max_response_bytes)
        chunks, size = [], 0
        for chunk in response.iter_content(65536):
            size += len(chunk)
            if size > self.max_response_bytes:
                raise _oversize(self.service, self.max_response_bytes)
            chunks.append(chunk)
        return b"".join(chunks)

    def _status_error(self, response, error_parser, idempotent):
        status = response.status_code
        code, message, details = None, "", []
        if error_parser is not None:
            try:
                code, message, details = error_parser(response)
            except Exception:  # a parser must never hide the HTTP error itself
                code, message, details = None, "", []
        message = message or f"{self.service or 'The service'} answered HTTP {status}: {describe_body(response)}"
        # The service's words end up in last_error, chatter and the log: same redaction as bodies.
        message = redact.snippet(message, self.secrets(), limit=None)
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        kwargs = dict(code=code, status=status, details=details, retry_after=retry_after)
        if status in (401, 403):
            return errors.AuthError(message, **kwargs)
        if status == 429 or status in RETRY_STATUSES and (idempotent or status == 503):
            return errors.TransientError(message, **kwargs)
        if status >= 500:
            if idempotent:
                return errors.TransientError(message, **kwargs)
            return errors.UnknownOutcome(message, **kwargs)
        return errors.RejectedError(message, **kwargs)

    def _delay(self, attempt, retry_after):
        if retry_after is not None:
            return min(retry_after, self.max_retry_after)
        ceiling = min(self.max_backoff, self.backoff * (2 ** (attempt - 1)))
        return ceiling / 2 + self.rng() * ceiling / 2  # "equal jitter"

    def _record(self, exchange):
        if self.recorder is not None:
            self.recorder(exchange)


def _transient(message, before=False, after=False):
    exc = errors.TransientError(message)
    exc._before_send = before
    exc._after_send = after
    return exc


def _oversize(service, limit):
    exc = errors.ProtocolError(f"{service or 'The service'} sent an answer larger than {limit // 1024} KiB; refused.")
    return exc


def _never_connected(exc):
    """True when the connection was never established (nothing was sent)."""
    seen, cause = set(), exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        name = type(cause).__name__
        if name in (
            "NewConnectionError",
            "ConnectionRefusedError",
            "NameResolutionError",
            "gaierror",
        ):
            return True
        reason = getattr(cause, "reason", None)
        if reason is not None and reason is not cause:
            cause = reason
            continue
        args = getattr(cause, "args", ())
        nested = next((a for a in args if isinstance(a, BaseException)), None)
        cause = nested or cause.__cause__ or cause.__context__
    return False


def is_loopback(url):
    """True when `url` names this machine's loopback interface (and nothing else)."""
    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def describe_body(response):
    """A short human description of an unexpected body (HTML page, JSON, bytes)."""
    content = response.content or b""
    ctype = response.headers.get("Content-Type", "")
    if not content:
        return "an empty body"
    if "html" in ctype or content.lstrip()[:1] == b"<" and b"<html" in content[:500].lower():
        return "an HTML page"
    snippet = content[:200].decode("utf-8", "replace").strip()
    return repr(snippet)
