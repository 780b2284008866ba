"""LaFactura.co API client: JSON RPC over HTTPS with HTTP Basic auth.

Every call POSTs `{<method>: {params}}` to a service path (`general/`, `invoice/`,
`creditNote/`) and reads `{"status": {"code": 200, "text": ...}, ...}`.

The request shape of `getDocumentInfo` is not published. The most likely one is
implemented by default (service `general/`, POST, `{"getDocumentInfo": {"cufe": ...}}`,
answer `{"status": ..., "document": {...}}`) and every part is configurable through
`RequestShape` (from the credential's settings in Odoo).
"""

from dataclasses import dataclass

from . import documents
from . import errors as lf_errors

BASE_URLS = {
    "test": "https://play.tas-la.com/facturacion.v30/",
    "production": "https://wrk.tas-la.com/facturacion.v30/",
}
DEFAULT_HEADERS = {"User-Agent": "LaFactura.co/4.0", "Cache-Control": "no-cache"}


@dataclass
class RequestShape:
    path: str = "general/"
    method_key: str = "getDocumentInfo"
    param: str = "cufe"
    http_method: str = "POST"
    result_key: str = "document"

    @classmethod
    def from_text(cls, text):
        """'general/ getDocumentInfo cufe POST document' (any prefix of the fields)."""
        parts = (text or "").split()
        defaults = cls()
        names = ("path", "method_key", "param", "http_method", "result_key")
        values = {name: (parts[i] if i < len(parts) else getattr(defaults, name)) for i, name in enumerate(names)}
        values["http_method"] = values["http_method"].upper()
        return cls(**values)


def _status(data):
    status = data.get("status") if isinstance(data, dict) else None
    if isinstance(status, dict):
        return str(status.get("code", "")).strip(), str(status.get("text", "") or "")
    return "", ""


def error_parser(response):
    """einvoice_common transport hook: (code, message, details) from an error body."""
    try:
        data = response.json()
    except ValueError:
        return None, "", []
    code, text = _status(data)
    if not code:
        return None, "", []
    return code, lf_errors.describe(code, text)[1], [text] if text else []


class LaFacturaClient:
    def __init__(self, transport, shape=None):
        self.transport = transport
        self.shape = shape or RequestShape()

    def call(self, path, method_key, params, operation, http_method="POST", reference=""):
        """One RPC; returns the decoded answer when status.code == 200, else raises."""
        response = self.transport.request(
            http_method,
            path,
            operation=operation,
            idempotent=True,  # read-only lookups are safe to repeat
            json={method_key: params},
            error_parser=error_parser,
            reference=reference,
        )
        data = self.transport.json(response)
        code, text = _status(data)
        if code == "200":
            return data
        if not code:
            raise self.transport.ProtocolError(
                f"LaFactura answered without a status block: {str(data)[:200]!r}",
                status=response.status_code,
            )
        kind, message = lf_errors.describe(code, text)
        exc_class = {
            "auth": self.transport.AuthError,
            "transient": self.transport.TransientError,
        }.get(kind, self.transport.RejectedError)
        raise exc_class(
            message,
            code=code,
            status=response.status_code,
            details=[text] if text else [],
        )

    def get_document_info(self, cufe):
        """The `document` object for a CUFE, with its `dian` and `customer` blocks.

        Raises RejectedError(code="404") when LaFactura does not know the CUFE.
        """
        cufe = documents.normalise_cufe(cufe)
        shape = self.shape
        data = self.call(
            shape.path,
            shape.method_key,
            {shape.param: cufe},
            operation="getDocumentInfo",
            http_method=shape.http_method,
            reference=cufe,
        )
        payload = data.get(shape.result_key) if shape.result_key else data
        try:
            return documents.hook_document({"document": payload} if isinstance(payload, dict) else payload)
        except documents.DocumentError as exc:
            raise self.transport.ProtocolError(
                f"LaFactura's getDocumentInfo answer is unreadable: {exc.message}"
            ) from exc
