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

from . import documents, errors

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
JSON = "application/json"
XML = "application/xml"
MAX_ZIP_FILES = 20000
MAX_ZIP_BYTES = 500 * 1024 * 1024


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


@dataclass
class StampResult:
    uuid: str
    xml: bytes
    stamped_at: str = ""
    sat_certificate: str = ""
    previous: bool = False  # the service returned an earlier stamp of the same XML
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

    def _decode(self, response):
        """A dict from a JSON or XML answer."""
        ctype = response.headers.get("Content-Type", "")
        body = response.content or b""
        if "html" in ctype or body.lstrip()[:100].lower().startswith((b"<html", b"<!doctype")):
            raise self.transport.ProtocolError(
                "Facture APP answered an HTML page where data was expected.",
                status=response.status_code,
            )
        if "json" in ctype or body.lstrip()[:1] in (b"{", b"["):
            return self.transport.json(response)
        if "xml" in ctype or body.lstrip()[:1] == b"<":
            try:
                root = documents.parse(body)
            except Exception as exc:
                raise self.transport.ProtocolError(
                    f"Facture APP answered unreadable XML: {exc}",
                    status=response.status_code,
                ) from exc
            return _xml_to_dict(root)
        return self.transport.json(response)  # raises ProtocolError naming what came

    def _error_parser(self, response):
        try:
            data = self._decode(response)
        except Exception:
            return None, "", []
        if not isinstance(data, dict):
            return None, "", []
        code = str(data.get("code") or "")
        info = errors.describe(code, data.get("message", ""))
        return code or None, info.message, [data]

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

    def _checked(self, response):
        data = self._decode(response)
        if not isinstance(data, dict):
            raise self.transport.ProtocolError("Facture APP answered an unexpected structure.")
        if _truthy(data.get("succeed", True)):
            return data
        code = str(data.get("code") or "")
        info = errors.describe(code, data.get("message", ""))
        if info.kind == "auth":
            raise self.transport.AuthError(info.message, code=code, status=response.status_code, details=[data])
        raise self.transport.RejectedError(info.message, code=code or None, status=response.status_code, details=[data])

    # -- operations ------------------------------------------------------------------
    def account(self):
        data = self._checked(self._call("GET", "account", operation="account"))
        user = data.get("usuario") or data
        return Account(
            user=str(user.get("usuario", "")),
            name=str(user.get("nombre", "")),
            credits=int(user.get("creditos", 0) or 0),
            active=_truthy(user.get("activo", True)),
        )

    def branches(self):
        data = self._checked(self._call("GET", "branches", operation="branches"))
        items = data.get("sucursales") or []
        if isinstance(items, dict):  # XML: <sucursales><sucursal>...</sucursal></sucursales>
            items = items.get("sucursal") or []
            items = items if isinstance(items, list) else [items]
        return [
            Branch(
                id=str(i.get("ID") or i.get("id")),
                name=str(i.get("nombre", "")),
                zip=str(i.get("codigoPostal", "") or ""),
                rfc=str(i.get("rfc", "") or ""),
            )
            for i in items
        ]

    def stamp(self, xml, branch, reference=""):
        """Stamp one unsigned pre-CFDI (the exact bytes are sent). Non-idempotent: a lost
        answer raises UnknownOutcome; reconcile (`find`, or resend these same bytes) first."""
        response = self._call(
            "POST",
            "stamp",
            operation="stamp",
            branch=branch,
            data=xml,
            idempotent=False,
            reference=reference,
            keep_payload=True,
            headers={"Content-Type": "application/xml; charset=utf-8"},
        )
        data = self._checked(response)
        return self._stamp_result(data)

    def _stamp_result(self, data):
        xml = data.get("xml") or ""
        xml = xml.encode("utf-8") if isinstance(xml, str) else xml
        if not xml:
            raise self.transport.ProtocolError("Facture APP reported a stamp without the stamped XML.")
        info = documents.stamp_info(xml)
        uuid = (data.get("uuid") or info.uuid).upper()
        if uuid != info.uuid:
            raise self.transport.ProtocolError(f"The UUID {uuid} in the answer differs from the TFD's {info.uuid}.")
        return StampResult(
            uuid=uuid,
            xml=xml,
            stamped_at=info.stamped_at,
            sat_certificate=info.sat_certificate,
            previous=str(data.get("code")) == "307",
            message=str(data.get("message", "")),
        )

    def stamp_zip(self, archive, branch=None, sent_names=(), reference=""):
        """Stamp a ZIP of pre-CFDIs; returns the per-file report (non-idempotent)."""
        response = self._call(
            "POST",
            "stamp_zip",
            operation="stamp_zip",
            branch=branch,
            idempotent=False,
            reference=reference,
            files={"file": ("cfdi.zip", archive, "application/zip")},
        )
        data = self._decode(response)
        if isinstance(data, dict) and "succeed" in data and not _truthy(data["succeed"]):
            self._checked(response)
        return parse_bulk_report(response.content, sent_names)

    def download(self, url):
        """Download the ZIP of stamped XMLs named by the bulk report (GET, retried).
        Only links on the service's own host are followed: the credentials go with it."""
        if url.startswith(("http://", "https://")) and _netloc(url) != _netloc(self.transport.base_url):
            raise self.transport.ProtocolError(f"The bulk report links to another host ({_netloc(url)}); refused.")
        response = self.transport.request(
            "GET",
            url,
            operation="stamp_zip_download",
            headers=self._headers(),
            error_parser=self._error_parser,
        )
        return response.content

    def cfdi(self, uuid):
        response = self._call("GET", "cfdi", operation="cfdi", params={self.lookup_params["uuid"]: uuid})
        return _cfdi_info(self._checked(response))

    def find(self, series, number, issuer_rfc=""):
        """CFDI stamped with this series/number (reconciliation after a lost answer), or None."""
        params = {
            self.lookup_params["series"]: series or "",
            self.lookup_params["number"]: number or "",
        }
        if issuer_rfc:
            params[self.lookup_params["issuer"]] = issuer_rfc
        response = self._call("GET", "cfdi", operation="find", params=params, expected=(200, 404))
        if response.status_code == 404:
            return None
        data = self._decode(response)
        if not _truthy(data.get("succeed", True)):
            if str(data.get("code")) in ("FA404", "404", "CA205"):
                return None
            self._checked(response)
        return _cfdi_info(data) if (data.get("uuid") or (data.get("cfdi") or {}).get("uuid")) else None

    def xml(self, uuid):
        response = self._call("GET", "xml", operation="xml", params={"uuid": uuid}, keep_payload=True)
        if response.content.lstrip()[:1] == b"{":
            self._checked(response)
        return response.content

    def pdf(self, uuid):
        response = self._call(
            "GET",
            "pdf",
            operation="pdf",
            params={"uuid": uuid},
            headers={"Accept": "application/pdf"},
        )
        if not response.content.startswith(b"%PDF"):
            self._checked(response)
            raise self.transport.ProtocolError("Facture APP did not answer a PDF.")
        return response.content

    def cancel(self, uuid, branch, motive, replacement=""):
        """Request the cancellation (SAT motive 01-04; 01 needs the replacing UUID).
        Idempotent at the service ("already in process" / "already cancelled"), so retried."""
        params = {
            self.cancel_params["uuid"]: uuid,
            self.cancel_params["motive"]: motive,
        }
        if replacement:
            params[self.cancel_params["replacement"]] = replacement
        response = self._call("GET", "cancel", operation="cancel", params=params, branch=branch)
        data = self._decode(response)
        if isinstance(data, dict) and str(data.get("code")) in ("FA401",):
            self._checked(response)
        if isinstance(data, dict) and str(data.get("code")) in (
            "FA400",
            "FA404",
            "FA420",
            "FA421",
        ):
            self._checked(response)
        succeed = _truthy(data.get("succeed", False))
        text = " ".join(str(data.get(k) or "") for k in ("message", "error"))
        return CancelResult(
            uuid=uuid,
            outcome=errors.cancel_outcome(succeed, text),
            succeed=succeed,
            message=text.strip(),
            link=str(data.get("enlace") or _link(text)),
        )

    def acuse(self, uuid):
        """The SAT cancellation acknowledgement XML of a cancelled CFDI."""
        response = self._call("GET", "acuse", operation="acuse", params={"uuid": uuid}, keep_payload=True)
        body = response.content
        if body.lstrip()[:1] == b"{":
            self._checked(response)
            raise self.transport.ProtocolError("Facture APP did not answer the acuse XML.")
        root = documents.parse(body)
        if not root.tag.endswith("Acuse"):
            data = _xml_to_dict(root)
            if not _truthy(data.get("succeed", True)):
                self._checked(response)
            raise self.transport.ProtocolError("Facture APP did not answer an <Acuse>.")
        return body


