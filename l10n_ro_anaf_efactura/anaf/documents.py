"""Parse ANAF answers and CIUS-RO invoices; pre-upload checks. Pure (lxml only).

Every body from outside goes through `parse_xml` (no entities, no DTD, no network;
a DOCTYPE is refused). `sniff` tells what a body is before anyone parses it, since
ANAF answers errors with HTTP 200 and a JSON or XML body where a ZIP was expected.
"""

import hashlib
import io
import json
import re
import zipfile
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from lxml import etree

from . import vat

NS_UPLOAD = "mfp:anaf:dgti:spv:respUploadFisier:v1"
NS_STATUS = "mfp:anaf:dgti:efactura:stareMesajFactura:v1"
NS_ERRORS = "mfp:anaf:dgti:efactura:mesajEroriFactuta:v1"
NS_DSIG = "http://www.w3.org/2000/09/xmldsig#"
NS_UBL = {
    "inv": "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2",
    "cn": "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2",
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
}
CIUS_RO_CUSTOMIZATION = "urn:cen.eu:en16931:2017#compliant#urn:efactura.mfinante.ro:CIUS-RO:1.0.1"
MAX_UPLOAD_BYTES = 10 * 1024 * 1024
RO_COUNTIES = {
    "AB",
    "AR",
    "AG",
    "BC",
    "BH",
    "BN",
    "BT",
    "BR",
    "BV",
    "B",
    "BZ",
    "CL",
    "CS",
    "CJ",
    "CT",
    "CV",
    "DB",
    "DJ",
    "GL",
    "GR",
    "GJ",
    "HR",
    "HD",
    "IL",
    "IS",
    "IF",
    "MM",
    "MH",
    "MS",
    "NT",
    "OT",
    "PH",
    "SJ",
    "SM",
    "SB",
    "SV",
    "TR",
    "TM",
    "TL",
    "VL",
    "VS",
    "VN",
}
SECTORS = {f"SECTOR{i}" for i in range(1, 7)}
CNP_UNKNOWN = "0000000000000"  # an individual buyer whose CNP is not known (ANAF's B2C convention)
_CNP_WEIGHTS = "279146358279"


def valid_cnp(value):
    """A Romanian personal numeric code: 13 digits, the last a check digit (or the 13-zero placeholder)."""
    value = (value or "").strip()
    if len(value) != 13 or not value.isdigit():
        return False
    if value == CNP_UNKNOWN:
        return True
    check = sum(int(d) * int(w) for d, w in zip(value[:12], _CNP_WEIGHTS, strict=True)) % 11
    return (1 if check == 10 else check) == int(value[12])


class DocumentError(ValueError):
    """A body that is not what it should be (kind: protocol)."""


def _parser():
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


def parse_xml(data):
    if isinstance(data, str):
        data = data.encode("utf-8")
    head = data[:2048].lower()
    if b"<!doctype" in head or b"<!entity" in head:
        raise DocumentError("XML with a DOCTYPE is refused.")
    try:
        root = etree.fromstring(data, parser=_parser())
    except etree.XMLSyntaxError as exc:
        raise DocumentError(f"Unreadable XML: {exc}") from exc
    if root.getroottree().docinfo.doctype:
        raise DocumentError("XML with a DOCTYPE is refused.")
    return root


def sniff(data):
    """'zip' | 'pdf' | 'json' | 'html' | 'xml' | 'empty' | 'other'."""
    data = (data or b"").lstrip()
    if not data:
        return "empty"
    if data[:4] == b"PK\x03\x04":
        return "zip"
    if data[:5] == b"%PDF-":
        return "pdf"
    if data[:1] in (b"{", b"["):
        return "json"
    lower = data[:512].lower()
    if b"<html" in lower or b"<!doctype html" in lower:
        return "html"
    if data[:1] == b"<":
        return "xml"
    return "other"


def sha256(data):
    if isinstance(data, str):
        data = data.encode("utf-8")
    return hashlib.sha256(data).hexdigest()


# -- answers --------------------------------------------------------------------
@dataclass
class UploadAnswer:
    index: str = ""
    date: str = ""  # yyyyMMddHHmm as ANAF sends it
    errors: list = field(default_factory=list)

    @property
    def ok(self):
        return bool(self.index) and not self.errors


