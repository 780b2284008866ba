"""ANAF's error texts (Romanian, mostly inside HTTP 200 bodies) -> code, kind, advice.

`classify(text)` returns an `AnafError` with:
- `code`: a stable key of ours (ANAF has no codes),
- `kind`: one of the einvoice taxonomy kinds plus the finer ANAF kinds
  "quota" (transient: try tomorrow / later), "rights" (a person must grant SPV rights),
  "not_found", "empty" (an empty list is not an error), "business" (fix the invoice),
- `advice`: an English sentence saying what to do; the Odoo layer translates it.

Only "business" ends a submission. "quota", "transient" keep an invoice sent and retry.
"""

import re
from dataclasses import dataclass


def _(text):
    """Marker: these strings are extracted to the addon's .pot and translated by the Odoo layer."""
    return text


@dataclass(frozen=True)
class AnafError:
    code: str
    kind: str
    advice: str
    text: str = ""

    @property
    def transient(self):
        return self.kind in ("transient", "quota")

    @property
    def taxonomy(self):
        """The einvoice_common error class name this maps to."""
        return {
            "transient": "TransientError",
            "quota": "TransientError",
            "auth": "AuthError",
            "rights": "AuthError",
            "protocol": "ProtocolError",
        }.get(self.kind, "RejectedError")


# (code, kind, regex on the normalised text, advice). First match wins.
CATALOGUE = [
    (
        "quota_status",
        "quota",
        r"s-au facut deja \d+ descarcari de mesaj in cursul zilei",
        _("ANAF's daily limit of queries for this message is reached; it is queried again tomorrow automatically."),
    ),
    (
        "quota_list",
        "quota",
        r"s-au facut deja \d+ interogari de lista mesaje",
        _("ANAF's daily limit of message list queries is reached; the list is read again tomorrow automatically."),
    ),
    (
        "quota_rasp",
        "quota",
        r"s-au incarcat deja \d+ de mesaje de tip rasp",
        _("ANAF's daily limit of buyer messages (RASP) for this company is reached; send again tomorrow."),
    ),
    (
        "no_rights_cif",
        "rights",
        r"nu aveti drept(ul)? in spv pentru cif",
        _(
            "The certificate used to authenticate has no SPV right for this company's CIF. Ask the company's legal "
            "representative to grant the right in SPV, or authenticate with a certificate that has it."
        ),
    ),
    (
        "no_cif_rights",
        "rights",
        r"nu exista niciun cif p[e]?[n]?tru care sa aveti drept",
        _(
            "The authenticated certificate has SPV rights for no company. Enrol it in SPV for this company "
            "(ANAF needs about 24 hours), then authenticate again."
        ),
    ),
    (
        "no_rights_index",
        "rights",
        r"nu aveti dreptul de inte[a-z]*gare pentru id_incarcare",
        _(
            "The authenticated certificate may not query this upload: it was made for another company. Check the "
            "connection used for this company."
        ),
    ),
    (
        "no_rights_download",
        "rights",
        r"nu aveti dreptul sa descarcati",
        _("The authenticated certificate may not download this message. Check the connection used for this company."),
    ),
    (
        "bad_standard",
        "business",
        r"valorile acceptate pentru parametrul standard",
        _("The upload standard was refused by ANAF (accepted: UBL, CN, CII, RASP). Report this to your integrator."),
    ),
    (
        "bad_cif",
        "business",
        r"cif introdus\s*=\s*\S* nu este un numar",
        _(
            "The company's CIF is not numeric. Fix the VAT / company ID of the company (digits, optionally prefixed "
            "with RO)."
        ),
    ),
    (
        "too_big",
        "business",
        r"marime fisier transmis mai mare",
        _("The XML is larger than ANAF's 10 MB limit. Remove the embedded PDF or large attachments and send again."),
    ),
    (
        "invalid_xml",
        "business",
        r"fisierul transmis nu este valid",
        _("ANAF could not read the XML. Check the invoice data (addresses, VAT, lines) and send again."),
    ),
    (
        "bad_flag",
        "business",
        r"daca parametrul .* trebuie completat, valoarea acceptata este da",
        _("An upload option (foreign buyer, self-billing, enforcement) was sent with a wrong value."),
    ),
    (
        "not_enforcement",
        "business",
        r"nu este inregistrat in registrul ro e-factura executari silite",
        _("The company is not registered in the RO e-Factura enforcement register; do not send it as enforcement."),
    ),
    (
        "missing_params",
        "business",
        r"parametrii .* sunt obligatorii",
        _("A mandatory upload parameter is missing. Check the company's CIF."),
    ),
    (
        "technical",
        "transient",
        r"a aparut o eroare tehnica",
        _("ANAF reported a technical error; the operation is retried automatically later."),
    ),
    (
        "unknown_index",
        "not_found",
        r"nu exista factura cu id_incarcare",
        _("ANAF does not know this upload index. It may belong to the other environment (test/production)."),
    ),
    (
        "bad_index",
        "business",
        r"id_incarcare introdus\s*=\s*\S* nu este un numar intreg",
        _("The upload index is not a number."),
    ),
    (
        "unknown_download",
        "not_found",
        r"pentru id=\S* nu exista inregistrata nici o factura",
        _("ANAF has no message with this download id (messages are kept about 60 days)."),
    ),
    (
        "bad_download_id",
        "business",
        r"id descarcare introdus\s*=\s*\S* nu este un numar intreg",
        _("The download id is not a number."),
    ),
    (
        "days_range",
        "business",
        r"numarul de zile trebuie sa fie intre 1 si 60",
        _("The message list can only look back 1 to 60 days."),
    ),
    ("empty_list", "empty", r"nu exista mesaje (in ultimele|in intervalul)", ""),
    (
        "list_too_big",
        "business",
        r"lista de mesaje este mai mare decat numarul de 500",
        _("More than 500 messages: the paginated message list must be used."),
    ),
    (
        "page_out_of_range",
        "business",
        r"pagina solicitata \d+ este mai mare decat numarul to[a-z]*l de pagini",
        _("The requested page of the message list does not exist."),
    ),
    (
        "start_too_old",
        "business",
        r"nu poate fi mai vechi de 60 de zile",
        _("ANAF keeps messages 60 days: the requested period starts too early."),
    ),
    (
        "bad_interval",
        "business",
        r"(endtime|starttime).*(nu poate fi|trebuie)",
        _("The requested period of the message list is invalid."),
    ),
    (
        "access_denied",
        "auth",
        r"access denied|unauthorized|invalid_token|token.*(expirat|invalid)",
        _('ANAF refused the access token. Use "Refresh token" on the ANAF connection, or authenticate again.'),
    ),
]
_COMPILED = [
    (code, kind, re.compile(pattern, re.IGNORECASE | re.DOTALL), advice) for code, kind, pattern, advice in CATALOGUE
]

