"""CFDI 4.0 documents: build (ingreso, egreso, pago 2.0), validate, parse.

The builder takes plain data (dataclasses below), applies SAT's arithmetic and
rounding rules (Anexo 20: concept values up to 6 decimals, document values in the
currency's decimals, document sums equal to the rounded sums of the concept values),
checks the business rules that the XSD cannot express, and returns the unsigned
pre-CFDI bytes that Facture APP seals with the issuer's CSD. `validate()` checks a
copy with placeholder seal attributes against the official XSDs (cfdv40 + Pagos20 +
TFD 1.1 through a wrapper schema, because cfdi:Complemento is a strict xs:any).

Problems are reported as `Problem(code, field, params)`: `code` is stable (the Odoo
layer turns it into a translated sentence naming the field to fix), `field` names the
input that is wrong (`receptor.regimen`, `lines[2].clave_prod_serv` ...).
"""

import copy as copy_module
import hashlib
import os
import threading
from dataclasses import dataclass, replace
from dataclasses import field as dfield
from datetime import datetime, timezone
from decimal import ROUND_HALF_UP, Decimal

from lxml import etree

from . import catalogs

NS_CFDI = "http://www.sat.gob.mx/cfd/4"
NS_XSI = "http://www.w3.org/2001/XMLSchema-instance"
NS_PAGO = "http://www.sat.gob.mx/Pagos20"
NS_TFD = "http://www.sat.gob.mx/TimbreFiscalDigital"
LOC_CFDI = "http://www.sat.gob.mx/cfd/4 http://www.sat.gob.mx/sitio_internet/cfd/4/cfdv40.xsd"
LOC_PAGO = "http://www.sat.gob.mx/Pagos20 http://www.sat.gob.mx/sitio_internet/cfd/Pagos/Pagos20.xsd"
PLACEHOLDERS = {"Sello": "", "NoCertificado": "00000000000000000000", "Certificado": ""}
IMPUESTO = {"isr": "001", "iva": "002", "ieps": "003"}
D6 = Decimal("0.000001")
ZERO = Decimal(0)


# ---------------------------------------------------------------- input data
@dataclass
class Tax:
    """One tax on a line. `kind` isr/iva/ieps; `factor` Tasa/Cuota/Exento; `rate` a
    fraction (0.16) for Tasa or an amount per unit for Cuota; `withholding` for
    retenciones; `affects_base` when later taxes use base + this tax (IEPS before IVA)."""

    kind: str
    factor: str = "Tasa"
    rate: Decimal = ZERO
    withholding: bool = False
    affects_base: bool = False


@dataclass
class Line:
    description: str
    quantity: Decimal
    unit_price: Decimal
    clave_prod_serv: str
    clave_unidad: str
    discount: Decimal = ZERO  # an amount, not a percentage
    unit_name: str = ""
    product_code: str = ""
    objeto_imp: str = ""  # computed when empty: 02 with taxes, 01 without
    taxes: list = dfield(default_factory=list)
    # The ERP's line amount after discount, before taxes (Odoo's price_subtotal). When given,
    # `unit_price` is the price as entered and `discount_percent` the line's discount: the
    # builder sends that price (and Descuento) whenever quantity x price rounds to this
    # subtotal, and back-computes the unit price only when it must (a warning says so).
    subtotal: Decimal = None
    discount_percent: Decimal = ZERO


@dataclass
class Party:
    rfc: str
    name: str
    regimen: str
    zip: str = ""
    uso_cfdi: str = ""
    foreign_country: str = ""  # ResidenciaFiscal (c_Pais, ISO alpha-3)
    foreign_tax_id: str = ""  # NumRegIdTrib


@dataclass
class Invoice:
    kind: str  # "I" ingreso, "E" egreso
    date: datetime  # naive: local time of LugarExpedicion; aware: converted to `tz` (see local_date)
    issuer: Party
    receiver: Party
    lines: list
    place: str  # LugarExpedicion (issuing branch's postal code)
    currency: str = "MXN"
    rate: Decimal = None  # TipoCambio: MXN per unit of currency
    series: str = ""
    number: str = ""
    payment_method: str = "PUE"  # MetodoPago PUE/PPD
    payment_form: str = "99"  # FormaPago
    payment_terms: str = ""  # CondicionesDePago
    export: str = "01"
    related: list = dfield(default_factory=list)  # [(TipoRelacion, [uuid, ...])]
    global_info: tuple = None  # (Periodicidad, Meses, Año) for público en general
    expected_total: Decimal = None  # the ERP's total: the CFDI must add up to it
    total_tolerance: Decimal = Decimal("0.01")
    tz: str = ""  # IANA zone of the place of issue (the branch's); default: from the postal code


@dataclass
class PaidDocument:
    """A stamped PPD invoice (DoctoRelacionado) paid by a payment."""

    uuid: str
    currency: str
    amount_paid: Decimal  # in the document's currency
    balance_before: Decimal
    installment: int
    total: Decimal  # the invoice total, to prorate its taxes
    taxes: list = dfield(default_factory=list)  # [(Tax, base)] of the whole invoice
    series: str = ""
    number: str = ""
    equivalence: Decimal = Decimal(1)  # EquivalenciaDR: units of document currency per payment unit


@dataclass
class Payment:
    date: datetime
    issuer: Party
    receiver: Party
    place: str
    payment_form: str
    currency: str
    amount: Decimal
    documents: list
    rate: Decimal = None  # TipoCambioP (MXN per unit of payment currency)
    operation: str = ""
    series: str = ""
    number: str = ""
    date_issued: datetime = None


@dataclass
class Problem:
    code: str
    field: str = ""
    params: dict = dfield(default_factory=dict)

    def __str__(self):
        template = MESSAGES.get(self.code, self.code)
        try:
            text = template % self.params
        except (KeyError, TypeError, ValueError):
            text = template  # a message whose parameters are missing still says what is wrong
        return f"{self.field}: {text}" if self.field else text


class CfdiError(Exception):
    """The data cannot make a valid CFDI; `problems` says what to fix."""

    def __init__(self, problems):
        self.problems = list(problems)
        super().__init__("; ".join(str(p) for p in self.problems))


