"""Answer dialects of the Facture APP sandbox.

The legacy `/rest` API documents no answer format, so the sandbox can answer in several
plausible ones (`FactureSandbox(dialect=...)`), and the client's tests run against all:

- `json`: the sandbox's own shape: `{succeed, code, message, ...}`, lists under
  `sucursales`, the user under `usuario`, the stamp under `xml`; XML when `Accept` asks.
- `flat`: bare JSON list of branches, a flat user object, the stamp under `cfdi` with no
  `uuid` and no success flag, errors as `{codigo, mensaje}` (HTTP 402 for no credits),
  bulk report `TimbradoMasivo/Archivo@estatus`.
- `wrapped`: everything under `data` (branches in `data.items`, the user in
  `data.usuario`), the stamp base64-encoded in `data.comprobante`, errors as
  `{"error": {"code", "message"}}`, a JSON bulk report.
- `xml`: XML whatever `Accept` says: `<sucursales><sucursal>`, a flat `<usuario>`, the
  stamped CFDI as the raw body, errors `<error><codigo/><mensaje/></error>` with HTTP 4xx,
  bulk report `TimbradoMasivo`.
- `mislabelled`: the `json` shapes under a wrong `Content-Type` (text/plain), and the
  stamped CFDI as the raw body labelled JSON: the client must sniff.
"""

import base64
import json

from lxml import etree

DIALECTS = ("json", "flat", "wrapped", "xml", "mislabelled")
OPS = {
    "/rest/administracion/usuario/": "user",
    "/rest/administracion/sucursales/": "branches",
    "/rest/timbrado/produccion/": "stamp",
    "/rest/consulta/cfdi/": "cfdi",
    "/rest/cancelacion/produccion/": "cancel",
}
ERROR_STATUS = {"FA401": 401, "FA402": 402, "FA404": 404, "CA205": 404}
JSON_TYPE = "application/json; charset=utf-8"
XML_TYPE = "application/xml; charset=utf-8"


def render(dialect, path, data, status, accept):
    """(body, status, content type) of `data` (the sandbox's own dict) in `dialect`."""
    op = OPS.get(path, "")
    if dialect == "json":
        return _json_dialect(data, status, accept)
    if dialect == "mislabelled":
        if op == "stamp" and data.get("xml"):
            return data["xml"].encode(), status, JSON_TYPE
        return json.dumps(data, ensure_ascii=False).encode(), status, "text/plain; charset=utf-8"
    failed = data.get("succeed") is False and op != "cancel"
    if failed:
        return _error(dialect, data, status)
    shape = {"flat": _flat, "wrapped": _wrapped, "xml": _xml}[dialect]
    return shape(op, data, status)


def _json_dialect(data, status, accept):
    if "xml" in accept and "json" not in accept:
        return dict_to_xml("respuesta", data), status, XML_TYPE
    return json.dumps(data, ensure_ascii=False).encode(), status, JSON_TYPE


def _error(dialect, data, status):
    code, message = str(data.get("code") or ""), str(data.get("message") or data.get("error") or "")
    status = ERROR_STATUS.get(code, status)
    if dialect == "flat":
        return _dumps({"codigo": code, "mensaje": message}), status, JSON_TYPE
    if dialect == "wrapped":
        return _dumps({"error": {"code": code, "message": message}}), status, JSON_TYPE
    status = status if status >= 400 else 400
    return dict_to_xml("error", {"codigo": code, "mensaje": message}), status, XML_TYPE


def _flat(op, data, status):
    if op == "user":
        return _dumps(data["usuario"]), status, JSON_TYPE
    if op == "branches":
        return _dumps(data["sucursales"]), status, JSON_TYPE
    if op == "stamp":
        body = {"codigo": data.get("code"), "mensaje": data.get("message"), "cfdi": data.get("xml")}
        return _dumps(body), status, JSON_TYPE
    if op == "cfdi":
        return _dumps(data["cfdi"]), status, JSON_TYPE
    if op == "cancel":
        body = {"exito": data.get("succeed"), "mensaje": data.get("message"), "error": data.get("error", "")}
        if data.get("code"):
            body["codigo"] = data["code"]
        if data.get("enlace"):
            body["enlace"] = data["enlace"]
        return _dumps(body), status, JSON_TYPE
    return _dumps(data), status, JSON_TYPE


def _wrapped(op, data, status):
    if op == "user":
        return _dumps({"data": {"usuario": data["usuario"]}}), status, JSON_TYPE
    if op == "branches":
        return _dumps({"data": {"items": data["sucursales"]}}), status, JSON_TYPE
    if op == "stamp":
        encoded = base64.b64encode(data["xml"].encode()).decode()
        body = {"code": data.get("code"), "message": data.get("message"), "data": {"comprobante": encoded}}
        return _dumps(body), status, JSON_TYPE
    if op in ("cfdi", "cancel"):
        inner = {k: v for k, v in data.items() if k not in ("succeed", "code")}
        body = {"success": data.get("succeed"), "data": inner.get("cfdi", inner)}
        if data.get("code") and data.get("succeed") is False:
            body["code"] = data["code"]
        return _dumps(body), status, JSON_TYPE
    return _dumps({"data": data}), status, JSON_TYPE


def _xml(op, data, status):
    if op == "user":
        return dict_to_xml("usuario", data["usuario"]), status, XML_TYPE
    if op == "branches":
        root = etree.Element("sucursales")
        for branch in data["sucursales"]:
            _fill(etree.SubElement(root, "sucursal"), branch)
        return etree.tostring(root, xml_declaration=True, encoding="UTF-8"), status, XML_TYPE
    if op == "stamp":
        return data["xml"].encode(), status, XML_TYPE
    if op == "cfdi":
        return dict_to_xml("cfdi", data["cfdi"]), status, XML_TYPE
    return dict_to_xml("respuesta", data), status, XML_TYPE


def bulk_report(dialect, lines, link):
    """(body, content type) of a bulk report: [(name, ok, uuid, code, message)]."""
    if dialect == "wrapped":
        files = [
            {"nombre": n, "estatus": "timbrado" if ok else "error", "uuid": u, "codigo": c, "mensaje": m}
            for n, ok, u, c, m in lines
        ]
        return _dumps({"data": {"archivos": files, "descarga": link}}), JSON_TYPE
    modern = dialect in ("flat", "xml")
    root = etree.Element("TimbradoMasivo" if modern else "reporte")
    for name, ok, uuid, code, message in lines:
        node = etree.SubElement(root, "Archivo" if modern else "archivo", nombre=name)
        node.set("estatus" if modern else "estado", "timbrado" if ok else "error")
        if uuid:
            node.set("uuid", uuid)
        if not ok:
            node.set("codigo", code)
            node.set("mensaje", message[:500])
    etree.SubElement(root, "Descarga" if modern else "descarga").text = link
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8"), XML_TYPE


def _dumps(data):
    return json.dumps(data, ensure_ascii=False).encode()


def dict_to_xml(tag, data):
    root = etree.Element(tag)
    _fill(root, data)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _fill(node, value):
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, list):
                holder = etree.SubElement(node, key)
                singular = key[:-2] if key.endswith("es") else key[:-1]
                for element in item:
                    _fill(etree.SubElement(holder, singular), element)
            else:
                _fill(etree.SubElement(node, key), item)
    elif isinstance(value, bool):
        node.text = "true" if value else "false"
    else:
        node.text = "" if value is None else str(value)
