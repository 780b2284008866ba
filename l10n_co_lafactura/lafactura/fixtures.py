"""Documents as LaFactura.co delivers them: invoices, credit and debit notes, test-mode
and DIAN-rejected ones, in several JSON conventions for `general.json`.

`make_document(...)` returns the full object that getDocumentInfo answers (with `dian`
and `customer`); `hook_body(document)` the part the hook delivers. CUFEs are real
SHA-384 digests of a DIAN-shaped pre-image (with a made-up technical key), kept in
`cbc:Note` so the pre-image check can run.
"""

import hashlib
import json
from decimal import ROUND_HALF_UP, Decimal

from . import nit as nitlib

CLTEC = "fixture-technical-key"  # not a real DIAN key
OUR_NIT = "900373044"  # the buyer (demo company) in fixtures; DV 9
SUPPLIER_NIT = "860034313"  # DV 7
DIALECTS = ("xmltodict", "xml2js", "compact")
CENT = Decimal("0.01")


def q(value):
    return Decimal(value).quantize(CENT, ROUND_HALF_UP)


class E:
    """A tiny element tree used to render UBL in each JSON dialect."""

    def __init__(self, tag, text=None, attrs=None, *children):
        self.tag, self.text, self.attrs, self.children = (
            tag,
            text,
            attrs or {},
            list(children),
        )


def render(element, dialect):
    """{tag: value} in the JSON convention `dialect`."""

    def key(e):
        return e.tag if dialect in ("xmltodict", "xml2js") else e.tag.split(":")[-1]

    def value(e):
        text = None if e.text is None else str(e.text)
        if dialect == "xml2js":  # everything in lists, text in "_", attributes in "$"
            if not e.children and not e.attrs:
                return [text or ""]
            out = {}
            if e.attrs:
                out["$"] = dict(e.attrs)
            if text is not None:
                out["_"] = text
            for child in e.children:
                out.setdefault(key(child), []).extend(value(child))
            return [out]
        if not e.children and not e.attrs:
            return text or ""
        out = {}
        for name, val in e.attrs.items():
            out["@" + name if dialect == "xmltodict" else name] = val
        if text is not None:
            out["#text" if dialect == "xmltodict" else "value"] = text
        repeated = set()
        for child in e.children:
            k, v = key(child), value(child)
            if k in out:
                if k not in repeated:
                    out[k] = [out[k]]
                    repeated.add(k)
                out[k].append(v)
            else:
                out[k] = v
        return out

    rendered = value(element)
    return {key(element): rendered[0] if dialect == "xml2js" else rendered}


def cufe_preimage(number, date, time, untaxed, iva, inc, ica, total, supplier, customer, mode):
    return f"{number}{date}{time}{untaxed}01{iva}04{inc}03{ica}{total}{supplier}{customer}{CLTEC}{mode}"


def _party(role, nit, name, scheme="31", dv=None):
    dv = dv if dv is not None else (nitlib.check_digit(nit) if scheme == "31" else None)
    attrs = {"schemeAgencyID": "195", "schemeName": scheme}
    if dv is not None:
        attrs["schemeID"] = dv
    return E(
        f"cac:{role}",
        None,
        None,
        E("cbc:AdditionalAccountID", "1"),
        E(
            "cac:Party",
            None,
            None,
            E("cac:PartyName", None, None, E("cbc:Name", name)),
            E(
                "cac:PartyTaxScheme",
                None,
                None,
                E("cbc:RegistrationName", name),
                E("cbc:CompanyID", nit, attrs),
                E("cac:TaxScheme", None, None, E("cbc:ID", "01"), E("cbc:Name", "IVA")),
            ),
            E(
                "cac:Contact",
                None,
                None,
                E("cbc:ElectronicMail", f"facturacion@{nit}.example.co"),
            ),
        ),
    )


