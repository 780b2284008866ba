"""eFACT clients: one method per operation of the supplier API and of the RCF API.

Both take an einvoice_common `Transport` (base URL = the host, e.g.
https://efact-pre.aoc.cat; the API prefix "proveidors" / "rcf" is added here) whose
`auth` is a `JwtAuth`: a fresh HS256 token per request, no refresh, so a 401 is
never retried. Service errors become the transport's taxonomy with eFACT's code.
"""

import time
from dataclasses import dataclass, field

from . import errors as efact_errors
from .jwt import make_token

SUPPLIER_STATES = (
    "SENT",
    "REGISTERED",
    "DELIVERED",
    "ANNOTATED",
    "RECEIVED",
    "ACCEPTED",
    "RECOGNISED",
    "PAID",
    "REJECTED",
)
RCF_UPDATABLE = (
    "DELIVERED",
    "ANNOTATED",
    "RECEIVED",
    "ACCEPTED",
    "RECOGNISED",
    "PAID",
    "REJECTED",
)
FINAL_STATES = ("PAID", "REJECTED")


class JwtAuth:
    """Transport auth: `Authorization: Bearer <HS256 JWT>` built per request."""

    def __init__(self, user, secret, *, clock=time.time, lifetime=60, skew=5):
        self.user, self.secret = user, secret
        self.clock, self.lifetime, self.skew = clock, lifetime, skew
        self.last_token = None

    def headers(self):
        self.last_token = make_token(
            self.user,
            self.secret,
            now=self.clock(),
            lifetime=self.lifetime,
            skew=self.skew,
        )
        return {"Authorization": f"Bearer {self.last_token}"}

    def requests_auth(self):
        return None

    def secrets(self):
        return [s for s in (self.secret, self.last_token) if s]


def error_parser(api):
    def parse(response):
        try:
            body = response.json()
        except ValueError:
            return None, "", []
        if not isinstance(body, dict) or "codiError" not in body:
            return None, "", []
        code = body.get("codiError")
        info = efact_errors.describe(code, api)
        text = efact_errors.message(code, api, str(body.get("descripcioError") or ""), with_code=False)
        return str(info.code or code), text, [info.hint] if info.hint else []

    return parse


def _s(value):
    return "" if value is None else str(value)


# -- supplier API result types ---------------------------------------------------------
@dataclass
class State:
    code: str
    numeric: str = ""
    date: str = ""
    registry_number: str = ""
    registry_date: str = ""
    rcf_number: str = ""
    reject_code: str = ""
    reject_reason: str = ""
    payment_date: str = ""

    @classmethod
    def from_supplier(cls, data):
        data = data or {}
        registre = data.get("registre") or {}
        motiu = data.get("motiuRebuig") or {}
        payment = _s(data.get("dataPagament"))
        if not payment and data.get("codi") == "PAID":
            payment = _s(data.get("data"))[:10]  # documented fallback: the PAID state's date
        return cls(
            code=_s(data.get("codi")),
            numeric=_s(data.get("codiNumeric") or data.get("codiNumneric")),
            date=_s(data.get("data")),
            registry_number=_s(registre.get("numero")),
            registry_date=_s(registre.get("data")),
            rcf_number=_s(data.get("numeroRegistreRCF")),
            reject_code=_s(motiu.get("codi")),
            reject_reason=_s(motiu.get("descripcio")),
            payment_date=payment,
        )

    @classmethod
    def from_rcf(cls, data):
        data = data or {}
        payment = _s(data.get("dataPagament"))
        if not payment and data.get("estat") == "PAID":
            payment = _s(data.get("dataEstat"))[:10]
        return cls(
            code=_s(data.get("estat")),
            numeric=_s(data.get("codiEstat")),
            date=_s(data.get("dataEstat")),
            registry_number=_s(data.get("numeroRegistre")),
            registry_date=_s(data.get("dataRegistre")),
            rcf_number=_s(data.get("numeroRegistreRCF")),
            reject_code=_s(data.get("codiMotiuRebuig")),
            reject_reason=_s(data.get("descripcioMotiuRebuig")),
            payment_date=payment,
        )


