"""ANAF in a WSGI app: OAuth (logincert) and the e-Factura REST API, strictly as documented.

    app = make_app(cifs=("8000000000",), processing_polls=1)
    with serve(FaultInjector(app)) as server:
        base = server.url + "/test/FCTEL/rest"      # api.anaf.ro/{test|prod}/FCTEL/rest
        oauth = server.url + "/anaf-oauth2/v1"      # logincert.anaf.ro/anaf-oauth2/v1

OAuth: `authorize` shows a page with "approve" and "deny" (or decides at once when
`app.state.decision` is set), redirects to the registered callback with `code` and
`state`; the code lives 60 s and works once; `token` (HTTP Basic client auth)
issues JWTs with `exp` (access 90 days, refresh 365 days) and rotates the refresh
token (the old one stops working); `revoke`.

REST: upload / uploadb2c (index, ExecutionStatus, Romanian error texts in HTTP 200),
stareMesaj (in prelucrare -> ok / nok after `processing_polls` queries), descarcare
(ZIP with the invoice or error document + `semnatura_<index>.xml`, JSON `eroare`
otherwise), listaMesajeFactura (1-60 days, 500 cap), listaMesajePaginatieFactura
(500 per page, 60-day window), validare, transformare; quotas per day (Bucharest)
and per minute (HTTP 429); Bearer JWT checked on every call (401 JSON).

Everything lives in `app.state` (a `State`), which tests inspect and steer:
`rights` (serial -> CIFs), `decision`, `down`, `force_nok`, `force_upload_error`, `uploads`, `messages`,
`counters`, `calls`, `call_times` (`most_calls_in_window()`), `rate_limited`, `add_received(...)`,
`expire_access_tokens()`, `issue_tokens()`. `per_minute` calls in any `window` seconds (60) pass; more get 429.
"""

import base64
import hashlib
import hmac
import itertools
import json
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timezone
from html import escape
from urllib.parse import urlencode, urlsplit

from lxml import etree
from werkzeug.wrappers import Request, Response

from . import documents, quota

DAY = 86400
ISSUER = "https://logincert.anaf.ro"
SIGNATURE_CERT = base64.b64encode(b"ANAF SANDBOX CERTIFICATE - not a real certificate").decode()


class _EveryCif:
    """The rights of a certificate enrolled for every CIF (the demo default of `make_app()`)."""

    def __contains__(self, cif):
        return True

    def __bool__(self):
        return True

    def __repr__(self):
        return "EVERY_CIF"


EVERY_CIF = _EveryCif()


def _b64(data):
    raw = data if isinstance(data, bytes) else json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@dataclass
class Upload:
    index: str
    cif: str
    standard: str
    xml: bytes
    received_at: float
    b2c: bool = False
    flags: dict = field(default_factory=dict)
    state: str = documents.STATE_PROCESSING
    download_id: str = ""
    errors: list = field(default_factory=list)
    polls: int = 0
    number: str = ""
    seller_cif: str = ""
    buyer_cif: str = ""