# ------------------------------------------------------------------ helpers
def _netloc(url):
    from urllib.parse import urlsplit

    return urlsplit(url).netloc.lower()


def _truthy(value):
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes", "si", "sí")
    return bool(value)


def _link(text):
    for word in (text or "").split():
        if word.startswith("http://") or word.startswith("https://"):
            return word.rstrip(".,;")
    return ""


def _xml_to_dict(root):
    """<respuesta><succeed>true</succeed><sucursales><sucursal>..</sucursal></sucursales></respuesta> -> dict."""

    def convert(node):
        children = list(node)
        if not children:
            return node.text or ""
        out = {}
        for child in children:
            key = etree_localname(child)
            value = convert(child)
            if key in out:
                if not isinstance(out[key], list):
                    out[key] = [out[key]]
                out[key].append(value)
            else:
                out[key] = value
        return out

    data = convert(root)
    return data if isinstance(data, dict) else {"value": data}


def etree_localname(node):
    tag = node.tag
    return tag.split("}", 1)[1] if isinstance(tag, str) and "}" in tag else tag


def _cfdi_info(data):
    data = data.get("cfdi") or data
    return CfdiInfo(
        uuid=str(data.get("uuid", "")).upper(),
        status=str(data.get("estatus", "")),
        cancelled=_truthy(data.get("cancelada", False)),
        total=str(data.get("total", "")),
        issuer_rfc=str(data.get("rfcEmisor", "")),
        receiver_rfc=str(data.get("rfcReceptor", "")),
        series=str(data.get("serie", "") or ""),
        number=str(data.get("folio", "") or ""),
        stamped_at=str(data.get("fechaTimbrado", "")),
        verification_url=str(data.get("cbb", "")),
    )


