"""ANAF's error texts (Romanian, mostly inside HTTP 200 bodies) -> code and kind.

`classify(text)` returns an `AnafError` with:
- `code`: a stable key of ours (ANAF has no codes); the Odoo layer looks the advice up by
  this code in einvoice_common's `einvoice.error.advice` (rows in data/einvoice_error_advice.xml),
- `kind`: one of the einvoice taxonomy kinds plus the finer ANAF kinds
  "quota" (transient: try tomorrow / later), "rights" (a person must grant SPV rights),
  "not_found", "empty" (an empty list is not an error), "business" (fix the invoice).

Only "business" ends a submission. "quota", "transient" keep an invoice sent and retry.
"""

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class AnafError:
    code: str
    kind: str
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


# (code, kind, regex on the normalised text). First match wins. What a person should do about each code
# is the einvoice.error.advice row of the same code (data/einvoice_error_advice.xml, translated).
CATALOGUE = [
    ("quota_status", "quota", r"s-au facut deja \d+ descarcari de mesaj in cursul zilei"),
    ("quota_list", "quota", r"s-au facut deja \d+ interogari de lista mesaje"),
    ("quota_rasp", "quota", r"s-au incarcat deja \d+ de mesaje de tip rasp"),
    ("no_rights_cif", "rights", r"nu aveti drept(ul)? in spv pentru cif"),
    ("no_cif_rights", "rights", r"nu exista niciun cif p[e]?[n]?tru care sa aveti drept"),
    ("no_rights_index", "rights", r"nu aveti dreptul de inte[a-z]*gare pentru id_incarcare"),
    ("no_rights_download", "rights", r"nu aveti dreptul sa descarcati"),
    ("bad_standard", "business", r"valorile acceptate pentru parametrul standard"),
    ("bad_cif", "business", r"cif introdus\s*=\s*\S* nu este un numar"),
    ("too_big", "business", r"marime fisier transmis mai mare"),
    ("invalid_xml", "business", r"fisierul transmis nu este valid"),
    ("bad_flag", "business", r"daca parametrul .* trebuie completat, valoarea acceptata este da"),
    ("not_enforcement", "business", r"nu este inregistrat in registrul ro e-factura executari silite"),
    ("missing_params", "business", r"parametrii .* sunt obligatorii"),
    ("technical", "transient", r"a aparut o eroare tehnica"),
    ("unknown_index", "not_found", r"nu exista factura cu id_incarcare"),
    ("bad_index", "business", r"id_incarcare introdus\s*=\s*\S* nu este un numar intreg"),
    ("unknown_download", "not_found", r"pentru id=\S* nu exista inregistrata nici o factura"),
    ("bad_download_id", "business", r"id descarcare introdus\s*=\s*\S* nu este un numar intreg"),
    ("days_range", "business", r"numarul de zile trebuie sa fie intre 1 si 60"),
    ("empty_list", "empty", r"nu exista mesaje (in ultimele|in intervalul)"),
    ("list_too_big", "business", r"lista de mesaje este mai mare decat numarul de 500"),
    ("page_out_of_range", "business", r"pagina solicitata \d+ este mai mare decat numarul to[a-z]*l de pagini"),
    ("start_too_old", "business", r"nu poate fi mai vechi de 60 de zile"),
    ("bad_interval", "business", r"(endtime|starttime).*(nu poate fi|trebuie)"),
    ("access_denied", "auth", r"access denied|unauthorized|invalid_token|token.*(expirat|invalid)"),
]
_COMPILED = [(code, kind, re.compile(pattern, re.IGNORECASE | re.DOTALL)) for code, kind, pattern in CATALOGUE]

GENERIC_CODE = "anaf"  # an ANAF text none of the patterns knows: a refusal to read
CODES = {code for code, _kind, _pattern in CATALOGUE} | {GENERIC_CODE}

_FOLD = str.maketrans("ăâîșşțţĂÂÎȘŞȚŢ", "aaissttAAISSTT")


def normalise(text):
    return re.sub(r"\s+", " ", (text or "").translate(_FOLD)).strip()


def classify(text):
    """Map one ANAF error text to an AnafError (unknown texts are business refusals)."""
    folded = normalise(text)
    for code, kind, pattern in _COMPILED:
        if pattern.search(folded):
            return AnafError(code, kind, text or "")
    return AnafError(GENERIC_CODE, "business", text or "")


def is_quota(text):
    return classify(text).kind == "quota"


def is_empty_list(text):
    return classify(text).kind == "empty"


def is_anaf_code(code):
    """True for codes the client gives to texts ANAF answered (not to transport or Odoo errors)."""
    return (code or "") in CODES
