"""A WSGI sandbox of the eFACT hub: the supplier API under /proveidors and the RCF API
under /rcf, implementing the documented behaviour strictly.

    app = make_app(users={"prov": {"secret": "k", "roles": ["proveidors"], "nifs": ["ESB00000000"]},
                          "rcf": {"secret": "s", "roles": ["rcf"], "nifs": ["ESP0800000B"]}},
                   entities=[{"nif": "ESP0800000B", "nom": "Ajuntament", "dir3": [("L01", "L02", "L03")]}])

State is inspectable (`app.state`) and scriptable by tests: `seed_invoice(...)` creates a
pending invoice for an RCF platform, `add_attachment(...)` a late attachment,
`register(id)`, `hub_reject(id, ...)`, `rcf_update(id, ...)` move invoices on.
Options: `page_size` (500), `leeway` (JWT clock skew accepted, seconds), `clock`,
`auto_register` (REGISTERED right after SENT), `max_request_bytes`.
"""

import base64
import binascii
import hashlib
import itertools
import json
import re
import threading
import time
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qsl

from . import documents, jwt
from . import errors as efact_errors

PAGE_SIZE = 500
RANK = {
    "SENT": 0,
    "REGISTERED": 1,
    "DELIVERED": 2,
    "ANNOTATED": 3,
    "RECEIVED": 4,
    "ACCEPTED": 5,
    "RECOGNISED": 6,
    "PAID": 7,
    "REJECTED": 8,
}
NUMERIC = {
    "SENT": "1000",
    "REGISTERED": "1200",
    "DELIVERED": "1200",
    "ANNOTATED": "1300",
    "RECEIVED": "1300",
    "ACCEPTED": "1300",
    "RECOGNISED": "2400",
    "PAID": "2500",
    "REJECTED": "2600",
}
TECHNICAL = {
    "SENT": "1000",
    "REGISTERED": "1200",
    "DELIVERED": "1250",
    "ANNOTATED": "1400",
    "RECEIVED": "2100",
    "ACCEPTED": "2300",
    "RECOGNISED": "2400",
    "PAID": "2500",
    "REJECTED": "2600",
}
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class EfactError(Exception):
    def __init__(self, code, api, text=""):
        info = efact_errors.describe(code, api)
        super().__init__(text or info.message)
        self.code, self.status, self.text = code, info.status, text or info.message


