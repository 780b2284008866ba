"""Tolerant reading of Facture APP's legacy `/rest` answers, whose formats are undocumented.

Independent servers answer in several shapes (see SERVICE.md, "Open points"), so nothing
here trusts one key or one wrapper:
- the body is JSON or XML: the `Content-Type` is followed first, then the body is sniffed;
- lists come bare or wrapped (`sucursales`, `data`, `items` ...), objects flat or nested;
- a stamped CFDI may sit under any key (`xml`, `cfdi`, `comprobante`, `timbre`, `encode`
  ...), base64-encoded or not, embedded as an XML element, or be the raw body: a stamp is
  recognised by a valid `tfd:TimbreFiscalDigital`, not by a key;
- error bodies are `{error|mensaje|message, codigo|code}` in any combination, flat or
  nested under `error`, in JSON or XML.
Keys are compared case-insensitively. Nothing here raises on a strange shape: the
caller decides what an unreadable answer means (unknown outcome for a stamp).
"""

import base64
import binascii
import json
import re
from dataclasses import dataclass

from lxml import etree

from . import documents

MESSAGE_KEYS = ("mensaje", "message", "msg", "descripcion", "detalle", "errormessage", "mensajeerror")
CODE_KEYS = ("codigo", "code", "codigoerror", "errorcode", "cod", "clave")
SUCCESS_KEYS = ("succeed", "success", "exito", "éxito", "ok", "correcto")
SUCCESS_CODES = {"", "0", "00", "200", "201", "307", "ok", "exito", "success"}
LIST_KEYS = (
    "sucursales",
    "sucursal",
    "branches",
    "branch",
    "data",
    "items",
    "item",
    "results",
    "resultados",
    "lista",
    "registros",
    "datos",
)
ITEM_ID_KEYS = ("id", "idsucursal", "sucursalid", "sucursal_id", "clave", "numero")
CREDIT_KEYS = (
    "creditos",
    "credits",
    "creditosdisponibles",
    "timbres",
    "timbresdisponibles",
    "saldo",
    "folios",
    "foliosdisponibles",
    "disponibles",
)
UUID_KEYS = ("uuid", "foliofiscal", "folio_fiscal", "uuidtimbre")
UUID_RE = re.compile(r"^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$")
B64_RE = re.compile(rb"^[A-Za-z0-9+/=\s]+$")
MAX_DEPTH = 8


@dataclass
class Answer:
    """A decoded answer: `data` (dict, list, str or None), `root` (the XML root, if XML)."""

    raw: bytes
    status: int = 200
    kind: str = "empty"  # json / xml / html / text / empty
    data: object = None
    root: object = None

    def snippet(self, limit=300):
        """The start of the raw body, for logs and error details (not for people)."""
        return self.raw[:limit].decode("utf-8", "replace")


def read(raw, content_type="", status=200):
    """An Answer from a body; follows the Content-Type, then sniffs."""
    raw = raw or b""
    answer = Answer(raw=raw, status=status)
    head = raw.lstrip()[:200].lower()
    if not head:
        return answer
    if head.startswith((b"<html", b"<!doctype html", b"<head", b"<body")):
        answer.kind = "html"
        return answer
    ctype = (content_type or "").lower()
    order = ("json", "xml") if "json" in ctype else ("xml", "json")
    if "json" not in ctype and "xml" not in ctype:
        order = ("json", "xml") if head[:1] in (b"{", b"[", b'"') else ("xml", "json")
    for kind in order:
        if _decode(answer, kind):
            return answer
    answer.kind, answer.data = "text", raw.decode("utf-8", "replace").strip()
    return answer


def _decode(answer, kind):
    if kind == "json":
        try:
            answer.data = json.loads(answer.raw.decode("utf-8-sig"))
        except (ValueError, UnicodeDecodeError, RecursionError):
            return False
        answer.kind = "json"
        return True
    if answer.raw.lstrip()[:1] not in (b"<", b"\xef"):
        return False
    try:
        answer.root = documents.parse(answer.raw)
    except Exception:  # noqa: BLE001 - any parse failure means "not XML"
        return False
    answer.kind, answer.data = "xml", xml_to_data(answer.root)
    return True


def localname(node):
    tag = node.tag
    if not isinstance(tag, str):
        return ""
    return tag.split("}", 1)[1] if "}" in tag else tag


def xml_to_data(root):
    """{root tag: content}: elements become keys (repeated ones a list), attributes keys too."""

    def convert(node):
        children = [c for c in node if isinstance(c.tag, str)]
        if not children and not node.attrib:
            return (node.text or "").strip()
        out = {localname_attr(k): v for k, v in node.attrib.items()}
        if not children and (node.text or "").strip():
            out["value"] = node.text.strip()
        for child in children:
            key, value = localname(child), convert(child)
            if key in out:
                out[key] = out[key] if isinstance(out[key], list) else [out[key]]
                out[key].append(value)
            else:
                out[key] = value
        return out

    return {localname(root): convert(root)}


