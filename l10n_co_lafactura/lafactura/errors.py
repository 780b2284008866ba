"""LaFactura.co status codes and our own document-check codes -> (kind, message).

LaFactura publishes no error catalogue: `status.code == 200` (compared as a string)
means OK, "otro es un error". The kinds follow einvoice_common's taxonomy
(transient / auth / rejected / protocol) plus `not_found`.
"""

SERVICE = {
    "200": ("ok", "OK"),
    "400": ("rejected", "LaFactura refused the request (bad parameters)."),
    "401": ("auth", "LaFactura refused the API user or password."),
    "403": ("auth", "The API user may not read this document."),
    "404": ("not_found", "LaFactura does not know this CUFE for our company."),
    "405": ("rejected", "LaFactura does not accept this method on this service path."),
    "413": ("rejected", "The request is too large for LaFactura."),
    "429": ("transient", "LaFactura asks us to slow down."),
    "500": ("transient", "LaFactura had an internal error; try again later."),
    "503": ("transient", "LaFactura is unavailable; try again later."),
}

# Our own checks of a delivered document (inbox reasons).
CODES = {
    "method": "Only POST is accepted.",
    "content_type": "Only application/json is accepted.",
    "too_large": "The body is larger than the configured limit.",
    "empty_body": "The body is empty.",
    "invalid_json": "The body is not valid JSON.",
    "not_a_document": "The JSON is not a LaFactura document object.",
    "too_deep": "The JSON nests far deeper than any document; refused.",
    "json_not_json": "general.json is not JSON.",
    "json_not_ubl": "general.json is not an invoice, credit note or debit note.",
    "bad_cufe": "The CUFE/CUDE is not 96 hexadecimal characters.",
    "cufe_mismatch": "The CUFE differs between the hook, LaFactura and general.json.",
    "type_mismatch": "The document type differs between the hook and general.json.",
    "unsupported_type": "Only fc, nc and nd documents become bills.",
    "dian_rejected": "DIAN did not approve the document.",
    "dian_unknown": "DIAN approval is unknown.",
    "other_company": "The document is addressed to another company.",
    "test_mode": "Test-mode document: never booked as a posted bill.",
    "unknown_tax": "A tax has no mapped purchase tax.",
    "no_lines": "The document has no lines.",
    "original_unknown": "The credit/debit note refers to a bill we do not have (yet).",
    "not_found": "LaFactura does not know this CUFE.",
    "duplicate": "Another delivery of the same CUFE was already booked.",
}


def describe(code, text=""):
    """(kind, message) for a LaFactura status code (string or number)."""
    code = str(code or "").strip()
    kind, message = SERVICE.get(code, ("rejected", f"LaFactura answered status {code or 'none'}."))
    if text and text.strip() and text.strip().upper() != "OK":
        message = f"{message} ({text.strip()})"
    return kind, message