def _tax_total(entries):
    """entries: [(scheme, percent, taxable, amount)]"""
    amount = q(sum(e[3] for e in entries))
    subtotals = [
        E(
            "cac:TaxSubtotal",
            None,
            None,
            E("cbc:TaxableAmount", f"{e[2]:.2f}", {"currencyID": "COP"}),
            E("cbc:TaxAmount", f"{e[3]:.2f}", {"currencyID": "COP"}),
            E(
                "cac:TaxCategory",
                None,
                None,
                E("cbc:Percent", f"{e[1]:.2f}"),
                E(
                    "cac:TaxScheme",
                    None,
                    None,
                    E("cbc:ID", e[0]),
                    E("cbc:Name", {"01": "IVA", "04": "INC"}.get(e[0], e[0])),
                ),
            ),
        )
        for e in entries
    ]
    return E(
        "cac:TaxTotal",
        None,
        None,
        E("cbc:TaxAmount", f"{amount:.2f}", {"currencyID": "COP"}),
        *subtotals,
    )


def _doc_charge(index, charge, base):
    """cac:AllowanceCharge at document level as DIAN's annex lays it out."""
    is_charge, amount, code, reason = charge
    children = [E("cbc:ID", str(index)), E("cbc:ChargeIndicator", "true" if is_charge else "false")]
    if not is_charge and code:
        children.append(E("cbc:AllowanceChargeReasonCode", code))
    percent = q(Decimal(amount) * 100 / base) if base else Decimal(0)
    children += [
        E("cbc:AllowanceChargeReason", reason),
        E("cbc:MultiplierFactorNumeric", f"{percent:.2f}"),
        E("cbc:Amount", f"{Decimal(amount):.2f}", {"currencyID": "COP"}),
        E("cbc:BaseAmount", f"{base:.2f}", {"currencyID": "COP"}),
    ]
    return E("cac:AllowanceCharge", None, None, *children)