def parse_upload(data):
    root = parse_xml(data)
    if etree.QName(root).namespace != NS_UPLOAD:
        raise DocumentError("The upload answer is not an ANAF upload response.")
    errors = [e.get("errorMessage", "") for e in root.iter(f"{{{NS_UPLOAD}}}Errors")]
    index = root.get("index_incarcare", "")
    if root.get("ExecutionStatus") == "1" and not errors:
        errors = ["ExecutionStatus=1"]
    if not index and not errors:
        raise DocumentError("The upload answer carries neither an index nor an error.")
    return UploadAnswer(
        index=index if not errors else "",
        date=root.get("dateResponse", ""),
        errors=errors,
    )


STATE_OK, STATE_NOK, STATE_PROCESSING, STATE_XML_ERRORS = (
    "ok",
    "nok",
    "in prelucrare",
    "XML cu erori nepreluat de sistem",
)


@dataclass
class StatusAnswer:
    state: str = ""  # one of STATE_* or "" with errors
    download_id: str = ""
    errors: list = field(default_factory=list)


def parse_status(data):
    root = parse_xml(data)
    if etree.QName(root).namespace != NS_STATUS:
        raise DocumentError("The status answer is not an ANAF stareMesaj response.")
    errors = [e.get("errorMessage", "") for e in root.iter(f"{{{NS_STATUS}}}Errors")]
    state = root.get("stare", "")
    if not state and not errors:
        raise DocumentError("The status answer carries neither a state nor an error.")
    return StatusAnswer(state=state, download_id=root.get("id_descarcare", ""), errors=errors)


@dataclass
class ZipAnswer:
    content: bytes
    xml_name: str
    xml: bytes
    signature_name: str
    signature: bytes
    errors: list = field(default_factory=list)  # ANAF's errors when the ZIP is a nok answer
    index: str = ""
    is_error_document: bool = False


def parse_zip(data):
    """Open ANAF's answer ZIP: the invoice (or the error document) and `semnatura_*.xml`."""
    if sniff(data) != "zip":
        raise DocumentError("A ZIP was expected.")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        names = archive.namelist()
        if len(names) > 10 or sum(i.file_size for i in archive.infolist()) > 50 * 1024 * 1024:
            raise DocumentError("The ZIP is larger than any ANAF answer.")
        signature_name = next((n for n in names if n.startswith("semnatura")), "")
        xml_name = next(
            (n for n in names if n.endswith(".xml") and not n.startswith("semnatura")),
            "",
        )
        if not signature_name or not xml_name:
            raise DocumentError("The ZIP lacks the invoice or the signature file.")
        xml, signature = archive.read(xml_name), archive.read(signature_name)
    except zipfile.BadZipFile as exc:
        raise DocumentError(f"Broken ZIP: {exc}") from exc
    root = parse_xml(xml)
    errors, index = [], ""
    is_error = etree.QName(root).namespace == NS_ERRORS
    if is_error:
        errors = [e.get("errorMessage", "") for e in root.iter(f"{{{NS_ERRORS}}}Error")]
        index = root.get("Index_incarcare", "")
    else:
        index = xml_name[:-4]
    return ZipAnswer(data, xml_name, xml, signature_name, signature, errors, index, is_error)


def signature_values(signature_xml):
    """(SignatureValue, X509Certificate) of ANAF's signature file, whitespace removed."""
    root = parse_xml(signature_xml)
    value = root.findtext(f".//{{{NS_DSIG}}}SignatureValue") or ""
    cert = root.findtext(f".//{{{NS_DSIG}}}X509Certificate") or ""
    return re.sub(r"\s+", "", value), re.sub(r"\s+", "", cert)


def json_error(data):
    """ANAF's `eroare` from a JSON body, or '' when the body is not such an error."""
    try:
        body = json.loads(data)
    except (ValueError, TypeError):
        return ""
    if isinstance(body, dict):
        listed = "; ".join(m.get("message", "") for m in body.get("Messages") or [] if isinstance(m, dict))
        return body.get("eroare") or body.get("message") or listed or body.get("error") or ""
    return ""


@dataclass
class Message:
    id: str  # download id
    index: str  # id_solicitare = upload index
    cif: str
    kind: str  # tip: FACTURA TRIMISA | FACTURA PRIMITA | ERORI FACTURA | MESAJ CUMPARATOR ...
    details: str
    created: str  # yyyyMMddHHmm

    @property
    def issuer_cif(self):
        found = re.search(r"cif_emitent=(\d+)", self.details or "")
        return found.group(1) if found else ""

    @property
    def buyer_cif(self):
        found = re.search(r"cif_beneficiar=(\d+)", self.details or "")
        return found.group(1) if found else ""

    @property
    def filter_code(self):
        kind = (self.kind or "").upper()
        if "ERORI" in kind:
            return "E"
        if "PRIMITA" in kind and "FACTURA" in kind:
            return "P"
        if "TRIMISA" in kind:
            return "T"
        return "R"


