"""Facture APP legacy REST client (`/rest/...`): one method per operation, typed results.

The client receives a `transport` (einvoice_common's Transport: base URL, auth, timeouts,
retries, exchange log) and raises its error classes. What the public documentation does
not say is configurable here, with the defaults the sandbox implements:
- `paths`: the path of each operation (test paths may differ from the production ones);
- `cancel_params`: the query parameter names for the motive and the replacement UUID;
- `lookup_params`: how `consulta/cfdi` is queried (by UUID; by series/number to reconcile);
- `accept`: JSON (default) or XML answers; both are decoded.
The Authorization scheme is the transport's `auth` (HTTP Basic by default, or a raw token).
"""

import io
import zipfile
from dataclasses import dataclass
from dataclasses import field as dfield
from urllib.parse import urljoin, urlsplit

from lxml import etree

from . import answers, documents, errors

PATHS = {
    "account": "rest/administracion/usuario/",
    "branches": "rest/administracion/sucursales/",
    "stamp": "rest/timbrado/produccion/",
    "stamp_zip": "rest/timbrado/masivoProduccion/",
    "cfdi": "rest/consulta/cfdi/",
    "xml": "rest/consulta/xml/",
    "pdf": "rest/consulta/pdf/",
    "cancel": "rest/cancelacion/produccion/",
    "acuse": "rest/cancelacion/acuse/",
}
CANCEL_PARAMS = {"uuid": "uuid", "motive": "motivo", "replacement": "folioSustitucion"}
LOOKUP_PARAMS = {
    "uuid": "cfdi",
    "series": "serie",
    "number": "folio",
    "issuer": "rfcEmisor",
}
LOOKUP_LIST_KEYS = ("cfdi", "cfdis", "comprobantes", "comprobante", "data", "items", "results", "resultados")
ZIP_KEYS = ("codigopostal", "cp", "codigo_postal", "zip", "lugarexpedicion")
# A stamp's answer is read whatever its status, except those that say nothing was done
# (401/403 credentials, 429 rate limit: the transport handles them) and 5xx (unknown).
STAMP_STATUSES = tuple(s for s in range(200, 500) if not 300 <= s < 400 and s not in (401, 403, 407, 429))
JSON = "application/json"
XML = "application/xml"
MAX_ZIP_FILES = 20000
MAX_ZIP_BYTES = 128 * 1024 * 1024  # expanded; the transport caps the compressed answer at 50 MiB
MAX_ZIP_MEMBER_BYTES = 16 * 1024 * 1024


@dataclass
class Account:
    user: str
    name: str
    credits: int
    active: bool = True


@dataclass
class Branch:
    id: str
    name: str
    zip: str = ""
    rfc: str = ""
    tz: str = ""  # IANA zone when the service names one (the legacy API does not document it)


@dataclass
class StampResult:
    uuid: str
    xml: bytes
    stamped_at: str = ""
    sat_certificate: str = ""
    previous: bool = False  # the service returned an earlier stamp of the same XML
    message: str = ""


@dataclass
class Reconciliation:
    """What the service holds for a pre-CFDI after an unknown outcome: `stamped` (the
    `result` is the stamp), `absent` (it never got it: resend the identical bytes) or
    `conflict` (a CFDI with the same series/number but other content: a person decides)."""

    state: str
    info: object = None  # CfdiInfo
    result: object = None  # StampResult
    message: str = ""


@dataclass
class BulkItem:
    filename: str
    ok: bool
    uuid: str = ""
    code: str = ""
    message: str = ""


@dataclass
class BulkReport:
    items: dict  # filename -> BulkItem
    download_url: str = ""
    unknown: list = dfield(default_factory=list)  # names in the report that were not sent
    missing: list = dfield(default_factory=list)  # names sent and absent from the report


@dataclass
class CfdiInfo:
    uuid: str
    status: str = ""  # vigente / cancelado / en_proceso
    cancelled: bool = False
    total: str = ""
    issuer_rfc: str = ""
    receiver_rfc: str = ""
    series: str = ""
    number: str = ""
    stamped_at: str = ""
    verification_url: str = ""