MESSAGES = {
    "rfc_invalid": "RFC %(rfc)r is not a valid RFC",
    "rfc_missing": "the RFC is missing",
    "regimen_missing": "the fiscal regime (RegimenFiscal) is missing",
    "regimen_invalid": "fiscal regime %(value)r is not in the SAT catalog",
    "regimen_person": "fiscal regime %(value)s does not apply to a %(person)s person (RFC %(rfc)s)",
    "uso_missing": "the CFDI use (UsoCFDI) is missing",
    "uso_invalid": "CFDI use %(value)r is not in the SAT catalog",
    "uso_person": "CFDI use %(value)s is only for individuals (RFC %(rfc)s is a company)",
    "generic_uso": "a generic RFC (%(rfc)s) must use UsoCFDI S01 and regime 616",
    "zip_invalid": "postal code %(value)r is not a SAT postal code (c_CodigoPostal)",
    "name_missing": "the name is missing",
    "foreign_country": "a foreign customer (XEXX010101000) needs the country of fiscal residence",
    "foreign_country_invalid": "country %(value)r is not in the SAT catalog (c_Pais)",
    "global_needs_public": "InformacionGlobal is only for invoices to 'PUBLICO EN GENERAL' (XAXX010101000)",
    "public_needs_global": "an invoice to 'PUBLICO EN GENERAL' needs the global-invoice periodicity, months and year",
    "global_invalid": "global-invoice information %(value)r is invalid",
    "no_lines": "the invoice has no lines",
    "quantity": "quantity must be positive (got %(value)s)",
    "price_negative": "unit price must not be negative (got %(value)s): spread negative lines over the others",
    "discount": "discount %(value)s must be between 0 and the line amount %(amount)s",
    "clave_prod_serv": "product/service key (ClaveProdServ) %(value)r is not in the SAT catalog",
    "clave_unidad": "unit key (ClaveUnidad) %(value)r is not in the SAT catalog",
    "description": "the line has no description",
    "tax_kind": "tax %(value)r has no SAT tax type (ISR, IVA or IEPS)",
    "tax_factor": "tax factor %(value)r is not Tasa, Cuota or Exento",
    "tax_exempt_withholding": "an exempt tax cannot be withheld",
    "objeto_imp": "ObjetoImp %(value)s does not match the line taxes",
    "currency_invalid": "currency %(value)r is not in the SAT catalog (c_Moneda)",
    "rate_missing": "currency %(value)s needs an exchange rate (TipoCambio)",
    "rate_mxn": "an invoice in MXN must not carry an exchange rate other than 1",
    "payment_method": "payment method %(value)r must be PUE or PPD",
    "payment_form": "payment form %(value)r is not in the SAT catalog (c_FormaPago)",
    "ppd_form": "a PPD invoice must use payment form 99 (Por definir)",
    "pue_form": "a PUE invoice needs the actual payment form, not 99 (Por definir)",
    "export_invalid": "Exportacion %(value)r is not in the SAT catalog",
    "place_invalid": "place of issue %(value)r is not a SAT postal code",
    "kind_invalid": "document kind %(value)r must be I (ingreso) or E (egreso)",
    "egreso_related": "a credit note must relate to the stamped original (CfdiRelacionados)",
    "related_uuid": "related UUID %(value)r is not a fiscal folio",
    "related_type": "relation type %(value)r is not in the SAT catalog",
    "series": "series %(value)r must have 1-25 characters and no '|'",
    "number": "number %(value)r must have 1-40 characters and no '|'",
    "total_mismatch": "the CFDI total %(cfdi)s does not match the invoice total %(erp)s",
    "total_zero": "the total must be positive",
    "discount_subtotal": "the discount exceeds the subtotal",
    "payment_amount": "the payment amount must be positive",
    "payment_form_99": "a payment cannot use payment form 99",
    "paid_amount": "amount paid %(value)s must be positive and at most the balance %(balance)s",
    "installment": "installment number %(value)s must be 1-999",
    "payment_applied": "the documents are paid %(applied)s in the payment currency, more than its amount %(amount)s",
    "xsd": "%(message)s",
    # warnings (build_invoice(..., warnings=[])): the CFDI is built, but differs from the input
    "price_back_computed": "the unit price %(entered)s times the quantity does not give the line's subtotal "
    "%(subtotal)s (taxes included in the price?): %(sent)s is sent as ValorUnitario",
    "description_cut": "the description has %(length)s characters; SAT allows %(limit)s: it is cut",
}


# ------------------------------------------------------------------ numbers
def d(value):
    if isinstance(value, Decimal):
        return value
    if value is None:
        return ZERO
    return Decimal(str(value))


def rnd(value, places):
    return d(value).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def fmt(value, places):
    """Fixed decimals, as SAT wants document-level amounts."""
    return f"{rnd(value, places):.{places}f}"


def fmt6(value, minimum=2):
    """Concept-level amount: at least `minimum` decimals, up to 6, no trailing zeros beyond."""
    text = f"{rnd(value, 6):.6f}"
    whole, frac = text.split(".")
    frac = frac.rstrip("0").ljust(minimum, "0")
    return f"{whole}.{frac}" if frac else whole


def rate_text(rate):
    return f"{rnd(rate, 6):.6f}"


# ------------------------------------------------------------------ checks
def check_party(party, role, problems, receiver=False, uso=True):
    prefix = role
    rfc = (party.rfc or "").strip().upper()
    if not rfc:
        problems.append(Problem("rfc_missing", f"{prefix}.rfc"))
        return
    person = catalogs.rfc_person_type(rfc)
    if person is None:
        problems.append(Problem("rfc_invalid", f"{prefix}.rfc", {"rfc": rfc}))
    if not (party.name or "").strip():
        problems.append(Problem("name_missing", f"{prefix}.name"))
    _check_regimen(party, prefix, rfc, person, problems)
    if receiver:
        _check_receiver(party, prefix, rfc, person, uso, problems)


def _check_regimen(party, prefix, rfc, person, problems):
    if not party.regimen:
        problems.append(Problem("regimen_missing", f"{prefix}.regimen"))
    elif party.regimen not in dict(catalogs.REGIMEN_FISCAL):
        problems.append(Problem("regimen_invalid", f"{prefix}.regimen", {"value": party.regimen}))
    elif person == "moral" and party.regimen not in catalogs.REGIMEN_MORAL:
        problems.append(
            Problem(
                "regimen_person",
                f"{prefix}.regimen",
                {"value": party.regimen, "person": "legal", "rfc": rfc},
            )
        )
    elif person == "fisica" and party.regimen not in catalogs.REGIMEN_FISICA:
        problems.append(
            Problem(
                "regimen_person",
                f"{prefix}.regimen",
                {"value": party.regimen, "person": "natural", "rfc": rfc},
            )
        )