@dataclass
class MessagePage:
    messages: list
    page: int = 1
    total_pages: int = 1
    total: int = 0
    per_page: int = 500


def parse_messages(body):
    return [
        Message(
            id=str(m.get("id", "")),
            index=str(m.get("id_solicitare", "")),
            cif=str(m.get("cif", "")),
            kind=m.get("tip", ""),
            details=m.get("detalii", ""),
            created=str(m.get("data_creare", "")),
        )
        for m in body.get("mesaje") or []
    ]


# -- invoices -------------------------------------------------------------------
@dataclass
class InvoiceSummary:
    number: str
    issue_date: str
    type_code: str
    currency: str
    supplier_vat: str
    supplier_name: str
    customer_vat: str
    customer_name: str
    payable: Decimal
    is_credit_note: bool
    has_pdf: bool


def _digits_vat(value):
    value = (value or "").strip().upper().replace(" ", "")
    return value.removeprefix("RO")


def summarise_invoice(data):
    root = parse_xml(data)
    ns = NS_UBL
    credit = etree.QName(root).localname == "CreditNote"

    def party(role):
        node = root.find(f"cac:{role}/cac:Party", ns)
        if node is None:
            return "", ""
        vat = (
            node.findtext("cac:PartyTaxScheme/cbc:CompanyID", namespaces=ns)
            or node.findtext("cac:PartyLegalEntity/cbc:CompanyID", namespaces=ns)
            or ""
        )
        name = (
            node.findtext("cac:PartyLegalEntity/cbc:RegistrationName", namespaces=ns)
            or node.findtext("cac:PartyName/cbc:Name", namespaces=ns)
            or ""
        )
        return _digits_vat(vat), name.strip()

    supplier_vat, supplier_name = party("AccountingSupplierParty")
    customer_vat, customer_name = party("AccountingCustomerParty")
    try:
        payable = Decimal(root.findtext("cac:LegalMonetaryTotal/cbc:PayableAmount", namespaces=ns) or "0")
    except InvalidOperation:
        payable = Decimal(0)
    has_pdf = any(
        (b.get("mimeCode") or "") == "application/pdf"
        for b in root.iterfind(
            ".//cac:AdditionalDocumentReference/cac:Attachment/cbc:EmbeddedDocumentBinaryObject",
            ns,
        )
    )
    return InvoiceSummary(
        number=(root.findtext("cbc:ID", namespaces=ns) or "").strip(),
        issue_date=root.findtext("cbc:IssueDate", namespaces=ns) or "",
        type_code=root.findtext("cbc:InvoiceTypeCode", namespaces=ns)
        or root.findtext("cbc:CreditNoteTypeCode", namespaces=ns)
        or "",
        currency=root.findtext("cbc:DocumentCurrencyCode", namespaces=ns) or "",
        supplier_vat=supplier_vat,
        supplier_name=supplier_name,
        customer_vat=customer_vat,
        customer_name=customer_name,
        payable=payable,
        is_credit_note=credit,
        has_pdf=has_pdf,
    )


@dataclass
class Problem:
    rule: str
    field: str  # what to fix, in words (e.g. "Customer: county (state)")
    message: str


LENGTHS = [
    # (xpath relative to the document, max length, rule, field)
    ("cac:InvoiceLine/cac:Item/cbc:Name", 100, "BR-RO-L100", "Line: product name"),
    ("cac:CreditNoteLine/cac:Item/cbc:Name", 100, "BR-RO-L100", "Line: product name"),
    (
        "cac:InvoiceLine/cac:Item/cbc:Description",
        200,
        "BR-RO-L200",
        "Line: description",
    ),
    (
        "cac:CreditNoteLine/cac:Item/cbc:Description",
        200,
        "BR-RO-L200",
        "Line: description",
    ),
    ("cbc:Note", 300, "BR-RO-L300", "Invoice note"),
    ("cbc:ID", 200, "BR-RO-L030", "Invoice number"),
    ("cac:PaymentTerms/cbc:Note", 300, "BR-RO-L201", "Payment terms"),
    (
        "cac:TaxTotal/cac:TaxSubtotal/cac:TaxCategory/cbc:TaxExemptionReason",
        vat.MAX_REASON,
        "BR-RO-L100",
        "Tax: VAT exemption reason",
    ),
    ("cac:BillingReference/cac:InvoiceDocumentReference/cbc:ID", 200, "BR-RO-L030", "Credited invoice number"),
]