def parse_bulk_report(body, sent_names=()):
    """<reporte><archivo nombre estado uuid codigo mensaje/>...<descarga>URL</descarga></reporte>."""
    root = documents.parse(body)
    if etree_localname(root) != "reporte":
        raise ValueError("not a bulk stamping report")
    items = {}
    sent = set(sent_names)
    unknown = []
    for node in root:
        if etree_localname(node) != "archivo":
            continue
        name = node.get("nombre", "")
        if sent and name not in sent:
            unknown.append(name)
            continue
        ok = node.get("estado", "").lower() in ("timbrado", "ok", "exito")
        items[name] = BulkItem(
            filename=name,
            ok=ok,
            uuid=(node.get("uuid") or "").upper(),
            code=node.get("codigo", ""),
            message=node.get("mensaje", ""),
        )
    link = root.find("descarga")
    missing = sorted(sent - set(items)) if sent else []
    return BulkReport(
        items=items,
        download_url=(link.text or "").strip() if link is not None else "",
        unknown=unknown,
        missing=missing,
    )


def make_zip(files):
    """ZIP (deflated) of {filename: bytes}."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def read_zip(data, max_files=MAX_ZIP_FILES, max_bytes=MAX_ZIP_BYTES):
    """{filename: bytes} of a ZIP from outside, refusing zip bombs and odd names."""
    out = {}
    total = 0
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        infos = archive.infolist()
        if len(infos) > max_files:
            raise ValueError(f"the ZIP holds {len(infos)} files (limit {max_files})")
        for info in infos:
            if info.is_dir():
                continue
            name = info.filename.replace("\\", "/").rsplit("/", 1)[-1]
            total += info.file_size
            if total > max_bytes:
                raise ValueError("the ZIP is too large once uncompressed")
            out[name] = archive.read(info)
    return out