def localname_attr(key):
    return key.split("}", 1)[1] if "}" in key else key


# ------------------------------------------------------------------ generic look-ups
def get(data, keys):
    """The first value under one of `keys` (case-insensitive) of a dict, else None."""
    if not isinstance(data, dict):
        return None
    lowered = {str(k).lower(): v for k, v in data.items()}
    for key in keys:
        if key in lowered and lowered[key] not in (None, ""):
            return lowered[key]
    return None


def walk_dicts(data, depth=0):
    """Every dict in `data`, outermost first (breadth by nesting level)."""
    if depth > MAX_DEPTH:
        return
    if isinstance(data, dict):
        yield data
        for value in data.values():
            yield from walk_dicts(value, depth + 1)
    elif isinstance(data, list):
        for value in data:
            yield from walk_dicts(value, depth + 1)


def walk_strings(data, depth=0):
    if depth > MAX_DEPTH:
        return
    if isinstance(data, str):
        yield data
    elif isinstance(data, dict):
        for value in data.values():
            yield from walk_strings(value, depth + 1)
    elif isinstance(data, list):
        for value in data:
            yield from walk_strings(value, depth + 1)


def truthy(value):
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes", "si", "sí", "ok", "exito", "éxito")
    return bool(value)


def success_flag(data):
    """True/False when the answer says so (`succeed`, `success`, `exito` ...), else None."""
    for item in walk_dicts(data):
        value = get(item, SUCCESS_KEYS)
        if value is not None and not isinstance(value, (dict, list)):
            return truthy(value)
    return None


def find_list(data, keys=LIST_KEYS, id_keys=ITEM_ID_KEYS):
    """The list of records in an answer (bare, wrapped, or XML's repeated elements), or None
    when there is no recognisable list at all. An empty wrapper gives []."""
    if isinstance(data, list):
        return [i for i in data if isinstance(i, dict)]
    if not isinstance(data, dict):
        return None
    for key, value in data.items():
        if str(key).lower() in keys:
            if value in ("", None):
                return []
            found = find_list(value, keys, id_keys)
            if found is not None:
                return found
    ident = get(data, id_keys)
    if ident is not None and not isinstance(ident, (dict, list)):
        return [data]  # one record, unwrapped (XML with a single element)
    for value in data.values():
        if isinstance(value, (dict, list)):
            found = find_list(value, keys, id_keys)
            if found:
                return found
    return None


def find_record(data, keys):
    """The outermost dict holding one of `keys` (a flat or nested object), or None."""
    for item in walk_dicts(data):
        value = get(item, keys)
        if value is not None and not isinstance(value, (dict, list)):
            return item
    return None


# ------------------------------------------------------------------ errors
def refusal(answer, strict=False):
    """(code, message) when the answer is clearly an error body, else None.

    Clear: a success flag that says false, an `error` key, HTTP 4xx; unless `strict`, also
    a code outside the success codes together with a message (for an answer that carries
    none of the data asked for: a data answer may carry an informative code)."""
    data = answer.data
    if answer.kind == "text" and answer.status >= 400 and data:
        return "", str(data)
    if not isinstance(data, (dict, list)):
        return None
    flag = success_flag(data)
    holder = _error_holder(data)
    code = str(get(holder, CODE_KEYS) or "").strip() if holder else ""
    message = _message(holder) if holder else ""
    has_error_key = any(get(item, ("error", "errores", "errors")) for item in walk_dicts(data))
    if flag is False or has_error_key or answer.status >= 400:
        return code, message
    if not strict and code and code.lower() not in SUCCESS_CODES and message:
        return code, message
    return None


def _error_holder(data):
    for item in walk_dicts(data):
        nested = get(item, ("error", "errores", "errors"))
        if isinstance(nested, dict):
            return nested
        if isinstance(nested, list) and nested and isinstance(nested[0], dict):
            return nested[0]
    return find_record(data, CODE_KEYS) or find_record(data, MESSAGE_KEYS) or find_record(data, ("error",))


def _message(holder):
    parts = []
    for key in ("error",) + MESSAGE_KEYS:
        value = get(holder, (key,))
        if isinstance(value, str) and value.strip() and value.strip() not in parts:
            parts.append(value.strip())
    return " ".join(parts)


def code_of(answer):
    holder = find_record(answer.data, CODE_KEYS)
    return str(get(holder, CODE_KEYS) or "") if holder else ""


def message_of(answer):
    holder = _error_holder(answer.data) if isinstance(answer.data, (dict, list)) else None
    return _message(holder) if holder else ""


