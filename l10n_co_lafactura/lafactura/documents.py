"""Read what LaFactura.co delivers: the hook's `document` object and `general.json`.

`general.json` is the supplier's UBL 2.1 (DIAN) converted to JSON with a convention
LaFactura does not publish, so the reader accepts the common ones:
- namespace prefixes kept (`cbc:ID`) or dropped (`ID`);
- attributes as `@schemeID` (xmltodict), under `@attributes` / `_attributes` / `$` /
  `attributes` (xml2js, PHP), or as sibling keys starting with a lower-case letter
  (`{"ID": {"value": "1", "schemeID": "4"}}`: UBL elements start upper-case);
- text as `#text`, `_`, `$`, `value`, `_text`, `_value` or the bare value;
- one child as an object, several as a list (and a list for a single one).
An AttachedDocument is unwrapped (its embedded XML is parsed with a safe parser).

Everything here raises `DocumentError(code, message)` with a code from `errors.CODES`.
"""

import hashlib
import json
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from . import nit as nitlib

TEXT_KEYS = ("#text", "_", "$", "value", "_text", "_value", "#value", "__text", "text")
ATTR_CONTAINERS = (
    "@attributes",
    "_attributes",
    "$",
    "attributes",
    "@",
    "_attrs",
    "$attributes",
)
KINDS = {"fc": "Invoice", "nc": "CreditNote", "nd": "DebitNote"}
ROOT_KINDS = {v: k for k, v in KINDS.items()}
CUFE_RE = re.compile(r"^[0-9a-f]{96}$")
TOTAL_KEYS = (
    "LineExtensionAmount",
    "TaxExclusiveAmount",
    "TaxInclusiveAmount",
    "AllowanceTotalAmount",
    "ChargeTotalAmount",
    "PrepaidAmount",
    "PayableRoundingAmount",
    "PayableAmount",
)
# A UBL invoice is about 12 levels deep; anything far deeper is hostile or broken, and
# refusing it early keeps the recursive readers (json, to_node) away from RecursionError.
MAX_DEPTH = 64
DIAN_QR = {
    "1": "https://catalogo-vpfe.dian.gov.co/document/searchqr?documentkey=%s",
    "2": "https://catalogo-vpfe-hab.dian.gov.co/document/searchqr?documentkey=%s",
}
DEFAULT_MAX_BODY = 5 * 1024 * 1024


class DocumentError(ValueError):
    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


# --------------------------------------------------------------------------- tolerant tree
class Node:
    """One UBL element: local name, text, attributes, children (in order)."""

    __slots__ = ("attrs", "children", "name", "text")

    def __init__(self, name, text="", attrs=None, children=None):
        self.name = name
        self.text = text
        self.attrs = attrs or {}
        self.children = children or []

    def __repr__(self):
        return f"<Node {self.name} {self.text!r} {self.attrs} ({len(self.children)})>"

    def findall(self, path):
        nodes = [self]
        for part in path.split("/"):
            nodes = [child for node in nodes for child in node.children if child.name == part]
        return nodes

    def find(self, path):
        found = self.findall(path)
        return found[0] if found else None

    def get(self, path, default=""):
        node = self.find(path)
        return node.text if node is not None and node.text != "" else default

    def attr(self, path, name, default=""):
        node = self.find(path) if path else self
        return node.attrs.get(name, default) if node is not None else default

    def amount(self, path, default=None):
        return to_decimal(self.get(path, ""), default)


def local(name):
    name = str(name)
    return name.rsplit(":", 1)[-1].lstrip("@-")


def _scalar(value):
    return value is None or isinstance(value, (str, int, float, bool))


def _text(value):
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value).replace("\x00", "").strip()  # PostgreSQL text holds no NUL


