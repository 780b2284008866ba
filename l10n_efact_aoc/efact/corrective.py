"""Facturae 3.2.2 rules Odoo core does not follow: the corrective (rectificativa) block and the
invoice-level tax summary.

The description texts are the enumerations of the official 3.2.2 schema (`ReasonDescriptionType`,
`CorrectionMethodDescriptionType`): any other text, a translation included, fails validation.
"""

from decimal import Decimal

# CorrectionMethod -> CorrectionMethodDescription
CORRECTION_METHODS = {
    "01": "Rectificación íntegra",
    "02": "Rectificación por diferencias",
    "03": "Rectificación por descuento por volumen de operaciones durante un periodo",
    "04": "Autorizadas por la Agencia Tributaria",
}

# ReasonCode -> ReasonDescription (01-16: RD 1496/2003; 80-85: art. 80 Ley 37/1992 del IVA)
REASONS = {
    "01": "Número de la factura",
    "02": "Serie de la factura",
    "03": "Fecha expedición",
    "04": "Nombre y apellidos/Razón Social-Emisor",
    "05": "Nombre y apellidos/Razón Social-Receptor",
    "06": "Identificación fiscal Emisor/obligado",
    "07": "Identificación fiscal Receptor",
    "08": "Domicilio Emisor/Obligado",
    "09": "Domicilio Receptor",
    "10": "Detalle Operación",
    "11": "Porcentaje impositivo a aplicar",
    "12": "Cuota tributaria a aplicar",
    "13": "Fecha/Periodo a aplicar",
    "14": "Clase de factura",
    "15": "Literales legales",
    "16": "Base imponible",
    "80": "Cálculo de cuotas repercutidas",
    "81": "Cálculo de cuotas retenidas",
    "82": "Base imponible modificada por devolución de envases / embalajes",
    "83": "Base imponible modificada por descuentos y bonificaciones",
    "84": "Base imponible modificada por resolución firme, judicial o administrativa",
    "85": "Base imponible modificada cuotas repercutidas no satisfechas. Auto de declaración de concurso",
}

# Labels for the user's choice (the texts sent are CORRECTION_METHODS)
METHOD_LABELS = [
    ("01", "01 - Full correction"),
    ("02", "02 - Correction by differences"),
    ("03", "03 - Volume discount over a period"),
    ("04", "04 - Authorised by the Tax Agency"),
]
DEFAULT_REASON = "10"
MAX_NUMBER_LENGTH = 20  # TextMax20Type of InvoiceNumber / InvoiceSeriesCode


def default_method(corrected_total, credit_total):
    """01 (full) when the credit note cancels the whole invoice, 02 (by differences) otherwise.

    A credit note of Odoo states what is taken off the invoice; when that is all of it, eFACT's public
    bodies register it as a full correction, which is what they expect for a cancellation.
    """
    if corrected_total and abs(Decimal(str(corrected_total))) == abs(Decimal(str(credit_total))):
        return "01"
    return "02"


def corrective(method, reason, number, series="", period=(None, None), issue_date=None):
    """The values of a Facturae `Corrective` block; ValueError naming what is wrong."""
    method = method or "01"
    reason = reason or DEFAULT_REASON
    if method not in CORRECTION_METHODS:
        raise ValueError(f"Unknown correction method {method!r} (01, 02, 03 or 04).")
    if reason not in REASONS:
        raise ValueError(f"Unknown correction reason {reason!r} (01-16 or 80-85).")
    if method in ("01", "02") and not number:
        raise ValueError("The number of the corrected invoice is required for methods 01 and 02.")
    for label, value in (("number", number), ("series", series)):
        if value and len(value) > MAX_NUMBER_LENGTH:
            raise ValueError(
                f"The corrected invoice's {label} {value!r} is longer than {MAX_NUMBER_LENGTH} characters."
            )
    start, end = period
    if not (start and end):
        raise ValueError("The tax period of the corrected invoice is required.")
    return {
        "InvoiceNumber": number or "",
        "InvoiceSeriesCode": series or "",
        "ReasonCode": reason,
        "ReasonDescription": REASONS[reason],
        "TaxPeriod": {"StartDate": start, "EndDate": end},
        "CorrectionMethod": method,
        "CorrectionMethodDescription": CORRECTION_METHODS[method],
        "InvoiceIssueDate": issue_date,
    }


def _add_amounts(into, other):
    for key, value in other.items():
        if isinstance(value, dict):
            _add_amounts(into.setdefault(key, {}), value)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            into[key] = round(into.get(key, 0.0) + value, 6)


AMOUNT_KEYS = ("TaxableBase", "TaxAmount", "SpecialTaxableBase", "SpecialTaxAmount", "EquivalenceSurchargeAmount")


def group_tax_nodes(nodes, key):
    """One tax node per `key(node)` (tax type and rate), amounts summed, order of first appearance.

    Facturae's invoice-level `TaxesOutputs` / `TaxesWithheld` summarise the invoice per tax type and
    rate; line-level taxes stay per line.
    """
    grouped = {}
    for node in nodes:
        group = grouped.get(key(node))
        if group is None:
            grouped[key(node)] = {
                k: ({kk: vv for kk, vv in v.items()} if isinstance(v, dict) else v) for k, v in node.items()
            }
            continue
        for amount_key in AMOUNT_KEYS:
            if isinstance(node.get(amount_key), dict):
                _add_amounts(group.setdefault(amount_key, {}), node[amount_key])
    return list(grouped.values())