def make_document(
    kind="fc",
    number="FE1",
    lines=(("Servicio de consultoría", 1, "100000.00", "01", 19),),
    supplier_nit=SUPPLIER_NIT,
    supplier_name="Proveedor Andino S.A.S.",
    customer_nit=OUR_NIT,
    customer_name="CO Company",
    mode="1",
    approved=True,
    dian_messages=(),
    reference=None,
    dialect="xmltodict",
    issue_date="2026-11-20",
    hook_totals_override=None,
    tax_rounding="line",
    supplier_dv=None,
    doc_charges=(),
    prepaid="0.00",
):
    """The full `document` object (as getDocumentInfo answers it).

    `tax_rounding`: "line" (each line's tax rounded, then summed) or "global" (each tax
    rounded once on the sum of its bases, as some issuers do).

    `lines`: (description, quantity, unit price, tax scheme or None, percent).
    `reference`: the referenced document (dict from make_document) for nc/nd.
    `supplier_dv`: the check digit the supplier writes (None: the right one).
    `doc_charges`: document-level (is_charge, amount, reason code, reason): DIAN's
    unconditional discounts ("00") and charges such as freight; they leave the tax bases
    alone and move PayableAmount. `prepaid`: an advance (anticipo) already paid.
    """
    root = {"fc": "Invoice", "nc": "CreditNote", "nd": "DebitNote"}[kind]
    line_tag = {"fc": "InvoiceLine", "nc": "CreditNoteLine", "nd": "DebitNoteLine"}[kind]
    qty_tag = {
        "fc": "InvoicedQuantity",
        "nc": "CreditedQuantity",
        "nd": "DebitedQuantity",
    }[kind]
    line_elements, per_tax = [], {}
    untaxed = Decimal(0)
    for index, (description, quantity, price, scheme, percent) in enumerate(lines, 1):
        subtotal = q(Decimal(str(quantity)) * Decimal(str(price)))
        untaxed += subtotal
        children = [
            E("cbc:ID", str(index)),
            E(f"cbc:{qty_tag}", str(quantity), {"unitCode": "94"}),
            E("cbc:LineExtensionAmount", f"{subtotal:.2f}", {"currencyID": "COP"}),
        ]
        if scheme:
            amount = q(subtotal * Decimal(str(percent)) / 100)
            children.append(_tax_total([(scheme, Decimal(str(percent)), subtotal, amount)]))
            slot = per_tax.setdefault((scheme, Decimal(str(percent))), [Decimal(0), Decimal(0)])
            slot[0] += subtotal
            slot[1] += amount
        children += [
            E(
                "cac:Item",
                None,
                None,
                E("cbc:Description", description),
                E(
                    "cac:SellersItemIdentification",
                    None,
                    None,
                    E("cbc:ID", f"SKU-{index}"),
                ),
            ),
            E(
                "cac:Price",
                None,
                None,
                E("cbc:PriceAmount", str(price), {"currencyID": "COP"}),
                E("cbc:BaseQuantity", "1", {"unitCode": "94"}),
            ),
        ]
        line_elements.append(E(f"cac:{line_tag}", None, None, *children))
    tax_entries = [(s, p, t[0], t[1]) for (s, p), t in sorted(per_tax.items())]
    if tax_rounding == "global":
        tax_entries = [(s, p, base, q(base * p / 100)) for s, p, base, _ in tax_entries]
    tax_amount = q(sum((e[3] for e in tax_entries), Decimal(0)))
    taxable = q(sum((e[2] for e in tax_entries), Decimal(0)))
    untaxed = q(untaxed)
    total = q(untaxed + tax_amount)
    allowance_total = q(sum((Decimal(c[1]) for c in doc_charges if not c[0]), Decimal(0)))
    charge_total = q(sum((Decimal(c[1]) for c in doc_charges if c[0]), Decimal(0)))
    payable = q(total - allowance_total + charge_total - Decimal(prepaid))
    iva = q(sum((e[3] for e in tax_entries if e[0] == "01"), Decimal(0)))
    inc = q(sum((e[3] for e in tax_entries if e[0] == "04"), Decimal(0)))
    preimage = cufe_preimage(
        number,
        issue_date,
        "10:00:00-05:00",
        f"{untaxed:.2f}",
        f"{iva:.2f}",
        f"{inc:.2f}",
        "0.00",
        f"{payable:.2f}",
        supplier_nit,
        customer_nit,
        mode,
    )
    cufe = hashlib.sha384(preimage.encode()).hexdigest()
    totals = {
        "LineExtensionAmount": f"{untaxed:.2f}",
        "TaxExclusiveAmount": f"{taxable:.2f}",
        "TaxInclusiveAmount": f"{total:.2f}",
        "AllowanceTotalAmount": f"{allowance_total:.2f}",
        "ChargeTotalAmount": f"{charge_total:.2f}",
        "PrepaidAmount": f"{Decimal(prepaid):.2f}",
        "PayableAmount": f"{payable:.2f}",
    }
    customization = {
        "fc": "10",
        "nc": "20" if reference else "22",
        "nd": "30" if reference else "32",
    }[kind]
    children = [
        E("cbc:UBLVersionID", "UBL 2.1"),
        E("cbc:CustomizationID", customization),
        E("cbc:ProfileID", f"DIAN 2.1: {root}"),
        E("cbc:ProfileExecutionID", mode),
        E("cbc:ID", number),
        E(
            "cbc:UUID",
            cufe,
            {
                "schemeID": mode,
                "schemeName": "CUFE-SHA384" if kind == "fc" else "CUDE-SHA384",
            },
        ),
        E("cbc:IssueDate", issue_date),
        E("cbc:IssueTime", "10:00:00-05:00"),
    ]
    if kind == "fc":
        children.append(E("cbc:InvoiceTypeCode", "01"))
    elif kind == "nc":
        children.append(E("cbc:CreditNoteTypeCode", "91"))
    children += [E("cbc:Note", preimage), E("cbc:DocumentCurrencyCode", "COP")]
    if reference:
        ref_general = reference["general"]
        children.append(
            E(
                "cac:DiscrepancyResponse",
                None,
                None,
                E("cbc:ReferenceID", ref_general["num"]),
                E("cbc:ResponseCode", "2" if kind == "nc" else "4"),
            )
        )
        children.append(
            E(
                "cac:BillingReference",
                None,
                None,
                E(
                    "cac:InvoiceDocumentReference",
                    None,
                    None,
                    E("cbc:ID", ref_general["num"]),
                    E("cbc:UUID", ref_general["cufe"], {"schemeName": "CUFE-SHA384"}),
                    E("cbc:IssueDate", issue_date),
                ),
            )
        )
    children += [
        _party("AccountingSupplierParty", supplier_nit, supplier_name, dv=supplier_dv),
        _party("AccountingCustomerParty", customer_nit, customer_name),
        E(
            "cac:PaymentMeans",
            None,
            None,
            E("cbc:ID", "2"),
            E("cbc:PaymentMeansCode", "10"),
        ),
    ]
    if Decimal(prepaid):
        children.append(
            E(
                "cac:PrepaidPayment",
                None,
                None,
                E("cbc:ID", "ANT-1"),
                E("cbc:PaidAmount", f"{Decimal(prepaid):.2f}", {"currencyID": "COP"}),
                E("cbc:ReceivedDate", issue_date),
            )
        )
    children += [_doc_charge(index, charge, untaxed) for index, charge in enumerate(doc_charges, 1)]
    if tax_entries:
        children.append(_tax_total(tax_entries))
    monetary_tag = "cac:RequestedMonetaryTotal" if kind == "nd" else "cac:LegalMonetaryTotal"
    children.append(
        E(
            monetary_tag,
            None,
            None,
            *[E(f"cbc:{k}", v, {"currencyID": "COP"}) for k, v in totals.items()],
        )
    )
    children += line_elements
    ubl = render(
        E(f"fe:{root}" if dialect == "xmltodict" else root, None, None, *children),
        dialect,
    )
    hook_totals = dict(totals)
    hook_totals.update(hook_totals_override or {})
    return {
        "provider": {
            "name": supplier_name,
            "id": supplier_nit,
            "telephone": "6017466664",
            "email": f"facturacion@{supplier_nit}.example.co",
        },
        "totals": hook_totals,
        "general": {
            "type": kind,
            "mode": mode,
            "num": number,
            "cufe": cufe,
            "json": json.dumps(ubl, ensure_ascii=False),
        },
        "dian": {
            "mode": mode,
            "num": number,
            "cufe": cufe,
            "msg": json.dumps(list(dian_messages), ensure_ascii=False),
            "approved": "true" if approved else "false",
        },
        "customer": {
            "name": customer_name,
            "id": customer_nit,
            "telephone": "",
            "email": "compras@example.co",
        },
    }