GENERIC_ADVICE = _("ANAF refused the request. Read ANAF's message, fix the invoice or the settings, then send again.")
BUSINESS_ADVICE = _(
    "ANAF rejected the invoice. Fix the errors listed by ANAF, then send a new invoice or credit "
    "note as the law requires."
)

_FOLD = str.maketrans("ăâîșşțţĂÂÎȘŞȚŢ", "aaissttAAISSTT")


def normalise(text):
    return re.sub(r"\s+", " ", (text or "").translate(_FOLD)).strip()


def classify(text):
    """Map one ANAF error text to an AnafError (unknown texts are business refusals)."""
    folded = normalise(text)
    for code, kind, pattern, advice in _COMPILED:
        if pattern.search(folded):
            return AnafError(code, kind, advice, text or "")
    return AnafError("anaf", "business", GENERIC_ADVICE, text or "")


def is_quota(text):
    return classify(text).kind == "quota"


def is_empty_list(text):
    return classify(text).kind == "empty"


ADVICE_BY_CODE = {code: advice for code, _kind, _pattern, advice in CATALOGUE}
ADVICE_BY_CODE["anaf"] = GENERIC_ADVICE


def advice_for(code):
    """The advice for one of our codes (set by the client when it raised the error), else ''."""
    return ADVICE_BY_CODE.get(code or "", "")


def is_anaf_code(code):
    """True for codes the client gives to texts ANAF answered (not to transport or Odoo errors)."""
    return (code or "") in ADVICE_BY_CODE
