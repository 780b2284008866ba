"""A LaFactura.co stand-in: the API side (getDocumentInfo with HTTP Basic) and the hook
sender that pushes received documents to a webhook URL the way the service does.

    app = make_app(documents=[fixtures.make_document(...)])
    app.state.add(document)                  # what LaFactura knows (with dian/customer)
    sender = HookSender(url)                 # POSTs hook bodies to our webhook
    sender.flood(schedule(docs, total=1000, duplicate_rate=0.3), concurrency=10)

API rules implemented (as documented, plus the likely getDocumentInfo shape):
- every service path (`general/`, `invoice/`, `creditNote/`) under `prefix` takes POST
  (GET with a JSON body is accepted too, as in the 2020 wiki) with HTTP Basic;
- the body is JSON with exactly one top-level key, the method; `status.code` 200 = OK;
- wrong credentials -> HTTP 401 with `status.code` 401; unknown method -> 400;
  an unknown CUFE -> HTTP 200 with `status.code` 404; body over `max_body` -> 413.
Wrap with einvoice_common's FaultInjector for faults (lost answers, 503, 429, HTML).
"""

import base64
import json
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from . import documents as docs
from .client import RequestShape

DEFAULT_USERS = {"usr-sandbox-v300": "pwd-sandbox-v300"}
SERVICES = ("general", "invoice", "creditNote")


class State:
    def __init__(self):
        self.lock = threading.Lock()
        self.documents = {}  # cufe -> full document object
        self.calls = []  # (method key, params)
        self.auth_failures = 0

    def add(self, document):
        with self.lock:
            self.documents[docs.normalise_cufe(document["general"]["cufe"])] = document
        return document

    def get(self, cufe):
        with self.lock:
            return self.documents.get(docs.normalise_cufe(cufe))


def _json(status_code, data, headers=()):
    body = json.dumps(data).encode()
    return (
        status_code,
        [("Content-Type", "application/json; charset=utf-8"), *headers],
        body,
    )


def _status(code, text):
    return {"status": {"code": code, "text": text}}


class LaFacturaSandbox:
    def __init__(
        self,
        users=None,
        documents=(),
        prefix="/facturacion.v30",
        max_body=1024 * 1024,
        shape=None,
    ):
        self.users = dict(users or DEFAULT_USERS)
        self.prefix = "/" + prefix.strip("/") if prefix.strip("/") else ""
        self.max_body = max_body
        self.shape = shape or RequestShape()
        self.state = State()
        for document in documents:
            self.state.add(document)

    # -- WSGI ---------------------------------------------------------------
    def __call__(self, environ, start_response):
        status, headers, body = self.handle(environ)
        reason = {
            200: "OK",
            400: "Bad Request",
            401: "Unauthorized",
            404: "Not Found",
            405: "Method Not Allowed",
            413: "Payload Too Large",
        }.get(status, "Status")
        start_response(f"{status} {reason}", headers + [("Content-Length", str(len(body)))])
        return [body]

    def handle(self, environ):
        path = environ.get("PATH_INFO", "")
        if path.startswith("/_sandbox/"):
            return self.control(environ, path)
        if not path.startswith(self.prefix + "/"):
            return _json(404, _status(404, "Servicio no encontrado"))
        service = path[len(self.prefix) + 1 :].strip("/")
        if service not in SERVICES:
            return _json(404, _status(404, "Servicio no encontrado"))
        method = environ.get("REQUEST_METHOD", "GET")
        if method not in ("POST", "GET"):
            return _json(405, _status(405, "Método HTTP no permitido"), [("Allow", "POST, GET")])
        if not self._authorised(environ.get("HTTP_AUTHORIZATION", "")):
            with self.state.lock:
                self.state.auth_failures += 1
            return _json(
                401,
                _status(401, "Usuario o clave incorrectos"),
                [("WWW-Authenticate", 'Basic realm="LaFactura"')],
            )
        length = int(environ.get("CONTENT_LENGTH") or 0)
        if length > self.max_body:
            return _json(413, _status(413, "Solicitud demasiado grande"))
        raw = environ["wsgi.input"].read(length) if length else b""
        try:
            data = json.loads(raw or b"null")
        except ValueError:
            return _json(400, _status(400, "JSON inválido"))
        if not isinstance(data, dict) or len(data) != 1:
            return _json(400, _status(400, "Debe enviar un único método"))
        ((key, params),) = data.items()
        with self.state.lock:
            self.state.calls.append((key, params))
        handler = {(self.shape.path.strip("/"), self.shape.method_key): self.get_document_info}.get((service, key))
        if handler is None:
            return _json(400, _status(400, f"Método {key} desconocido en {service}"))
        if not isinstance(params, dict):
            return _json(400, _status(400, "Parámetros inválidos"))
        return handler(params)

    # -- control (the sandbox's own API, for demos and tests; not LaFactura's) --------
    def control(self, environ, path):
        """POST /_sandbox/documents {document}: LaFactura learns a document.
        POST /_sandbox/deliver {"url", "count", "duplicate_rate", "customer_nit", "concurrency",
        "seed", "mode"}: make `count` documents and deliver them to the webhook `url` as the
        service does (with duplicates); answers the HTTP statuses received.
        """
        if environ.get("REQUEST_METHOD") != "POST":
            return _json(405, {"error": "POST only"})
        length = int(environ.get("CONTENT_LENGTH") or 0)
        try:
            data = json.loads(environ["wsgi.input"].read(length) or b"{}")
        except ValueError:
            return _json(400, {"error": "invalid JSON"})
        if path.rstrip("/") == "/_sandbox/documents" and isinstance(data, dict) and "general" in data:
            self.state.add(data)
            return _json(200, {"cufe": docs.normalise_cufe(data["general"]["cufe"])})
        if path.rstrip("/") == "/_sandbox/deliver" and isinstance(data, dict) and data.get("url"):
            from . import fixtures

            count = max(1, min(int(data.get("count", 10)), 5000))
            rate = float(data.get("duplicate_rate", 0.3))
            unique = max(1, count - round(count * rate))
            documents = fixtures.scenario(
                unique,
                seed=int(data.get("seed", time.time())),
                customer_nit=data.get("customer_nit") or fixtures.OUR_NIT,
            )
            for document in documents:
                self.state.add(document)
            sender = HookSender(data["url"], retries=int(data.get("retries", 2)))
            statuses = sender.flood(
                schedule(
                    documents,
                    total=count,
                    duplicate_rate=rate,
                    seed=int(data.get("seed", 0)),
                ),
                concurrency=int(data.get("concurrency", 4)),
            )
            summary = {str(code): statuses.count(code) for code in sorted(set(statuses))}
            return _json(
                200,
                {
                    "delivered": len(statuses),
                    "statuses": summary,
                    "documents": len(documents),
                },
            )
        return _json(404, {"error": "unknown sandbox control path"})

    def _authorised(self, header):
        if not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        return user in self.users and self.users[user] == password

    # -- methods --------------------------------------------------------------
    def get_document_info(self, params):
        cufe = params.get(self.shape.param) or params.get("CUFE") or ""
        if not str(cufe).strip():
            return _json(200, _status(400, f"Falta el parámetro {self.shape.param}"))
        document = self.state.get(cufe)
        if document is None:
            return _json(200, _status(404, "Documento no encontrado"))
        answer = _status(200, "OK")
        answer[self.shape.result_key] = document
        return _json(200, answer)