@dataclass
class CancelResult:
    uuid: str
    outcome: (
        str  # cancelled / pending_acceptance / already_cancelled / in_process / not_cancellable / not_found / rejected
    )
    succeed: bool
    message: str = ""
    link: str = ""

    @property
    def accepted(self):
        return self.outcome in (
            "cancelled",
            "pending_acceptance",
            "already_cancelled",
            "in_process",
        )


class FactureClient:
    def __init__(
        self,
        transport,
        *,
        accept=JSON,
        paths=None,
        cancel_params=None,
        lookup_params=None,
    ):
        self.transport = transport
        self.accept = accept
        self.paths = {**PATHS, **(paths or {})}
        self.cancel_params = {**CANCEL_PARAMS, **(cancel_params or {})}
        self.lookup_params = {**LOOKUP_PARAMS, **(lookup_params or {})}

    def close(self):
        self.transport.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- helpers -----------------------------------------------------------------
    def _headers(self, branch=None, **extra):
        headers = {"Accept": self.accept}
        if branch not in (None, ""):
            headers["Sucursal"] = str(branch)
        headers.update(extra)
        return headers

    def _read(self, response):
        return answers.read(response.content, response.headers.get("Content-Type", ""), response.status_code)

    def _short(self, text, limit=160):
        """A service text fit for a person: one line, bounded, known secrets masked."""
        text = " ".join(str(text or "").split())
        for secret in self.transport.secrets():
            if secret and len(str(secret)) >= 4:
                text = text.replace(str(secret), "***")
        return text if len(text) <= limit else text[: limit - 1] + "…"

    def _raw(self, answer):
        """The raw start of an answer, kept apart from the human message (exchange log, details)."""
        return {"raw": self._short(answer.snippet(), 300), "status": answer.status}

    def _error_parser(self, response):
        answer = self._read(response)
        found = answers.refusal(answer)
        if response.status_code == 402 and not (found and found[0]):
            found = ("FA402", found[1] if found else "")
        if not found:
            return None, "", [self._raw(answer)]
        code, text = found
        info = errors.describe(code, self._short(text))
        return code or None, info.message, [self._raw(answer)]

    def _call(
        self,
        method,
        op,
        *,
        operation,
        params=None,
        branch=None,
        idempotent=None,
        reference="",
        keep_payload=False,
        **kwargs,
    ):
        try:
            return self.transport.request(
                method,
                self.paths[op],
                operation=operation,
                params=params,
                idempotent=idempotent,
                headers=self._headers(branch, **kwargs.pop("headers", {})),
                error_parser=self._error_parser,
                reference=reference,
                keep_payload=keep_payload,
                **kwargs,
            )
        except self.transport.RejectedError as exc:
            if exc.status == 402 or exc.code == "FA402":
                raise errors.no_credits(self.transport.RejectedError, exc) from exc
            raise

    def _refuse(self, answer, code, text):
        """Raise the typed error of a clear refusal (auth, no credits, rejected)."""
        if answer.status == 402 and not code:
            code = "FA402"
        info = errors.describe(code, self._short(text))
        kwargs = dict(code=code or None, status=answer.status, details=[self._raw(answer)])
        if info.kind == "auth":
            raise self.transport.AuthError(info.message, **kwargs)
        error = self.transport.RejectedError(info.message, **kwargs)
        if info.kind == "credits":
            raise errors.no_credits(self.transport.RejectedError, error)
        raise error

    def _checked(self, response):
        """The decoded answer of an idempotent call; raises on a clear refusal or HTML/empty."""
        answer = self._read(response)
        if answer.kind in ("html", "empty", "text"):
            raise self.transport.ProtocolError(
                f"Facture APP answered {_what(answer)} where data was expected.",
                status=response.status_code,
                details=[self._raw(answer)],
            )
        found = answers.refusal(answer, strict=True)
        if found and answers.success_flag(answer.data) is not True:
            self._refuse(answer, *found)
        return answer

    def _missing(self, answer, text):
        """The data asked for is not in the answer: a refusal if it reads as one, else ProtocolError."""
        found = answers.refusal(answer)
        if found and (found[0] or found[1]):
            self._refuse(answer, *found)
        return self.transport.ProtocolError(text, details=[self._raw(answer)])

    # -- operations ------------------------------------------------------------------
    def account(self):
        answer = self._checked(self._call("GET", "account", operation="account"))
        user = answers.find_record(answer.data, answers.CREDIT_KEYS)
        if user is None:
            raise self._missing(answer, "Facture APP's account answer names no credits.")
        login = answers.get(user, ("usuario", "user", "login", "email", "correo"))
        credits = str(answers.get(user, answers.CREDIT_KEYS)).replace(",", "").strip()
        try:
            credits = int(float(credits or 0))
        except ValueError as exc:
            raise self.transport.ProtocolError(
                f"Facture APP's credits are not a number ({self._short(credits, 40)}).",
                details=[self._raw(answer)],
            ) from exc
        active = answers.get(user, ("activo", "active", "habilitado", "enabled"))
        return Account(
            user=str(login) if isinstance(login, (str, int)) else "",
            name=str(answers.get(user, ("nombre", "name", "razonsocial", "nombrecompleto")) or ""),
            credits=credits,
            active=True if active is None else answers.truthy(active),
        )

    def branches(self):
        answer = self._checked(self._call("GET", "branches", operation="branches"))
        items = answers.find_list(answer.data)
        if items is None:
            raise self._missing(answer, "Facture APP's branch answer holds no list of branches.")
        result = []
        for item in items:
            ident = answers.get(item, answers.ITEM_ID_KEYS)
            if ident is None or isinstance(ident, (dict, list)):
                raise self.transport.ProtocolError(
                    "A branch in Facture APP's answer has no ID.", details=[self._raw(answer)]
                )
            result.append(
                Branch(
                    id=str(ident).strip(),
                    name=str(answers.get(item, ("nombre", "name", "descripcion", "alias")) or ""),
                    zip=str(answers.get(item, ZIP_KEYS) or "").strip(),
                    rfc=str(answers.get(item, ("rfc", "rfcemisor")) or "").strip().upper(),
                    tz=str(answers.get(item, ("zonahoraria", "timezone", "tz", "husohorario")) or "").strip(),
                )
            )
        return result

    def stamp(self, xml, branch, reference=""):
        """Stamp one unsigned pre-CFDI (the exact bytes are sent). Non-idempotent: the result
        is a StampResult (a valid TFD came back), a typed refusal (RejectedError, AuthError,
        NoCredits), or UnknownOutcome for anything else (lost, unreadable, a success without
        the stamped XML): then reconcile (`reconcile(xml)`) before resending these same bytes."""
        response = self._call(
            "POST",
            "stamp",
            operation="stamp",
            branch=branch,
            data=xml,
            idempotent=False,
            reference=reference,
            keep_payload=True,
            expected=STAMP_STATUSES,
            headers={"Content-Type": "application/xml; charset=utf-8"},
        )
        return self._stamp_answer(self._read(response), xml)

    def _stamp_answer(self, answer, sent):
        stamped = answers.stamped_cfdi(answer)
        if stamped is not None:
            return self._stamp_result(stamped, answer, sent)
        uuid = answers.stamped_uuid(answer)
        if uuid:  # stamped, but the XML is not in the answer: fetch it by its UUID
            try:
                body = self.xml(uuid)
            except errors_of(self.transport) as exc:
                raise self._unknown(answer, f"it names the stamp {uuid} but its XML could not be fetched") from exc
            return self._stamp_result(body, answer, sent)
        self._refuse_if_clear(answer)
        raise self._unknown(answer, "it is neither a stamped CFDI nor a refusal")

    def _refuse_if_clear(self, answer):
        """Raise the typed refusal when the answer of a non-idempotent call is clearly one:
        HTTP 402 (no credits), or an error body naming a code or a message (below 500)."""
        if answer.status == 402:
            self._refuse(answer, *(answers.refusal(answer) or ("FA402", "")))
        found = answers.refusal(answer)
        if found and (found[0] or found[1]) and answer.status < 500 and answers.success_flag(answer.data) is not True:
            self._refuse(answer, *found)

    def _unknown(self, answer, why):
        return self.transport.UnknownOutcome(
            f"Facture APP's answer to the stamp cannot be read ({_what(answer)}, HTTP {answer.status}): {why}. "
            "The stamp will be looked up before anything is sent again.",
            status=answer.status,
            details=[self._raw(answer)],
        )

    def _stamp_result(self, xml, answer, sent):
        info = documents.stamp_info(xml)
        problem = _mismatch(sent, xml)
        if problem:
            raise self._unknown(answer, problem)
        return StampResult(
            uuid=info.uuid,
            xml=xml,
            stamped_at=info.stamped_at,
            sat_certificate=info.sat_certificate,
            previous=answers.is_previous(answer),
            message=self._short(answers.message_of(answer)),
        )

    def stamp_zip(self, archive, branch=None, sent_names=(), reference=""):
        """Stamp a ZIP of pre-CFDIs; returns the per-file report (non-idempotent: an answer
        that is not a readable report nor a clear refusal raises UnknownOutcome)."""
        response = self._call(
            "POST",
            "stamp_zip",
            operation="stamp_zip",
            branch=branch,
            idempotent=False,
            reference=reference,
            expected=STAMP_STATUSES,
            files={"file": ("cfdi.zip", archive, "application/zip")},
        )
        answer = self._read(response)
        parsed = answers.bulk_lines(answer)
        if parsed is None or (not parsed[0] and sent_names):
            self._refuse_if_clear(answer)
            raise self.transport.UnknownOutcome(
                f"Facture APP's bulk report cannot be read ({_what(answer)}, HTTP {answer.status}); "
                "the stamps will be looked up before anything is sent again.",
                status=answer.status,
                details=[self._raw(answer)],
            )
        return _bulk_report(*parsed, sent_names)

    def download(self, url):
        """Download the ZIP of stamped XMLs named by the bulk report (GET, retried).
        The link must be on the connection's own scheme and host (compared lower-cased):
        the credentials go with it, so never to another host nor over plain http."""
        target = self._same_origin(url)
        response = self.transport.request(
            "GET",
            target,
            operation="stamp_zip_download",
            headers=self._headers(),
            error_parser=self._error_parser,
        )
        return response.content

    def _same_origin(self, url):
        text = (url or "").strip()
        if not text or any(c in text for c in "\\\r\n\t") or any(ord(c) < 32 for c in text):
            raise self.transport.ProtocolError("The bulk report's download link is empty or malformed; refused.")
        base = urlsplit(self.transport.base_url)
        target = urlsplit(urljoin(self.transport.base_url, text))
        same = (target.scheme.lower(), (target.hostname or "").lower(), target.port or _port(target.scheme)) == (
            base.scheme.lower(),
            (base.hostname or "").lower(),
            base.port or _port(base.scheme),
        )
        if not same or target.username or target.password:
            raise self.transport.ProtocolError(
                f"The bulk report links to another host or scheme ({self._short(target.scheme, 10)}://"
                f"{self._short(target.hostname or '', 60)}); refused: the credentials are not sent there."
            )
        return target.geturl()

    def cfdi(self, uuid):
        response = self._call("GET", "cfdi", operation="cfdi", params={self.lookup_params["uuid"]: uuid})
        answer = self._checked(response)
        record = answers.find_record(answer.data, answers.UUID_KEYS)
        if record is None:
            raise self._missing(answer, "Facture APP's CFDI answer names no UUID.")
        return _cfdi_info(record)

    def find(self, series, number, issuer_rfc=""):
        """CFDI stamped with this series/number (reconciliation after a lost answer), or None."""
        params = {
            self.lookup_params["series"]: series or "",
            self.lookup_params["number"]: number or "",
        }
        if issuer_rfc:
            params[self.lookup_params["issuer"]] = issuer_rfc
        response = self._call("GET", "cfdi", operation="find", params=params, expected=(200, 404))
        answer = self._read(response)
        found = answers.refusal(answer)
        records = [
            r
            for r in (answers.find_list(answer.data, keys=LOOKUP_LIST_KEYS, id_keys=answers.UUID_KEYS) or [])
            if answers.get(r, answers.UUID_KEYS)
        ]
        matching = [
            r
            for r in records
            if str(answers.get(r, ("serie",)) or "") == (series or "")
            and str(answers.get(r, ("folio",)) or "") == (number or "")
        ] or ([records[0]] if len(records) == 1 and not answers.get(records[0], ("serie", "folio")) else [])
        if matching:
            return _cfdi_info(matching[0])
        if response.status_code == 404 or records or (found and _not_found(found)):
            return None
        if found and answers.success_flag(answer.data) is not True:
            self._refuse(answer, *found)
        if answer.kind in ("json", "xml") and answers.success_flag(answer.data) is True:
            return None
        raise self.transport.ProtocolError(
            f"Facture APP's look-up answer cannot be read ({_what(answer)}).", details=[self._raw(answer)]
        )

    def reconcile(self, xml):
        """After an UnknownOutcome: what Facture APP holds for these pre-CFDI bytes.

        Looks the stamp up by the business key the API offers (series + number + issuer RFC,
        checked against the total) and fetches its stamped XML. Returns a Reconciliation:
        `stamped` (with `result`) or `absent` (resend the identical bytes). Raises
        TransientError/ProtocolError when the service cannot tell (try later)."""
        root = documents.parse(xml)
        issuer = root.find(f"{{{documents.NS_CFDI}}}Emisor")
        series, number = root.get("Serie", ""), root.get("Folio", "")
        info = self.find(series, number, issuer.get("Rfc", "") if issuer is not None else "")
        if info is None:
            return Reconciliation("absent")
        body = self.xml(info.uuid)
        problem = _mismatch(xml, body)
        if problem:
            return Reconciliation("conflict", info=info, message=problem)
        stamped = documents.stamp_info(body)
        result = StampResult(
            uuid=stamped.uuid,
            xml=body,
            stamped_at=stamped.stamped_at,
            sat_certificate=stamped.sat_certificate,
            previous=True,
        )
        return Reconciliation("stamped", info=info, result=result)

    def xml(self, uuid):
        """The stamped XML of a UUID (the raw body, or carried inside a JSON/XML answer)."""
        response = self._call("GET", "xml", operation="xml", params={"uuid": uuid}, keep_payload=True)
        answer = self._read(response)
        body = answers.stamped_cfdi(answer)
        if body is None:
            self._checked(response)
            raise self._missing(answer, f"Facture APP did not answer the stamped XML of {uuid}.")
        if documents.stamp_info(body).uuid != uuid.upper():
            raise self.transport.ProtocolError(f"Facture APP answered the XML of another CFDI than {uuid}.")
        return body

    def pdf(self, uuid):
        response = self._call(
            "GET",
            "pdf",
            operation="pdf",
            params={"uuid": uuid},
            headers={"Accept": "application/pdf"},
        )
        if not response.content.startswith(b"%PDF"):
            raise self._missing(self._checked(response), "Facture APP did not answer a PDF.")
        return response.content

    def cancel(self, uuid, branch, motive, replacement=""):
        """Request the cancellation (SAT motive 01-04; 01 needs the replacing UUID).
        Idempotent at the service ("already in process" / "already cancelled"), so retried.
        A clear refusal raises RejectedError; an answer that cannot be read raises
        UnknownOutcome (the request may have been registered: ask SAT's status)."""
        params = {
            self.cancel_params["uuid"]: uuid,
            self.cancel_params["motive"]: motive,
        }
        if replacement:
            params[self.cancel_params["replacement"]] = replacement
        response = self._call("GET", "cancel", operation="cancel", params=params, branch=branch)
        answer = self._read(response)
        if answer.kind not in ("json", "xml") or not isinstance(answer.data, (dict, list)):
            raise self.transport.UnknownOutcome(
                f"Facture APP's answer to the cancellation cannot be read ({_what(answer)}); "
                "SAT's status will tell whether it was registered.",
                status=answer.status,
                details=[self._raw(answer)],
            )
        code = answers.code_of(answer)
        if code in ("FA400", "FA401", "FA404", "FA420", "FA421"):
            self._refuse(answer, code, answers.message_of(answer))
        succeed = bool(answers.success_flag(answer.data))
        texts = [
            answers.get(r, ("message", "mensaje", "error", "descripcion")) for r in answers.walk_dicts(answer.data)
        ]
        text = " ".join(t.strip() for t in texts if isinstance(t, str) and t.strip())
        link = next(
            (
                v
                for r in answers.walk_dicts(answer.data)
                for v in [answers.get(r, ("enlace", "link", "url"))]
                if isinstance(v, str)
            ),
            "",
        )
        return CancelResult(
            uuid=uuid,
            outcome=errors.cancel_outcome(succeed, text),
            succeed=succeed,
            message=self._short(text, 600),
            link=link or _link(text),
        )

    def acuse(self, uuid):
        """The SAT cancellation acknowledgement XML of a cancelled CFDI."""
        response = self._call("GET", "acuse", operation="acuse", params={"uuid": uuid}, keep_payload=True)
        answer = self._read(response)
        if answer.root is not None and answers.localname(answer.root) == "Acuse":
            return answer.raw
        if answer.root is not None:
            for node in answer.root.iter():
                if answers.localname(node) == "Acuse":
                    return etree.tostring(node, xml_declaration=True, encoding="UTF-8")
        for text in answers.walk_strings(answer.data):
            body = answers._xml_bytes(text)
            if body and b"Acuse" in body[:400]:
                return body
        self._checked(response)
        raise self._missing(answer, "Facture APP did not answer an <Acuse>.")


