"""Fault injection for sandbox WSGI apps.

`FaultInjector(app)` wraps any service sandbox. Faults come from two sources:
- a queue of scripted faults (`inject("lost")`, `inject("status", status=503)`),
  consumed one per matching request: deterministic, what tests use;
- rates (`error_rate`, `lost_rate`, ...) drawn from a seeded RNG: what demos and
  benchmarks use.

Kinds:
  latency      sleep `seconds` before answering (also the global `latency`)
  status       answer `status` (503, 500 ...) without calling the app
  rate_limit   answer 429 with Retry-After without calling the app
  reset        close the connection without calling the app
  lost         call the app (it commits), then close the connection unanswered
  slow         wait `seconds` (interruptible) then call the app: past a read timeout
  oversize     answer 200 with `size` bytes
  html         answer `status` with an HTML error page (a proxy in the way)
  body         answer `status` with the given `body` bytes (a hostile or odd answer)
A fault may be limited to requests whose path contains `path` and method `method`.
"""

import contextlib
import random
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass


@dataclass
class Fault:
    kind: str
    status: int = 503
    seconds: float = 0.0
    size: int = 0
    retry_after: int = 1
    body: bytes = b""
    path: str = ""
    method: str = ""

    def matches(self, environ):
        if self.path and self.path not in environ.get("PATH_INFO", ""):
            return False
        return not self.method or environ.get("REQUEST_METHOD") == self.method.upper()


class FaultInjector:
    def __init__(
        self,
        app,
        *,
        latency=0.0,
        error_rate=0.0,
        error_status=503,
        lost_rate=0.0,
        rate_limit_per_minute=0,
        seed=None,
        sleep=time.sleep,
        clock=time.monotonic,
    ):
        self.app = app
        self.latency = latency
        self.error_rate = error_rate
        self.error_status = error_status
        self.lost_rate = lost_rate
        self.rate_limit_per_minute = rate_limit_per_minute
        self.rng = random.Random(seed)
        self.sleep = sleep
        self.clock = clock
        self.queue = deque()
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.calls = deque(maxlen=100000)  # (monotonic time, method, path) of every request
        self.faults_served = []

    # -- control ------------------------------------------------------------
    def inject(self, kind, times=1, **kwargs):
        with self.lock:
            for _ in range(times):
                self.queue.append(Fault(kind, **kwargs))
        return self

    def clear(self):
        with self.lock:
            self.queue.clear()
            self.faults_served.clear()

    def configure(self, **settings):
        for key, value in settings.items():
            if not hasattr(self, key):
                raise AttributeError(key)
            setattr(self, key, value)

    def calls_to(self, path_part, method=None):
        return sum(1 for _, m, p in list(self.calls) if path_part in p and (method is None or m == method))

    # -- WSGI -----------------------------------------------------------------
    def __call__(self, environ, start_response):
        self.calls.append((self.clock(), environ.get("REQUEST_METHOD"), environ.get("PATH_INFO", "")))
        if self.latency:
            self.sleep(self.latency)
        fault = self._next_fault(environ)
        if fault is None:
            return self.app(environ, start_response)
        self.faults_served.append(fault.kind)
        return getattr(self, "_" + fault.kind)(fault, environ, start_response)

    def _next_fault(self, environ):
        with self.lock:
            for index, fault in enumerate(self.queue):
                if fault.matches(environ):
                    del self.queue[index]
                    return fault
        if self.rate_limit_per_minute and self._over_rate():
            return Fault("rate_limit", retry_after=1)
        draw = self.rng.random()
        if draw < self.error_rate:
            return Fault("status", status=self.error_status)
        if draw < self.error_rate + self.lost_rate:
            return Fault("lost")
        return None

    def _over_rate(self):
        now = self.clock()
        recent = sum(1 for when, _, _ in list(self.calls) if now - when < 60)
        return recent > self.rate_limit_per_minute

    # -- fault kinds ------------------------------------------------------------
    def _latency(self, fault, environ, start_response):
        self.sleep(fault.seconds)
        return self.app(environ, start_response)

    def _status(self, fault, environ, start_response):
        start_response(f"{fault.status} Injected", [("Content-Type", "application/json")])
        return [b'{"error": "injected fault"}']

    def _rate_limit(self, fault, environ, start_response):
        start_response(
            "429 Too Many Requests",
            [
                ("Content-Type", "application/json"),
                ("Retry-After", str(fault.retry_after)),
            ],
        )
        return [b'{"error": "rate limit"}']

    def _html(self, fault, environ, start_response):
        start_response(f"{fault.status} Injected", [("Content-Type", "text/html")])
        return [b"<html><body><h1>Service Unavailable</h1></body></html>"]

    def _body(self, fault, environ, start_response):
        start_response(f"{fault.status} Injected", [("Content-Type", "application/json")])
        return [fault.body]

    def _oversize(self, fault, environ, start_response):
        body = b"x" * fault.size
        start_response(
            "200 OK",
            [
                ("Content-Type", "application/octet-stream"),
                ("Content-Length", str(len(body))),
            ],
        )
        return [body]

    def _slow(self, fault, environ, start_response):
        self.stopping.wait(fault.seconds)
        return self.app(environ, start_response)

    def _reset(self, fault, environ, start_response):
        _drop(environ, start_response)
        return []

    def _lost(self, fault, environ, start_response):
        # The service does its work (and commits) but the answer never arrives.
        body = b"".join(self.app(environ, lambda *a, **k: None))
        del body
        _drop(environ, start_response)
        return []


def _drop(environ, start_response):
    """Close the socket; the server's write of the status line then fails quietly."""
    sock = environ.get("werkzeug.socket")
    if sock is None:
        raise ConnectionAbortedError("injected connection drop")
    with contextlib.suppress(OSError):  # the client may have gone already
        sock.shutdown(socket.SHUT_RDWR)
    start_response("500 Dropped", [("Content-Length", "0")])