def _check_receiver(party, prefix, rfc, person, uso, problems):
    if not party.zip or not catalogs.is_known("c_CodigoPostal", party.zip):
        problems.append(Problem("zip_invalid", f"{prefix}.zip", {"value": party.zip}))
    if uso:
        if not party.uso_cfdi:
            problems.append(Problem("uso_missing", f"{prefix}.uso_cfdi"))
        elif party.uso_cfdi not in dict(catalogs.USO_CFDI):
            problems.append(Problem("uso_invalid", f"{prefix}.uso_cfdi", {"value": party.uso_cfdi}))
        elif person == "moral" and party.uso_cfdi in catalogs.USO_ONLY_FISICA:
            problems.append(
                Problem(
                    "uso_person",
                    f"{prefix}.uso_cfdi",
                    {"value": party.uso_cfdi, "rfc": rfc},
                )
            )
    if person == "generic":
        if party.regimen != "616" or (uso and party.uso_cfdi not in ("S01", "CP01")):
            problems.append(Problem("generic_uso", f"{prefix}.uso_cfdi", {"rfc": rfc}))
        if rfc == catalogs.RFC_GENERIC_FOREIGN:
            if not party.foreign_country:
                problems.append(Problem("foreign_country", f"{prefix}.foreign_country"))
            elif not catalogs.is_known("c_Pais", party.foreign_country):
                problems.append(
                    Problem(
                        "foreign_country_invalid",
                        f"{prefix}.foreign_country",
                        {"value": party.foreign_country},
                    )
                )


def _check_text(value, code, fieldname, limit, problems):
    if value and (len(value) > limit or "|" in value):
        problems.append(Problem(code, fieldname, {"value": value}))


# ------------------------------------------------------------------ build: ingreso / egreso
class Totals:
    """The computed CFDI amounts, exposed for the ERP and the tests."""

    def __init__(self):
        self.subtotal = ZERO
        self.discount = ZERO
        self.transferred = ZERO
        self.withheld = ZERO
        self.total = ZERO
        self.has_transferred = False
        self.traslados = {}  # (impuesto, factor, tasa) -> [base, importe]
        self.retenciones = {}  # impuesto -> importe


def _line_amounts(line):
    """(importe, descuento, base, [(tax, base, importe)]) at 6 decimals."""
    importe = rnd(d(line.quantity) * d(line.unit_price), 6)
    discount = rnd(line.discount, 6)
    base = importe - discount
    result = []
    running = base
    for tax in line.taxes:
        tax_base = running
        if tax.factor == "Exento":
            amount = None
        elif tax.factor == "Cuota":
            amount = rnd(d(line.quantity) * d(tax.rate), 6)
        else:
            amount = rnd(tax_base * d(tax.rate), 6)
        result.append((tax, tax_base, amount))
        if tax.affects_base and amount is not None and not tax.withholding:
            running = running + amount
    return importe, discount, base, result


def _check_invoice(inv, problems):
    _check_header(inv, problems)
    _check_global(inv, problems)
    _check_related(inv, problems)
    if not inv.lines:
        problems.append(Problem("no_lines", "lines"))
    for index, line in enumerate(inv.lines, 1):
        _check_line(index, line, problems)


def _check_header(inv, problems):
    if inv.kind not in ("I", "E"):
        problems.append(Problem("kind_invalid", "kind", {"value": inv.kind}))
    check_party(inv.issuer, "issuer", problems)
    check_party(inv.receiver, "receiver", problems, receiver=True)
    if not catalogs.is_known("c_CodigoPostal", inv.place or ""):
        problems.append(Problem("place_invalid", "place", {"value": inv.place}))
    currency = (inv.currency or "").upper()
    if not catalogs.is_known("c_Moneda", currency):
        problems.append(Problem("currency_invalid", "currency", {"value": inv.currency}))
    elif currency not in ("MXN", "XXX") and (inv.rate is None or d(inv.rate) <= 0):
        problems.append(Problem("rate_missing", "rate", {"value": currency}))
    elif currency == "MXN" and inv.rate is not None and d(inv.rate) != 1:
        problems.append(Problem("rate_mxn", "rate"))
    if inv.payment_method not in ("PUE", "PPD"):
        problems.append(Problem("payment_method", "payment_method", {"value": inv.payment_method}))
    if inv.payment_form not in dict(catalogs.FORMA_PAGO):
        problems.append(Problem("payment_form", "payment_form", {"value": inv.payment_form}))
    elif inv.payment_method == "PPD" and inv.payment_form != "99":
        problems.append(Problem("ppd_form", "payment_form"))
    elif inv.payment_method == "PUE" and inv.payment_form == "99":
        problems.append(Problem("pue_form", "payment_form"))
    if inv.export not in dict(catalogs.EXPORTACION):
        problems.append(Problem("export_invalid", "export", {"value": inv.export}))
    _check_text(inv.series, "series", "series", 25, problems)
    _check_text(inv.number, "number", "number", 40, problems)


def _check_global(inv, problems):
    public = inv.receiver.rfc == catalogs.RFC_GENERIC_NATIONAL and (
        (inv.receiver.name or "").strip().upper() == catalogs.PUBLICO_EN_GENERAL
    )
    if inv.global_info and not public:
        problems.append(Problem("global_needs_public", "global_info"))
    if public and not inv.global_info:
        problems.append(Problem("public_needs_global", "global_info"))
    if inv.global_info:
        periodicity, months, year = inv.global_info
        valid_months = {f"{m:02d}" for m in range(1, 19)}
        if periodicity not in dict(catalogs.PERIODICIDAD) or str(months) not in valid_months or int(year) < 2019:
            problems.append(Problem("global_invalid", "global_info", {"value": inv.global_info}))


def _check_related(inv, problems):
    for rel_type, uuids in inv.related:
        if rel_type not in dict(catalogs.TIPO_RELACION):
            problems.append(Problem("related_type", "related", {"value": rel_type}))
        for uuid in uuids:
            if not _is_uuid(uuid):
                problems.append(Problem("related_uuid", "related", {"value": uuid}))
    if inv.kind == "E" and not inv.related:
        problems.append(Problem("egreso_related", "related"))


def _check_line(index, line, problems):
    where = f"lines[{index}]"
    if not (line.description or "").strip():
        problems.append(Problem("description", f"{where}.description"))
    if d(line.quantity) <= 0:
        problems.append(Problem("quantity", f"{where}.quantity", {"value": line.quantity}))
    if d(line.unit_price) < 0:
        problems.append(Problem("price_negative", f"{where}.unit_price", {"value": line.unit_price}))
    amount = rnd(d(line.quantity) * d(line.unit_price), 6)
    if d(line.discount) < 0 or d(line.discount) > amount:
        problems.append(
            Problem(
                "discount",
                f"{where}.discount",
                {"value": line.discount, "amount": amount},
            )
        )
    if not catalogs.is_known("c_ClaveProdServ", line.clave_prod_serv or ""):
        problems.append(
            Problem(
                "clave_prod_serv",
                f"{where}.clave_prod_serv",
                {"value": line.clave_prod_serv},
            )
        )
    if not catalogs.is_known("c_ClaveUnidad", line.clave_unidad or ""):
        problems.append(
            Problem(
                "clave_unidad",
                f"{where}.clave_unidad",
                {"value": line.clave_unidad},
            )
        )
    for tax in line.taxes:
        if tax.kind not in IMPUESTO:
            problems.append(Problem("tax_kind", f"{where}.taxes", {"value": tax.kind}))
        if tax.factor not in ("Tasa", "Cuota", "Exento"):
            problems.append(Problem("tax_factor", f"{where}.taxes", {"value": tax.factor}))
        if tax.factor == "Exento" and tax.withholding:
            problems.append(Problem("tax_exempt_withholding", f"{where}.taxes"))
    if (
        line.objeto_imp
        and line.objeto_imp != _objeto_imp(line)
        and (line.objeto_imp == "02" or _objeto_imp(line) == "02")
    ):
        problems.append(Problem("objeto_imp", f"{where}.objeto_imp", {"value": line.objeto_imp}))