def preflight(data):  # noqa: C901 - one check per CIUS-RO rule, flat on purpose
    """CIUS-RO checks that cost no upload: county, sector, VAT/ID, lengths, number."""
    root = parse_xml(data)
    ns = NS_UBL
    problems = []
    size = len(data if isinstance(data, bytes) else data.encode())
    if size > MAX_UPLOAD_BYTES:
        problems.append(Problem("SIZE", "Attachments", "The XML is larger than 10 MB."))
    if (root.findtext("cbc:CustomizationID", namespaces=ns) or "") != CIUS_RO_CUSTOMIZATION:
        problems.append(Problem("BR-RO-001", "Format", "The XML is not CIUS-RO."))
    number = root.findtext("cbc:ID", namespaces=ns) or ""
    if not re.search(r"\d", number):
        problems.append(
            Problem(
                "BR-RO-010",
                "Invoice number",
                "The invoice number must contain a digit.",
            )
        )
    for role, label in (
        ("AccountingSupplierParty", "Seller"),
        ("AccountingCustomerParty", "Customer"),
    ):
        node = root.find(f"cac:{role}/cac:Party", ns)
        if node is None:
            problems.append(Problem("BR-RO-065", label, f"{label}: party missing."))
            continue
        addr = node.find("cac:PostalAddress", ns)
        country = addr.findtext("cac:Country/cbc:IdentificationCode", namespaces=ns) if addr is not None else ""
        street = addr.findtext("cbc:StreetName", namespaces=ns) if addr is not None else ""
        city = (addr.findtext("cbc:CityName", namespaces=ns) or "") if addr is not None else ""
        county = (addr.findtext("cbc:CountrySubentity", namespaces=ns) or "") if addr is not None else ""
        if not (street or "").strip():
            problems.append(Problem("BR-RO-080", f"{label}: street", f"{label}: the street is missing."))
        if not city.strip():
            problems.append(Problem("BR-RO-090", f"{label}: city", f"{label}: the city is missing."))
        if country == "RO":
            code = county[3:] if county.startswith("RO-") else ""
            if code not in RO_COUNTIES:
                problems.append(
                    Problem(
                        "BR-RO-110",
                        f"{label}: county (state)",
                        f"{label}: the county must be a Romanian county (RO-xx), got '{county}'.",
                    )
                )
            elif code == "B" and city.replace(" ", "").upper() not in SECTORS:
                problems.append(
                    Problem(
                        "BR-RO-100",
                        f"{label}: city (Bucharest sector)",
                        f"{label}: in Bucharest the city must be SECTOR1 to SECTOR6, got '{city}'.",
                    )
                )
        vat = node.findtext("cac:PartyTaxScheme/cbc:CompanyID", namespaces=ns)
        legal = node.findtext("cac:PartyLegalEntity/cbc:CompanyID", namespaces=ns)
        if not (vat or legal):
            problems.append(
                Problem(
                    "BR-RO-120" if label == "Customer" else "BR-RO-065",
                    f"{label}: VAT / company ID",
                    f"{label}: a VAT number or a company registry number is required.",
                )
            )
        for sub, limit in (
            ("cbc:CityName", 50),
            ("cbc:StreetName", 150),
            ("cbc:PostalZone", 20),
        ):
            value = addr.findtext(sub, namespaces=ns) if addr is not None else ""
            if value and len(value) > limit:
                problems.append(
                    Problem(
                        "BR-RO-L",
                        f"{label}: {sub[4:]}",
                        f"{label}: {sub[4:]} longer than {limit}.",
                    )
                )
    for path, limit, rule, label in LENGTHS:
        for node in root.iterfind(path, ns):
            if node.text and len(node.text) > limit:
                problems.append(
                    Problem(
                        rule,
                        label,
                        f"{label} longer than {limit} characters: '{node.text[:40]}...'",
                    )
                )
    return problems + vat_problems(root)


_VATEX_OF = {code: category for category, code in vat.DEFAULT_VATEX.items()}
_TAX_FIELD = "Tax: e-Factura VAT category"


def _has_vat_id(party):
    return any(
        (scheme.findtext("cac:TaxScheme/cbc:ID", namespaces=NS_UBL) or "").upper() == "VAT"
        for scheme in party.iterfind("cac:PartyTaxScheme", NS_UBL)
    )