@dataclass
class Dir3:
    oficina_comptable: str = ""
    organ_gestor: str = ""
    unitat_tramitadora: str = ""
    names: dict = field(default_factory=dict)

    @classmethod
    def from_json(cls, data):
        data = data or {}
        names, codes = {}, {}
        for key in ("oficinaComptable", "organGestor", "unitatTramitadora"):
            centre = data.get(key) or {}
            if isinstance(centre, dict):
                codes[key] = _s(centre.get("codi"))
                names[key] = _s(centre.get("nom"))
            else:
                codes[key] = _s(centre)
        return cls(
            codes["oficinaComptable"],
            codes["organGestor"],
            codes["unitatTramitadora"],
            names,
        )


@dataclass
class Invoice:
    """Supplier API `Factura`."""

    id: str
    number: str = ""
    series: str = ""
    issue_date: str = ""
    amount: float = 0.0
    received_at: str = ""
    supplier_nif: str = ""
    receiver_nif: str = ""
    receiver_name: str = ""
    dir3: Dir3 = None
    registry_number: str = ""
    registry_date: str = ""
    rcf_number: str = ""
    reject_code: str = ""
    reject_reason: str = ""
    payment_date: str = ""
    state: State = None
    attachments: list = field(default_factory=list)
    raw: dict = field(default_factory=dict)

    @classmethod
    def from_answer(cls, data):
        """A Factura answered plain or wrapped ({"factura": ...}, {"data": ...}); raises ValueError when
        the answer names no hub id: a success that cannot be tied to a submission is not a success."""
        if isinstance(data, dict):
            for key in ("factura", "data", "resultat"):
                if isinstance(data.get(key), dict) and not data.get("id"):
                    data = data[key]
                    break
        if not isinstance(data, dict) or not _s(data.get("id")):
            raise ValueError("the answer names no eFACT invoice id")
        return cls.from_json(data)

    @classmethod
    def from_json(cls, data):
        receptor = data.get("receptor") or {}
        registre = data.get("registre") or {}
        motiu = data.get("motiuRebuig") or {}
        return cls(
            id=_s(data.get("id")),
            number=_s(data.get("numero")),
            series=_s(data.get("serie")),
            issue_date=_s(data.get("dataExpedicio")),
            amount=float(data.get("import") or 0.0),
            received_at=_s(data.get("dataRecepcio")),
            supplier_nif=_s((data.get("proveidor") or {}).get("nif")),
            receiver_nif=_s(receptor.get("nif")),
            receiver_name=_s(receptor.get("nom")),
            dir3=Dir3.from_json(receptor.get("dir3")),
            registry_number=_s(registre.get("numero")),
            registry_date=_s(registre.get("data")),
            rcf_number=_s(data.get("numeroRegistreRCF")),
            reject_code=_s(motiu.get("codi")),
            reject_reason=_s(motiu.get("descripcio")),
            payment_date=_s(data.get("dataPagament")),
            state=State.from_supplier(data.get("estat")),
            attachments=list(data.get("adjunts") or []),
            raw=data,
        )


@dataclass
class PendingState:
    id: str
    invoice_id: str
    state: State


@dataclass
class Receptor:
    nif: str
    name: str
    address: dict = field(default_factory=dict)
    dir3: list = field(default_factory=list)  # [Dir3]


def _json(transport, response, what):
    data = transport.json(response)
    if not isinstance(data, dict):
        raise transport.ProtocolError(f"eFACT answered {what} with something that is not a JSON object.")
    return data


def _pdf(transport, response):
    content = response.content or b""
    if not content.startswith(b"%PDF"):
        raise transport.ProtocolError(
            "eFACT answered the receipt request with something that is not a PDF.",
            status=response.status_code,
        )
    return content


