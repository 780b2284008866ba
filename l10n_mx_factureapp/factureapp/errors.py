"""Facture APP / SAT codes -> (message, kind, field to fix).

Kinds: `auth` (credentials), `credits` (buy credits), `config` (branch, settings),
`rejected` (fix the invoice data and stamp again), `duplicate` (the service returned a
previous stamp: success), `transient` (try later).

SAT validation codes (CFDI40xxx) come from the Anexo 20 error matrix as cited by PACs;
numbers for the receptor checks vary between sources (see DOSSIER §2.2), so `field`
is a hint, not a contract. The FA* codes are this connector's names for conditions the
legacy /rest API reports only as text (its codes are undocumented); the sandbox uses them.
"""

from dataclasses import dataclass


@dataclass
class ErrorInfo:
    code: str
    message: str
    kind: str = "rejected"
    field: str = ""


CODES = {
    "FA400": ("The request was malformed.", "rejected", ""),
    "FA401": (
        "Facture APP refused the credentials (Authorization).",
        "auth",
        "credential",
    ),
    "FA402": (
        "No stamping credits are left at Facture APP: buy credits, then stamp again.",
        "credits",
        "",
    ),
    "FA404": (
        "Facture APP does not know this branch (Sucursal): sync the branches.",
        "config",
        "branch",
    ),
    "FA409": ("The ZIP file could not be read.", "rejected", ""),
    "FA410": ("The XML is not a valid CFDI 4.0 (schema).", "rejected", "xml"),
    "FA420": ("The cancellation motive is missing or invalid.", "rejected", "motive"),
    "FA421": (
        "Motive 01 needs the UUID of the stamped replacement CFDI.",
        "rejected",
        "replacement",
    ),
    "FA430": (
        "The acknowledgement (acuse) is only available once the CFDI is cancelled.",
        "rejected",
        "",
    ),
    "307": (
        "The CFDI had been stamped before: the existing stamp was returned.",
        "duplicate",
        "",
    ),
    "CFDI40101": (
        "Fecha is outside the allowed window (at most 72 hours before stamping).",
        "rejected",
        "date",
    ),
    "CFDI40108": (
        "SubTotal does not equal the sum of the concept amounts.",
        "rejected",
        "lines",
    ),
    "CFDI40119": (
        "Total does not add up (SubTotal - Descuento + taxes).",
        "rejected",
        "total",
    ),
    "CFDI40115": (
        "The exchange rate (TipoCambio) is required for this currency.",
        "rejected",
        "currency",
    ),
    "CFDI40124": (
        "The issuer RFC does not match the CSD of the branch.",
        "config",
        "company.rfc",
    ),
    "CFDI40143": (
        "The receiver RFC is not in SAT's list of registered taxpayers.",
        "rejected",
        "partner.vat",
    ),
    "CFDI40145": (
        "The receiver name does not match the RFC in SAT's list.",
        "rejected",
        "partner.name",
    ),
    "CFDI40147": (
        "The receiver postal code does not match the RFC in SAT's list.",
        "rejected",
        "partner.zip",
    ),
    "CFDI40157": (
        "The receiver fiscal regime does not match the RFC.",
        "rejected",
        "partner.regimen",
    ),
    "CFDI40158": (
        "The CFDI use (UsoCFDI) does not fit the receiver's regime.",
        "rejected",
        "uso_cfdi",
    ),
    "CA201": ("Cancellation request received.", "ok", ""),
    "CA202": ("The CFDI was already cancelled.", "ok", ""),
    "CA205": ("SAT does not know this UUID.", "rejected", ""),
}


def describe(code, message=""):
    """ErrorInfo for a service code; unknown codes keep the service's text."""
    known = CODES.get(str(code or ""))
    if known is None:
        return ErrorInfo(
            str(code or ""),
            message or "Facture APP refused the request.",
            "rejected",
            "",
        )
    text, kind, field = known
    if message and message not in text:
        text = f"{text} ({message})"
    return ErrorInfo(str(code), text, kind, field)


# Cancellation answers are free text (DOSSIER §1.2): outcome by the documented phrases.
CANCEL_PHRASES = [
    ("already_cancelled", ("previamente cancelado",)),
    (
        "in_process",
        ("en proceso de cancelaci", "encuetra en proceso", "encuentra en proceso"),
    ),
    (
        "pending_acceptance",
        ("debe ser autorizado por el receptor", "envie el siguiente enlace"),
    ),
    ("not_cancellable", ("comprobantes de relaci", "tiene relaci")),
    ("not_found", ("no se encontr", "ca205", "no existe")),
    (
        "cancelled",
        ("fue cancelado", "cancelado correctamente", "cancelado exitosamente"),
    ),
]


def cancel_outcome(succeed, text):
    """One of cancelled / pending_acceptance / already_cancelled / in_process /
    not_cancellable / not_found / rejected, from Facture's answer."""
    low = (text or "").lower()
    for outcome, phrases in CANCEL_PHRASES:
        if any(p in low for p in phrases):
            return outcome
    return "cancelled" if succeed else "rejected"


class NoCredits(Exception):  # noqa: N818 - a marker mixed into the transport's RejectedError
    """Facture APP has no stamping credits left (HTTP 402 or FA402): a typed refusal.

    The raised object is also the transport's `RejectedError` (code "FA402"), so
    `except RejectedError` keeps working; `except NoCredits` picks this case out."""


_NO_CREDITS = {}


def no_credits(rejected_class, error):
    """`error` (a RejectedError) re-raised as the NoCredits flavour of `rejected_class`."""
    cls = _NO_CREDITS.get(rejected_class)
    if cls is None:
        cls = _NO_CREDITS.setdefault(rejected_class, type("NoCreditsError", (rejected_class, NoCredits), {}))
    message = error.message if error.code == "FA402" and error.message else describe("FA402").message
    return cls(message, code="FA402", status=error.status, details=error.details)