def _objeto_imp(line):
    return "02" if line.taxes else "01"


def _is_uuid(value):
    import re

    return bool(value) and bool(
        re.match(
            r"^[a-fA-F0-9]{8}-[a-fA-F0-9]{4}-[a-fA-F0-9]{4}-[a-fA-F0-9]{4}-[a-fA-F0-9]{12}$",
            value,
        )
    )


def compute(inv):
    """The CFDI amounts for `inv` (no checks): a Totals."""
    inv = resolve_prices(inv)
    places = catalogs.currency_decimals(inv.currency)
    totals = Totals()
    subtotal = discount = ZERO
    for line in inv.lines:
        importe, line_discount, _base, taxes = _line_amounts(line)
        subtotal += importe
        discount += line_discount
        for tax, base, amount in taxes:
            impuesto = IMPUESTO.get(tax.kind, "002")
            if tax.withholding:
                totals.retenciones[impuesto] = totals.retenciones.get(impuesto, ZERO) + amount
            else:
                key = (
                    impuesto,
                    tax.factor,
                    None if tax.factor == "Exento" else rate_text(tax.rate),
                )
                bucket = totals.traslados.setdefault(key, [ZERO, ZERO])
                bucket[0] += base
                if amount is not None:
                    bucket[1] += amount
    totals.subtotal = rnd(subtotal, places)
    totals.discount = rnd(discount, places)
    for key, (base, amount) in totals.traslados.items():
        totals.traslados[key] = [rnd(base, places), rnd(amount, places)]
    for key, amount in totals.retenciones.items():
        totals.retenciones[key] = rnd(amount, places)
    totals.has_transferred = any(key[1] != "Exento" for key in totals.traslados)
    totals.transferred = sum((v[1] for k, v in totals.traslados.items() if k[1] != "Exento"), ZERO)
    totals.withheld = sum(totals.retenciones.values(), ZERO)
    totals.total = totals.subtotal - totals.discount + totals.transferred - totals.withheld
    return totals


def build_invoice(inv, warnings=None):
    """Unsigned pre-CFDI bytes (UTF-8) for an ingreso or egreso; raises CfdiError.

    `warnings`, when a list, receives the Problems that did not stop the build but changed
    what is sent (a back-computed unit price, a description cut to SAT's 1,000 characters)."""
    problems = []
    inv = resolve_prices(inv, warnings)
    _check_invoice(inv, problems)
    if problems:
        raise CfdiError(problems)
    places = catalogs.currency_decimals(inv.currency)
    totals = compute(inv)
    _check_totals(inv, totals, places, problems)
    if problems:
        raise CfdiError(problems)
    root = _invoice_root(inv, totals, places)
    _parties(root, inv.issuer, inv.receiver, inv.receiver.uso_cfdi)
    concepts = _sub(root, "Conceptos")
    for index, line in enumerate(inv.lines, 1):
        _concept(concepts, line, places, index, warnings)
    _invoice_taxes(root, totals, places)
    return serialize(root)


def resolve_prices(inv, warnings=None):
    """A copy of `inv` whose lines carry the ValorUnitario and Descuento to send."""
    if not any(line.subtotal is not None for line in inv.lines):
        return inv
    places = catalogs.currency_decimals(inv.currency)
    lines = []
    for index, line in enumerate(inv.lines, 1):
        resolved, problem = line_price(line, places, f"lines[{index}].unit_price")
        lines.append(resolved)
        if problem is not None and warnings is not None:
            warnings.append(problem)
    return replace(inv, lines=lines)


def line_price(line, places=2, where="unit_price"):
    """(line with unit_price/discount to send, warning Problem or None) for a line whose
    `subtotal` is the ERP's. The price as entered is kept when quantity x price (less the
    discount percentage) rounds to the subtotal; otherwise it is back-computed."""
    if line.subtotal is None:
        return line, None
    quantity, price, subtotal = d(line.quantity), d(line.unit_price), d(line.subtotal)
    share = 1 - d(line.discount_percent) / 100
    gross = rnd(quantity * price, 6)
    if quantity > 0 and rnd(quantity * price * share, places) == rnd(subtotal, places):
        discount = ZERO
        if line.discount_percent:
            discount = gross - subtotal if gross >= subtotal else rnd(gross * (1 - share), 6)
        return replace(line, discount=discount, subtotal=None), None
    gross_back = subtotal / share if 0 < share < 1 else subtotal
    unit = rnd(gross_back / quantity, 6) if quantity > 0 else price
    importe = rnd(quantity * unit, 6)
    discount = max(importe - subtotal, ZERO) if line.discount_percent else ZERO
    problem = Problem(
        "price_back_computed",
        where,
        {"entered": fmt6(price), "sent": fmt6(unit), "subtotal": fmt(subtotal, places)},
    )
    return replace(line, unit_price=unit, discount=discount, subtotal=None), problem


def local_date(inv):
    """The Fecha of `inv`: a naive date as given; an aware one in the place of issue's zone
    (`inv.tz`, else the zone of the LugarExpedicion postal code)."""
    if inv.date.tzinfo is None:
        return inv.date.replace(microsecond=0)
    zone = zone_info(inv.tz or catalogs.postal_code_tz(inv.place))
    return inv.date.astimezone(zone).replace(tzinfo=None, microsecond=0)


def place_now(place, tz="", now=None):
    """The current local time (naive) at a place of issue: what `Fecha` must not exceed."""
    moment = now or datetime.now(timezone.utc)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(zone_info(tz or catalogs.postal_code_tz(place))).replace(tzinfo=None, microsecond=0)


def zone_info(name):
    try:
        from zoneinfo import ZoneInfo

        return ZoneInfo(name)
    except Exception:  # noqa: BLE001 - no system tz database: pytz ships its own
        import pytz

        return pytz.timezone(name)