def _breakdown(root):
    """[(category, VATEX code, reason, tax amount)] of the document-level VAT breakdown (BG-23)."""
    rows = []
    for subtotal in root.iterfind("cac:TaxTotal/cac:TaxSubtotal", NS_UBL):
        category = subtotal.find("cac:TaxCategory", NS_UBL)
        if category is None:
            continue
        try:
            amount = Decimal(subtotal.findtext("cbc:TaxAmount", namespaces=NS_UBL) or "0")
        except InvalidOperation:
            amount = Decimal(0)
        rows.append(
            (
                (category.findtext("cbc:ID", namespaces=NS_UBL) or "").strip(),
                (category.findtext("cbc:TaxExemptionReasonCode", namespaces=NS_UBL) or "").strip(),
                (category.findtext("cbc:TaxExemptionReason", namespaces=NS_UBL) or "").strip(),
                amount,
            )
        )
    return rows


def _category_problems(code, vatex, reason, amount):
    problems = []
    if code in vat.NEEDS_REASON and not (vatex or reason):
        problems.append(
            Problem(
                f"BR-{'IC' if code == 'K' else code}-10",
                _TAX_FIELD,
                f"VAT category {code} needs an exemption reason (VATEX code or text): set it on the tax.",
            )
        )
    if code in ("S", "Z") and (vatex or reason):
        problems.append(
            Problem(f"BR-{code}-10", _TAX_FIELD, f"VAT category {code} must not carry an exemption reason.")
        )
    expected = vat.DEFAULT_VATEX.get(code)
    if vatex and (expected and vatex != expected or not expected and vatex in _VATEX_OF):
        problems.append(
            Problem(
                "VATEX",
                _TAX_FIELD,
                f"VAT category {code} with the exemption code {vatex}: that code belongs to category "
                f"{_VATEX_OF.get(vatex, expected)}.",
            )
        )
    if code in vat.NEEDS_REASON and amount:
        problems.append(Problem(f"BR-{code}-09", _TAX_FIELD, f"VAT category {code} cannot charge VAT ({amount})."))
    return problems


def vat_problems(root):
    """EN 16931 VAT-category rules ANAF applies on top of the CIUS-RO stylesheet."""
    rows = _breakdown(root)
    problems = [p for row in rows for p in _category_problems(*row)]
    codes = {row[0] for row in rows}
    seller = root.find("cac:AccountingSupplierParty/cac:Party", NS_UBL)
    buyer = root.find("cac:AccountingCustomerParty/cac:Party", NS_UBL)
    if "O" in codes and len(codes) > 1:
        problems.append(
            Problem(
                "BR-O-11",
                _TAX_FIELD,
                "An invoice with lines not subject to VAT (O) cannot have lines of another VAT category: "
                "issue them on separate invoices.",
            )
        )
    if "O" in codes and any(p is not None and _has_vat_id(p) for p in (seller, buyer)):
        problems.append(Problem("BR-O-02", _TAX_FIELD, "An invoice not subject to VAT (O) cannot carry VAT ids."))
    for label, party in (("Seller", seller), ("Customer", buyer)):
        for scheme in party.iterfind("cac:PartyTaxScheme", NS_UBL) if party is not None else ():
            number = scheme.findtext("cbc:CompanyID", namespaces=NS_UBL) or ""
            is_vat = (scheme.findtext("cac:TaxScheme/cbc:ID", namespaces=NS_UBL) or "").upper() == "VAT"
            if is_vat and not number[:2].isalpha():
                problems.append(
                    Problem(
                        "BR-CO-09",
                        f"{label}: VAT",
                        f"{label}: the VAT number {number} must start with its country code (e.g. RO, DE).",
                    )
                )
    if "K" in codes:
        if buyer is None or not _has_vat_id(buyer):
            problems.append(
                Problem("BR-IC-02", "Customer: VAT", "An intra-community supply needs the buyer's EU VAT number.")
            )
        delivery = root.find("cac:Delivery", NS_UBL)
        country = root.findtext(
            "cac:Delivery/cac:DeliveryLocation/cac:Address/cac:Country/cbc:IdentificationCode", namespaces=NS_UBL
        )
        if not country:
            problems.append(
                Problem("BR-IC-12", "Delivery address", "An intra-community supply needs the delivery country.")
            )
        dated = delivery is not None and delivery.findtext("cbc:ActualDeliveryDate", namespaces=NS_UBL)
        if not dated and root.find("cac:InvoicePeriod", NS_UBL) is None:
            problems.append(
                Problem("BR-IC-11", "Delivery date", "An intra-community supply needs a delivery date or period.")
            )
    return problems


def build_zip(index, xml, signature):
    """An ANAF answer ZIP (used by the sandbox, and by tests)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"{index}.xml", xml)
        archive.writestr(f"semnatura_{index}.xml", signature)
    return buffer.getvalue()