# ------------------------------------------------------------------ helpers
def errors_of(transport):
    return (
        transport.TransientError,
        transport.AuthError,
        transport.RejectedError,
        transport.ProtocolError,
        transport.UnknownOutcome,
    )


def _port(scheme):
    return {"http": 80, "https": 443}.get((scheme or "").lower())


def _what(answer):
    return {
        "html": "an HTML page",
        "empty": "an empty body",
        "text": "plain text",
        "json": "JSON",
        "xml": "XML",
    }.get(answer.kind, answer.kind)


def _not_found(found):
    code, text = found
    low = (text or "").lower()
    return code in ("FA404", "404", "CA205") or "no existe" in low or "no se encontr" in low


def _mismatch(sent, stamped):
    """Why a stamped CFDI is not the stamp of the `sent` pre-CFDI, or ''."""
    try:
        before, after = documents.parse(sent), documents.parse(stamped)
    except Exception:  # noqa: BLE001 - the sent bytes are ours; nothing to compare
        return ""
    keys = ("Serie", "Folio", "Fecha", "Total", "TipoDeComprobante")
    diff = [k for k in keys if (before.get(k) or "") != (after.get(k) or "")]
    issuer = [r.find(f"{{{documents.NS_CFDI}}}Emisor") for r in (before, after)]
    if None not in issuer and issuer[0].get("Rfc") != issuer[1].get("Rfc"):
        diff.append("Emisor/Rfc")
    return f"the stamped CFDI differs from the one sent ({', '.join(diff)})" if diff else ""