def _check_totals(inv, totals, places, problems):
    if totals.total <= 0:
        problems.append(Problem("total_zero", "total"))
    if totals.discount > totals.subtotal:
        problems.append(Problem("discount_subtotal", "discount"))
    if inv.expected_total is not None and abs(totals.total - d(inv.expected_total)) > d(inv.total_tolerance):
        problems.append(
            Problem(
                "total_mismatch",
                "total",
                {
                    "cfdi": fmt(totals.total, places),
                    "erp": fmt(inv.expected_total, places),
                },
            )
        )


def _invoice_root(inv, totals, places):
    """The Comprobante element with its attributes, InformacionGlobal and CfdiRelacionados."""
    nsmap = {"cfdi": NS_CFDI, "xsi": NS_XSI}
    root = etree.Element(f"{{{NS_CFDI}}}Comprobante", nsmap=nsmap)
    root.set(f"{{{NS_XSI}}}schemaLocation", LOC_CFDI)
    attrs = [("Version", "4.0")]
    if inv.series:
        attrs.append(("Serie", inv.series))
    if inv.number:
        attrs.append(("Folio", inv.number))
    attrs.append(("Fecha", local_date(inv).strftime("%Y-%m-%dT%H:%M:%S")))
    attrs.append(("FormaPago", inv.payment_form))
    if inv.payment_terms:
        attrs.append(("CondicionesDePago", inv.payment_terms[:1000].replace("|", "/")))
    attrs.append(("SubTotal", fmt(totals.subtotal, places)))
    if totals.discount:
        attrs.append(("Descuento", fmt(totals.discount, places)))
    currency = inv.currency.upper()
    attrs.append(("Moneda", currency))
    if currency not in ("MXN", "XXX"):
        attrs.append(("TipoCambio", fmt6(inv.rate, 0)))
    attrs.append(("Total", fmt(totals.total, places)))
    attrs += [
        ("TipoDeComprobante", inv.kind),
        ("Exportacion", inv.export),
        ("MetodoPago", inv.payment_method),
        ("LugarExpedicion", inv.place),
    ]
    for key, value in attrs:
        root.set(key, value)
    if inv.global_info:
        periodicity, months, year = inv.global_info
        _sub(
            root,
            "InformacionGlobal",
            [("Periodicidad", periodicity), ("Meses", str(months)), ("Año", str(year))],
        )
    for rel_type, uuids in inv.related:
        rel = _sub(root, "CfdiRelacionados", [("TipoRelacion", rel_type)])
        for uuid in uuids:
            _sub(rel, "CfdiRelacionado", [("UUID", uuid.upper())])
    return root


def _concept(concepts, line, places, index=0, warnings=None):
    importe, discount, _base, taxes = _line_amounts(line)
    attrs = [("ClaveProdServ", line.clave_prod_serv)]
    if line.product_code:
        attrs.append(("NoIdentificacion", line.product_code[:100].replace("|", "/")))
    attrs += [
        ("Cantidad", fmt6(line.quantity, 0)),
        ("ClaveUnidad", line.clave_unidad),
    ]
    if line.unit_name:
        attrs.append(("Unidad", line.unit_name[:20].replace("|", "/")))
    attrs += [
        ("Descripcion", description_text(line.description, f"lines[{index}].description", warnings)),
        ("ValorUnitario", fmt6(line.unit_price, places)),
        ("Importe", fmt6(importe, places)),
    ]
    if discount:
        attrs.append(("Descuento", fmt6(discount, places)))
    attrs.append(("ObjetoImp", line.objeto_imp or _objeto_imp(line)))
    concept = _sub(concepts, "Concepto", attrs)
    _concept_taxes(concept, taxes, places)


DESCRIPTION_LIMIT = 1000


def description_text(text, where="description", warnings=None):
    """Descripcion as SAT takes it: one line, no '|', at most 1,000 characters. A longer
    text is cut at the last word that fits, marked with an ellipsis, and reported."""
    text = " ".join((text or "").split()).replace("|", "/")
    if len(text) <= DESCRIPTION_LIMIT:
        return text
    cut = text[: DESCRIPTION_LIMIT - 1]
    if " " in cut[-80:]:
        cut = cut[: cut.rindex(" ")]
    if warnings is not None:
        warnings.append(Problem("description_cut", where, {"length": len(text), "limit": DESCRIPTION_LIMIT}))
    return cut.rstrip() + "…"


def _concept_taxes(concept, taxes, places):
    transferred = [t for t in taxes if not t[0].withholding]
    withheld = [t for t in taxes if t[0].withholding]
    if taxes:
        node = _sub(concept, "Impuestos")
        if transferred:
            parent = _sub(node, "Traslados")
            for tax, base, amount in transferred:
                attrs = [
                    ("Base", fmt6(base, places)),
                    ("Impuesto", IMPUESTO[tax.kind]),
                    ("TipoFactor", tax.factor),
                ]
                if tax.factor != "Exento":
                    attrs += [
                        ("TasaOCuota", rate_text(tax.rate)),
                        ("Importe", fmt6(amount, places)),
                    ]
                _sub(parent, "Traslado", attrs)
        if withheld:
            parent = _sub(node, "Retenciones")
            for tax, base, amount in withheld:
                _sub(
                    parent,
                    "Retencion",
                    [
                        ("Base", fmt6(base, places)),
                        ("Impuesto", IMPUESTO[tax.kind]),
                        ("TipoFactor", tax.factor),
                        ("TasaOCuota", rate_text(tax.rate)),
                        ("Importe", fmt6(amount, places)),
                    ],
                )


def _invoice_taxes(root, totals, places):
    if totals.traslados or totals.retenciones:
        attrs = []
        if totals.retenciones:
            attrs.append(("TotalImpuestosRetenidos", fmt(totals.withheld, places)))
        if totals.has_transferred:
            attrs.append(("TotalImpuestosTrasladados", fmt(totals.transferred, places)))
        node = _sub(root, "Impuestos", attrs)
        if totals.retenciones:
            parent = _sub(node, "Retenciones")
            for impuesto in sorted(totals.retenciones):
                _sub(
                    parent,
                    "Retencion",
                    [
                        ("Impuesto", impuesto),
                        ("Importe", fmt(totals.retenciones[impuesto], places)),
                    ],
                )
        if totals.traslados:
            parent = _sub(node, "Traslados")
            for key in sorted(totals.traslados, key=lambda k: (k[0], k[1], k[2] or "")):
                impuesto, factor, rate = key
                base, amount = totals.traslados[key]
                attrs = [
                    ("Base", fmt(base, places)),
                    ("Impuesto", impuesto),
                    ("TipoFactor", factor),
                ]
                if factor != "Exento":
                    attrs += [("TasaOCuota", rate), ("Importe", fmt(amount, places))]
                _sub(parent, "Traslado", attrs)


def _sub(parent, tag, attrs=(), ns=NS_CFDI):
    node = etree.SubElement(parent, f"{{{ns}}}{tag}")
    for key, value in attrs:
        node.set(key, value)
    return node


