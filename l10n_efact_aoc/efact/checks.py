"""Checks made before an invoice leaves for eFACT: tax ids and DIR3 units.

Each check returns sentences (English, the Odoo layer translates its own wording) naming what to fix;
an empty list means the hub would not refuse the invoice for that reason.
"""

import re
from dataclasses import dataclass

from stdnum.es import nif as es_nif

MAX_DIR3_LENGTH = 10  # Facturae CentreCode (core cuts longer codes silently)
ROLES = {"01": "accounting office", "02": "managing body", "03": "processing unit"}


def spanish_nif(value):
    """The NIF without spaces, dots, dashes or the ES prefix (upper case)."""
    value = re.sub(r"[\s.\-]", "", (value or "").upper())
    return value[2:] if value.startswith("ES") and len(value) == 11 else value


def nif_control_ok(value):
    """True when the control character of a Spanish NIF / NIE / CIF matches (hub code 3021)."""
    nif = spanish_nif(value)
    return bool(nif) and len(nif) == 9 and es_nif.is_valid(nif)


@dataclass(frozen=True)
class Unit:
    """One DIR3 triple of a public body as synced from eFACT."""

    owner_nif: str
    oficina_comptable: str
    organ_gestor: str
    unitat_tramitadora: str

    def code(self, role):
        return {"01": self.oficina_comptable, "02": self.organ_gestor, "03": self.unitat_tramitadora}[role]


@dataclass(frozen=True)
class Dir3Problem:
    """`kind`: missing, too_long, other_owner (detail: their NIFs), unknown, combination."""

    role: str
    kind: str
    code: str = ""
    detail: str = ""


def check_dir3(centres, owner_nif, units):
    """Problems with the DIR3 `centres` ({role: code}) of a customer whose NIF is `owner_nif`.

    `units` are every synced triple (of every public body). Checks: all three roles, length, each
    code known for that role and owned by the customer's NIF, and the triple one eFACT lists.
    """
    problems = []
    owner = spanish_nif(owner_nif)
    own_units = [u for u in units if spanish_nif(u.owner_nif) == owner]
    for role in ROLES:
        code = (centres.get(role) or "").strip()
        if not code:
            problems.append(Dir3Problem(role, "missing"))
        elif len(code) > MAX_DIR3_LENGTH:
            problems.append(Dir3Problem(role, "too_long", code, str(len(code))))
        elif not any(u.code(role) == code for u in own_units):
            others = sorted({u.owner_nif for u in units if u.code(role) == code})
            kind = "other_owner" if others else "unknown"
            problems.append(Dir3Problem(role, kind, code, ", ".join(others)))
    if not problems:
        triple = tuple(centres[r].strip() for r in ROLES)
        if not any((u.oficina_comptable, u.organ_gestor, u.unitat_tramitadora) == triple for u in own_units):
            problems.append(Dir3Problem("", "combination", " / ".join(triple)))
    return problems


# Which part of the invoice a Facturae schema error comes from, by the element the validator names.
SCHEMA_ELEMENTS = (
    ("tax", ("TaxesOutputs", "TaxesWithheld", "TaxTypeCode", "TaxRate", "TaxableBase", "TaxAmount")),
    ("centre", ("AdministrativeCentre", "CentreCode", "RoleTypeCode")),
    ("tax_id", ("TaxIdentificationNumber", "PersonTypeCode", "ResidenceTypeCode")),
    ("address", ("AddressInSpain", "OverseasAddress", "Address", "PostCode", "Town", "Province", "CountryCode")),
    ("corrective", ("Corrective", "ReasonCode", "ReasonDescription", "CorrectionMethod", "TaxPeriod")),
    ("name", ("CorporateName", "FirstSurname", "Name")),
    ("line", ("InvoiceLine", "ItemDescription", "Quantity", "UnitPriceWithoutTax", "UnitOfMeasure")),
)
_ELEMENT_RE = re.compile(r"Element '(?:\{[^}]*\})?([A-Za-z]+)'|Expected is .*?\(\s*(?:\{[^}]*\})?([A-Za-z]+)")


def schema_error_kinds(errors):
    """The parts of the invoice ('tax', 'centre', 'tax_id', 'address', 'corrective', 'name', 'line') the
    validator's errors point at, in order; [] when none is recognised. An `InvoiceTotals` found where
    `TaxesOutputs` is expected means a line or the invoice has no tax."""
    kinds = []
    for error in errors:
        names = [n for pair in _ELEMENT_RE.findall(error) for n in pair if n]
        for kind, elements in SCHEMA_ELEMENTS:
            if any(n in elements for n in names) and kind not in kinds:
                kinds.append(kind)
                break
    return kinds