def _link(text):
    for word in (text or "").split():
        if word.startswith("http://") or word.startswith("https://"):
            return word.rstrip(".,;")
    return ""


def _cfdi_info(data):
    value = answers.get

    return CfdiInfo(
        uuid=str(value(data, answers.UUID_KEYS) or "").upper(),
        status=str(value(data, ("estatus", "estado", "status")) or "").lower(),
        cancelled=answers.truthy(value(data, ("cancelada", "cancelado", "cancelled")) or False),
        total=str(value(data, ("total",)) or ""),
        issuer_rfc=str(value(data, ("rfcemisor", "emisor")) or ""),
        receiver_rfc=str(value(data, ("rfcreceptor", "receptor")) or ""),
        series=str(value(data, ("serie",)) or ""),
        number=str(value(data, ("folio",)) or ""),
        stamped_at=str(value(data, ("fechatimbrado", "fecha_timbrado")) or ""),
        verification_url=str(value(data, ("cbb", "qr", "urlverificacion")) or ""),
    )


def _bulk_report(lines, link, sent_names=()):
    sent = set(sent_names)
    items, unknown, seen = {}, [], set()
    for line in lines:
        if sent and line.name not in sent:
            unknown.append(line.name)
            continue
        if line.name in seen:  # named twice: neither line can be trusted
            items.pop(line.name, None)
            continue
        seen.add(line.name)
        if line.status == "unclear":
            continue  # neither stamped nor refused: reported as missing, looked up later
        items[line.name] = BulkItem(
            filename=line.name,
            ok=line.status == "ok",
            uuid=line.uuid,
            code=line.code,
            message=line.message[:500],
        )
    missing = sorted(sent - set(items)) if sent else []
    return BulkReport(items=items, download_url=link, unknown=unknown, missing=missing)