class SupplierClient:
    """Operations of the eFACT REST API for suppliers (`/proveidors`)."""

    api = efact_errors.SUPPLIER

    def __init__(self, transport, prefix="proveidors"):
        self.transport = transport
        self.prefix = prefix.strip("/")
        self._parse = error_parser(self.api)

    def _call(self, method, path, operation, **kwargs):
        return self.transport.request(
            method,
            f"{self.prefix}/{path.lstrip('/')}",
            operation=operation,
            error_parser=self._parse,
            **kwargs,
        )

    def send_invoice(self, body=None, reference="", raw=None):
        """POST /factura with `body` (a dict) or its exact stored bytes `raw`. Not idempotent: a lost
        or unreadable answer raises UnknownOutcome (reconcile first)."""
        payload = {"json": body} if raw is None else {"data": raw, "headers": {"Content-Type": "application/json"}}
        response = self._call(
            "POST",
            "factura",
            "efact.send",
            idempotent=False,
            reference=reference,
            keep_payload=True,
            **payload,
        )
        try:
            return Invoice.from_answer(_json(self.transport, response, "the submission"))
        except (self.transport.ProtocolError, ValueError, TypeError, AttributeError) as exc:
            # the hub may hold the invoice: an unreadable success is an unknown outcome, never an error
            raise self.transport.UnknownOutcome(
                f"eFACT answered the submission in a form that names no invoice ({exc}); the outcome is "
                "checked with eFACT before anything is sent again.",
                status=response.status_code,
            ) from exc

    def get_invoice(self, invoice_id):
        response = self._call("GET", f"factura/{invoice_id}", "efact.invoice", reference=str(invoice_id))
        return Invoice.from_json(_json(self.transport, response, "the invoice query"))

    def get_history(self, invoice_id):
        response = self._call(
            "GET",
            f"historicEstatsFactura/{invoice_id}",
            "efact.history",
            reference=str(invoice_id),
        )
        data = _json(self.transport, response, "the history query")
        return [State.from_supplier(s) for s in data.get("estats") or []]

    def get_receipt(self, invoice_id):
        response = self._call(
            "GET",
            f"factura/{invoice_id}/rebut",
            "efact.receipt",
            reference=str(invoice_id),
        )
        return _pdf(self.transport, response)

    def pending_states(self, supplier_nif=None):
        """(list of PendingState, more) - at most 500 per call."""
        params = {"nifProveidor": supplier_nif} if supplier_nif else None
        response = self._call("GET", "estats-pendents", "efact.pending_states", params=params)
        data = _json(self.transport, response, "the pending states query")
        items = [
            PendingState(
                id=_s(s.get("id")),
                invoice_id=_s(s.get("idFactura")),
                state=State.from_supplier(s.get("estat")),
            )
            for s in data.get("estats") or []
        ]
        return items, bool(data.get("mesEstats"))

    def delete_pending_state(self, state_id):
        self._call(
            "DELETE",
            f"estats-pendents/{state_id}",
            "efact.ack_state",
            reference=str(state_id),
        )

    def receptors(self):
        response = self._call("GET", "receptors", "efact.receptors")
        data = _json(self.transport, response, "the receptors query")
        return [Receptor(nif=_s(r.get("nif")), name=_s(r.get("nom"))) for r in data.get("receptors") or []]

    def receptor(self, nif):
        response = self._call("GET", f"receptors/{nif}", "efact.receptor", reference=nif)
        data = _json(self.transport, response, "the receptor query")
        return Receptor(
            nif=_s(data.get("nif")),
            name=_s(data.get("nom")),
            address=data.get("direccio") or {},
            dir3=[Dir3.from_json(d) for d in data.get("dir3") or []],
        )

    def find_submission(self, number, series="", receiver_nif="", known_ids=(), supplier_nif=""):
        """Reconcile a submission whose answer was lost: the hub's Factura, or None when the hub
        certainly never received it.

        The supplier API has no search operation: every new invoice emits pending states (SENT,
        REGISTERED ...), so the invoices named there that we do not know yet are looked up and
        matched on the business key (number, series, receiver NIF, supplier NIF). While more than
        one page of states waits (`mesEstats`), absence proves nothing: TransientError (ask later).
        """
        from .documents import normalize_nif

        items, more = self.pending_states(supplier_nif or None)
        seen = set(known_ids)
        for item in items:
            if item.invoice_id in seen:
                continue
            seen.add(item.invoice_id)
            invoice = self.get_invoice(item.invoice_id)
            if _same_submission(invoice, number, series, receiver_nif, supplier_nif, normalize_nif):
                return invoice
        if more:
            raise self.transport.TransientError(
                "eFACT holds more pending states than one page: the submission cannot be looked up yet."
            )
        return None


