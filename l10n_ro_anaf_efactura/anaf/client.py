"""ANAF e-Factura REST client: one method per operation, typed results, typed errors.

    client = AnafClient(transport)            # transport: einvoice_common Transport on
                                              # https://api.anaf.ro/{test|prod}/FCTEL/rest
    answer = client.upload(xml, cif="8000000000")
    status = client.message_state(answer.index)

ANAF answers most errors with HTTP 200 and a Romanian text; every such text is
classified by `errors.classify` and raised as the transport's taxonomy class
(`RejectedError`, `TransientError` for quotas and technical errors, `AuthError` for
missing SPV rights) with `code` = our stable key and `message` = ANAF's text.

`upload` is not idempotent: when its answer is lost or unreadable it raises
`UnknownOutcome`; call `find_upload` (the message list) before any resend.
"""

import json
import time
from dataclasses import dataclass, field

from . import documents, errors

STANDARDS = ("UBL", "CN", "CII", "RASP")
# ANAF's OAuth2 server (/authorize, /token, /revoke; HTTP Basic client authentication), used through
# einvoice_common's OAuth2 module. ANAF issues JWTs, whose `exp` is the expiry, only when asked so.
LOGINCERT = "https://logincert.anaf.ro/anaf-oauth2/v1"
OAUTH_EXTRA = {"token_content_type": "jwt"}
PAGE_SIZE = 500
MAX_LIST_DAYS = 60


@dataclass
class ValidationAnswer:
    ok: bool
    messages: list = field(default_factory=list)
    trace_id: str = ""


def anaf_error_parser(response):
    """(code, message, details) of an HTTP error answer (400/401 JSON, 500 text)."""
    text = documents.json_error(response.content)
    if not text and documents.sniff(response.content) == "xml":
        try:
            root = documents.parse_xml(response.content)
            text = " ".join(e.get("errorMessage", "") for e in root.iter() if e.get("errorMessage"))
        except documents.DocumentError:
            text = ""
    if not text:
        return None, "", []
    found = errors.classify(text)
    return found.code, text, []