def _parties(root, issuer, receiver, uso):
    _sub(
        root,
        "Emisor",
        [
            ("Rfc", issuer.rfc.upper()),
            ("Nombre", _name(issuer.name)),
            ("RegimenFiscal", issuer.regimen),
        ],
    )
    attrs = [
        ("Rfc", receiver.rfc.upper()),
        ("Nombre", _name(receiver.name)),
        ("DomicilioFiscalReceptor", receiver.zip),
    ]
    if receiver.rfc == catalogs.RFC_GENERIC_FOREIGN and receiver.foreign_country:
        attrs.append(("ResidenciaFiscal", receiver.foreign_country))
        if receiver.foreign_tax_id:
            attrs.append(("NumRegIdTrib", receiver.foreign_tax_id[:40]))
    attrs += [("RegimenFiscalReceptor", receiver.regimen), ("UsoCFDI", uso)]
    _sub(root, "Receptor", attrs)


def _name(name):
    return " ".join((name or "").replace("|", " ").split())[:300]


def serialize(root):
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


# ------------------------------------------------------------------ build: pago 2.0
def build_payment(pay):
    """Unsigned pre-CFDI of type P with the Pagos 2.0 complement; raises CfdiError."""
    problems = []
    currency = (pay.currency or "").upper()
    _check_payment(pay, currency, problems)
    if problems:
        raise CfdiError(problems)
    places_p = catalogs.currency_decimals(currency)
    rate_p = d(pay.rate) if currency != "MXN" else Decimal(1)
    root = _payment_root(pay)
    complement = _sub(root, "Complemento")
    pagos = _sub(complement, "Pagos", [("Version", "2.0")], NS_PAGO)
    totales = _sub(pagos, "Totales", [], NS_PAGO)
    pago_attrs = [
        ("FechaPago", pay.date.strftime("%Y-%m-%dT%H:%M:%S")),
        ("FormaDePagoP", pay.payment_form),
        ("MonedaP", currency),
        ("TipoCambioP", "1" if currency == "MXN" else fmt6(rate_p, 0)),
        ("Monto", fmt(pay.amount, places_p)),
    ]
    if pay.operation:
        pago_attrs.append(("NumOperacion", pay.operation[:100].replace("|", "/")))
    pago = _sub(pagos, "Pago", pago_attrs, NS_PAGO)
    traslados_p, retenciones_p = {}, {}
    for doc in pay.documents:
        _docto_relacionado(pago, doc, traslados_p, retenciones_p)
    _impuestos_p(pago, traslados_p, retenciones_p)
    total_attrs = _totales_attrs(traslados_p, retenciones_p, rate_p, pay.amount)
    for key, value in _ordered_totales(total_attrs):
        totales.set(key, value)
    return serialize(root)


def _check_payment(pay, currency, problems):
    check_party(pay.issuer, "issuer", problems)
    check_party(pay.receiver, "receiver", problems, receiver=True, uso=False)
    if not catalogs.is_known("c_CodigoPostal", pay.place or ""):
        problems.append(Problem("place_invalid", "place", {"value": pay.place}))
    if pay.payment_form not in dict(catalogs.FORMA_PAGO):
        problems.append(Problem("payment_form", "payment_form", {"value": pay.payment_form}))
    elif pay.payment_form == "99":
        problems.append(Problem("payment_form_99", "payment_form"))
    if not catalogs.is_known("c_Moneda", currency):
        problems.append(Problem("currency_invalid", "currency", {"value": pay.currency}))
    elif currency != "MXN" and (pay.rate is None or d(pay.rate) <= 0):
        problems.append(Problem("rate_missing", "rate", {"value": currency}))
    if d(pay.amount) <= 0:
        problems.append(Problem("payment_amount", "amount"))
    for index, doc in enumerate(pay.documents, 1):
        where = f"documents[{index}]"
        if not _is_uuid(doc.uuid):
            problems.append(Problem("related_uuid", f"{where}.uuid", {"value": doc.uuid}))
        if d(doc.amount_paid) <= 0 or d(doc.amount_paid) > d(doc.balance_before):
            problems.append(
                Problem(
                    "paid_amount",
                    f"{where}.amount_paid",
                    {"value": doc.amount_paid, "balance": doc.balance_before},
                )
            )
        if not 1 <= int(doc.installment) <= 999:
            problems.append(Problem("installment", f"{where}.installment", {"value": doc.installment}))
    if not pay.documents:
        problems.append(Problem("no_lines", "documents"))
    elif d(pay.amount) > 0 and all(d(doc.equivalence) > 0 for doc in pay.documents):
        applied = sum((d(doc.amount_paid) / d(doc.equivalence) for doc in pay.documents), ZERO)
        if rnd(applied, catalogs.currency_decimals(currency)) > d(pay.amount):
            problems.append(Problem("payment_applied", "amount", {"applied": rnd(applied, 6), "amount": pay.amount}))


def _payment_root(pay):
    """The Comprobante of type P: header, parties and the fixed 'Pago' concept."""
    nsmap = {"cfdi": NS_CFDI, "xsi": NS_XSI, "pago20": NS_PAGO}
    root = etree.Element(f"{{{NS_CFDI}}}Comprobante", nsmap=nsmap)
    root.set(f"{{{NS_XSI}}}schemaLocation", f"{LOC_CFDI} {LOC_PAGO}")
    attrs = [("Version", "4.0")]
    if pay.series:
        attrs.append(("Serie", pay.series))
    if pay.number:
        attrs.append(("Folio", pay.number))
    attrs += [
        ("Fecha", (pay.date_issued or pay.date).strftime("%Y-%m-%dT%H:%M:%S")),
        ("SubTotal", "0"),
        ("Moneda", "XXX"),
        ("Total", "0"),
        ("TipoDeComprobante", "P"),
        ("Exportacion", "01"),
        ("LugarExpedicion", pay.place),
    ]
    for key, value in attrs:
        root.set(key, value)
    _parties(root, pay.issuer, pay.receiver, "CP01")
    concepts = _sub(root, "Conceptos")
    _sub(
        concepts,
        "Concepto",
        [
            ("ClaveProdServ", "84111506"),
            ("Cantidad", "1"),
            ("ClaveUnidad", "ACT"),
            ("Descripcion", "Pago"),
            ("ValorUnitario", "0"),
            ("Importe", "0"),
            ("ObjetoImp", "01"),
        ],
    )
    return root