def _same_submission(invoice, number, series, receiver_nif, supplier_nif, normalize_nif):
    return (
        invoice.number == number
        and (invoice.series or "") == (series or "")
        and (not receiver_nif or normalize_nif(invoice.receiver_nif) == normalize_nif(receiver_nif))
        and (not supplier_nif or normalize_nif(invoice.supplier_nif) == normalize_nif(supplier_nif))
    )


# -- RCF API --------------------------------------------------------------------------
@dataclass
class PendingInvoice:
    id: str
    nif: str
    oficina_comptable: str = ""
    organ_gestor: str = ""
    unitat_tramitadora: str = ""


@dataclass
class RcfInvoice:
    id: str
    number: str = ""
    date: str = ""
    amount: float = 0.0
    supplier_nif: str = ""
    supplier_name: str = ""
    nif: str = ""
    name: str = ""
    registry_number: str = ""
    registry_date: str = ""
    rcf_number: str = ""
    oficina_comptable: str = ""
    organ_gestor: str = ""
    unitat_tramitadora: str = ""
    state: str = ""
    state_date: str = ""
    reject_code: str = ""
    reject_reason: str = ""
    payment_date: str = ""
    attachments: list = field(default_factory=list)  # [(idAdjunt, nom)]
    raw: dict = field(default_factory=dict)

    @classmethod
    def from_json(cls, data, invoice_id=""):
        return cls(
            id=_s(data.get("id") or invoice_id),
            number=_s(data.get("numeroFactura")),
            date=_s(data.get("dataFactura")),
            amount=float(data.get("importFactura") or 0.0),
            supplier_nif=_s(data.get("nifProveidor") or data.get("nifProveedor")),
            supplier_name=_s(data.get("nomProveidor") or data.get("nomProveedor")),
            nif=_s(data.get("nif")),
            name=_s(data.get("nom")),
            registry_number=_s(data.get("numeroRegistre")),
            registry_date=_s(data.get("dataRegistre")),
            rcf_number=_s(data.get("numeroRegistreRCF")),
            oficina_comptable=_s(data.get("oficinaComptable")),
            organ_gestor=_s(data.get("organGestor")),
            unitat_tramitadora=_s(data.get("unitatTramitadora")),
            state=_s(data.get("estat")),
            state_date=_s(data.get("dataEstat")),
            reject_code=_s(data.get("codiMotiuRebuig")),
            reject_reason=_s(data.get("descripcioMotiuRebuig")),
            payment_date=_s(data.get("dataPagament")),
            attachments=[(_s(a.get("idAdjunt")), _s(a.get("nom"))) for a in data.get("adjunts") or []],
            raw=data,
        )


@dataclass
class PendingAttachment:
    id: str
    invoice_id: str
    name: str


@dataclass
class Entity:
    nif: str
    name: str
    ine10: str = ""


