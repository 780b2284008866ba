"""Colombian NIT: check digit (DIAN, Orden Administrativa 4 de 1989) and normalisation.

Suppliers' documents carry the NIT without its check digit (DV) in `CompanyID`, with the
DV in `@schemeID`; Odoo stores NITs as `900373044-9`; people type `900.373.044-9`,
`CO900373044`, `9003730449`. `candidates()` gives every digit string a stored VAT may
reduce to, so one search finds the partner in any of those formats.
"""

import re

WEIGHTS = (3, 7, 13, 17, 19, 23, 29, 37, 41, 43, 47, 53, 59, 67, 71)

# DIAN identification type codes (schemeName) -> l10n_co / l10n_latam_base xmlids
ID_TYPE_XMLIDS = {
    "31": "l10n_co.rut",
    "13": "l10n_co.national_citizen_id",
    "11": "l10n_co.civil_registration",
    "12": "l10n_co.id_card",
    "21": "l10n_co.foreign_colombian_card",
    "22": "l10n_co.foreign_resident_card",
    "41": "l10n_latam_base.it_pass",
    "42": "l10n_latam_base.it_fid",
    "47": "l10n_co.residence_document",
    "48": "l10n_co.48",
    "50": "l10n_co.external_id",
    "91": "l10n_co.niup_id",
}


def digits(value):
    return re.sub(r"\D", "", str(value or ""))


def check_digit(base):
    """DV of a NIT given without it ('900373044' -> '9')."""
    number = digits(base)
    if not number or len(number) > len(WEIGHTS):
        raise ValueError(f"Not a NIT: {base!r}")
    total = sum(int(d) * w for d, w in zip(reversed(number), WEIGHTS, strict=False))
    s = total % 11
    return str(s if s in (0, 1) else 11 - s)


def split(value, dv=None):
    """(base, dv) of a NIT typed in any common format.

    An explicit '-' separates the DV; a `dv` argument (the XML @schemeID) is taken as is;
    otherwise the whole number is the base (what DIAN documents carry) and the DV is computed.
    """
    text = str(value or "").strip().upper()
    text = text.removeprefix("CO")
    if "-" in text:
        base, _, given = text.rpartition("-")
        base, given = digits(base), digits(given)
        if base and len(given) == 1:
            return base, given
    base = digits(text)
    if not base:
        return "", ""
    if dv not in (None, ""):
        return base, digits(dv)
    return base, check_digit(base)


def base_of(value):
    """The NIT without check digit: '900.373.044-9' and '900373044' -> '900373044'.

    Without a '-', the whole number is taken as the base (what DIAN documents carry).
    """
    text = str(value or "").strip().upper().removeprefix("CO")
    if "-" in text:
        base, _, given = text.rpartition("-")
        if digits(base) and len(digits(given)) == 1:
            return digits(base)
    return digits(text)


def formatted(value, dv=None):
    """'900373044-9': what Odoo's base_vat accepts for an identification type NIT."""
    base, given = split(value, dv)
    return f"{base}-{given}" if base else ""


def dv_mismatch(value, dv):
    """True when an explicit DV disagrees with the computed one (warn, do not block)."""
    base = digits(value)
    if not base or dv in (None, "") or len(base) > len(WEIGHTS):
        return False  # nothing to compare (too long for a NIT: refused elsewhere)
    return check_digit(base) != digits(dv)


def candidates(value):
    """Digit strings a stored VAT may reduce to for this NIT (with or without DV).

    '900373044' -> {'900373044', '9003730449'}; '9003730449' also yields '900373044'
    when its last digit is the DV of the rest (a NIT typed with its DV and no dash).
    """
    text = str(value or "").strip().upper()
    text = text.removeprefix("CO")
    found = set()
    if "-" in text:
        base, given = split(text)
        if base:
            found |= {base, base + given}
        return found
    number = digits(text)
    if not number:
        return found
    found.add(number)
    if len(number) <= len(WEIGHTS):
        found.add(number + check_digit(number))
    if len(number) >= 9 and check_digit(number[:-1]) == number[-1]:
        found.add(number[:-1])
    return found


def same(a, b):
    """True when two typed NITs denote the same party."""
    base_a, dv_a = split(a)
    return bool(base_a) and bool(candidates(b) & {base_a, base_a + dv_a})
