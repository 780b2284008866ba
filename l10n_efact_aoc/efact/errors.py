"""eFACT error codes -> message, kind and HTTP status.

The two APIs share the authentication (1001-1012), not-found (2001-2003) and
generic (9001-9999) codes; the validation codes 3001-... differ: the supplier API
numbers submission checks 3001-3025, the RCF API numbers state-update checks
3001-3008. `describe(code, api)` resolves a code in the right table.

Kinds follow einvoice_common's taxonomy: "auth" (a person must fix the user or the
secret key; never retried), "rejected" (fix the data and send again), "not_found",
"transient" (5xx: retried with backoff, then reported).
"""

from dataclasses import dataclass


def _(text):
    """Marker: these strings are extracted to the addon's .pot; the Odoo layer translates them
    at display time (`translate(env, exc)` in models/einvoice_credential.py)."""
    return text


SUPPLIER = "proveidors"
RCF = "rcf"


@dataclass(frozen=True)
class ErrorInfo:
    code: int
    message: str
    kind: str
    status: int
    hint: str = ""


def _auth(code, message, hint):
    return ErrorInfo(code, message, "auth", 401, hint)


_KEY_HINT = _("Check the eFACT user and secret key in Settings > Invoicing > E-invoicing.")
_CLOCK_HINT = _("Check the clock of the Odoo server (it must be on time within a few seconds).")

COMMON = {
    1001: _auth(1001, _("No authentication token was sent."), _KEY_HINT),
    1002: _auth(1002, _("The token names no user (iss)."), _KEY_HINT),
    1003: _auth(1003, _("The eFACT user is not valid."), _KEY_HINT),
    1004: _auth(1004, _("The token has no expiry date (exp)."), _KEY_HINT),
    1005: _auth(1005, _("The token has no issue date (iat)."), _KEY_HINT),
    1006: _auth(1006, _("The token has no activation date (nbf)."), _KEY_HINT),
    1007: _auth(1007, _("The token has no audience (aud)."), _KEY_HINT),
    1008: _auth(1008, _("The token has expired."), _CLOCK_HINT),
    1009: _auth(1009, _("The token cannot be used yet (dated in the future)."), _CLOCK_HINT),
    1010: _auth(1010, _("The token lifetime is longer than the 300 seconds allowed."), _CLOCK_HINT),
    1011: _auth(1011, _('The token audience is not valid (it must be "efact").'), _KEY_HINT),
    1012: _auth(1012, _("The secret key is not valid."), _KEY_HINT),
    2001: ErrorInfo(2001, _("eFACT does not know the invoice."), "not_found", 404),
    2002: ErrorInfo(2002, _("eFACT does not know the attachment."), "not_found", 404),
    2003: ErrorInfo(2003, _("eFACT has no state history for the invoice."), "not_found", 404),
    9001: ErrorInfo(9001, _("eFACT had an internal database connection error."), "transient", 500),
    9002: ErrorInfo(9002, _("eFACT could not generate the electronic receipt."), "transient", 500),
    9999: ErrorInfo(9999, _("eFACT had an unexpected error."), "transient", 500),
}


def _rej(code, message, hint=""):
    return ErrorInfo(code, message, "rejected", 400, hint)