def make_app(**options):
    return LaFacturaSandbox(**options)


# --------------------------------------------------------------------------- hook sender
def schedule(documents, total=None, duplicate_rate=0.3, seed=0, adjacent_rate=0.5):
    """Delivery order for `documents` with duplicates (redeliveries).

    With `total`, exactly `total` deliveries of which round(total * duplicate_rate) repeat
    an earlier document; the first `total - dups` documents are each delivered once.
    `adjacent_rate` of the duplicates follow their original closely (concurrent duplicates).
    """
    rng = random.Random(seed)
    total = total or round(len(documents) / (1 - duplicate_rate))
    dups = round(total * duplicate_rate)
    unique = total - dups
    if unique > len(documents):
        raise ValueError(f"{total} deliveries with {duplicate_rate:.0%} duplicates need {unique} documents")
    order = list(documents[:unique])
    for _ in range(dups):
        if rng.random() < adjacent_rate:
            index = rng.randrange(len(order))
            order.insert(min(len(order), index + rng.randint(1, 5)), order[index])
        else:
            order.insert(rng.randrange(len(order) + 1), rng.choice(documents[:unique]))
    return order


class HookSender:
    """POSTs hook bodies to a webhook URL, redelivering on failure like a provider would.

    Results: `self.results` = [(cufe, attempts, final HTTP status or 0, seconds of the last attempt)].
    """

    def __init__(self, url, retries=2, timeout=30, wrap=True, headers=None, session_factory=None):
        import requests

        self.url = url
        self.retries = retries
        self.timeout = timeout
        self.wrap = wrap
        self.headers = {
            "Content-Type": "application/json",
            "User-Agent": "LaFactura.co/4.0",
        }
        self.headers.update(headers or {})
        self.session_factory = session_factory or requests.Session
        self._local = threading.local()
        self.lock = threading.Lock()
        self.results = []

    def _session(self):
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = self.session_factory()
        return session

    def body(self, document):
        payload = docs_hook_body(document) if self.wrap else docs_hook_body(document)["document"]
        return json.dumps(payload).encode()

    def post(self, data, headers=None):
        """One raw POST (bad-input tests): returns (status, seconds)."""
        import requests

        start = time.perf_counter()
        try:
            response = self._session().post(
                self.url,
                data=data,
                headers=headers or self.headers,
                timeout=self.timeout,
            )
            status = response.status_code
        except requests.RequestException:
            status = 0
        return status, time.perf_counter() - start

    def deliver(self, document):
        data = self.body(document)
        attempts, status, seconds = 0, 0, 0.0
        while attempts <= self.retries:
            attempts += 1
            status, seconds = self.post(data)
            if 200 <= status < 300 or status in (400, 404, 413, 415):
                break  # answered: a provider does not retry a refusal
        with self.lock:
            self.results.append((document["general"]["cufe"], attempts, status, seconds))
        return status

    def flood(self, order, concurrency=10):
        """Deliver `order` with `concurrency` requests in flight; returns the statuses."""
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            return list(pool.map(self.deliver, order))

    def latencies(self):
        return sorted(r[3] for r in self.results)


def docs_hook_body(document):
    from .fixtures import hook_body

    return hook_body(document)