def _docto_relacionado(pago, doc, traslados_p, retenciones_p):
    """One DoctoRelacionado with its prorated taxes, summed into the payment's taxes (in its currency)."""
    places_dr = catalogs.currency_decimals(doc.currency)
    equivalence = d(doc.equivalence) or Decimal(1)
    attrs = [("IdDocumento", doc.uuid.upper())]
    if doc.series:
        attrs.append(("Serie", doc.series[:25]))
    if doc.number:
        attrs.append(("Folio", doc.number[:40]))
    balance_after = d(doc.balance_before) - d(doc.amount_paid)
    attrs += [
        ("MonedaDR", doc.currency.upper()),
        (
            "EquivalenciaDR",
            "1" if equivalence == 1 else f"{rnd(equivalence, 10):.10f}".rstrip("0").rstrip("."),
        ),
        ("NumParcialidad", str(int(doc.installment))),
        ("ImpSaldoAnt", fmt(doc.balance_before, places_dr)),
        ("ImpPagado", fmt(doc.amount_paid, places_dr)),
        ("ImpSaldoInsoluto", fmt(balance_after, places_dr)),
        ("ObjetoImpDR", "02" if doc.taxes else "01"),
    ]
    related = _sub(pago, "DoctoRelacionado", attrs, NS_PAGO)
    if not doc.taxes:
        return
    ratio = d(doc.amount_paid) / d(doc.total) if d(doc.total) else ZERO
    imp = _sub(related, "ImpuestosDR", [], NS_PAGO)
    withheld = [(t, b) for t, b in doc.taxes if t.withholding]
    transferred = [(t, b) for t, b in doc.taxes if not t.withholding]
    if withheld:
        _retenciones_dr(_sub(imp, "RetencionesDR", [], NS_PAGO), withheld, ratio, equivalence, retenciones_p)
    if transferred:
        _traslados_dr(_sub(imp, "TrasladosDR", [], NS_PAGO), transferred, ratio, equivalence, traslados_p)


def _retenciones_dr(parent, withheld, ratio, equivalence, retenciones_p):
    for tax, base in withheld:
        base_dr = rnd(d(base) * ratio, 6)
        amount_dr = rnd(base_dr * d(tax.rate), 6)
        _sub(
            parent,
            "RetencionDR",
            [
                ("BaseDR", fmt6(base_dr, 0)),
                ("ImpuestoDR", IMPUESTO[tax.kind]),
                ("TipoFactorDR", tax.factor),
                ("TasaOCuotaDR", rate_text(tax.rate)),
                ("ImporteDR", fmt6(amount_dr, 0)),
            ],
            NS_PAGO,
        )
        key = IMPUESTO[tax.kind]
        retenciones_p[key] = retenciones_p.get(key, ZERO) + amount_dr / equivalence


def _traslados_dr(parent, transferred, ratio, equivalence, traslados_p):
    for tax, base in transferred:
        base_dr = rnd(d(base) * ratio, 6)
        attrs = [
            ("BaseDR", fmt6(base_dr, 0)),
            ("ImpuestoDR", IMPUESTO[tax.kind]),
            ("TipoFactorDR", tax.factor),
        ]
        amount_dr = None
        if tax.factor != "Exento":
            amount_dr = rnd(base_dr * d(tax.rate), 6)
            attrs += [
                ("TasaOCuotaDR", rate_text(tax.rate)),
                ("ImporteDR", fmt6(amount_dr, 0)),
            ]
        _sub(parent, "TrasladoDR", attrs, NS_PAGO)
        key = (
            IMPUESTO[tax.kind],
            tax.factor,
            None if tax.factor == "Exento" else rate_text(tax.rate),
        )
        bucket = traslados_p.setdefault(key, [ZERO, ZERO])
        bucket[0] += base_dr / equivalence
        if amount_dr is not None:
            bucket[1] += amount_dr / equivalence


def _impuestos_p(pago, traslados_p, retenciones_p):
    if traslados_p or retenciones_p:
        imp_p = _sub(pago, "ImpuestosP", [], NS_PAGO)
        if retenciones_p:
            parent = _sub(imp_p, "RetencionesP", [], NS_PAGO)
            for key in sorted(retenciones_p):
                _sub(
                    parent,
                    "RetencionP",
                    [("ImpuestoP", key), ("ImporteP", fmt6(retenciones_p[key], 0))],
                    NS_PAGO,
                )
        if traslados_p:
            parent = _sub(imp_p, "TrasladosP", [], NS_PAGO)
            for key in sorted(traslados_p, key=lambda k: (k[0], k[1], k[2] or "")):
                base, amount = traslados_p[key]
                attrs = [
                    ("BaseP", fmt6(base, 0)),
                    ("ImpuestoP", key[0]),
                    ("TipoFactorP", key[1]),
                ]
                if key[1] != "Exento":
                    attrs += [("TasaOCuotaP", key[2]), ("ImporteP", fmt6(amount, 0))]
                _sub(parent, "TrasladoP", attrs, NS_PAGO)


def _totales_attrs(traslados_p, retenciones_p, rate_p, pay_amount):
    """Totales: in MXN, 2 decimals."""
    total_attrs = []
    names = {
        "001": "TotalRetencionesISR",
        "002": "TotalRetencionesIVA",
        "003": "TotalRetencionesIEPS",
    }
    for key in ("002", "001", "003"):
        if key in retenciones_p:
            total_attrs.append((names[key], fmt(retenciones_p[key] * rate_p, 2)))
    for (impuesto, factor, rate), (base, amount) in sorted(traslados_p.items(), key=lambda i: (i[0][0], i[0][2] or "")):
        if impuesto != "002":
            continue
        if factor == "Exento":
            total_attrs.append(("TotalTrasladosBaseIVAExento", fmt(base * rate_p, 2)))
            continue
        suffix = {"0.160000": "16", "0.080000": "8", "0.000000": "0"}.get(rate)
        if suffix:
            total_attrs.append((f"TotalTrasladosBaseIVA{suffix}", fmt(base * rate_p, 2)))
            total_attrs.append((f"TotalTrasladosImpuestoIVA{suffix}", fmt(amount * rate_p, 2)))
    total_attrs.append(("MontoTotalPagos", fmt(d(pay_amount) * rate_p, 2)))
    return total_attrs


def _ordered_totales(attrs):
    order = [
        "TotalRetencionesIVA",
        "TotalRetencionesISR",
        "TotalRetencionesIEPS",
        "TotalTrasladosBaseIVA16",
        "TotalTrasladosImpuestoIVA16",
        "TotalTrasladosBaseIVA8",
        "TotalTrasladosImpuestoIVA8",
        "TotalTrasladosBaseIVA0",
        "TotalTrasladosImpuestoIVA0",
        "TotalTrasladosBaseIVAExento",
        "MontoTotalPagos",
    ]
    return sorted(attrs, key=lambda kv: order.index(kv[0]))


# ------------------------------------------------------------------ parse / validate
def safe_parser():
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        remove_blank_text=False,
    )