SUPPLIER_VALIDATION = {
    3001: _rej(
        3001,
        _("Too many attachments (at most 5)."),
        _("Remove attachments until 5 are left."),
    ),
    3002: _rej(
        3002,
        _("The request is larger than allowed (10 MB)."),
        _("Send smaller or fewer attachments."),
    ),
    3003: _rej(3003, _("The invoice file extension is not supported (xml or xsig)."), ""),
    3004: _rej(
        3004,
        _("The invoice recipient is not registered in eFACT."),
        _("Check the customer's NIF: it must be a public body adhered to eFACT."),
    ),
    3005: _rej(
        3005,
        _("The signature of the invoice is not valid."),
        _("Check the Facturae signing certificate of the company."),
    ),
    3006: _rej(3006, _("An attachment has no file name."), ""),
    3007: _rej(3007, _("An attachment has no MIME type."), ""),
    3008: _rej(3008, _("An attachment has no content."), ""),
    3009: _rej(
        3009,
        _("An attachment has a MIME type eFACT does not accept."),
        _("Use PDF, Word, Excel, OpenDocument or plain text attachments."),
    ),
    3010: _rej(3010, _("An attachment's extension does not match its MIME type."), ""),
    3011: _rej(3011, _("eFACT could not read the invoice to send."), ""),
    3012: _rej(
        3012,
        _("The invoice has no registration number yet."),
        _("Try again once eFACT registered it."),
    ),
    3013: _rej(3013, _("The invoice file name is missing."), ""),
    3014: _rej(3014, _("The base64 content of the invoice file is missing."), ""),
    3015: _rej(3015, _("An attachment has an extension eFACT does not accept."), ""),
    3016: _rej(
        3016,
        _("The invoice format is not correct."),
        _("Check the Facturae XML of the invoice."),
    ),
    3017: _rej(3017, _("eFACT could not determine the Facturae version of the invoice."), ""),
    3018: _rej(3018, _("The recipient does not accept this Facturae version."), ""),
    3019: _rej(3019, _("Batches of invoices are not allowed: send one invoice per file."), ""),
    3020: _rej(
        3020,
        _("The NIF of the issuer has an invalid format."),
        _("Check the company's tax ID."),
    ),
    3021: _rej(
        3021,
        _("The NIF of the recipient has an invalid format."),
        _("Check the customer's tax ID."),
    ),
    3022: _rej(3022, _("The notification e-mail is longer than 512 characters."), ""),
    3023: _rej(3023, _("The notification e-mail does not have the expected format."), ""),
    3024: _rej(
        3024,
        _("The invoice is not signed or its signature node is not correct."),
        _("Upload a valid Facturae signing certificate on the company."),
    ),
    3025: _rej(
        3025,
        _("The issuer is not allowed to forward invoices to FACe."),
        _("Untick the FACe option."),
    ),
}

RCF_VALIDATION = {
    3001: _rej(3001, _("The state given is not valid."), ""),
    3002: _rej(3002, _("ANNOTATED needs an accounting registry number (numeroRegistreRCF)."), ""),
    3003: _rej(3003, _("REJECTED needs a rejection reason."), ""),
    3004: _rej(3004, _("PAID needs a payment date."), ""),
    3005: _rej(3005, _("The invoice has no registration number."), ""),
    3006: _rej(3006, _("The payment date does not have the expected format (YYYY-MM-DD)."), ""),
    3007: _rej(
        3007,
        _("The invoice cannot be updated to this state."),
        _(
            "Check its current state: the order is REGISTERED, ANNOTATED, RECOGNISED, PAID and "
            "PAID or REJECTED invoices are final."
        ),
    ),
    3008: _rej(
        3008,
        _("A rejection code or reason can only be given with the REJECTED state."),
        "",
    ),
}

ALL_CODES = sorted(set(COMMON) | set(SUPPLIER_VALIDATION) | set(RCF_VALIDATION))


def describe(code, api=SUPPLIER):
    """ErrorInfo for `code` (int or numeric str) in `api` ("proveidors" or "rcf").

    Unknown codes get a generic entry whose kind follows the code's family.
    """
    try:
        code = int(code)
    except (TypeError, ValueError):
        return ErrorInfo(0, _("eFACT answered an error without a code."), "rejected", 400)
    table = SUPPLIER_VALIDATION if api == SUPPLIER else RCF_VALIDATION
    if code in COMMON:
        return COMMON[code]
    if code in table:
        return table[code]
    if 1000 <= code < 2000:
        return _auth(code, _("eFACT refused the authentication."), _KEY_HINT)
    if 2000 <= code < 3000:
        return ErrorInfo(code, _("eFACT did not find the resource."), "not_found", 404)
    if 9000 <= code <= 9999:
        return ErrorInfo(code, _("eFACT had an internal error."), "transient", 500)
    return _rej(code, _("eFACT refused the request."))


def message(code, api=SUPPLIER, service_text="", with_code=True, translate=None):
    """One line for a person: our message, the hint, and the service's own words.

    `translate(text)` translates the table's texts (the Odoo layer passes its `env._`)."""
    tr = translate or (lambda text: text)
    info = describe(code, api)
    text = f"[{info.code}] {tr(info.message)}" if with_code else tr(info.message)
    if info.hint:
        text += " " + tr(info.hint)
    if service_text and service_text.strip() and service_text.strip() not in text:
        text += f" (eFACT: {service_text.strip()})"
    return text


def split_message(code, text):
    """(api, rest) for a `text` built by `message(code, api, ..., with_code=False)`: `rest` is what
    follows the table's own words (the service's text). (None, text) when it was not built so."""
    text = text or ""
    for api in (SUPPLIER, RCF):
        ours = message(code, api, with_code=False)
        if text.startswith(ours):
            return api, text[len(ours) :]
    return None, text