# ------------------------------------------------------------------ stamped CFDI
def stamped_cfdi(answer):
    """The stamped CFDI (bytes) carried by the answer, wherever it is, or None.

    Success is the presence of a Comprobante holding a valid TimbreFiscalDigital."""
    if answer.root is not None:
        if valid_tfd(answer.root):
            if localname(answer.root) == "Comprobante":
                return answer.raw
        for node in answer.root.iter(f"{{{documents.NS_CFDI}}}Comprobante"):
            if node is not answer.root and valid_tfd(node):
                return etree.tostring(node, xml_declaration=True, encoding="UTF-8")
    for text in walk_strings(answer.data):
        body = _xml_bytes(text)
        if body is None:
            continue
        try:
            root = documents.parse(body)
        except Exception:  # noqa: BLE001 - a string that only looked like XML
            continue
        if localname(root) == "Comprobante" and valid_tfd(root):
            return body
    return None


def _xml_bytes(text):
    stripped = text.strip()
    if stripped.startswith("<"):
        return stripped.encode("utf-8")
    if len(stripped) < 64 or not B64_RE.match(stripped.encode("ascii", "ignore") or b"!"):
        return None
    try:
        decoded = base64.b64decode(stripped, validate=False)
    except (binascii.Error, ValueError):
        return None
    decoded = decoded.lstrip(b"\xef\xbb\xbf").lstrip()
    return decoded if decoded.startswith(b"<") else None


def valid_tfd(root):
    """True when `root` is a Comprobante whose Complemento holds a complete TFD 1.1."""
    if localname(root) != "Comprobante":
        return False
    tfd = root.find(f"{{{documents.NS_CFDI}}}Complemento/{{{documents.NS_TFD}}}TimbreFiscalDigital")
    if tfd is None:
        return False
    return (
        bool(UUID_RE.match(tfd.get("UUID", "")))
        and all(tfd.get(k) for k in ("FechaTimbrado", "SelloSAT", "NoCertificadoSAT", "RfcProvCertif", "SelloCFD"))
        and tfd.get("Version", "1.1") == "1.1"
    )


def stamped_uuid(answer):
    """A fiscal UUID the answer names (a TFD alone, or a `uuid` key), or ''."""
    if answer.root is not None:
        for tfd in answer.root.iter(f"{{{documents.NS_TFD}}}TimbreFiscalDigital"):
            if UUID_RE.match(tfd.get("UUID", "")):
                return tfd.get("UUID").upper()
    for item in walk_dicts(answer.data):
        value = get(item, UUID_KEYS)
        if isinstance(value, str) and UUID_RE.match(value.strip()):
            return value.strip().upper()
    for text in walk_strings(answer.data):
        body = _xml_bytes(text)
        if body is not None and b"TimbreFiscalDigital" in body:
            match = re.search(rb'UUID="([0-9A-Fa-f-]{36})"', body)
            if match:
                return match.group(1).decode().upper()
    return ""


def is_previous(answer):
    """The service returned an earlier stamp of the same XML (code 307 / "timbre previo")."""
    text = json.dumps(answer.data, ensure_ascii=False, default=str).lower() if answer.data else ""
    return code_of(answer) == "307" or "timbre previo" in text


# ------------------------------------------------------------------ bulk report
@dataclass
class ReportLine:
    name: str
    status: str  # ok / error / unclear
    uuid: str = ""
    code: str = ""
    message: str = ""


OK_STATES = ("timbrado", "ok", "exito", "éxito", "correcto", "success", "stamped", "procesado", "1", "true")
ERROR_STATES = ("error", "rechazado", "fallido", "invalido", "inválido", "fail", "failed", "0", "false")


def bulk_lines(answer):
    """([ReportLine], download link) from a bulk report in either naming
    (`reporte/archivo@estado` or `TimbradoMasivo/Archivo@estatus`, or JSON), or None."""
    records = find_list(
        answer.data,
        keys=("archivo", "archivos", "files", "file", "items", "data", "resultados"),
        id_keys=("nombre", "name", "filename"),
    )
    if records is None:
        return None
    lines = [_report_line(r) for r in records]
    return [line for line in lines if line.name], _download_link(answer.data)


def _report_line(record):
    name = get(record, ("nombre", "name", "filename")) or ""
    state = str(get(record, ("estado", "estatus", "status", "resultado")) or "").strip().lower()
    uuid = str(get(record, UUID_KEYS) or "").strip().upper()
    if state in OK_STATES and UUID_RE.match(uuid):
        status = "ok"
    elif state in ERROR_STATES:
        status = "error"
    else:
        status = "unclear"
    return ReportLine(
        name=str(name),
        status=status,
        uuid=uuid,
        code=str(get(record, CODE_KEYS) or ""),
        message=str(get(record, MESSAGE_KEYS + ("error",)) or ""),
    )


def _download_link(data):
    for item in walk_dicts(data):
        value = get(item, ("descarga", "download", "url", "enlace", "link"))
        if isinstance(value, dict):
            value = get(value, ("value", "url", "href"))
        if isinstance(value, str) and value.strip():
            return value.strip()
    return ""