def check_depth(value, limit=MAX_DEPTH, what="The body"):
    """Raise DocumentError when decoded JSON nests deeper than `limit` (iterative: no recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            raise DocumentError("too_deep", f"{what} nests deeper than {limit} levels; refused.")
        if isinstance(item, dict):
            stack.extend((child, depth + 1) for child in item.values() if isinstance(child, (dict, list)))
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item if isinstance(child, (dict, list)))


def decode_json(text, code, what):
    """json.loads that turns every failure (syntax, huge nesting, huge numbers) into DocumentError."""
    try:
        data = json.loads(text)
    except RecursionError as exc:
        raise DocumentError("too_deep", f"{what} nests too deeply to be read; refused.") from exc
    except ValueError as exc:
        raise DocumentError(code, f"{what} is not valid JSON: {exc}") from exc
    check_depth(data, what=what)
    return data


def to_node(name, value):
    """Build Node(s) from a JSON value under key `name`; a list gives several nodes."""
    if isinstance(value, list):
        return [n for item in value for n in to_node(name, item)]
    node = Node(local(name))
    if _scalar(value):
        node.text = _text(value)
        return [node]
    if not isinstance(value, dict):
        raise DocumentError("json_not_ubl", f"Unexpected JSON value under {name!r}.")
    for key, item in value.items():
        key = str(key)
        if key in TEXT_KEYS and _scalar(item):
            node.text = _text(item)
        elif key in ATTR_CONTAINERS and isinstance(item, dict):
            for attr_name, attr_value in item.items():
                if _scalar(attr_value):
                    node.attrs[local(attr_name)] = _text(attr_value)
        elif key.startswith(("@", "-")) and _scalar(item):
            node.attrs[local(key)] = _text(item)
        elif key.startswith("xmlns") or key.endswith(":xmlns"):
            continue
        elif _scalar(item) and local(key)[:1].islower():
            node.attrs[local(key)] = _text(item)
        else:
            node.children.extend(to_node(key, item))
    return [node]


def xml_to_node(xml_text):
    """Parse embedded XML (AttachedDocument content) safely into a Node tree."""
    from lxml import etree

    data = xml_text.encode() if isinstance(xml_text, str) else xml_text
    if b"<!DOCTYPE" in data[:2048].upper():
        raise DocumentError("json_not_ubl", "The embedded XML has a DOCTYPE; refused.")
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    try:
        root = etree.fromstring(data.strip(), parser)
    except etree.XMLSyntaxError as exc:
        raise DocumentError("json_not_ubl", f"The embedded XML cannot be read: {exc}") from exc
    if root.getroottree().docinfo.doctype:
        raise DocumentError("json_not_ubl", "The embedded XML has a DOCTYPE; refused.")

    def convert(element):
        node = Node(etree.QName(element).localname, (element.text or "").strip())
        node.attrs = {etree.QName(k).localname: v for k, v in element.attrib.items()}
        node.children = [convert(child) for child in element if isinstance(child.tag, str)]
        return node

    return convert(root)


def to_decimal(value, default=None):
    """Decimal from '1234.50', 1234.5, '1,234.50' or '1234,50'; `default` when unreadable."""
    if value in (None, "") or isinstance(value, bool):
        return default
    text = str(value).strip()
    if "," in text:
        text = text.replace(",", "") if "." in text else text.replace(",", ".")
    try:
        return Decimal(text)
    except InvalidOperation:
        return default


# --------------------------------------------------------------------------- CUFE, links
def normalise_cufe(value):
    return str(value or "").strip().lower()


def cufe_shape_ok(value):
    """A CUFE/CUDE is a SHA-384 in lowercase hex: 96 characters."""
    return bool(CUFE_RE.match(normalise_cufe(value)))


def dian_link(cufe, mode="1"):
    return DIAN_QR.get(str(mode), DIAN_QR["1"]) % normalise_cufe(cufe)


def preimage_matches(note, uuid):
    """True/False when a cbc:Note holds the CUFE pre-image (sha384(note) == UUID), None when not verifiable."""
    if not note or not uuid:
        return None
    digest = hashlib.sha384(note.strip().encode()).hexdigest()
    return digest == normalise_cufe(uuid) if note.strip()[:1].isalnum() else None


# --------------------------------------------------------------------------- hook document
@dataclass
class Party:
    name: str = ""
    id: str = ""
    telephone: str = ""
    email: str = ""


@dataclass
class HookDocument:
    """The `document` object of a hook delivery (or of a getDocumentInfo answer)."""

    type: str
    mode: str
    num: str
    cufe: str
    json_text: str
    provider: Party
    totals: dict
    customer: Party = None
    dian: dict = None
    raw: dict = field(default_factory=dict, repr=False)

    @property
    def dian_approved(self):
        if not self.dian:
            return None
        return str(self.dian.get("approved", "")).strip().lower() == "true"

    def dian_messages(self):
        """dian.msg is a JSON string of errors/warnings; return a list of texts."""
        raw = (self.dian or {}).get("msg")
        if raw in (None, "", "[]"):
            return []
        try:
            value = json.loads(raw) if isinstance(raw, str) else raw
        except ValueError:
            return [str(raw)]
        if isinstance(value, dict):
            value = [f"{k}: {v}" for k, v in value.items()]
        if not isinstance(value, list):
            value = [value]
        return [v if isinstance(v, str) else json.dumps(v, ensure_ascii=False) for v in value]


def _party(value):
    value = value if isinstance(value, dict) else {}
    return Party(*(_text(value.get(k)) for k in ("name", "id", "telephone", "email")))


def load_json(body):
    if isinstance(body, (bytes, bytearray)):
        try:
            body = body.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise DocumentError("invalid_json", "The body is not UTF-8 text.") from exc
    if not str(body).strip():
        raise DocumentError("empty_body", "The body is empty.")
    return decode_json(body, "invalid_json", "The body")


def hook_document(data):
    """HookDocument from a decoded hook body or getDocumentInfo answer.

    Accepts `{"document": {...}}`, the object itself, or a one-element list.
    """
    if isinstance(data, list) and len(data) == 1:
        data = data[0]
    if isinstance(data, dict) and isinstance(data.get("document"), dict):
        data = data["document"]
    if not isinstance(data, dict):
        raise DocumentError("not_a_document", "The JSON is not a LaFactura document object.")
    general = data.get("general")
    if not isinstance(general, dict):
        raise DocumentError("not_a_document", "The document has no `general` block.")
    missing = [k for k in ("type", "mode", "num", "cufe") if not _text(general.get(k))]
    if missing:
        raise DocumentError(
            "not_a_document",
            f"The document's `general` block lacks: {', '.join(missing)}.",
        )
    totals = data.get("totals") if isinstance(data.get("totals"), dict) else {}
    json_value = general.get("json")
    if isinstance(json_value, (dict, list)):  # already decoded by someone on the way
        check_depth(json_value, what="general.json")
        json_value = json.dumps(json_value)
    return HookDocument(
        type=_text(general.get("type")).lower(),
        mode=_text(general.get("mode")),
        num=_text(general.get("num")),
        cufe=normalise_cufe(general.get("cufe")),
        json_text=json_value if isinstance(json_value, str) else "",
        provider=_party(data.get("provider")),
        totals={k: _text(v) for k, v in totals.items() if _scalar(v)},
        customer=_party(data["customer"]) if isinstance(data.get("customer"), dict) else None,
        dian={k: v for k, v in data["dian"].items()} if isinstance(data.get("dian"), dict) else None,
        raw=data,
    )


# --------------------------------------------------------------------------- webhook delivery
@dataclass
class Delivery:
    """What the webhook controller does with one request (before any database work)."""

    http_status: int
    state: str  # "received" | "rejected" | "" (not stored at all)
    reason: str = ""
    code: str = ""
    sha256: str = ""
    keys: dict = field(default_factory=dict)  # cufe, type, mode, num, provider_id


def inspect_delivery(method, content_type, body, max_bytes=DEFAULT_MAX_BODY, content_length=None):
    """Check one webhook request; the caller stores it unless `state` is empty.

    Not POST -> 405, not JSON -> 415, too large -> 413: nothing stored (no body worth
    keeping). Empty / invalid JSON / not a document -> 400, stored as rejected with the
    reason. A document -> 200, stored as received with its keys.
    """
    if (method or "").upper() != "POST":
        return Delivery(405, "", "Only POST is accepted.", "method")
    mime = (content_type or "").split(";")[0].strip().lower()
    if mime != "application/json" and not mime.endswith("+json"):
        return Delivery(
            415,
            "",
            f"Content type {mime or 'none'} refused; application/json expected.",
            "content_type",
        )
    if content_length is not None and content_length > max_bytes or body is not None and len(body) > max_bytes:
        return Delivery(413, "", f"Body larger than {max_bytes} bytes.", "too_large")
    body = body or b""
    digest = hashlib.sha256(body).hexdigest()
    try:
        document = hook_document(load_json(body))
    except DocumentError as exc:
        return Delivery(400, "rejected", exc.message, exc.code, digest)
    except (RecursionError, MemoryError, TypeError, ValueError) as exc:  # never a 500 for a body
        return Delivery(400, "rejected", f"The body cannot be read ({type(exc).__name__}).", "invalid_json", digest)
    keys = {
        "cufe": document.cufe,
        "type": document.type,
        "mode": document.mode,
        "num": document.num,
        "provider_id": document.provider.id,
        "provider_name": document.provider.name,
    }
    return Delivery(200, "received", "", "", digest, keys)


# --------------------------------------------------------------------------- UBL document
@dataclass
class TaxLine:
    scheme: str  # 01 IVA, 04 INC, 03 ICA ...
    percent: Decimal
    amount: Decimal
    taxable: Decimal = None


@dataclass
class Line:
    description: str
    quantity: Decimal
    unit_code: str
    price_unit: Decimal
    subtotal: Decimal
    taxes: list
    seller_code: str = ""
    standard_code: str = ""
    discount_percent: Decimal = Decimal(0)


@dataclass
class DocCharge:
    """A document-level cac:AllowanceCharge: an unconditional discount or a charge (freight...).

    DIAN's rule: these do not change the taxable bases (line-level ones do); they move
    PayableAmount through AllowanceTotalAmount / ChargeTotalAmount. Taxes are read only
    when the element carries its own TaxCategory (UBL allows it; DIAN documents rarely do).
    """

    is_charge: bool
    amount: Decimal
    reason: str = ""
    reason_code: str = ""
    percent: Decimal = None
    base: Decimal = None
    taxes: list = field(default_factory=list)

    @property
    def signed_amount(self):
        return self.amount if self.is_charge else -self.amount


@dataclass
class UblParty:
    nit: str = ""
    dv: str = ""
    scheme_name: str = ""
    name: str = ""
    additional_account_id: str = ""
    email: str = ""
    telephone: str = ""

    @property
    def vat(self):
        if self.scheme_name in ("31", "") and self.nit:
            return nitlib.formatted(self.nit, self.dv or None)
        return self.nit


@dataclass
class UblDocument:
    kind: str  # fc | nc | nd
    root: str
    number: str
    uuid: str
    uuid_scheme_id: str
    profile_execution_id: str
    customization_id: str
    issue_date: str
    due_date: str
    currency: str
    supplier: UblParty
    customer: UblParty
    lines: list
    tax_totals: list
    totals: dict
    reference_uuid: str = ""
    reference_number: str = ""
    note: str = ""
    payment_means_id: str = ""
    charges: list = field(default_factory=list)  # [DocCharge] at document level
    tax_amount: Decimal = Decimal(0)  # the declared cac:TaxTotal/cbc:TaxAmount, summed

    @property
    def mode(self):
        return self.profile_execution_id or self.uuid_scheme_id


def _party_of(node, path):
    party = UblParty()
    holder = node.find(path)
    if holder is None:
        return party
    party.additional_account_id = holder.get("AdditionalAccountID")
    for scheme_path in ("Party/PartyTaxScheme", "Party/PartyLegalEntity"):
        company_id = holder.find(scheme_path + "/CompanyID")
        if company_id is not None and company_id.text:
            party.nit = company_id.text
            party.dv = company_id.attrs.get("schemeID", "")
            party.scheme_name = company_id.attrs.get("schemeName", "")
            break
    party.name = (
        holder.get("Party/PartyTaxScheme/RegistrationName")
        or holder.get("Party/PartyLegalEntity/RegistrationName")
        or holder.get("Party/PartyName/Name")
    )
    party.email = holder.get("Party/Contact/ElectronicMail")
    party.telephone = holder.get("Party/Contact/Telephone")
    return party


def _taxes_of(node):
    taxes = []
    for total in node.findall("TaxTotal"):
        for sub in total.findall("TaxSubtotal"):
            percent = to_decimal(sub.get("TaxCategory/Percent") or sub.get("Percent"))
            scheme = sub.get("TaxCategory/TaxScheme/ID")
            if percent is None and sub.get("PerUnitAmount"):
                percent = None  # per-unit taxes (IBUA, ICL) carry no percent
            taxes.append(
                TaxLine(
                    scheme=scheme,
                    percent=percent if percent is not None else Decimal(-1),
                    amount=sub.amount("TaxAmount", Decimal(0)),
                    taxable=sub.amount("TaxableAmount"),
                )
            )
    return taxes


def _doc_charges(root):
    """[DocCharge] of the document level (not the lines'), skipping zero amounts."""
    charges = []
    for node in root.findall("AllowanceCharge"):
        amount = node.amount("Amount", Decimal(0))
        if not amount:
            continue
        taxes = [
            TaxLine(
                scheme=category.get("TaxScheme/ID"),
                percent=to_decimal(category.get("Percent"), Decimal(-1)),
                amount=Decimal(0),
            )
            for category in node.findall("TaxCategory")
            if category.get("TaxScheme/ID")
        ]
        charges.append(
            DocCharge(
                is_charge=node.get("ChargeIndicator").strip().lower() in ("true", "1"),
                amount=abs(amount),
                reason=node.get("AllowanceChargeReason"),
                reason_code=node.get("AllowanceChargeReasonCode"),
                percent=node.amount("MultiplierFactorNumeric"),
                base=node.amount("BaseAmount"),
                taxes=taxes,
            )
        )
    return charges


def _declared_tax(root):
    """Sum of the document's TaxTotal/TaxAmount (its subtotals when a total lacks the amount)."""
    total = Decimal(0)
    for node in root.findall("TaxTotal"):
        amount = node.amount("TaxAmount")
        if amount is None:
            amount = sum((sub.amount("TaxAmount", Decimal(0)) for sub in node.findall("TaxSubtotal")), Decimal(0))
        total += amount
    return total


def ubl_root(json_text):
    """(root name, Node) of general.json; unwraps an AttachedDocument."""
    if not json_text or not str(json_text).strip():
        raise DocumentError("json_not_json", "general.json is empty.")
    if isinstance(json_text, str):
        data = decode_json(json_text, "json_not_json", "general.json")
    else:
        data = json_text
        check_depth(data, what="general.json")
    if isinstance(data, list) and len(data) == 1:
        data = data[0]
    if not isinstance(data, dict) or not data:
        raise DocumentError("json_not_ubl", "general.json is not a UBL document.")
    roots = [k for k in data if local(k) in ROOT_KINDS or local(k) == "AttachedDocument"]
    if roots:
        root = to_node(roots[0], data[roots[0]])[0]
    elif any(local(k) in ("InvoiceLine", "CreditNoteLine", "DebitNoteLine") for k in data):
        line_key = next(local(k) for k in data if local(k).endswith("Line") and local(k) != "BillingReference")
        root = to_node(line_key[: -len("Line")], data)[0]
    else:
        raise DocumentError("json_not_ubl", "general.json holds no Invoice, CreditNote or DebitNote.")
    if root.name == "AttachedDocument":
        embedded = root.get("Attachment/ExternalReference/Description")
        if not embedded:
            raise DocumentError("json_not_ubl", "The AttachedDocument carries no embedded document.")
        root = xml_to_node(embedded)
        if root.name not in ROOT_KINDS:
            raise DocumentError(
                "json_not_ubl",
                f"The AttachedDocument holds a {root.name}, not an invoice or note.",
            )
    return root.name, root


def parse_ubl(json_text):
    """UblDocument from general.json."""
    name, root = ubl_root(json_text)
    kind = ROOT_KINDS[name]
    line_tag = {"fc": "InvoiceLine", "nc": "CreditNoteLine", "nd": "DebitNoteLine"}[kind]
    qty_tag = {
        "fc": "InvoicedQuantity",
        "nc": "CreditedQuantity",
        "nd": "DebitedQuantity",
    }[kind]
    lines = []
    for line in root.findall(line_tag):
        quantity = line.amount(qty_tag, Decimal(1))
        subtotal = line.amount("LineExtensionAmount", Decimal(0))
        price = line.amount("Price/PriceAmount")
        base_qty = line.amount("Price/BaseQuantity") or Decimal(1)
        discount = Decimal(0)
        charges = line.findall("AllowanceCharge")
        if price is not None and base_qty and base_qty != 1:
            price = price / base_qty
        if price is None or charges:
            # allowances/charges on the line: the line amount is what was billed
            price = (subtotal / quantity) if quantity else subtotal
        elif quantity and price * quantity != subtotal and price:
            gross = price * quantity
            discount = ((gross - subtotal) / gross * 100).quantize(Decimal("0.0001"))
        lines.append(
            Line(
                description=line.get("Item/Description") or line.get("Item/Name") or line.get("Note") or "",
                quantity=quantity,
                unit_code=line.attr(qty_tag, "unitCode"),
                price_unit=price,
                subtotal=subtotal,
                taxes=_taxes_of(line),
                seller_code=line.get("Item/SellersItemIdentification/ID"),
                standard_code=line.get("Item/StandardItemIdentification/ID"),
                discount_percent=discount,
            )
        )
    monetary = root.find("LegalMonetaryTotal") or root.find("RequestedMonetaryTotal")
    totals = {}
    if monetary is not None:
        totals = {key: monetary.get(key) for key in TOTAL_KEYS if monetary.get(key) != ""}
    uuid = root.find("UUID")
    notes = [n.text for n in root.findall("Note") if n.text]
    return UblDocument(
        kind=kind,
        root=name,
        number=root.get("ID"),
        uuid=normalise_cufe(uuid.text if uuid is not None else ""),
        uuid_scheme_id=uuid.attrs.get("schemeID", "") if uuid is not None else "",
        profile_execution_id=root.get("ProfileExecutionID"),
        customization_id=root.get("CustomizationID"),
        issue_date=root.get("IssueDate"),
        due_date=root.get("DueDate") or root.get("PaymentMeans/PaymentDueDate"),
        currency=root.get("DocumentCurrencyCode") or "COP",
        supplier=_party_of(root, "AccountingSupplierParty"),
        customer=_party_of(root, "AccountingCustomerParty"),
        lines=lines,
        tax_totals=_taxes_of(root),
        totals=totals,
        reference_uuid=normalise_cufe(root.get("BillingReference/InvoiceDocumentReference/UUID")),
        reference_number=root.get("BillingReference/InvoiceDocumentReference/ID")
        or root.get("DiscrepancyResponse/ReferenceID"),
        note=notes[0] if notes else "",
        payment_means_id=root.get("PaymentMeans/ID"),
        charges=_doc_charges(root),
        tax_amount=_declared_tax(root),
    )


# --------------------------------------------------------------------------- totals
def compare_totals(expected, found, tolerance=Decimal("0.01"), keys=TOTAL_KEYS):
    """[(key, expected, found)] for the totals that differ by more than `tolerance`.

    A key missing on one side is compared as zero (the hook lists "the ones found").
    """
    differences = []
    for key in keys:
        a, b = expected.get(key), found.get(key)
        if a in (None, "") and b in (None, ""):
            continue
        da, db = to_decimal(a, Decimal(0)), to_decimal(b, Decimal(0))
        if abs(da - db) > tolerance:
            differences.append((key, da, db))
    return differences


def expected_move_totals(totals, declared_tax=None):
    """What Odoo's bill must show, from the document's monetary totals and declared tax.

    untaxed = LineExtension - AllowanceTotal + ChargeTotal (document-level discounts and
    charges become bill lines); tax = the declared TaxTotal (`declared_tax`), never a
    difference of totals; total = PayableAmount + PrepaidAmount - PayableRoundingAmount:
    an advance (anticipo) is paid, not taken off the bill, and the peso rounding is not a
    line. Without PayableAmount: TaxInclusive - AllowanceTotal + ChargeTotal.
    """
    d = {k: to_decimal(totals.get(k), Decimal(0)) for k in TOTAL_KEYS}
    untaxed = d["LineExtensionAmount"] - d["AllowanceTotalAmount"] + d["ChargeTotalAmount"]
    if totals.get("PayableAmount") not in (None, ""):
        total = d["PayableAmount"] + d["PrepaidAmount"] - d["PayableRoundingAmount"]
    else:
        total = d["TaxInclusiveAmount"] - d["AllowanceTotalAmount"] + d["ChargeTotalAmount"]
    tax = to_decimal(declared_tax, None) if declared_tax is not None else None
    return {
        "amount_untaxed": untaxed,
        "amount_tax": tax if tax is not None else total - untaxed,
        "amount_total": total,
    }


# --------------------------------------------------------------------------- tax mapping
class TaxTable:
    """(DIAN scheme, percent) -> purchase tax key (an Odoo tax id in the adapter).

    Percent is compared to 2 decimals; rows with percent None match any rate of the scheme.
    Withholdings (05 ReteIVA, 06 ReteRenta, 07 ReteICA) and ZZ are skipped unless mapped.
    """

    SKIP = frozenset({"05", "06", "07", "ZZ"})

    def __init__(self, rows=()):
        self.rows = {}
        for scheme, percent, key in rows:
            self.add(scheme, percent, key)

    @staticmethod
    def _percent(value):
        return None if value is None else Decimal(str(value)).quantize(Decimal("0.01"))

    def add(self, scheme, percent, key):
        self.rows[
            (
                str(scheme).zfill(2) if str(scheme).isdigit() else str(scheme),
                self._percent(percent),
            )
        ] = key

    def lookup(self, scheme, percent):
        scheme = str(scheme).zfill(2) if str(scheme).isdigit() else str(scheme)
        exact = self.rows.get((scheme, self._percent(percent)))
        return exact if exact is not None else self.rows.get((scheme, None))

    def map_taxes(self, taxes):
        """(keys, unknown[(scheme, percent)]) for one line's taxes."""
        keys, unknown = [], []
        for tax in taxes:
            key = self.lookup(tax.scheme, tax.percent)
            if key is None:
                if tax.scheme in self.SKIP:
                    continue
                unknown.append((tax.scheme, tax.percent))
            elif key is not False:  # False = explicitly ignored
                keys.append(key)
        return keys, unknown


# --------------------------------------------------------------------------- bill plan
@dataclass
class Plan:
    """What to create in the books for one verified document."""

    move_type: str  # in_invoice | in_refund
    kind: str
    cufe: str
    number: str
    mode: str
    ubl: UblDocument
    hook: HookDocument
    lines: list  # [(Line, [tax keys])]
    reference_cufe: str = ""
    charges: list = field(default_factory=list)  # [(DocCharge, [tax keys])]
    warnings: list = field(default_factory=list)
    total_differences: list = field(default_factory=list)


class Refusal(Exception):
    """The document must not become a bill; `state` is the inbox state to record."""

    def __init__(self, state, code, message):
        super().__init__(message)
        self.state, self.code, self.message = state, code, message


def _modes(hook, info, ubl):
    modes = {m for m in (hook.mode, getattr(info, "mode", ""), ubl.profile_execution_id) if m}
    if info is not None and info.dian and info.dian.get("mode"):
        modes.add(str(info.dian["mode"]))
    return modes


def _is_test_mode(hook, info, ubl, company_mode):
    """Mode 2 anywhere, or a mode that is not the company's: a test document."""
    modes = _modes(hook, info, ubl)
    return "2" in modes or bool(company_mode and modes and company_mode not in modes)


def _total_differences(hook, info, ubl, tolerance):
    """The hook's (and LaFactura's) totals against the UBL's monetary totals."""
    differences = compare_totals(hook.totals, ubl.totals, tolerance) if hook.totals else []
    if info is not None and info.totals:
        found = compare_totals(info.totals, ubl.totals, tolerance)
        differences += [d for d in found if d not in differences]
    return differences


def _map_lines(ubl, table):
    """([(Line, tax keys)], [(DocCharge, tax keys)]), or Refusal when a tax has no mapping."""
    planned, charges, unknown = [], [], []
    for items, out in ((ubl.lines, planned), (ubl.charges, charges)):
        for item in items:
            keys, missing = table.map_taxes(item.taxes)
            unknown += [m for m in missing if m not in unknown]
            out.append((item, keys))
    if unknown:
        listed = ", ".join(f"scheme {s} at {p}%" for s, p in unknown)
        raise Refusal(
            "error",
            "unknown_tax",
            f"No purchase tax is mapped for: {listed}. Add them to the LaFactura tax mapping, then process again.",
        )
    return planned, charges


def plan(
    hook,
    info=None,
    company_nit="",
    company_mode="1",
    tax_table=None,
    accept_test=False,
    tolerance="0.01",
):
    """Verify one document and say what bill to create, or raise Refusal.

    `hook` is the delivered document; `info` the getDocumentInfo answer (None when the
    confirmation is switched off). Checks: CUFE shape, the document's type, DIAN approval,
    the addressee, the mode, the UBL, the hook's totals against the UBL's, the taxes.
    """
    tolerance = Decimal(str(tolerance))
    warnings = []
    if hook.type not in KINDS:
        raise Refusal(
            "ignored",
            "unsupported_type",
            f"Document type {hook.type!r} is not an invoice or a note.",
        )
    if not cufe_shape_ok(hook.cufe):
        raise Refusal(
            "rejected",
            "bad_cufe",
            f"CUFE/CUDE {hook.cufe[:120]!r} is not 96 hexadecimal characters (SHA-384).",
        )
    source = info or hook
    if info is not None:
        if normalise_cufe(info.cufe) != hook.cufe:
            raise Refusal(
                "rejected",
                "cufe_mismatch",
                "LaFactura answered for another CUFE than the one delivered.",
            )
        if info.dian_approved is False:
            messages = "; ".join(info.dian_messages()) or "no reason given"
            raise Refusal(
                "rejected",
                "dian_rejected",
                f"DIAN did not approve this document: {messages}",
            )
        if info.dian_approved is None:
            raise Refusal(
                "error",
                "dian_unknown",
                "LaFactura did not say whether DIAN approved the document.",
            )
    try:
        ubl = parse_ubl(source.json_text or hook.json_text)
    except DocumentError as exc:
        raise Refusal("rejected", exc.code, exc.message) from exc
    if ubl.kind != hook.type:
        raise Refusal(
            "rejected",
            "type_mismatch",
            f"The hook says {hook.type!r} but general.json holds a {ubl.root}.",
        )
    if ubl.uuid and ubl.uuid != hook.cufe:
        raise Refusal(
            "rejected",
            "cufe_mismatch",
            "general.json's UUID differs from the delivered CUFE.",
        )
    addressee = (
        info.customer.id if info is not None and info.customer and info.customer.id else ""
    ) or ubl.customer.nit
    if company_nit and not (addressee and nitlib.same(company_nit, addressee)):
        raise Refusal(
            "rejected",
            "other_company",
            f"The document is addressed to {addressee or 'nobody'}, not to our NIT {company_nit}.",
        )
    if _is_test_mode(hook, info, ubl, company_mode):
        if not accept_test:
            modes = "/".join(sorted(_modes(hook, info, ubl)))
            raise Refusal(
                "ignored",
                "test_mode",
                f"Test-mode document (mode {modes}) while the company works in mode {company_mode}: kept, not booked.",
            )
        warnings.append("test_mode")
    differences = _total_differences(hook, info, ubl, tolerance)
    if nitlib.dv_mismatch(ubl.supplier.nit, ubl.supplier.dv):
        warnings.append("supplier_dv_mismatch")
    if preimage_matches(ubl.note, ubl.uuid) is False and ubl.note.startswith(ubl.number or "\0"):
        warnings.append("cufe_preimage_mismatch")
    planned, charges = _map_lines(ubl, tax_table or TaxTable())
    if not planned:
        raise Refusal("rejected", "no_lines", "general.json has no lines.")
    reference = ubl.reference_uuid if hook.type in ("nc", "nd") else ""
    return Plan(
        move_type="in_refund" if hook.type == "nc" else "in_invoice",
        kind=hook.type,
        cufe=hook.cufe,
        number=hook.num or ubl.number,
        mode=hook.mode,
        ubl=ubl,
        hook=hook,
        lines=planned,
        charges=charges,
        reference_cufe=reference,
        warnings=warnings,
        total_differences=differences,
    )