def parse(data):
    """Parse XML from outside safely; a document with a DOCTYPE is refused."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    tree = etree.fromstring(data, safe_parser()).getroottree()
    if tree.docinfo.doctype:
        raise ValueError("XML with a DOCTYPE is refused")
    return tree.getroot()


_schema = None
_exact_schema = None
_schema_lock = threading.Lock()
# SAT's catalogs of 2,000 to 96,000 codes are xs:enumerations, which libxml2 checks by a linear
# scan (most of the validation time). The default schema is the official one with these three
# enumerations emptied; their attributes are checked against the same codes (read from the
# same catCFDI.xsd) by set look-up. `xsd_errors(..., exact=True)` uses the untouched schema.
BIG_CATALOGS = {
    ("Concepto", "ClaveProdServ"): "c_ClaveProdServ",
    ("Parte", "ClaveProdServ"): "c_ClaveProdServ",
    ("Concepto", "ClaveUnidad"): "c_ClaveUnidad",
    ("Comprobante", "LugarExpedicion"): "c_CodigoPostal",
}


class _CatalogResolver(etree.Resolver):
    def resolve(self, url, pubid, context):
        if url.replace("\\", "/").endswith("catalogos/catCFDI.xsd"):
            return self.resolve_string(_relaxed_catalog(), context, base_url=url)
        return None


def _relaxed_catalog():
    with open(catalogs.CATALOG_XSD, encoding="utf-8") as handle:
        text = handle.read()
    for name in set(BIG_CATALOGS.values()):
        start = text.index(f'<xs:simpleType name="{name}">')
        end = text.index("</xs:simpleType>", start)
        text = (
            text[:start]
            + f'<xs:simpleType name="{name}"><xs:restriction base="xs:string"><xs:whiteSpace value="collapse"/>'
            + "</xs:restriction>"
            + text[end:]
        )
    return text.encode("utf-8")


def schema(exact=False):
    """The compiled wrapper schema (cfdv40 + Pagos20 + TFD 1.1), compiled once; `exact`:
    with the big catalogs as enumerations (see BIG_CATALOGS)."""
    global _schema, _exact_schema
    path = os.path.join(catalogs.SCHEMAS, "cfdi_wrapper.xsd")
    with _schema_lock:
        if exact:
            if _exact_schema is None:
                _exact_schema = etree.XMLSchema(etree.parse(path))
            return _exact_schema
        if _schema is None:
            parser = etree.XMLParser(no_network=True)
            parser.resolvers.add(_CatalogResolver())
            _schema = etree.XMLSchema(etree.parse(path, parser))
        return _schema


def xsd_errors(data, exact=False):
    """XSD problems of a (pre-)CFDI, seal attributes replaced by placeholders when absent."""
    root = parse(data) if not isinstance(data, etree._Element) else data
    copy = copy_module.deepcopy(root)
    if copy.tag == f"{{{NS_CFDI}}}Comprobante":
        for key, value in PLACEHOLDERS.items():
            if copy.get(key) is None:
                copy.set(key, value)
    checker = schema(exact)
    problems = [] if checker.validate(copy) else [_xsd_message(e) for e in checker.error_log]
    return problems if exact else problems + _catalog_errors(copy)


def _catalog_errors(root):
    problems = []
    for node in root.iter(f"{{{NS_CFDI}}}Comprobante", f"{{{NS_CFDI}}}Concepto", f"{{{NS_CFDI}}}Parte"):
        name = node.tag.rsplit("}", 1)[1]
        for (tag, attribute), catalog in BIG_CATALOGS.items():
            value = node.get(attribute) if tag == name else None
            if value is not None and " ".join(value.split()) not in catalogs.values(catalog):
                problems.append(
                    f"line {node.sourceline}: Element '{name}', attribute '{attribute}': [facet 'enumeration'] "
                    f"The value '{value[:40]}' is not an element of the set {catalog}."
                )
    return problems


def _xsd_message(entry):
    message = entry.message
    for prefix in (f"{{{NS_CFDI}}}", f"{{{NS_PAGO}}}", f"{{{NS_TFD}}}"):
        message = message.replace(prefix, "")
    if len(message) > 300:  # enumeration failures list the whole catalog
        message = message[: message.find("[facet 'enumeration']") + 21] if "[facet" in message else message[:300]
    return f"line {entry.line}: {message}"


def validate(data):
    """Raise CfdiError naming the XSD problems; return the parsed root when valid."""
    root = parse(data)
    problems = [Problem("xsd", "xml", {"message": m}) for m in xsd_errors(root)]
    if problems:
        raise CfdiError(problems)
    return root


def digest(data):
    return hashlib.sha256(data).hexdigest()


@dataclass
class StampInfo:
    uuid: str
    stamped_at: str
    sat_certificate: str
    pac_rfc: str
    seal_cfd: str
    seal_sat: str
    issuer_rfc: str
    receiver_rfc: str
    total: str
    kind: str
    series: str = ""
    number: str = ""


def stamp_info(data):
    """What Odoo stores from a stamped CFDI (its TFD and identifying attributes)."""
    root = parse(data)
    tfd = root.find(f".//{{{NS_TFD}}}TimbreFiscalDigital")
    if tfd is None:
        raise ValueError("the CFDI carries no TimbreFiscalDigital")
    issuer = root.find(f"{{{NS_CFDI}}}Emisor")
    receiver = root.find(f"{{{NS_CFDI}}}Receptor")
    return StampInfo(
        uuid=tfd.get("UUID", "").upper(),
        stamped_at=tfd.get("FechaTimbrado", ""),
        sat_certificate=tfd.get("NoCertificadoSAT", ""),
        pac_rfc=tfd.get("RfcProvCertif", ""),
        seal_cfd=tfd.get("SelloCFD", ""),
        seal_sat=tfd.get("SelloSAT", ""),
        issuer_rfc=issuer.get("Rfc") if issuer is not None else "",
        receiver_rfc=receiver.get("Rfc") if receiver is not None else "",
        total=root.get("Total", ""),
        kind=root.get("TipoDeComprobante", ""),
        series=root.get("Serie", ""),
        number=root.get("Folio", ""),
    )


def verification_url(info, base="https://verificacfdi.facturaelectronica.sat.gob.mx/default.aspx"):
    """SAT's QR / verification link: id, re, rr, tt and the last 8 characters of the seal."""
    return f"{base}?id={info.uuid}&re={info.issuer_rfc}&rr={info.receiver_rfc}&tt={info.total}&fe={info.seal_cfd[-8:]}"


def status_expression(uuid, issuer_rfc, receiver_rfc, total):
    """`expresionImpresa` for SAT's ConsultaCFDIService."""
    return f"?re={issuer_rfc}&rr={receiver_rfc}&tt={total}&id={uuid}"