def parse_bulk_report(body, sent_names=(), content_type="application/xml"):
    """A BulkReport from a report body in either naming (`reporte/archivo@estado`,
    `TimbradoMasivo/Archivo@estatus`) or JSON; ValueError when it is not a report."""
    parsed = answers.bulk_lines(answers.read(body, content_type))
    if parsed is None:
        raise ValueError("not a bulk stamping report")
    return _bulk_report(*parsed, sent_names)


def make_zip(files):
    """ZIP (deflated) of {filename: bytes}."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def read_zip(data, max_files=MAX_ZIP_FILES, max_bytes=MAX_ZIP_BYTES, max_member_bytes=MAX_ZIP_MEMBER_BYTES):
    """{filename: bytes} of a ZIP from outside; ValueError on a bomb (expanded size counted
    while inflating, not trusted from the headers), too many members, or two members that
    end up with the same name (one would silently replace the other)."""
    out = {}
    budget = max_bytes
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError) as exc:
        raise ValueError(f"the ZIP cannot be read ({exc})") from exc
    with archive:
        infos = [i for i in archive.infolist() if not i.is_dir()]
        if len(infos) > max_files:
            raise ValueError(f"the ZIP holds {len(infos)} files (limit {max_files})")
        for info in infos:
            name = info.filename.replace("\\", "/").rsplit("/", 1)[-1]
            if not name or name in out:
                raise ValueError(f"the ZIP holds the file name {name!r} twice (or an empty name)")
            limit = min(max_member_bytes, budget)
            out[name] = _inflate(archive, info, limit)
            budget -= len(out[name])
    return out


def _inflate(archive, info, limit):
    chunks, size = [], 0
    try:
        with archive.open(info) as member:
            while True:
                chunk = member.read(65536)
                if not chunk:
                    break
                size += len(chunk)
                if size > limit:
                    raise ValueError(f"the ZIP is too large once uncompressed (over {limit // 1024} KiB)")
                chunks.append(chunk)
    except (zipfile.BadZipFile, EOFError, OSError, NotImplementedError, RuntimeError) as exc:
        raise ValueError(f"the ZIP member {info.filename!r} cannot be read ({exc})") from exc
    return b"".join(chunks)