class State:
    def __init__(
        self,
        users,
        entities,
        page_size,
        leeway,
        clock,
        auto_register,
        max_request_bytes,
        validate_schema=True,
    ):
        self.lock = threading.RLock()
        self.users = {u: dict(v) for u, v in (users or {}).items()}
        self.entities = {}
        for entity in entities or []:
            self.add_entity(**entity)
        self.page_size = page_size
        self.leeway = leeway
        self.clock = clock
        self.auto_register = auto_register
        self.max_request_bytes = max_request_bytes
        self.validate_schema = validate_schema
        self.invoices = {}  # id -> dict
        self.send_dialect = "plain"  # answer of POST /proveidors/factura: plain, wrapped, ack, noid, html, empty
        self.received_sha256 = []  # SHA-256 of every POST /proveidors/factura body that reached the hub
        self.pending_states = {}  # id -> {"user", "invoice_id", "state"}
        self.attachments = {}  # idAdjunt -> dict
        self.late_attachments = {}  # idAdjunt -> True while pending download (RCF)
        self.calls = []  # (method, path, status)
        self.deliveries = {}  # invoice id -> number of DELIVERED updates
        self._ids = itertools.count(160000001)
        self._state_ids = itertools.count(1601)
        self._attachment_ids = itertools.count(159731001)
        self._registry = itertools.count(1)

    # -- setup / scripting ---------------------------------------------------------
    def add_entity(
        self,
        nif,
        nom="",
        dir3=(),
        ine10="",
        direccio=None,
        versions=("3.2", "3.2.1", "3.2.2"),
    ):
        self.entities[nif.upper()] = {
            "nif": nif.upper(),
            "nom": nom or nif,
            "ine10": ine10,
            "versions": tuple(versions),
            "direccio": direccio
            or {
                "carrer": "Passatge de la Concepció, 11",
                "localitat": "Barcelona",
                "provincia": "Barcelona",
                "codiPostal": "08008",
            },
            "dir3": [tuple(t) for t in dir3],
        }

    def now(self):
        return datetime.fromtimestamp(self.clock(), tz=timezone(timedelta(hours=1)))

    def stamp(self, offset=0):
        return (self.now() + timedelta(seconds=offset)).isoformat(timespec="milliseconds")

    def entity(self, nif):
        return self.entities.get((nif or "").upper()) or self.entities.get("ES" + (nif or "").upper())

    def seed_invoice(
        self,
        *,
        nif,
        supplier_nif="ESB12345674",
        supplier_name="Proveïdor de proves SL",
        number=None,
        date="2026-11-02",
        lines=(("Servei", 1, 100.0, 21.0),),
        dir3=None,
        attachments=(),
        facturae=None,
        amount=None,
        sender=None,
        series="",
    ):
        """A registered invoice waiting for the RCF platform serving `nif`."""
        with self.lock:
            entity = self.entity(nif)
            invoice_id = str(next(self._ids))
            triple = tuple(dir3 or (entity["dir3"][0] if entity and entity["dir3"] else ("", "", "")))
            number = number or f"F{invoice_id}"
            if facturae is None:
                facturae = documents.build_sample_facturae(
                    seller_nif=supplier_nif,
                    seller_name=supplier_name,
                    buyer_nif=nif,
                    buyer_name=entity["nom"] if entity else nif,
                    number=number,
                    issue_date=date,
                    lines=lines,
                    series=series,
                    centres=[("01", triple[0]), ("02", triple[1]), ("03", triple[2])],
                )
            if amount is None:
                try:
                    amount = float(documents.parse_facturae(facturae).invoice.total)
                except documents.DocumentError:
                    amount = 0.0
            invoice = self._new_invoice(
                invoice_id,
                sender,
                supplier_nif,
                supplier_name,
                nif,
                number,
                series,
                date,
                amount,
                triple,
                facturae,
            )
            for name, content in attachments:
                self._attach(invoice, name, content, documents.mime_for(name), late=False)
            self._push_state(invoice, "SENT")
            self.register(invoice_id)
            return invoice_id

    def _new_invoice(
        self,
        invoice_id,
        sender,
        supplier_nif,
        supplier_name,
        nif,
        number,
        series,
        date,
        amount,
        triple,
        facturae,
        email="",
        face=False,
    ):
        entity = self.entity(nif)
        invoice = {
            "id": invoice_id,
            "sender": sender,
            "supplier_nif": supplier_nif,
            "supplier_name": supplier_name,
            "nif": entity["nif"] if entity else nif,
            "nom": entity["nom"] if entity else nif,
            "numero": number,
            "serie": series,
            "data": date,
            "import": amount,
            "dir3": triple,
            "facturae": facturae,
            "email": email,
            "face": face,
            "received": self.stamp(),
            "states": [],
            "attachments": [],
            "registre": None,
            "downloaded": False,
        }
        self.invoices[invoice_id] = invoice
        return invoice

    def _attach(self, invoice, name, content, mime, late):
        attachment_id = str(next(self._attachment_ids))
        self.attachments[attachment_id] = {
            "id": attachment_id,
            "invoice_id": invoice["id"],
            "nom": name,
            "mime": mime,
            "content": content,
        }
        invoice["attachments"].append(attachment_id)
        if late:
            self.late_attachments[attachment_id] = True
        return attachment_id

    def add_attachment(self, invoice_id, name, content, mime=None):
        """An attachment arriving after the invoice: pending for the RCF platform."""
        with self.lock:
            return self._attach(
                self.invoices[invoice_id],
                name,
                content,
                mime or documents.mime_for(name),
                True,
            )

    def _push_state(self, invoice, code, **extra):
        state = {
            "codi": code,
            "data": self.stamp(len(invoice["states"])),
            **{k: v for k, v in extra.items() if v},
        }
        invoice["states"].append(state)
        if invoice["sender"]:
            state_id = str(next(self._state_ids))
            self.pending_states[state_id] = {
                "user": invoice["sender"],
                "invoice_id": invoice["id"],
                "state": state,
            }
        return state

    def current(self, invoice_id):
        states = self.invoices[invoice_id]["states"]
        return states[-1]["codi"] if states else ""

    def register(self, invoice_id):
        with self.lock:
            invoice = self.invoices[invoice_id]
            if invoice["registre"]:
                return
            invoice["registre"] = {
                "numero": f"E{self.now().year}{next(self._registry):06d}",
                "data": self.stamp(),
            }
            self._push_state(invoice, "REGISTERED", registre=dict(invoice["registre"]))

    def hub_reject(self, invoice_id, code="DF01", reason="Rebutjada per eFACT"):
        with self.lock:
            self._push_state(
                self.invoices[invoice_id],
                "REJECTED",
                motiuRebuig={"codi": code, "descripcio": reason},
            )

    def rcf_update(self, invoice_id, estat, **fields):
        """Apply an RCF state update as the hub would (raises EfactError)."""
        with self.lock:
            return self._rcf_update(self.invoices[invoice_id], dict(fields, estat=estat))

    def pending_for(self, user, nif=None, oficina=None):
        nifs = {n.upper() for n in self.users[user].get("nifs", ())}
        result = []
        for invoice in sorted(self.invoices.values(), key=lambda i: int(i["id"])):
            if invoice["nif"] not in nifs or invoice["downloaded"] or self.current(invoice["id"]) != "REGISTERED":
                continue
            if nif and documents.normalize_nif(invoice["nif"]) != documents.normalize_nif(nif):
                continue
            if oficina and invoice["dir3"][0] != oficina:
                continue
            result.append(invoice)
        return result

    # -- RCF state machine ------------------------------------------------------------
    def _rcf_update(self, invoice, body):
        estat = body.get("estat")
        self._rcf_check_body(body, estat)
        if not invoice["registre"]:
            raise EfactError(3005, efact_errors.RCF)
        self._rcf_check_transition(invoice, estat)
        extra = self._rcf_extra(invoice, body, estat)
        if estat in ("DELIVERED", "ANNOTATED"):
            invoice["downloaded"] = True
        if estat == "DELIVERED":
            self.deliveries[invoice["id"]] = self.deliveries.get(invoice["id"], 0) + 1
        self._push_state(invoice, estat, **extra)
        return invoice

    @staticmethod
    def _rcf_check_body(body, estat):
        """The checks of the body alone (3001-3004, 3006, 3008)."""
        api = efact_errors.RCF
        if estat not in (
            "DELIVERED",
            "ANNOTATED",
            "RECEIVED",
            "ACCEPTED",
            "RECOGNISED",
            "PAID",
            "REJECTED",
        ):
            raise EfactError(3001, api)
        if (body.get("codiMotiuRebuig") or body.get("descripcioMotiuRebuig")) and estat != "REJECTED":
            raise EfactError(3008, api)
        if estat == "ANNOTATED" and not body.get("numeroRegistreRCF"):
            raise EfactError(3002, api)
        if estat == "REJECTED" and not body.get("descripcioMotiuRebuig"):
            raise EfactError(3003, api)
        if estat == "PAID":
            if not body.get("dataPagament"):
                raise EfactError(3004, api)
            try:
                if not DATE_RE.match(str(body["dataPagament"])):
                    raise ValueError
                datetime.strptime(body["dataPagament"], "%Y-%m-%d")
            except ValueError as exc:
                raise EfactError(3006, api) from exc

    def _rcf_check_transition(self, invoice, estat):
        """The state machine (3007)."""
        api = efact_errors.RCF
        current = self.current(invoice["id"])
        history = {s["codi"] for s in invoice["states"]}
        if current in ("PAID", "REJECTED"):
            raise EfactError(3007, api, f"La factura es troba en estat {current} (final).")
        if estat == "REJECTED":
            return
        if RANK[estat] <= RANK[current]:
            raise EfactError(3007, api, f"No es pot passar de {current} a {estat}.")
        if estat in ("RECOGNISED", "PAID") and "ANNOTATED" not in history:
            raise EfactError(3007, api, f"Cal informar ANNOTATED abans de {estat}.")
        if estat == "PAID" and "RECOGNISED" not in history:
            raise EfactError(3007, api, "Cal informar RECOGNISED abans de PAID.")

    @staticmethod
    def _rcf_extra(invoice, body, estat):
        extra = {}
        if estat == "ANNOTATED":
            extra["numeroRegistreRCF"] = body["numeroRegistreRCF"]
            invoice["rcf_number"] = body["numeroRegistreRCF"]
        if estat == "PAID":
            extra["dataPagament"] = body["dataPagament"]
        if estat == "REJECTED":
            extra["motiuRebuig"] = {
                "codi": body.get("codiMotiuRebuig") or "",
                "descripcio": body["descripcioMotiuRebuig"],
            }
        return extra

    # -- representations -------------------------------------------------------------------
    def supplier_state(self, state):
        out = {
            "codi": state["codi"],
            "codiNumeric": NUMERIC[state["codi"]],
            "data": state["data"],
        }
        for key in ("registre", "numeroRegistreRCF", "motiuRebuig", "dataPagament"):
            if state.get(key):
                out[key] = state[key]
        return out

    def supplier_invoice(self, invoice):
        states = invoice["states"]
        names = {"codi": None, "nom": invoice["nom"]}
        out = {
            "correuElectronic": invoice["email"],
            "face": invoice["face"],
            "id": invoice["id"],
            "dataRecepcio": invoice["received"],
            "numero": invoice["numero"],
            "serie": invoice["serie"],
            "dataExpedicio": invoice["data"],
            "import": invoice["import"],
            "proveidor": {
                "nif": invoice["supplier_nif"],
                "nom": invoice["supplier_name"],
            },
            "receptor": {
                "nif": invoice["nif"],
                "nom": invoice["nom"],
                "dir3": {
                    key: dict(names, codi=code)
                    for key, code in zip(
                        ("oficinaComptable", "organGestor", "unitatTramitadora"),
                        invoice["dir3"],
                        strict=False,
                    )
                },
            },
            "estat": {
                "codi": states[-1]["codi"],
                "codiNumeric": NUMERIC[states[-1]["codi"]],
                "data": states[-1]["data"],
            },
            "adjunts": [
                {"nom": self.attachments[a]["nom"], "mime": self.attachments[a]["mime"]} for a in invoice["attachments"]
            ],
        }
        if invoice["registre"]:
            out["registre"] = invoice["registre"]
        for state in states:
            if state.get("numeroRegistreRCF"):
                out["numeroRegistreRCF"] = state["numeroRegistreRCF"]
            if state.get("motiuRebuig"):
                out["motiuRebuig"] = state["motiuRebuig"]
            if state.get("dataPagament"):
                out["dataPagament"] = state["dataPagament"]
        return out

    def rcf_state(self, state):
        out = {
            "estat": state["codi"],
            "codiEstat": TECHNICAL[state["codi"]],
            "dataEstat": state["data"],
        }
        if state.get("registre"):
            out["numeroRegistre"] = state["registre"]["numero"]
            out["dataRegistre"] = state["registre"]["data"]
        if state.get("numeroRegistreRCF"):
            out["numeroRegistreRCF"] = state["numeroRegistreRCF"]
        if state.get("motiuRebuig"):
            out["codiMotiuRebuig"] = state["motiuRebuig"].get("codi", "")
            out["descripcioMotiuRebuig"] = state["motiuRebuig"]["descripcio"]
        if state.get("dataPagament"):
            out["dataPagament"] = state["dataPagament"]
        return out

    def rcf_invoice(self, invoice):
        last = invoice["states"][-1]
        out = {
            "id": invoice["id"],
            "numeroFactura": invoice["numero"],
            "dataFactura": invoice["data"],
            "importFactura": invoice["import"],
            "nifProveidor": invoice["supplier_nif"],
            "nomProveidor": invoice["supplier_name"],
            "nif": invoice["nif"],
            "nom": invoice["nom"],
            "oficinaComptable": invoice["dir3"][0],
            "organGestor": invoice["dir3"][1],
            "unitatTramitadora": invoice["dir3"][2],
            "estat": last["codi"],
            "dataEstat": last["data"],
            "adjunts": [{"idAdjunt": a, "nom": self.attachments[a]["nom"]} for a in invoice["attachments"]],
        }
        if invoice["registre"]:
            out["numeroRegistre"] = invoice["registre"]["numero"]
            out["dataRegistre"] = invoice["registre"]["data"]
        for state in invoice["states"]:
            rcf = self.rcf_state(state)
            for key in (
                "numeroRegistreRCF",
                "codiMotiuRebuig",
                "descripcioMotiuRebuig",
                "dataPagament",
            ):
                if key in rcf:
                    out[key] = rcf[key]
        return out