class State:
    def __init__(
        self,
        *,
        clock,
        client_id,
        client_secret,
        redirect_uris,
        cifs,
        rights,
        access_ttl,
        refresh_ttl,
        code_ttl,
        processing_polls,
        per_minute,
        window,
        daily,
        known_cifs,
        decision,
    ):
        self.clock = clock
        self.lock = threading.RLock()
        self.client_id, self.client_secret = client_id, client_secret
        self.redirect_uris = list(redirect_uris) if redirect_uris else None
        if rights is None and cifs is None:
            rights = {"SERIAL-1": EVERY_CIF}  # demo default: the certificate may act for any company
        self.rights = {k: v if v is EVERY_CIF else set(v) for k, v in (rights or {"SERIAL-1": set(cifs)}).items()}
        self.serial = next(iter(self.rights))  # the certificate that approves at `authorize`
        self.access_ttl, self.refresh_ttl, self.code_ttl = (
            access_ttl,
            refresh_ttl,
            code_ttl,
        )
        self.processing_polls = processing_polls
        self.per_minute = per_minute  # calls allowed in any `window` seconds (ANAF: 1000 in 60)
        self.window = window
        self.daily = dict(quota.DAILY, **(daily or {}))
        self.known_cifs = set(known_cifs) if known_cifs is not None else None
        self.decision = decision  # None: show the page; "approve" / "deny": decide at once
        self.down = False  # ANAF announced downtime: every REST call answers 503 HTML
        self.force_nok = {}  # invoice number -> error text
        self.force_xml_errors = set()  # invoice numbers answered "XML cu erori nepreluat de sistem"
        self.force_upload_error = {}  # invoice number -> ANAF text of a refused upload (ExecutionStatus=1)
        # How the upload answer looks: None = ANAF's documented XML; "json" = a gateway's JSON with the same
        # fields (plausible, read by the client); "unexpected" = an XML whose index attribute is named otherwise
        # (a success the client cannot read: the outcome is unknown and reconciled).
        self.upload_dialect = None
        self.key = secrets.token_bytes(32)
        self.codes = {}
        self.access_tokens = {}  # token -> {"serial", "exp", "revoked"}
        self.refresh_tokens = {}  # token -> {"serial", "exp", "active"}
        self.uploads = {}  # index -> Upload
        self.messages = []  # dicts as listed, plus "_ms" creation time and "_filter"
        self.zips = {}  # download id -> bytes
        self.counters = {}  # (op, key, day) -> count
        self.minute = deque()
        self.calls = []  # (operation, params) of every REST call
        self.token_calls = []  # grant types, in order
        self.rate_limited = 0  # HTTP 429 answers given (1000 calls per minute exceeded)
        self.call_times = deque(maxlen=100000)  # wall-clock time of the REST calls let through (window checks)
        self._index = itertools.count(5000000001)
        self._download = itertools.count(3000000001)
        self._n = itertools.count(1)

    # -- tokens ---------------------------------------------------------------------
    def _jwt(self, payload):
        head = _b64({"alg": "RS512", "typ": "JWT"})
        body = _b64(payload)
        sig = _b64(hmac.new(self.key, f"{head}.{body}".encode(), hashlib.sha512).digest())
        return f"{head}.{body}.{sig}"

    def issue_tokens(self, serial=None):
        with self.lock:
            serial = serial or self.serial
            now = int(self.clock())
            n = next(self._n)
            access = self._jwt(
                {
                    "token_type": "Bearer",
                    "iss": ISSUER,
                    "iat": now,
                    "nbf": now,
                    "exp": now + self.access_ttl,
                    "scope": "clientappid info issuer role serial",
                    "role": ["EFACTURA"],
                    "clientappid": self.client_id,
                    "serial": serial,
                    "jti": f"a{n}",
                }
            )
            refresh = self._jwt(
                {
                    "token_type": "refresh",
                    "iss": ISSUER,
                    "iat": now,
                    "exp": now + self.refresh_ttl,
                    "serial": serial,
                    "jti": f"r{n}",
                }
            )
            self.access_tokens[access] = {
                "serial": serial,
                "exp": now + self.access_ttl,
                "revoked": False,
            }
            self.refresh_tokens[refresh] = {
                "serial": serial,
                "exp": now + self.refresh_ttl,
                "active": True,
            }
            return {
                "access_token": access,
                "refresh_token": refresh,
                "token_type": "Bearer",
                "expires_in": self.access_ttl,
                "scope": "clientappid info issuer role serial",
            }

    def expire_access_tokens(self):
        with self.lock:
            for info in self.access_tokens.values():
                info["exp"] = int(self.clock()) - 1

    def revoke_all(self):
        with self.lock:
            for info in self.access_tokens.values():
                info["revoked"] = True
            for info in self.refresh_tokens.values():
                info["active"] = False

    # -- messages -------------------------------------------------------------------
    def _message(self, upload, cif, tip, details, download_id, when):
        created = datetime.fromtimestamp(when, tz=timezone.utc).astimezone(quota.BUCHAREST)
        self.messages.append(
            {
                "data_creare": created.strftime("%Y%m%d%H%M"),
                "cif": cif,
                "id_solicitare": upload.index,
                "detalii": details,
                "tip": tip,
                "id": download_id,
                "_ms": int(when * 1000),
                "_filter": {
                    "FACTURA TRIMISA": "T",
                    "FACTURA PRIMITA": "P",
                    "ERORI FACTURA": "E",
                }.get(tip, "R"),
            }
        )

    def signature(self, xml):
        digest = base64.b64encode(hashlib.sha256(xml).digest()).decode()
        value = base64.b64encode(hmac.new(self.key, xml, hashlib.sha256).digest()).decode()
        root = documents.parse_xml(xml)
        sig = etree.SubElement(root, f"{{{documents.NS_DSIG}}}Signature", nsmap={None: documents.NS_DSIG})
        info = etree.SubElement(sig, f"{{{documents.NS_DSIG}}}SignedInfo")
        ref = etree.SubElement(info, f"{{{documents.NS_DSIG}}}Reference", URI="")
        etree.SubElement(ref, f"{{{documents.NS_DSIG}}}DigestValue").text = digest
        etree.SubElement(sig, f"{{{documents.NS_DSIG}}}SignatureValue").text = value
        key_info = etree.SubElement(sig, f"{{{documents.NS_DSIG}}}KeyInfo")
        data = etree.SubElement(key_info, f"{{{documents.NS_DSIG}}}X509Data")
        etree.SubElement(data, f"{{{documents.NS_DSIG}}}X509Certificate").text = SIGNATURE_CERT
        return etree.tostring(root, xml_declaration=True, encoding="UTF-8")

    def finish(self, upload):
        """Process an upload as ANAF does: ok (signed invoice) or nok (error document)."""
        now = self.clock()
        problems = []
        try:
            summary = documents.summarise_invoice(upload.xml)
            upload.number, upload.seller_cif, upload.buyer_cif = (
                summary.number,
                summary.supplier_vat,
                summary.customer_vat,
            )
            problems = [f"{p.rule}: {p.message}" for p in documents.preflight(upload.xml)]
            if upload.number in self.force_nok:
                problems.append(self.force_nok[upload.number])
            self_billed = upload.flags.get("autofactura") == "DA"
            if self_billed and summary.type_code not in ("389", "381"):
                problems.append(
                    f"BR-RO-020: autofactura=DA cere o autofactura (InvoiceTypeCode 389), nu {summary.type_code}"
                )
            if self_billed and summary.customer_vat != upload.cif:
                problems.append(
                    f"R-AUTO: la autofactura cif={upload.cif} trebuie sa fie cumparatorul, nu {summary.customer_vat}"
                )
            if not self_billed and summary.type_code == "389":
                problems.append("R-AUTO: o autofactura (389) se incarca cu autofactura=DA")
            if self.known_cifs is not None and summary.supplier_vat not in self.known_cifs:
                problems.append(f"R6.1: CIF-ul vanzatorului nu figureaza in baza de date:{summary.supplier_vat}")
        except documents.DocumentError as exc:
            problems = [f"SAX: {exc}"]
        if upload.number in self.force_xml_errors:
            upload.state = documents.STATE_XML_ERRORS  # refused at upload: nothing to download
            return
        upload.download_id = str(next(self._download))
        if problems:
            upload.state, upload.errors = documents.STATE_NOK, problems
            text = "E: validari globale\n eroare regula: " + "\n eroare regula: ".join(problems)
            root = etree.Element(
                f"{{{documents.NS_ERRORS}}}header",
                nsmap={None: documents.NS_ERRORS},
                Index_incarcare=upload.index,
                Cif_emitent=upload.cif,
            )
            etree.SubElement(root, f"{{{documents.NS_ERRORS}}}Error", errorMessage=text)
            body = etree.tostring(root, xml_declaration=True, encoding="UTF-8", standalone=True)
            self.zips[upload.download_id] = documents.build_zip(upload.index, body, self.signature(body))
            self._message(
                upload,
                upload.cif,
                "ERORI FACTURA",
                f"Erori de validare identificate la factura primita cu id_incarcare={upload.index}",
                upload.download_id,
                now,
            )
        else:
            upload.state = documents.STATE_OK
            self.zips[upload.download_id] = documents.build_zip(upload.index, upload.xml, self.signature(upload.xml))
            details = (
                f"Factura cu id_incarcare={upload.index} emisa de cif_emitent={upload.seller_cif} "
                f"pentru cif_beneficiar={upload.buyer_cif}"
            )
            self_billed = upload.flags.get("autofactura") == "DA"
            self._message(
                upload,
                upload.cif if self_billed else (upload.seller_cif or upload.cif),
                "FACTURA TRIMISA",
                details,
                upload.download_id,
                now,
            )
            receiver = upload.seller_cif if self_billed else upload.buyer_cif
            if receiver and not upload.b2c:
                self._message(
                    upload,
                    receiver,
                    "FACTURA PRIMITA",
                    details,
                    upload.download_id,
                    now,
                )

    def add_received(self, xml, buyer_cif=None, when=None):
        """An invoice a supplier sent to `buyer_cif` (listed with filter P). Returns the Upload."""
        with self.lock:
            xml = xml if isinstance(xml, bytes) else xml.encode()
            summary = documents.summarise_invoice(xml)
            upload = Upload(
                str(next(self._index)),
                summary.supplier_vat,
                "UBL",
                xml,
                when or self.clock(),
            )
            upload.number, upload.seller_cif = summary.number, summary.supplier_vat
            upload.buyer_cif = buyer_cif or summary.customer_vat
            upload.state, upload.download_id = (
                documents.STATE_OK,
                str(next(self._download)),
            )
            self.uploads[upload.index] = upload
            self.zips[upload.download_id] = documents.build_zip(upload.index, xml, self.signature(xml))
            details = (
                f"Factura cu id_incarcare={upload.index} emisa de cif_emitent={upload.seller_cif} "
                f"pentru cif_beneficiar={upload.buyer_cif}"
            )
            self._message(
                upload,
                upload.buyer_cif,
                "FACTURA PRIMITA",
                details,
                upload.download_id,
                when or self.clock(),
            )
            return upload

    def count(self, op, key):
        day = quota.bucharest_day(datetime.fromtimestamp(self.clock(), tz=timezone.utc))
        with self.lock:
            value = self.counters.get((op, str(key), day), 0) + 1
            self.counters[(op, str(key), day)] = value
            return value

    def most_calls_in_window(self, window=None):
        """The largest number of REST calls let through in any `window` seconds (from `call_times`)."""
        window = window or self.window
        times, most, first = sorted(self.call_times), 0, 0
        for last, moment in enumerate(times):
            while moment - times[first] >= window:
                first += 1
            most = max(most, last - first + 1)
        return most

    def uploads_of(self, number):
        return [u for u in self.uploads.values() if u.number == number]