class RcfClient:
    """Operations of the eFACT REST API for invoice accounting registries (`/rcf`)."""

    api = efact_errors.RCF

    def __init__(self, transport, prefix="rcf"):
        self.transport = transport
        self.prefix = prefix.strip("/")
        self._parse = error_parser(self.api)

    def _call(self, method, path, operation, **kwargs):
        return self.transport.request(
            method,
            f"{self.prefix}/{path.lstrip('/')}",
            operation=operation,
            error_parser=self._parse,
            **kwargs,
        )

    @staticmethod
    def _filters(nif, oficina):
        params = {}
        if nif:
            params["nif"] = nif
        if oficina:
            params["oficinaComptable"] = oficina
        return params or None

    def pending_invoices(self, nif=None, oficina_comptable=None):
        """(list of PendingInvoice, more) - at most 500 per call; they stay pending until
        DELIVERED or ANNOTATED."""
        response = self._call(
            "GET",
            "factures-pendents",
            "efact.rcf.pending",
            params=self._filters(nif, oficina_comptable),
        )
        data = _json(self.transport, response, "the pending invoices query")
        items = [
            PendingInvoice(
                id=_s(f.get("id")),
                nif=_s(f.get("nif")),
                oficina_comptable=_s(f.get("oficinaComptable")),
                organ_gestor=_s(f.get("organGestor")),
                unitat_tramitadora=_s(f.get("unitatTramitadora")),
            )
            for f in data.get("factures") or []
        ]
        return items, bool(data.get("mesFactures"))

    def get_invoice(self, invoice_id):
        response = self._call(
            "GET",
            f"factura/{invoice_id}",
            "efact.rcf.invoice",
            reference=str(invoice_id),
        )
        return RcfInvoice.from_json(_json(self.transport, response, "the invoice query"), str(invoice_id))

    def get_facturae(self, invoice_id):
        response = self._call(
            "GET",
            f"factura/{invoice_id}/facturae",
            "efact.rcf.facturae",
            reference=str(invoice_id),
        )
        return response.content or b""

    def get_attachment(self, invoice_id, attachment_id):
        response = self._call(
            "GET",
            f"factura/{invoice_id}/adjunts/{attachment_id}",
            "efact.rcf.attachment",
            reference=str(invoice_id),
        )
        return response.content or b"", response.headers.get("Content-Type", "application/octet-stream")

    def get_receipt(self, invoice_id):
        response = self._call(
            "GET",
            f"factura/{invoice_id}/rebut",
            "efact.rcf.receipt",
            reference=str(invoice_id),
        )
        return _pdf(self.transport, response)

    def get_states(self, invoice_id):
        response = self._call(
            "GET",
            f"factura/{invoice_id}/estats",
            "efact.rcf.states",
            reference=str(invoice_id),
        )
        data = _json(self.transport, response, "the states query")
        return [State.from_rcf(s) for s in data.get("estats") or []]

    def update_state(
        self,
        invoice_id,
        state,
        *,
        rcf_number=None,
        payment_date=None,
        reject_code=None,
        reject_reason=None,
    ):
        """PATCH /factura/:id. When the answer is lost, ask the hub whether the state was
        applied before sending it again (once)."""
        if state not in RCF_UPDATABLE:
            raise self.transport.RejectedError(efact_errors.message(3001, self.api, with_code=False), code="3001")
        body = {"estat": state}
        for key, value in (
            ("numeroRegistreRCF", rcf_number),
            ("dataPagament", payment_date),
            ("codiMotiuRebuig", reject_code),
            ("descripcioMotiuRebuig", reject_reason),
        ):
            if value:
                body[key] = str(value)
        try:
            response = self._call(
                "PATCH",
                f"factura/{invoice_id}",
                f"efact.rcf.state.{state.lower()}",
                json=body,
                idempotent=False,
                reference=str(invoice_id),
            )
        except self.transport.UnknownOutcome:
            current = self.get_invoice(invoice_id)
            if current.state == state:
                return current
            response = self._call(
                "PATCH",
                f"factura/{invoice_id}",
                f"efact.rcf.state.{state.lower()}",
                json=body,
                idempotent=False,
                reference=str(invoice_id),
            )
        return RcfInvoice.from_json(_json(self.transport, response, "the state update"), str(invoice_id))

    def pending_attachments(self, nif=None, oficina_comptable=None):
        response = self._call(
            "GET",
            "adjunts-pendents",
            "efact.rcf.pending_attachments",
            params=self._filters(nif, oficina_comptable),
        )
        data = _json(self.transport, response, "the pending attachments query")
        items = [
            PendingAttachment(
                id=_s(a.get("idAdjunt")),
                invoice_id=_s(a.get("idFactura")),
                name=_s(a.get("nom")),
            )
            for a in data.get("adjunts") or []
        ]
        return items, bool(data.get("mesAdjunts"))

    def delete_pending_attachment(self, attachment_id):
        self._call(
            "DELETE",
            f"adjunts-pendents/{attachment_id}",
            "efact.rcf.ack_attachment",
            reference=str(attachment_id),
        )

    def entities(self):
        response = self._call("GET", "ens", "efact.rcf.entities")
        data = _json(self.transport, response, "the entities query")
        return [
            Entity(nif=_s(e.get("nif")), name=_s(e.get("nom")), ine10=_s(e.get("ine10"))) for e in data.get("ens") or []
        ]