class AnafClient:
    def __init__(self, transport, clock=time.time):
        self.transport = transport
        self.clock = clock

    # -- helpers ---------------------------------------------------------------
    def _raise(self, text, status=200):
        found = errors.classify(text)
        cls = getattr(self.transport, found.taxonomy)
        raise cls(text, code=found.code, status=status)

    def _get(self, path, operation, params, reference=""):
        return self.transport.request(
            "GET",
            path,
            operation=operation,
            params=params,
            error_parser=anaf_error_parser,
            reference=reference,
        )

    def _unexpected(self, response, wanted):
        kind = documents.sniff(response.content)
        text = documents.json_error(response.content) if kind == "json" else ""
        if text:
            self._raise(text, response.status_code)
        what = {"html": "an HTML page", "empty": "an empty body"}.get(kind, f"a {kind} body")
        raise self.transport.ProtocolError(
            f"ANAF answered {what} where {wanted} was expected.",
            status=response.status_code,
        )

    # -- operations ---------------------------------------------------------------
    def upload(
        self,
        xml,
        cif,
        *,
        standard="UBL",
        extern=False,
        autofactura=False,
        executare=False,
        b2c=False,
        reference="",
    ):
        """POST upload (or uploadb2c) -> documents.UploadAnswer with the upload index."""
        if standard not in STANDARDS:
            raise ValueError(f"standard must be one of {STANDARDS}")
        cif = normalise_cif(cif)
        params = {"standard": standard, "cif": cif}
        if extern:
            params["extern"] = "DA"
        if autofactura:
            params["autofactura"] = "DA"
        if executare:
            params["executare"] = "DA"
        body = xml if isinstance(xml, bytes) else xml.encode("utf-8")
        response = self.transport.request(
            "POST",
            "uploadb2c" if b2c else "upload",
            operation="upload",
            params=params,
            data=body,
            headers={"Content-Type": "text/plain"},
            idempotent=False,
            error_parser=anaf_error_parser,
            keep_payload=True,
            reference=reference,
        )
        if documents.sniff(response.content) != "xml":
            answer = _json_upload_answer(response.content)  # a gateway's JSON rendering of the same answer
            if answer is not None:
                return answer
            text = documents.json_error(response.content)
            if text:
                self._raise(text, response.status_code)
            # A WAF page or garbage with 200: the upload may or may not be registered.
            raise self.transport.UnknownOutcome(
                "ANAF answered the upload with an unreadable page; the invoice may have been received: "
                "it is checked against ANAF's message list before any new upload.",
                status=response.status_code,
            )
        try:
            answer = documents.parse_upload(response.content)
        except documents.DocumentError as exc:
            raise self.transport.UnknownOutcome(
                f"Unreadable upload answer: {exc}", status=response.status_code
            ) from exc
        if answer.errors:
            self._raise("\n".join(answer.errors))
        return answer

    def message_state(self, index, reference=""):
        """GET stareMesaj -> documents.StatusAnswer (state ok / nok / in prelucrare / XML cu erori ...)."""
        response = self._get("stareMesaj", "status", {"id_incarcare": str(index)}, reference)
        if documents.sniff(response.content) != "xml":
            self._unexpected(response, "an XML status")
        try:
            answer = documents.parse_status(response.content)
        except documents.DocumentError as exc:
            raise self.transport.ProtocolError(str(exc), status=response.status_code) from exc
        if answer.errors:
            self._raise("\n".join(answer.errors))
        return answer

    def download(self, download_id, reference=""):
        """GET descarcare -> documents.ZipAnswer (invoice or error document + ANAF signature)."""
        response = self._get("descarcare", "download", {"id": str(download_id)}, reference)
        if documents.sniff(response.content) != "zip":
            self._unexpected(response, "a ZIP")
        try:
            return documents.parse_zip(response.content)
        except documents.DocumentError as exc:
            raise self.transport.ProtocolError(
                f"ANAF's ZIP could not be read: {exc}", status=response.status_code
            ) from exc

    def list_messages(self, days, cif, filter=None):
        """GET listaMesajeFactura (simple list: at most 500 messages) -> [documents.Message]."""
        params = {"zile": int(days), "cif": normalise_cif(cif)}
        if filter:
            params["filtru"] = filter
        response = self._get("listaMesajeFactura", "list", params)
        body = self.transport.json(response)
        if body.get("eroare"):
            if errors.is_empty_list(body["eroare"]):
                return []
            self._raise(body["eroare"])
        return documents.parse_messages(body)

    def list_messages_page(self, start_ms, end_ms, cif, page=1, filter=None):
        """GET listaMesajePaginatieFactura -> documents.MessagePage."""
        params = {
            "startTime": int(start_ms),
            "endTime": int(end_ms),
            "cif": normalise_cif(cif),
            "pagina": int(page),
        }
        if filter:
            params["filtru"] = filter
        response = self._get("listaMesajePaginatieFactura", "list_page", params)
        body = self.transport.json(response)
        if body.get("eroare"):
            if errors.is_empty_list(body["eroare"]):
                return documents.MessagePage([], page, 0, 0)
            self._raise(body["eroare"])
        return documents.MessagePage(
            documents.parse_messages(body),
            page=page,
            total_pages=int(body.get("numar_total_pagini") or 1),
            total=int(body.get("numar_total_inregistrari") or 0),
            per_page=int(body.get("numar_total_inregistrari_per_pagina") or PAGE_SIZE),
        )

    def iter_messages(self, start_ms, end_ms, cif, filter=None):
        """Every message of the period, page after page (index_pagina_curenta is not trusted)."""
        page, total_pages = 1, 1
        while page <= total_pages:
            result = self.list_messages_page(start_ms, end_ms, cif, page, filter)
            total_pages = result.total_pages
            yield from result.messages
            page += 1

    def validate(self, xml, standard="FACT1"):
        """POST validare/FACT1|FCN -> ValidationAnswer (costs no upload)."""
        response = self.transport.request(
            "POST",
            f"validare/{standard}",
            operation="validate",
            data=_bytes(xml),
            headers={"Content-Type": "text/plain"},
            idempotent=True,
            error_parser=anaf_error_parser,
        )
        body = self.transport.json(response)
        if body.get("eroare"):
            self._raise(body["eroare"])
        messages = [m.get("message", "") for m in body.get("Messages") or []]
        return ValidationAnswer(body.get("stare") == "ok", messages, body.get("trace_id", ""))

    def transform(self, xml, standard="FACT1", validate=True):
        """POST transformare/FACT1|FCN[/DA] -> PDF bytes (ANAF's rendering of the invoice)."""
        path = f"transformare/{standard}" + ("" if validate else "/DA")
        response = self.transport.request(
            "POST",
            path,
            operation="transform",
            data=_bytes(xml),
            headers={"Content-Type": "text/plain"},
            idempotent=True,
            error_parser=anaf_error_parser,
        )
        if documents.sniff(response.content) != "pdf":
            self._unexpected(response, "a PDF")
        return response.content

    # -- reconciliation -----------------------------------------------------------
    def find_upload(
        self,
        cif,
        start_ms,
        end_ms,
        *,
        payload_sha256="",
        number="",
        known_indexes=(),
        download=None,
    ):
        """Look for an upload of ours in ANAF's sent messages (filter T) after an unknown outcome.

        Messages whose index we already know are skipped; the others are downloaded
        (once: `download(message)` may be given to reuse archived ZIPs) and their
        invoice compared by SHA-256 of the XML or by invoice number. Returns
        (message, zip_answer) or (None, None).
        """
        known = {str(i) for i in known_indexes if i}
        for message in self.iter_messages(start_ms, end_ms, cif, filter="T"):
            if message.index in known:
                continue
            answer = download(message) if download else self.download(message.id)
            if answer is None or answer.is_error_document:
                continue
            if payload_sha256 and documents.sha256(answer.xml) == payload_sha256:
                return message, answer
            if number and documents.summarise_invoice(answer.xml).number == number:
                return message, answer
        return None, None


def _json_upload_answer(content):
    """An upload answer given as JSON ({"ExecutionStatus": 0, "index_incarcare": ...}), else None."""
    try:
        body = json.loads(content)
    except (ValueError, TypeError):
        return None
    if not isinstance(body, dict) or str(body.get("ExecutionStatus", "")) != "0":
        return None
    index = str(body.get("index_incarcare") or "").strip()
    if not index.isdigit():
        return None
    return documents.UploadAnswer(index=index, date=str(body.get("dateResponse") or ""), errors=[])


def normalise_cif(cif):
    value = (cif or "").strip().upper().replace(" ", "")
    value = value.removeprefix("RO")
    return value


def _bytes(xml):
    return xml if isinstance(xml, bytes) else xml.encode("utf-8")