def _json(body, status=200, headers=None):
    return Response(
        json.dumps(body, ensure_ascii=False),
        status=status,
        mimetype="application/json",
        headers=headers or {},
    )


def _xml(root_ns, attrs=None, errors=None):
    root = etree.Element(f"{{{root_ns}}}header", nsmap={None: root_ns}, **(attrs or {}))
    for text in errors or []:
        etree.SubElement(root, f"{{{root_ns}}}Errors", errorMessage=text)
    body = etree.tostring(root, xml_declaration=True, encoding="UTF-8", standalone=True)
    return Response(body, mimetype="application/xml")


def _unauthorized(message):
    return _json(
        {
            "timestamp": datetime.now(timezone.utc).strftime("%d-%m-%Y %H:%M:%S"),
            "status": 401,
            "error": "Unauthorized",
            "message": message,
        },
        401,
    )


PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj 2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\n"
    b"trailer<</Root 1 0 R>>\n%%EOF\n"
)


class AnafSandbox:
    def __init__(self, **options):
        self.state = State(
            clock=options.get("clock", time.time),
            client_id=options.get("client_id", "anaf-client"),
            client_secret=options.get("client_secret", "anaf-secret"),
            redirect_uris=options.get("redirect_uris"),
            cifs=options.get("cifs"),
            rights=options.get("rights"),
            access_ttl=options.get("access_ttl", 90 * DAY),
            refresh_ttl=options.get("refresh_ttl", 365 * DAY),
            code_ttl=options.get("code_ttl", 60),
            processing_polls=options.get("processing_polls", 0),
            per_minute=options.get("per_minute", quota.PER_MINUTE),
            window=options.get("window", 60),
            daily=options.get("daily"),
            known_cifs=options.get("known_cifs"),
            decision=options.get("decision"),
        )
        self.require_auth = options.get("require_auth", True)
        self.page_size = options.get("page_size", 500)  # ANAF: 500; smaller only to test paging cheaply

    def __call__(self, environ, start_response):
        request = Request(environ)
        path = request.path
        if path.startswith("/anaf-oauth2/v1/"):
            response = self.oauth(request, path[len("/anaf-oauth2/v1/") :])
        elif "/FCTEL/rest/" in path:
            response = self.rest(request, path.split("/FCTEL/rest/", 1)[1])
        elif path.startswith("/TestOauth/jaxrs/hello"):
            response = self.authenticated(request) or _json({"message": f"Hello {request.args.get('name', '')}"})
        else:
            response = Response(
                "<html><body>The requested URL was rejected.</body></html>",
                404,
                mimetype="text/html",
            )
        return response(environ, start_response)

    # -- OAuth ------------------------------------------------------------------------
    def oauth(self, request, op):
        state = self.state
        if op in ("authorize", "authorize/decide") and request.method == "GET":
            args = request.args
            if args.get("client_id") != state.client_id:
                return Response(
                    "<html><body>Client necunoscut</body></html>",
                    400,
                    mimetype="text/html",
                )
            redirect_uri = args.get("redirect_uri", "")
            if state.redirect_uris is not None and redirect_uri not in state.redirect_uris:
                return Response(
                    "<html><body>redirect_uri neinregistrat</body></html>",
                    400,
                    mimetype="text/html",
                )
            if args.get("response_type") != "code":
                return Response(
                    "<html><body>response_type invalid</body></html>",
                    400,
                    mimetype="text/html",
                )
            decision = args.get("decision") if op == "authorize/decide" else state.decision
            if decision is None:
                query = {k: v for k, v in args.items()}
                links = "".join(
                    f'<a id="{d}" href="/anaf-oauth2/v1/authorize/decide?{escape(urlencode(dict(query, decision=d)))}">'
                    f"{d}</a> "
                    for d in ("approve", "deny")
                )
                return Response(
                    f"<html><body><h1>ANAF - autentificare cu certificat</h1>{links}</body></html>",
                    mimetype="text/html",
                )
            sep = "&" if urlsplit(redirect_uri).query else "?"
            if decision != "approve":
                target = redirect_uri + sep + urlencode({"error": "access_denied", "state": args.get("state", "")})
            else:
                code = secrets.token_urlsafe(24)
                with state.lock:
                    state.codes[code] = {
                        "redirect_uri": redirect_uri,
                        "at": state.clock(),
                        "used": False,
                        "serial": state.serial,
                    }
                target = redirect_uri + sep + urlencode({"code": code, "state": args.get("state", "")})
            return Response("", 302, headers={"Location": target})
        if op == "token" and request.method == "POST":
            return self.token(request)
        if op == "revoke" and request.method == "POST":
            if not self._client_ok(request):
                return _json({"error": "invalid_client"}, 401)
            token = request.form.get("token") or request.form.get("access_token", "")
            with state.lock:
                if token in state.refresh_tokens:
                    state.refresh_tokens[token]["active"] = False
                if token in state.access_tokens:
                    state.access_tokens[token]["revoked"] = True
            return Response("", 200)
        return _json({"error": "not_found"}, 404)

    def _client_ok(self, request):
        auth = request.authorization
        if auth is not None:
            pair = (auth.username, auth.password)
        else:
            pair = (request.form.get("client_id"), request.form.get("client_secret"))
        return hmac.compare_digest(
            f"{pair[0]}\0{pair[1]}",
            f"{self.state.client_id}\0{self.state.client_secret}",
        )

    def token(self, request):
        state = self.state
        if not self._client_ok(request):
            return _json(
                {
                    "error": "invalid_client",
                    "error_description": "Bad client credentials",
                },
                401,
            )
        grant = request.form.get("grant_type")
        state.token_calls.append(grant)
        with state.lock:
            if grant == "authorization_code":
                info = state.codes.get(request.form.get("code", ""))
                if info is None or info["used"]:
                    return _json(
                        {
                            "error": "invalid_grant",
                            "error_description": "Invalid authorization code",
                        },
                        400,
                    )
                info["used"] = True
                if state.clock() - info["at"] > state.code_ttl:
                    return _json(
                        {
                            "error": "invalid_grant",
                            "error_description": "Authorization code expired",
                        },
                        400,
                    )
                if request.form.get("redirect_uri") != info["redirect_uri"]:
                    return _json(
                        {
                            "error": "invalid_grant",
                            "error_description": "redirect_uri mismatch",
                        },
                        400,
                    )
                return _json(state.issue_tokens(info["serial"]))
            if grant == "refresh_token":
                token = request.form.get("refresh_token", "")
                info = state.refresh_tokens.get(token)
                if info is None or not info["active"] or info["exp"] < state.clock():
                    return _json(
                        {
                            "error": "invalid_grant",
                            "error_description": "Invalid refresh token",
                        },
                        400,
                    )
                info["active"] = False  # rotation: a used refresh token stops working
                return _json(state.issue_tokens(info["serial"]))
        return _json({"error": "unsupported_grant_type"}, 400)

    # -- REST -------------------------------------------------------------------------
    def authenticated(self, request):
        """None when the Bearer token is good, else the 401 answer; sets request.serial."""
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            return _unauthorized("Full authentication is required to access this resource")
        info = self.state.access_tokens.get(header[7:])
        if info is None or info["revoked"]:
            return _unauthorized("Invalid access token")
        if info["exp"] < self.state.clock():
            return _unauthorized("Access token expired")
        request.environ["anaf.serial"] = info["serial"]
        return None

    def rights(self, request, cif):
        return cif in self.state.rights.get(request.environ.get("anaf.serial"), set())

    def any_rights(self, request):
        return bool(self.state.rights.get(request.environ.get("anaf.serial")))

    def rest(self, request, op):
        state = self.state
        public = op.startswith(("validare", "transformare"))
        if state.down:
            return Response(
                "<html><head><title>Service Unavailable</title></head><body>Serviciul este "
                "temporar indisponibil</body></html>",
                503,
                mimetype="text/html",
            )
        with state.lock:
            now = time.monotonic()
            while state.minute and now - state.minute[0] >= state.window:
                state.minute.popleft()
            if len(state.minute) >= state.per_minute:
                wait = int(state.window - (now - state.minute[0])) + 1
                state.rate_limited += 1
                return _json({"error": "Too Many Requests"}, 429, {"Retry-After": str(wait)})
            state.minute.append(now)
            state.call_times.append(time.time())
        if self.require_auth and not public:
            denied = self.authenticated(request)
            if denied is not None:
                return denied
        state.calls.append((op, dict(request.args)))
        handler = {
            "upload": self.upload,
            "uploadb2c": self.upload,
            "stareMesaj": self.status,
            "descarcare": self.download,
            "listaMesajeFactura": self.list_simple,
            "listaMesajePaginatieFactura": self.list_paged,
        }.get(op)
        if handler is not None:
            return handler(request, op)
        if op.startswith("validare/"):
            return self.validate(request, op.split("/")[1])
        if op.startswith("transformare/"):
            parts = op.split("/")
            return self.transform(request, parts[1], len(parts) > 2 and parts[2] == "DA")
        return Response(
            "<html><body>The requested URL was rejected.</body></html>",
            404,
            mimetype="text/html",
        )

    def upload(self, request, op):
        state = self.state
        args = request.args
        standard, cif = args.get("standard"), args.get("cif", "")
        if not standard or not cif:
            return _json(
                {
                    "timestamp": "",
                    "status": 400,
                    "error": "Bad Request",
                    "message": "Parametrii standard si cif sunt obligatorii",
                },
                400,
            )
        stamp = (
            datetime.fromtimestamp(state.clock(), tz=timezone.utc).astimezone(quota.BUCHAREST).strftime("%Y%m%d%H%M")
        )

        def fail(text):
            return _xml(
                documents.NS_UPLOAD,
                {"dateResponse": stamp, "ExecutionStatus": "1"},
                [text],
            )

        if standard not in ("UBL", "CN", "CII", "RASP"):
            return fail("Valorile acceptate pentru parametrul standard sunt UBL, CN, CII sau RASP")
        if not cif.isdigit():
            return fail(f"CIF introdus= {cif} nu este un numar")
        if not self.any_rights(request):
            return fail("Nu exista niciun CIF pentru care sa aveti drept in SPV")
        if not self.rights(request, cif):
            return fail(f"Nu aveti drept in SPV pentru CIF={cif}")
        for flag in ("extern", "autofactura", "executare"):
            if flag in args and args[flag] != "DA":
                return fail(
                    "Daca parametrul extern|autofacturare|executare trebuie completat, valoarea acceptata este DA"
                )
        body = request.get_data()
        if len(body) > documents.MAX_UPLOAD_BYTES:
            return fail("Marime fisier transmis mai mare de 10 MB.")
        if standard == "RASP" and state.count("rasp", cif) > state.daily["rasp"]:
            return fail(
                f"S-au incarcat deja {state.daily['rasp']} de mesaje de tip RASP pentru cui={cif} in cursul zilei"
            )
        try:
            root = documents.parse_xml(body)
        except documents.DocumentError as exc:
            return fail(f"Fisierul transmis nu este valid. org.xml.sax.SAXParseException; {exc}")
        local = etree.QName(root).localname
        number = (root.findtext("cbc:ID", namespaces=documents.NS_UBL) or "").strip()
        if number in state.force_upload_error:
            return fail(state.force_upload_error[number])
        if standard == "UBL" and local != "Invoice" or standard == "CN" and local != "CreditNote":
            return fail(
                f"Fisierul transmis nu este valid. org.xml.sax.SAXParseException; radacina {local} nu "
                f"corespunde standardului {standard}"
            )
        with state.lock:
            upload = Upload(
                str(next(state._index)),
                cif,
                standard,
                body,
                state.clock(),
                b2c=op == "uploadb2c",
                flags={k: args[k] for k in ("extern", "autofactura", "executare") if k in args},
            )
            state.uploads[upload.index] = upload
            if state.processing_polls == 0:
                state.finish(upload)
        if state.upload_dialect == "json":
            return _json({"dateResponse": stamp, "ExecutionStatus": 0, "index_incarcare": upload.index})
        index_name = "id_incarcare" if state.upload_dialect == "unexpected" else "index_incarcare"
        return _xml(
            documents.NS_UPLOAD,
            {
                "dateResponse": stamp,
                "ExecutionStatus": "0",
                index_name: upload.index,
            },
        )

    def status(self, request, op):
        state = self.state
        index = request.args.get("id_incarcare", "")
        if not index.isdigit():
            return _xml(
                documents.NS_STATUS,
                errors=[f"Id_incarcare introdus= {index} nu este un numar intreg"],
            )
        upload = state.uploads.get(index)
        if upload is None:
            return _xml(
                documents.NS_STATUS,
                errors=[f"Nu exista factura cu id_incarcare= {index}"],
            )
        if not self.rights(request, upload.cif):
            return _xml(
                documents.NS_STATUS,
                errors=[f"Nu aveti dreptul de inteorgare pentru id_incarcare= {index}"],
            )
        if state.count("status", index) > state.daily["status"]:
            return _xml(
                documents.NS_STATUS,
                errors=[f"S-au facut deja {state.daily['status']} descarcari de mesaj in cursul zilei"],
            )
        with state.lock:
            upload.polls += 1
            if upload.state == documents.STATE_PROCESSING and upload.polls > state.processing_polls:
                state.finish(upload)
        attrs = {"stare": upload.state}
        if upload.download_id and upload.state in (
            documents.STATE_OK,
            documents.STATE_NOK,
        ):
            attrs["id_descarcare"] = upload.download_id
        return _xml(documents.NS_STATUS, attrs)

    def download(self, request, op):
        state = self.state
        download_id = request.args.get("id", "")
        if not download_id.isdigit():
            return _json(
                {
                    "eroare": f"Id descarcare introdus= {download_id} nu este un numar intreg",
                    "titlu": "Descarcare mesaj",
                }
            )
        content = state.zips.get(download_id)
        if content is None:
            return _json(
                {
                    "eroare": f"Pentru id={download_id} nu exista inregistrata nici o factura",
                    "titlu": "Descarcare mesaj",
                }
            )
        cifs = {m["cif"] for m in state.messages if m["id"] == download_id}
        if not any(self.rights(request, c) for c in cifs):
            return _json(
                {
                    "eroare": "Nu aveti dreptul sa descarcati acesta factura",
                    "titlu": "Descarcare mesaj",
                }
            )
        if state.count("download", download_id) > state.daily["download"]:
            return _json(
                {
                    "eroare": f"S-au facut deja {state.daily['download']} descarcari de mesaj in cursul zilei",
                    "titlu": "Descarcare mesaj",
                }
            )
        return Response(
            content,
            mimetype="application/octet-stream",
            headers={"Content-Disposition": f"attachment; filename={download_id}.zip"},
        )

    def _list_checks(self, request, cif, op):
        if not cif.isdigit():
            return f"CIF introdus= {cif} nu este un numar"
        if not self.any_rights(request):
            return "Nu exista niciun CIF pentru care sa aveti drept in SPV"
        if not self.rights(request, cif):
            return f"Nu aveti drept in SPV pentru CIF={cif}"
        limit = self.state.daily[op]
        if self.state.count(op, cif) > limit:
            return f"S-au facut deja {limit} interogari de lista mesaje de catre utilizator in cursul zilei"
        return ""

    def _listed(self, cif, start_ms, end_ms, filter_code):
        return [
            m
            for m in list(self.state.messages)
            if m["cif"] == cif and start_ms <= m["_ms"] <= end_ms and (not filter_code or m["_filter"] == filter_code)
        ]

    @staticmethod
    def _public(messages):
        return [{k: v for k, v in m.items() if not k.startswith("_")} for m in messages]

    def list_simple(self, request, op):
        state = self.state
        args = request.args
        cif, days = args.get("cif", ""), args.get("zile", "")
        head = {
            "serial": state.serial,
            "cui": cif,
            "titlu": f"Lista Mesaje disponibile din ultimele {days} zile",
        }
        if not days.isdigit() or not 1 <= int(days) <= 60:
            return _json(
                {
                    "eroare": "Numarul de zile trebuie sa fie intre 1 si 60",
                    "titlu": "Lista Mesaje",
                }
            )
        error = self._list_checks(request, cif, "list")
        if error:
            return _json({"eroare": error, "titlu": "Lista Mesaje"})
        now_ms = int(state.clock() * 1000)
        found = self._listed(cif, now_ms - int(days) * DAY * 1000, now_ms, args.get("filtru"))
        if not found:
            return _json(
                {
                    "eroare": f"Nu exista mesaje in ultimele {days} zile",
                    "titlu": "Lista Mesaje",
                }
            )
        if len(found) > 500:
            return _json(
                {
                    "eroare": "Lista de mesaje este mai mare decat numarul de 500 elemente permise in pagina. "
                    "Folositi endpoint-ul cu paginatie.",
                    "titlu": "Lista Mesaje",
                }
            )
        return _json(dict(head, mesaje=self._public(found)))

    def list_paged(self, request, op):
        state = self.state
        args = request.args
        cif = args.get("cif", "")
        start, end, page = (
            args.get("startTime", ""),
            args.get("endTime", ""),
            args.get("pagina", ""),
        )
        if not (start.isdigit() and end.isdigit() and page.isdigit()):
            return _json(
                {
                    "eroare": "Parametrii startTime, endTime si pagina trebuie sa fie numere",
                    "titlu": "Lista Mesaje",
                }
            )
        start, end, page = int(start), int(end), int(page)
        now_ms = int(state.clock() * 1000)
        if start < now_ms - 60 * DAY * 1000:
            return _json(
                {
                    "eroare": f"startTime = {start} nu poate fi mai vechi de 60 de zile fata de momentul requestului",
                    "titlu": "Lista Mesaje",
                }
            )
        if end > now_ms + 1000:
            return _json(
                {
                    "eroare": f"endTime = {end} nu poate fi in viitor",
                    "titlu": "Lista Mesaje",
                }
            )
        if end <= start:
            return _json(
                {
                    "eroare": "endTime trebuie sa fie mai mare decat startTime",
                    "titlu": "Lista Mesaje",
                }
            )
        error = self._list_checks(request, cif, "list_page")
        if error:
            return _json({"eroare": error, "titlu": "Lista Mesaje"})
        found = self._listed(cif, start, end, args.get("filtru"))
        if not found:
            return _json(
                {
                    "eroare": "Nu exista mesaje in intervalul selectat",
                    "titlu": "Lista Mesaje",
                }
            )
        size = self.page_size
        pages = (len(found) + size - 1) // size
        if page < 1 or page > pages:
            return _json(
                {
                    "eroare": f"Pagina solicitata {page} este mai mare decat numarul toatal de pagini {pages}",
                    "titlu": "Lista Mesaje",
                }
            )
        chunk = found[(page - 1) * size : page * size]
        return _json(
            {
                "mesaje": self._public(chunk),
                "numar_inregistrari_in_pagina": len(chunk),
                "numar_total_inregistrari_per_pagina": size,
                "numar_total_inregistrari": len(found),
                "numar_total_pagini": pages,
                "index_pagina_curenta": page,
                "serial": state.serial,
                "cui": cif,
                "titlu": "Lista Mesaje",
            }
        )

    def _problems(self, body, standard):
        try:
            root = documents.parse_xml(body)
        except documents.DocumentError as exc:
            return [f"Fisierul transmis nu este valid: {exc}"]
        local = etree.QName(root).localname
        if standard == "FACT1" and local != "Invoice" or standard == "FCN" and local != "CreditNote":
            return [f"Documentul {local} nu corespunde standardului {standard}"]
        return [f"{p.rule}: {p.message}" for p in documents.preflight(body)]

    def validate(self, request, standard):
        if standard not in ("FACT1", "FCN"):
            return _json({"eroare": "Standardul trebuie sa fie FACT1 sau FCN"})
        problems = self._problems(request.get_data(), standard)
        return _json(
            {
                "stare": "nok" if problems else "ok",
                "Messages": [{"message": p} for p in problems],
                "trace_id": secrets.token_hex(8),
            }
        )

    def transform(self, request, standard, skip_validation):
        if standard not in ("FACT1", "FCN"):
            return _json({"eroare": "Standardul trebuie sa fie FACT1 sau FCN"})
        problems = [] if skip_validation else self._problems(request.get_data(), standard)
        if problems:
            return _json(
                {
                    "stare": "nok",
                    "Messages": [{"message": p} for p in problems],
                    "trace_id": secrets.token_hex(8),
                }
            )
        return Response(PDF, mimetype="application/pdf")


def make_app(**options):
    """WSGI factory (runner / setup/run): `AnafSandbox(**options)`; state at `app.state`."""
    return AnafSandbox(**options)