class SandboxApp:
    def __init__(self, state):
        self.state = state
        self.routes = [
            ("POST", r"/proveidors/factura", self.p_send),
            ("GET", r"/proveidors/factura/(?P<id>[^/]+)", self.p_invoice),
            ("GET", r"/proveidors/historicEstatsFactura/(?P<id>[^/]+)", self.p_history),
            ("GET", r"/proveidors/factura/(?P<id>[^/]+)/rebut", self.p_receipt),
            ("GET", r"/proveidors/estats-pendents", self.p_pending),
            ("DELETE", r"/proveidors/estats-pendents/(?P<id>[^/]+)", self.p_ack),
            ("GET", r"/proveidors/receptors", self.p_receptors),
            ("GET", r"/proveidors/receptors/(?P<nif>[^/]+)", self.p_receptor),
            ("GET", r"/rcf/factures-pendents", self.r_pending),
            ("GET", r"/rcf/factura/(?P<id>[^/]+)", self.r_invoice),
            ("PATCH", r"/rcf/factura/(?P<id>[^/]+)", self.r_update),
            ("GET", r"/rcf/factura/(?P<id>[^/]+)/facturae", self.r_facturae),
            (
                "GET",
                r"/rcf/factura/(?P<id>[^/]+)/adjunts/(?P<att>[^/]+)",
                self.r_attachment,
            ),
            ("GET", r"/rcf/factura/(?P<id>[^/]+)/rebut", self.r_receipt),
            ("GET", r"/rcf/factura/(?P<id>[^/]+)/estats", self.r_states),
            ("GET", r"/rcf/adjunts-pendents", self.r_pending_attachments),
            ("DELETE", r"/rcf/adjunts-pendents/(?P<att>[^/]+)", self.r_ack_attachment),
            ("GET", r"/rcf/ens", self.r_entities),
        ]
        self.routes = [(m, re.compile(p + "$"), f) for m, p, f in self.routes]

    # -- WSGI -----------------------------------------------------------------------------
    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        api = efact_errors.RCF if path.startswith("/rcf") else efact_errors.SUPPLIER
        try:
            status, body, ctype = self.dispatch(environ, method, path, api)
        except EfactError as exc:
            status, ctype = exc.status, "application/json"
            body = json.dumps({"codiError": exc.code, "descripcioError": exc.text}).encode()
        self.state.calls.append((method, path, status))
        reasons = {
            200: "OK",
            400: "Bad Request",
            401: "Unauthorized",
            404: "Not Found",
            405: "Method Not Allowed",
            500: "Internal Server Error",
        }
        start_response(
            f"{status} {reasons.get(status, 'Error')}",
            [("Content-Type", ctype), ("Content-Length", str(len(body)))],
        )
        return [body]

    def dispatch(self, environ, method, path, api):
        known_path = False
        for route_method, pattern, handler in self.routes:
            match = pattern.match(path)
            if not match:
                continue
            known_path = True
            if route_method != method:
                continue
            user = self.authenticate(environ, api)
            query = dict(parse_qsl(environ.get("QUERY_STRING") or ""))
            with self.state.lock:
                return handler(environ=environ, user=user, query=query, **match.groupdict())
        if known_path:
            return (
                405,
                json.dumps({"codiError": 9999, "descripcioError": "Method not allowed"}).encode(),
                "application/json",
            )
        raise EfactError(2001, api, "Recurs desconegut")

    def authenticate(self, environ, api):
        header = environ.get("HTTP_AUTHORIZATION", "")
        token = header[7:].strip() if header.lower().startswith("bearer ") else ""
        role = "rcf" if api == efact_errors.RCF else "proveidors"

        def secret_for(user):
            data = self.state.users.get(user)
            if not data or role not in data.get("roles", ("proveidors", "rcf")):
                return None
            return data.get("secret")

        try:
            claims = jwt.verify(token, secret_for, now=self.state.clock(), leeway=self.state.leeway)
        except jwt.InvalidToken as exc:
            raise EfactError(exc.code, api) from exc
        return claims["iss"]

    @staticmethod
    def ok(data, ctype="application/json"):
        if isinstance(data, (dict, list)):
            return 200, json.dumps(data).encode(), "application/json"
        return 200, data, ctype

    def invoice_of(self, invoice_id, user, api):
        invoice = self.state.invoices.get(invoice_id)
        if not invoice:
            raise EfactError(2001, api)
        if api == efact_errors.SUPPLIER and invoice["sender"] != user:
            raise EfactError(2001, api)
        if api == efact_errors.RCF and invoice["nif"] not in {
            n.upper() for n in self.state.users[user].get("nifs", ())
        }:
            raise EfactError(2001, api)
        return invoice

    # -- supplier API ---------------------------------------------------------------------
    def p_send(self, environ, user, query):
        st = self.state
        body = self._send_body(environ)
        factura = body["factura"]
        decoded_attachments = self._send_attachments(body.get("adjunts") or [])
        email = self._send_email(body)
        xml, facturae = self._send_facturae(factura)
        entity = self._send_check_parties(facturae, body, user)
        triple = (facturae.centre("01"), facturae.centre("02"), facturae.centre("03"))
        inv = facturae.invoice
        invoice = st._new_invoice(
            str(next(st._ids)),
            user,
            facturae.seller_nif,
            facturae.seller_name,
            facturae.buyer_nif,
            inv.number,
            inv.series,
            inv.issue_date,
            float(inv.total),
            triple,
            xml,
            email=email,
            face=bool(body.get("face")),
        )
        for name, mime, content in decoded_attachments:
            st._attach(invoice, name, content, mime, late=False)
        st._push_state(invoice, "SENT")
        if st.auto_register:
            if triple in entity["dir3"] or not entity["dir3"]:
                st.register(invoice["id"])
            else:
                st.hub_reject(
                    invoice["id"],
                    "DIR3",
                    "La factura no pot ser lliurada: el codi d'encaminament (DIR3) és incorrecte.",
                )
        return self._send_answer(st.supplier_invoice(invoice))

    def _send_answer(self, factura):
        """The submission's answer in the dialect chosen by `state.send_dialect` (the format of this
        answer is only shown by example in the documentation):
        plain: the Factura; wrapped: {"factura": Factura}; ack: {"resultat": "OK"} without the Factura
        (a success a client cannot tie to a hub id); noid: the Factura without its id; html: a portal
        page with HTTP 200 (a proxy's or a maintenance page); empty: HTTP 200 and no body."""
        dialect = self.state.send_dialect
        if dialect == "html":
            return 200, b"<!DOCTYPE html><html><body><h1>eFACT</h1><p>Factura enviada</p></body></html>", "text/html"
        if dialect == "empty":
            return 200, b"", "application/json"
        if dialect == "wrapped":
            return self.ok({"factura": factura})
        if dialect == "ack":
            return self.ok({"resultat": "OK", "missatge": "Factura rebuda"})
        if dialect == "noid":
            return self.ok({key: value for key, value in factura.items() if key != "id"})
        return self.ok(factura)

    def _send_body(self, environ):
        """Size, JSON and the invoice file's name/content/extension (3002, 3011, 3013, 3014, 3003, 3001)."""
        api, st = efact_errors.SUPPLIER, self.state
        length = int(environ.get("CONTENT_LENGTH") or 0)
        if length > st.max_request_bytes:
            raise EfactError(3002, api)
        raw = environ["wsgi.input"].read(length) if length else b""
        st.received_sha256.append(hashlib.sha256(raw).hexdigest())
        try:
            body = json.loads(raw or b"null")
        except ValueError as exc:
            raise EfactError(3011, api) from exc
        if not isinstance(body, dict) or not isinstance(body.get("factura"), dict):
            raise EfactError(3011, api)
        factura = body["factura"]
        if not factura.get("nom"):
            raise EfactError(3013, api)
        if not factura.get("contingut"):
            raise EfactError(3014, api)
        if documents.extension(factura["nom"]) not in ("xml", "xsig"):
            raise EfactError(3003, api)
        if len(body.get("adjunts") or []) > documents.MAX_ATTACHMENTS:
            raise EfactError(3001, api)
        return body

    @staticmethod
    def _send_attachments(adjunts):
        """Decoded (name, mime, content) of each attachment (3006-3010, 3015)."""
        api = efact_errors.SUPPLIER
        decoded = []
        for adjunt in adjunts:
            if not adjunt.get("nom"):
                raise EfactError(3006, api)
            if not adjunt.get("mime"):
                raise EfactError(3007, api)
            if not adjunt.get("contingut"):
                raise EfactError(3008, api)
            if adjunt["mime"] not in documents.MIME_EXTENSIONS:
                raise EfactError(3009, api)
            ext = documents.extension(adjunt["nom"])
            if ext not in documents.EXTENSION_MIME:
                raise EfactError(3015, api)
            if ext not in documents.MIME_EXTENSIONS[adjunt["mime"]]:
                raise EfactError(3010, api)
            try:
                content = base64.b64decode(adjunt["contingut"], validate=True)
            except (binascii.Error, ValueError) as exc:
                raise EfactError(3008, api) from exc
            decoded.append((adjunt["nom"], adjunt["mime"], content))
        return decoded

    @staticmethod
    def _send_email(body):
        api = efact_errors.SUPPLIER
        email = body.get("correuElectronic") or ""
        if len(email) > documents.MAX_EMAIL_LENGTH:
            raise EfactError(3022, api)
        if email and not documents.EMAIL_RE.match(email):
            raise EfactError(3023, api)
        return email

    def _send_facturae(self, factura):
        """The decoded, parsed and (optionally) schema-checked Facturae (3011, 3016, 3017, 3019)."""
        api = efact_errors.SUPPLIER
        try:
            xml = base64.b64decode(factura["contingut"], validate=True)
        except (binascii.Error, ValueError) as exc:
            raise EfactError(3011, api) from exc
        try:
            facturae = documents.parse_facturae(xml)
        except documents.DocumentError as exc:
            raise EfactError(exc.code or 3016, api, str(exc)) from exc
        if facturae.invoices_count > 1 or len(facturae.invoices) > 1:
            raise EfactError(3019, api)
        if self.state.validate_schema:
            problems = documents.validate_facturae(xml)
            if problems:
                raise EfactError(3016, api, "; ".join(problems[:3]))
        return xml, facturae

    def _send_check_parties(self, facturae, body, user):
        """NIFs, signature, recipient and its versions, FACe (3020, 3021, 3024, 3005, 3004, 3018, 3025)."""
        api, st = efact_errors.SUPPLIER, self.state
        if not documents.valid_issuer_id(facturae.seller_nif):
            raise EfactError(3020, api)
        if not documents.valid_spanish_nif(facturae.buyer_nif):
            raise EfactError(3021, api)
        if not facturae.signed:
            raise EfactError(3024, api)
        if not facturae.signature_value:
            raise EfactError(3005, api)
        entity = st.entity(facturae.buyer_nif)
        if not entity:
            raise EfactError(3004, api)
        if facturae.version not in entity["versions"]:
            raise EfactError(3018, api)
        if body.get("face") and not st.users[user].get("face"):
            raise EfactError(3025, api)
        return entity

    def p_invoice(self, environ, user, query, id):
        return self.ok(self.state.supplier_invoice(self.invoice_of(id, user, efact_errors.SUPPLIER)))

    def p_history(self, environ, user, query, id):
        invoice = self.invoice_of(id, user, efact_errors.SUPPLIER)
        if not invoice["states"]:
            raise EfactError(2003, efact_errors.SUPPLIER)
        return self.ok(
            {
                "id": id,
                "estats": [self.state.supplier_state(s) for s in invoice["states"]],
            }
        )

    def _receipt(self, invoice, api):
        if not invoice["registre"]:
            raise EfactError(3012 if api == efact_errors.SUPPLIER else 9002, api)
        text = f"eFACT rebut electronic - factura {invoice['numero']} - registre {invoice['registre']['numero']}"
        return 200, documents.minimal_pdf(text), "application/pdf"

    def p_receipt(self, environ, user, query, id):
        return self._receipt(self.invoice_of(id, user, efact_errors.SUPPLIER), efact_errors.SUPPLIER)

    def p_pending(self, environ, user, query):
        nif = query.get("nifProveidor")
        items = [
            (sid, p)
            for sid, p in sorted(self.state.pending_states.items(), key=lambda kv: int(kv[0]))
            if p["user"] == user
            and (
                not nif
                or documents.normalize_nif(self.state.invoices[p["invoice_id"]]["supplier_nif"])
                == documents.normalize_nif(nif)
            )
        ]
        page = items[: self.state.page_size]
        return self.ok(
            {
                "mesEstats": len(items) > len(page),
                "estats": [
                    {
                        "id": sid,
                        "idFactura": p["invoice_id"],
                        "estat": self.state.supplier_state(p["state"]),
                    }
                    for sid, p in page
                ],
            }
        )

    def p_ack(self, environ, user, query, id):
        pending = self.state.pending_states.get(id)
        if not pending or pending["user"] != user:
            raise EfactError(
                2001,
                efact_errors.SUPPLIER,
                "No s'ha trobat l'estat pendent especificat",
            )
        del self.state.pending_states[id]
        return 200, b"", "application/json"

    def p_receptors(self, environ, user, query):
        return self.ok({"receptors": [{"nif": e["nif"], "nom": e["nom"]} for e in self.state.entities.values()]})

    def p_receptor(self, environ, user, query, nif):
        entity = self.state.entity(nif)
        if not entity:
            raise EfactError(3004, efact_errors.SUPPLIER, "L'entitat no està donada d'alta a eFACT")
        return self.ok(
            {
                "nif": entity["nif"],
                "nom": entity["nom"],
                "direccio": entity["direccio"],
                "dir3": [
                    {
                        key: {"codi": code, "nom": f"{entity['nom']} {code}"}
                        for key, code in zip(
                            ("oficinaComptable", "organGestor", "unitatTramitadora"),
                            triple,
                            strict=False,
                        )
                    }
                    for triple in entity["dir3"]
                ],
            }
        )

    # -- RCF API ----------------------------------------------------------------------------
    def r_pending(self, environ, user, query):
        items = self.state.pending_for(user, query.get("nif"), query.get("oficinaComptable"))
        page = items[: self.state.page_size]
        return self.ok(
            {
                "mesFactures": len(items) > len(page),
                "factures": [
                    {
                        "id": i["id"],
                        "nif": i["nif"],
                        "oficinaComptable": i["dir3"][0],
                        "organGestor": i["dir3"][1],
                        "unitatTramitadora": i["dir3"][2],
                    }
                    for i in page
                ],
            }
        )

    def r_invoice(self, environ, user, query, id):
        return self.ok(self.state.rcf_invoice(self.invoice_of(id, user, efact_errors.RCF)))

    def r_update(self, environ, user, query, id):
        invoice = self.invoice_of(id, user, efact_errors.RCF)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        try:
            body = json.loads(environ["wsgi.input"].read(length) or b"null")
        except ValueError as exc:
            raise EfactError(3001, efact_errors.RCF) from exc
        if not isinstance(body, dict):
            raise EfactError(3001, efact_errors.RCF)
        self.state._rcf_update(invoice, body)
        return self.ok(self.state.rcf_invoice(invoice))

    def r_facturae(self, environ, user, query, id):
        return (
            200,
            self.invoice_of(id, user, efact_errors.RCF)["facturae"],
            "application/xml",
        )

    def r_attachment(self, environ, user, query, id, att):
        invoice = self.invoice_of(id, user, efact_errors.RCF)
        if att not in invoice["attachments"]:
            raise EfactError(2002, efact_errors.RCF)
        attachment = self.state.attachments[att]
        return 200, attachment["content"], attachment["mime"]

    def r_receipt(self, environ, user, query, id):
        return self._receipt(self.invoice_of(id, user, efact_errors.RCF), efact_errors.RCF)

    def r_states(self, environ, user, query, id):
        invoice = self.invoice_of(id, user, efact_errors.RCF)
        if not invoice["states"]:
            raise EfactError(2003, efact_errors.RCF)
        return self.ok({"estats": [self.state.rcf_state(s) for s in invoice["states"]]})

    def r_pending_attachments(self, environ, user, query):
        nifs = {n.upper() for n in self.state.users[user].get("nifs", ())}
        items = []
        for att_id in sorted(self.state.late_attachments, key=int):
            attachment = self.state.attachments[att_id]
            invoice = self.state.invoices[attachment["invoice_id"]]
            if invoice["nif"] not in nifs:
                continue
            if query.get("nif") and documents.normalize_nif(invoice["nif"]) != documents.normalize_nif(query["nif"]):
                continue
            if query.get("oficinaComptable") and invoice["dir3"][0] != query["oficinaComptable"]:
                continue
            items.append(
                {
                    "idAdjunt": att_id,
                    "idFactura": invoice["id"],
                    "nom": attachment["nom"],
                }
            )
        page = items[: self.state.page_size]
        return self.ok({"mesAdjunts": len(items) > len(page), "adjunts": page})

    def r_ack_attachment(self, environ, user, query, att):
        attachment = self.state.attachments.get(att)
        if not attachment or att not in self.state.late_attachments:
            raise EfactError(2002, efact_errors.RCF)
        self.invoice_of(attachment["invoice_id"], user, efact_errors.RCF)
        del self.state.late_attachments[att]
        return 200, b"", "application/json"

    def r_entities(self, environ, user, query):
        nifs = [n.upper() for n in self.state.users[user].get("nifs", ())]
        return self.ok(
            {
                "ens": [
                    {"nif": e["nif"], "nom": e["nom"], "ine10": e["ine10"]} for n in nifs if (e := self.state.entity(n))
                ]
            }
        )