def hook_body(document):
    """What the hook delivers: the document without its dian and customer blocks."""
    return {"document": {k: v for k, v in document.items() if k not in ("dian", "customer")}}


def scenario(
    count,
    seed=0,
    customer_nit=OUR_NIT,
    credit_every=7,
    debit_every=11,
    dialects=DIALECTS,
):
    """`count` distinct documents: invoices, with credit/debit notes referring to earlier ones."""
    import random

    rng = random.Random(seed)
    docs, invoices = [], []
    for index in range(count):
        dialect = dialects[index % len(dialects)]
        if invoices and index % credit_every == credit_every - 1:
            ref = rng.choice(invoices)
            doc = make_document(
                "nc",
                f"NC{index}",
                lines=(("Devolución", 1, "10000.00", "01", 19),),
                reference=ref,
                customer_nit=customer_nit,
                dialect=dialect,
            )
        elif invoices and index % debit_every == debit_every - 1:
            ref = rng.choice(invoices)
            doc = make_document(
                "nd",
                f"ND{index}",
                lines=(("Intereses", 1, "5000.00", None, 0),),
                reference=ref,
                customer_nit=customer_nit,
                dialect=dialect,
            )
        else:
            rate = rng.choice([19, 5, 0])
            doc = make_document(
                "fc",
                f"FE{index}",
                lines=(
                    (
                        "Papelería",
                        rng.randint(1, 5),
                        f"{rng.randint(1000, 90000)}.00",
                        "01",
                        rate,
                    ),
                    ("Transporte", 1, "25000.00", "01", 19),
                ),
                customer_nit=customer_nit,
                dialect=dialect,
            )
            invoices.append(doc)
        docs.append(doc)
    return docs