# -- protocol loops (used by the Odoo crons and the tier-1 tests) ----------------------
def drain_pending_invoices(
    client,
    process,
    *,
    nif=None,
    oficina_comptable=None,
    max_pages=100,
    deliver=None,
    chunk=1,
    limit=None,
    on_page=None,
):
    """Pull pending invoices page by page, one at a time (no threads: the caller may use an ORM).

    `process(pending) -> bool` must store the invoice durably (commit) and return True; only then
    is DELIVERED sent, by `deliver(ids)` when given (once per `chunk` accepted invoices), else one
    by one, which removes it from the pending list. An invoice `process` refuses stays pending and
    is not offered again in this run. With `limit`, stops after that many invoices were offered
    (the caller runs again for the rest). `on_page(items)`, when given, sees the invoices of each
    page about to be offered (e.g. to record them at once). Returns (delivered ids, refused ids).
    """
    delivered, refused, offered, accepted = [], [], set(), []
    size = max(1, chunk)

    def flush():
        if not accepted:
            return
        batch = list(accepted)
        accepted.clear()
        if deliver:
            deliver(batch)
        else:
            for invoice_id in batch:
                client.update_state(invoice_id, "DELIVERED")
        delivered.extend(batch)

    for _page in range(max_pages):
        items, more = client.pending_invoices(nif, oficina_comptable)
        fresh = [p for p in items if p.id not in offered]
        if on_page and fresh:
            on_page(fresh if limit is None else fresh[: max(0, limit - len(offered))])
        for pending in fresh:
            if limit is not None and len(offered) >= limit:
                flush()
                return delivered, refused
            offered.add(pending.id)
            (accepted if process(pending) else refused).append(pending.id)
            if len(accepted) >= size:
                flush()
        flush()
        if not more or not fresh:
            break
    return delivered, refused


def drain_pending_batches(
    client,
    process_batch,
    *,
    nif=None,
    oficina_comptable=None,
    max_pages=100,
    deliver,
    chunk=25,
    limit=None,
):
    """Pull pending invoices page by page and hand them over `chunk` at a time.

    `process_batch(pendings) -> accepted ids` must store and process them durably (commit) and
    return the ids whose DELIVERED is due; `deliver(ids)` then reports them, before the next
    batch. An invoice not accepted stays pending and is not offered again in this run. With
    `limit`, stops after that many invoices were offered. Returns (delivered ids, refused ids).
    """
    delivered, refused, offered = [], [], set()
    size = max(1, chunk)
    for _page in range(max_pages):
        items, more = client.pending_invoices(nif, oficina_comptable)
        fresh = [p for p in items if p.id not in offered]
        if limit is not None:
            fresh = fresh[: max(0, limit - len(offered))]
        for start in range(0, len(fresh), size):
            batch = fresh[start : start + size]
            offered.update(p.id for p in batch)
            accepted = set(process_batch(batch))
            done = [p.id for p in batch if p.id in accepted]
            refused += [p.id for p in batch if p.id not in accepted]
            if done:
                deliver(done)
                delivered += done
        if not more or not fresh or (limit is not None and len(offered) >= limit):
            break
    return delivered, refused


def drain_pending_states(client, apply, *, supplier_nif=None, max_pages=100):
    """Apply every pending state change, deleting each on the hub only after `apply`
    returned True (our commit). Returns (acknowledged ids, refused ids)."""
    done, refused, offered = [], [], set()
    for _page in range(max_pages):
        items, more = client.pending_states(supplier_nif)
        fresh = [p for p in items if p.id not in offered]
        for item in fresh:
            offered.add(item.id)
            if apply(item):
                client.delete_pending_state(item.id)
                done.append(item.id)
            else:
                refused.append(item.id)
        if not more or not fresh:
            break
    return done, refused