def make_app(
    users=None,
    entities=None,
    page_size=PAGE_SIZE,
    leeway=5,
    clock=time.time,
    auto_register=True,
    max_request_bytes=documents.MAX_REQUEST_BYTES,
    validate_schema=True,
    **_ignored,
):
    """The eFACT sandbox WSGI app (state in `app.state`).

    Defaults give a demo supplier user `proveidor-demo` / `sandbox-secret` and an RCF user
    `rcf-demo` / `sandbox-secret` serving two entities.
    """
    if users is None:
        users = {
            "proveidor-demo": {
                "secret": "sandbox-secret",
                "roles": ["proveidors"],
                "face": True,
            },
            "rcf-demo": {
                "secret": "sandbox-secret",
                "roles": ["rcf"],
                "nifs": ["ESP0800001J", "ESP0800002H"],
            },
        }
    if entities is None:
        entities = [
            {
                "nif": "ESP0800001J",
                "nom": "Ajuntament de Proves",
                "ine10": "0801900001",
                "dir3": [("L01080193", "L01080193", "L01080193")],
            },
            {
                "nif": "ESP0800002H",
                "nom": "Consell Comarcal de Proves",
                "ine10": "0801900002",
                "dir3": [("L05000001", "L05000002", "L05000003")],
            },
        ]
    state = State(
        users, entities, page_size, leeway, clock, auto_register, max_request_bytes, validate_schema=validate_schema
    )
    return SandboxApp(state)
