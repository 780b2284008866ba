"""What a vendor bill needs from a received Facturae, read once from its parsed tree.

Mirrors what Odoo's `l10n_es_edi_facturae` import reads (`_import_invoice_facturae_invoice` and
`_import_invoice_fill_lines`), so a bill made from these values equals the one core would make,
but as plain data: the Odoo layer then creates the bill with its lines in one `create`.
"""

from dataclasses import dataclass, field


@dataclass
class TaxRef:
    rate: float
    withheld: bool
    fixed: bool


@dataclass
class LineData:
    name: str
    quantity: float
    price_unit: float
    discount: float
    taxes: list = field(default_factory=list)  # [TaxRef]


@dataclass
class BillData:
    refund: bool
    currency: str
    issue_date: str
    due_date: str
    number: str
    narration: str
    lines: list = field(default_factory=list)  # [LineData]


def _value(node, xpath):
    found = node.xpath(xpath)
    return found[0].text if found else None


def _float(text, default=0.0):
    try:
        return float(text) if text not in (None, "") else default
    except ValueError:
        return default


def _taxes(line, path, withheld, digits):
    refs = []
    for tax in line.xpath(path):
        rate = _value(tax, ".//TaxRate")
        if not rate:
            continue
        base = _value(tax, ".//TaxableBase/TotalAmount")
        amount = _value(tax, ".//TaxAmount/TotalAmount")
        # a rate that does not give the tax amount from the base is a fixed amount (as core reads it)
        fixed = bool(base and amount and round(_float(base) * _float(rate) / 100 - _float(amount), digits) != 0)
        refs.append(TaxRef(rate=_float(rate), withheld=withheld, fixed=fixed))
    return refs


def bill_data(invoice_node, digits=2):
    """BillData of one `Invoice` element of a Facturae (`digits`: the currency's decimals)."""
    total = _value(invoice_node, ".//InvoiceTotal")
    refund = _float(total) < 0 if total else False
    sign = -1.0 if refund else 1.0
    lines = []
    for line in invoice_node.xpath(".//InvoiceLine"):
        price = _value(line, ".//UnitPriceWithoutTax")
        discount = sum(_float(n.text) for n in line.xpath(".//DiscountRate"))
        discount -= sum(_float(n.text) for n in line.xpath(".//ChargeRate"))
        lines.append(
            LineData(
                name=_value(line, ".//ItemDescription") or "",
                quantity=_float(_value(line, ".//Quantity"), 1.0),
                price_unit=sign * _float(price) if price else 1.0,
                discount=discount,
                taxes=_taxes(line, ".//TaxesOutputs/Tax", False, digits)
                + _taxes(line, ".//TaxesWithheld/Tax", True, digits),
            )
        )
    return BillData(
        refund=refund,
        currency=_value(invoice_node, ".//InvoiceCurrencyCode") or "",
        issue_date=_value(invoice_node, ".//IssueDate") or "",
        due_date=_value(invoice_node, ".//InstallmentDueDate") or "",
        number=_value(invoice_node, ".//InvoiceNumber") or "",
        narration="\n".join(ref.text for ref in invoice_node.xpath(".//LegalReference") if ref.text),
        lines=lines,
    )
