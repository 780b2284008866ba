"""Facturae parsing (safe), submission building and attachment rules for eFACT.

XML from outside is parsed with entities, DTDs and network off; a document with a
DOCTYPE is refused.
"""

import base64
import json
import re
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from lxml import etree

NAMESPACES = {
    "http://www.facturae.es/Facturae/2009/v3.2/Facturae": "3.2",
    "http://www.facturae.es/Facturae/2014/v3.2.1/Facturae": "3.2.1",
    "http://www.facturae.gob.es/formato/Versiones/Facturaev3_2_2.xml": "3.2.2",
}
NS_322 = "http://www.facturae.gob.es/formato/Versiones/Facturaev3_2_2.xml"
DS = "http://www.w3.org/2000/09/xmldsig#"

MAX_ATTACHMENTS = 5
MAX_ATTACHMENT_BYTES = 2 * 1024 * 1024  # the limit AOC support gives per attachment
MAX_REQUEST_BYTES = 10 * 1024 * 1024
MAX_EMAIL_LENGTH = 512

# Accepted attachment MIME types and their extensions (supplier API annex).
MIME_EXTENSIONS = {
    "application/pdf": ("pdf",),
    "application/msword": ("doc", "docx"),
    "application/vnd.ms-excel": ("xls", "xlsx"),
    "application/vnd.oasis.opendocument.text": ("odt",),
    "application/vnd.oasis.opendocument.spreadsheet": ("ods",),
    "text/plain": ("txt",),
}
EXTENSION_MIME = {ext: mime for mime, exts in MIME_EXTENSIONS.items() for ext in exts}
ROLE_OFICINA_COMPTABLE = "01"
ROLE_ORGAN_GESTOR = "02"
ROLE_UNITAT_TRAMITADORA = "03"

EMAIL_RE = re.compile(r"^[^@\s,;]+@[^@\s,;]+\.[^@\s,;]+$")
NIF_RE = re.compile(r"^(ES)?[A-Z0-9][0-9]{7}[A-Z0-9]$")
FOREIGN_ID_RE = re.compile(r"^[A-Z]{2}[A-Z0-9]{2,18}$")


class DocumentError(ValueError):
    """Bad input; `code` is the eFACT code the hub would answer, when there is one."""

    def __init__(self, message, code=None):
        super().__init__(message)
        self.code = code


def safe_parser():
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


def parse_xml(content):
    """Parse bytes safely; refuse DOCTYPE (entities, DTDs) and anything unparsable."""
    if isinstance(content, str):
        content = content.encode("utf-8")
    if not content or not content.strip():
        raise DocumentError("The file is empty.", 3016)
    head = content[:4096].upper()
    if b"<!DOCTYPE" in head or b"<!ENTITY" in content.upper():
        raise DocumentError("The XML declares a DOCTYPE or entities; refused.", 3016)
    try:
        root = etree.fromstring(content, parser=safe_parser())
    except etree.XMLSyntaxError as exc:
        raise DocumentError(f"The XML cannot be parsed: {exc}", 3016) from exc
    if root.getroottree().docinfo.doctype:
        raise DocumentError("The XML declares a DOCTYPE; refused.", 3016)
    return root


def _text(node, path):
    if node is None:
        return ""
    found = node.find(path)
    return (found.text or "").strip() if found is not None and found.text else ""


def money(value):
    return Decimal(str(value or 0)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


@dataclass
class Centre:
    role: str
    code: str
    name: str = ""


@dataclass
class FacturaeInvoice:
    number: str
    series: str
    issue_date: str
    total: Decimal
    currency: str


@dataclass
class Facturae:
    version: str
    seller_nif: str
    seller_name: str
    buyer_nif: str
    buyer_name: str
    invoices_count: int
    invoices: list = field(default_factory=list)
    centres: list = field(default_factory=list)
    signed: bool = False
    signature_value: str = ""

    @property
    def invoice(self):
        return self.invoices[0] if self.invoices else None

    def centre(self, role):
        return next((c.code for c in self.centres if c.role == role), "")


def _party_name(party):
    if party is None:
        return ""
    name = _text(party, ".//CorporateName")
    if name:
        return name
    parts = [
        _text(party, ".//Name"),
        _text(party, ".//FirstSurname"),
        _text(party, ".//SecondSurname"),
    ]
    return " ".join(p for p in parts if p)


def parse_facturae(content):
    """Facturae summary of `content` (bytes); DocumentError with the hub's code when bad."""
    return facturae_from_root(parse_xml(content))


def facturae_from_root(root):
    """Facturae summary of an already parsed (safely, see `parse_xml`) document."""
    namespace = etree.QName(root).namespace
    if etree.QName(root).localname != "Facturae":
        raise DocumentError("The XML is not a Facturae document.", 3016)
    version = NAMESPACES.get(namespace)
    if not version:
        raise DocumentError("The Facturae version cannot be determined.", 3017)
    seller = root.find("Parties/SellerParty")
    buyer = root.find("Parties/BuyerParty")
    if seller is None or buyer is None:
        raise DocumentError("The Facturae has no seller or buyer party.", 3016)
    invoices = []
    for node in root.findall("Invoices/Invoice"):
        total = _text(node, "InvoiceTotals/InvoiceTotal")
        try:
            total = money(total)
        except ArithmeticError as exc:
            raise DocumentError(f"Invalid InvoiceTotal {total!r}.", 3016) from exc
        invoices.append(
            FacturaeInvoice(
                number=_text(node, "InvoiceHeader/InvoiceNumber"),
                series=_text(node, "InvoiceHeader/InvoiceSeriesCode"),
                issue_date=_text(node, "InvoiceIssueData/IssueDate"),
                total=total,
                currency=_text(node, "InvoiceIssueData/InvoiceCurrencyCode"),
            )
        )
    if not invoices:
        raise DocumentError("The Facturae contains no invoice.", 3016)
    try:
        count = int(_text(root, "FileHeader/Batch/InvoicesCount") or len(invoices))
    except ValueError as exc:
        raise DocumentError("Invalid InvoicesCount.", 3016) from exc
    centres = [
        Centre(
            role=_text(c, "RoleTypeCode"),
            code=_text(c, "CentreCode"),
            name=_text(c, "Name"),
        )
        for c in buyer.findall("AdministrativeCentres/AdministrativeCentre")
    ]
    signature = root.find(f"{{{DS}}}Signature")
    value = ""
    if signature is not None:
        sig_value = signature.find(f"{{{DS}}}SignatureValue")
        value = (sig_value.text or "").strip() if sig_value is not None and sig_value.text else ""
    return Facturae(
        version=version,
        seller_nif=_text(seller, "TaxIdentification/TaxIdentificationNumber").upper(),
        seller_name=_party_name(seller),
        buyer_nif=_text(buyer, "TaxIdentification/TaxIdentificationNumber").upper(),
        buyer_name=_party_name(buyer),
        invoices_count=max(count, len(invoices)),
        invoices=invoices,
        centres=centres,
        signed=signature is not None,
        signature_value=value,
    )


_SCHEMAS = {}


def facturae_schema(version="3.2.2"):
    """The official XSD (only 3.2.2 is shipped), loaded once. It is our own trusted file: its
    internal DTD is read, nothing is fetched from the network."""
    if version != "3.2.2":
        return None
    if version not in _SCHEMAS:
        import os

        path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "schemas", "Facturaev3_2_2.xsd")
        parser = etree.XMLParser(no_network=True, load_dtd=True, resolve_entities=True)
        _SCHEMAS[version] = etree.XMLSchema(etree.parse(path, parser))
    return _SCHEMAS[version]


def validate_facturae(content):
    """Schema errors of a Facturae 3.2.2 document (first 10, one line each); [] when valid or when
    no schema is shipped for its version."""
    return validate_facturae_root(parse_xml(content))


def validate_facturae_root(root):
    """`validate_facturae` of an already parsed document."""
    version = NAMESPACES.get(etree.QName(root).namespace)
    schema = facturae_schema(version) if version else None
    if schema is None or schema.validate(root):
        return []
    return [f"line {e.line}: {e.message}" for e in list(schema.error_log)[:10]]


def normalize_nif(nif):
    """Compare NIFs with or without the ES prefix."""
    nif = re.sub(r"[\s.\-]", "", (nif or "").upper())
    return nif[2:] if nif.startswith("ES") and len(nif) == 11 else nif


def valid_spanish_nif(nif):
    return bool(NIF_RE.match((nif or "").upper()))


def valid_issuer_id(nif):
    nif = (nif or "").upper()
    return bool(NIF_RE.match(nif) or FOREIGN_ID_RE.match(nif))


# -- attachments and submission ------------------------------------------------------
def extension(name):
    return name.rsplit(".", 1)[-1].lower() if name and "." in name else ""


def mime_for(name, mimetype=""):
    """The MIME type eFACT expects for a file name (docx -> application/msword ...)."""
    ext = extension(name)
    if ext in EXTENSION_MIME:
        return EXTENSION_MIME[ext]
    return mimetype or ""


@dataclass
class Attachment:
    name: str
    content: bytes
    mime: str = ""


def _b64(raw):
    return base64.b64encode(raw).decode("ascii")


def size_text(size):
    """An exact size a person can compare with a limit: '2,100,000 bytes (2.00 MiB)'."""
    return f"{size:,} bytes ({size / 1048576:.2f} MiB)"


def check_attachments(attachments):
    """Problems (one sentence each, naming the file) with the attachments to send."""
    problems = []
    if len(attachments) > MAX_ATTACHMENTS:
        problems.append(f"eFACT accepts at most {MAX_ATTACHMENTS} attachments; there are {len(attachments)}.")
    for att in attachments:
        mime = att.mime or mime_for(att.name)
        if not att.content:
            problems.append(f"The attachment {att.name!r} is empty.")
        elif len(att.content) > MAX_ATTACHMENT_BYTES:
            problems.append(
                f"The attachment {att.name!r} is {size_text(len(att.content))}; eFACT accepts at most "
                f"{size_text(MAX_ATTACHMENT_BYTES)} per attachment."
            )
        if extension(att.name) not in EXTENSION_MIME:
            problems.append(
                f"The attachment {att.name!r} has a file type eFACT does not accept "
                "(PDF, Word, Excel, OpenDocument or plain text)."
            )
        elif mime not in MIME_EXTENSIONS or extension(att.name) not in MIME_EXTENSIONS[mime]:
            problems.append(f"The attachment {att.name!r} has a MIME type ({mime}) that does not match its name.")
    return problems


def build_submission(invoice_name, invoice_xml, attachments=(), email="", face=False):
    """The JSON body of POST /factura, checked against the documented limits.

    Raises DocumentError naming the file or field to fix.
    """
    if extension(invoice_name) not in ("xml", "xsig"):
        raise DocumentError(f"The invoice file {invoice_name!r} must end in .xml or .xsig.", 3003)
    attachments = list(attachments)
    problems = check_attachments(attachments)
    if email and len(email) > MAX_EMAIL_LENGTH:
        problems.append("The notification e-mail is longer than 512 characters.")
    elif email and not EMAIL_RE.match(email):
        problems.append(f"The notification e-mail {email!r} is not a valid address.")
    if problems:
        raise DocumentError("\n".join(problems))
    body = {
        "face": bool(face),
        "factura": {"nom": invoice_name, "contingut": _b64(invoice_xml)},
        "adjunts": [
            {
                "nom": a.name,
                "mime": a.mime if a.mime in MIME_EXTENSIONS else mime_for(a.name),
                "contingut": _b64(a.content),
            }
            for a in attachments
        ],
    }
    if email:
        body["correuElectronic"] = email
    size = len(json.dumps(body))
    if size > MAX_REQUEST_BYTES:
        raise DocumentError(
            f"The request would be {size_text(size)}; eFACT accepts at most "
            f"{size_text(MAX_REQUEST_BYTES)} per invoice with its attachments. Largest attachment: "
            f"{max(attachments, key=lambda a: len(a.content)).name if attachments else invoice_name!r}.",
            3002,
        )
    return body


def submission_bytes(body):
    """The exact bytes of a POST /factura body: stored (with their SHA-256) before the first call and
    sent unchanged by any resend."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


# -- sample documents (sandbox, tests, benchmarks) --------------------------------------
def build_sample_facturae(
    *,
    seller_nif,
    seller_name,
    buyer_nif,
    buyer_name,
    number,
    issue_date,
    lines=(("Service", 1, 100.0, 21.0),),
    series="",
    centres=(),
    signed=True,
    currency="EUR",
    invoices=1,
):
    """A Facturae 3.2.2 document shaped like Odoo's export (unsigned signature stub when
    `signed`: the sandbox checks the node, not the XAdES cryptography)."""
    fe = f"{{{NS_322}}}"
    root = etree.Element(fe + "Facturae", nsmap={"fe": NS_322, "ds": DS})
    totals = []
    for _ in range(invoices):
        base = sum(money(Decimal(str(q)) * Decimal(str(p))) for _d, q, p, _r in lines)
        tax = sum(money(money(Decimal(str(q)) * Decimal(str(p))) * Decimal(str(r)) / 100) for _d, q, p, r in lines)
        totals.append((base, tax, base + tax))
    header = etree.SubElement(root, "FileHeader")
    etree.SubElement(header, "SchemaVersion").text = "3.2.2"
    etree.SubElement(header, "Modality").text = "I" if invoices == 1 else "L"
    etree.SubElement(header, "InvoiceIssuerType").text = "EM"
    batch = etree.SubElement(header, "Batch")
    etree.SubElement(batch, "BatchIdentifier").text = f"{seller_nif}{number}"
    etree.SubElement(batch, "InvoicesCount").text = str(invoices)
    grand = sum(t[2] for t in totals)
    for tag in (
        "TotalInvoicesAmount",
        "TotalOutstandingAmount",
        "TotalExecutableAmount",
    ):
        etree.SubElement(etree.SubElement(batch, tag), "TotalAmount").text = str(grand)
    etree.SubElement(batch, "InvoiceCurrencyCode").text = currency
    parties = etree.SubElement(root, "Parties")
    for tag, nif, name, with_centres in (
        ("SellerParty", seller_nif, seller_name, False),
        ("BuyerParty", buyer_nif, buyer_name, True),
    ):
        party = etree.SubElement(parties, tag)
        taxid = etree.SubElement(party, "TaxIdentification")
        etree.SubElement(taxid, "PersonTypeCode").text = "J"
        etree.SubElement(taxid, "ResidenceTypeCode").text = "R"
        etree.SubElement(taxid, "TaxIdentificationNumber").text = nif
        if with_centres and centres:
            acs = etree.SubElement(party, "AdministrativeCentres")
            for role, code in centres:
                ac = etree.SubElement(acs, "AdministrativeCentre")
                etree.SubElement(ac, "CentreCode").text = code
                etree.SubElement(ac, "RoleTypeCode").text = role
                etree.SubElement(ac, "Name").text = name
                centre_address = etree.SubElement(ac, "AddressInSpain")
                for tag, value in (
                    ("Address", "Carrer Major 1"),
                    ("PostCode", "08001"),
                    ("Town", "Barcelona"),
                    ("Province", "Barcelona"),
                    ("CountryCode", "ESP"),
                ):
                    etree.SubElement(centre_address, tag).text = value
        legal = etree.SubElement(party, "LegalEntity")
        etree.SubElement(legal, "CorporateName").text = name
        address = etree.SubElement(legal, "AddressInSpain")
        etree.SubElement(address, "Address").text = "Carrer Major 1"
        etree.SubElement(address, "PostCode").text = "08001"
        etree.SubElement(address, "Town").text = "Barcelona"
        etree.SubElement(address, "Province").text = "Barcelona"
        etree.SubElement(address, "CountryCode").text = "ESP"
    invs = etree.SubElement(root, "Invoices")
    for index, (base, tax, total) in enumerate(totals):
        inv = etree.SubElement(invs, "Invoice")
        head = etree.SubElement(inv, "InvoiceHeader")
        etree.SubElement(head, "InvoiceNumber").text = number if index == 0 else f"{number}-{index}"
        if series:
            etree.SubElement(head, "InvoiceSeriesCode").text = series
        etree.SubElement(head, "InvoiceDocumentType").text = "FC"
        etree.SubElement(head, "InvoiceClass").text = "OO"
        issue = etree.SubElement(inv, "InvoiceIssueData")
        etree.SubElement(issue, "IssueDate").text = issue_date
        etree.SubElement(issue, "InvoiceCurrencyCode").text = currency
        etree.SubElement(issue, "TaxCurrencyCode").text = currency
        etree.SubElement(issue, "LanguageName").text = "ca"
        outputs = etree.SubElement(inv, "TaxesOutputs")
        for rate in sorted({r for *_x, r in lines}):
            rbase = sum(money(Decimal(str(q)) * Decimal(str(p))) for _d, q, p, r in lines if r == rate)
            rtax = money(rbase * Decimal(str(rate)) / 100)
            t = etree.SubElement(outputs, "Tax")
            etree.SubElement(t, "TaxTypeCode").text = "01"
            etree.SubElement(t, "TaxRate").text = f"{Decimal(str(rate)):.3f}"
            etree.SubElement(etree.SubElement(t, "TaxableBase"), "TotalAmount").text = str(rbase)
            etree.SubElement(etree.SubElement(t, "TaxAmount"), "TotalAmount").text = str(rtax)
        tot = etree.SubElement(inv, "InvoiceTotals")
        for tag, value in (
            ("TotalGrossAmount", base),
            ("TotalGrossAmountBeforeTaxes", base),
            ("TotalTaxOutputs", tax),
            ("TotalTaxesWithheld", money(0)),
            ("InvoiceTotal", total),
            ("TotalOutstandingAmount", total),
            ("TotalExecutableAmount", total),
        ):
            etree.SubElement(tot, tag).text = str(value)
        items = etree.SubElement(inv, "Items")
        for desc, qty, price, rate in lines:
            line = etree.SubElement(items, "InvoiceLine")
            amount = money(Decimal(str(qty)) * Decimal(str(price)))
            etree.SubElement(line, "ItemDescription").text = desc
            etree.SubElement(line, "Quantity").text = str(qty)
            etree.SubElement(line, "UnitOfMeasure").text = "01"
            etree.SubElement(line, "UnitPriceWithoutTax").text = f"{Decimal(str(price)):.2f}"
            etree.SubElement(line, "TotalCost").text = str(amount)
            etree.SubElement(line, "GrossAmount").text = str(amount)
            lt = etree.SubElement(etree.SubElement(line, "TaxesOutputs"), "Tax")
            etree.SubElement(lt, "TaxTypeCode").text = "01"
            etree.SubElement(lt, "TaxRate").text = f"{Decimal(str(rate)):.3f}"
            etree.SubElement(etree.SubElement(lt, "TaxableBase"), "TotalAmount").text = str(amount)
            etree.SubElement(etree.SubElement(lt, "TaxAmount"), "TotalAmount").text = str(
                money(amount * Decimal(str(rate)) / 100)
            )
    if signed:
        sig = etree.SubElement(root, f"{{{DS}}}Signature", Id="Signature-sandbox")
        info = etree.SubElement(sig, f"{{{DS}}}SignedInfo")
        etree.SubElement(
            info, f"{{{DS}}}CanonicalizationMethod", Algorithm="http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
        )
        etree.SubElement(
            info, f"{{{DS}}}SignatureMethod", Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
        )
        reference = etree.SubElement(info, f"{{{DS}}}Reference", URI="")
        etree.SubElement(reference, f"{{{DS}}}DigestMethod", Algorithm="http://www.w3.org/2001/04/xmlenc#sha256")
        etree.SubElement(reference, f"{{{DS}}}DigestValue").text = base64.b64encode(b"sandbox").decode()
        etree.SubElement(sig, f"{{{DS}}}SignatureValue").text = base64.b64encode(
            f"sandbox-signature-{seller_nif}-{number}".encode()
        ).decode()
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def minimal_pdf(text):
    """A small valid one-page PDF showing `text` (the sandbox's receipts)."""
    safe = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    stream = f"BT /F1 12 Tf 72 720 Td ({safe}) Tj ET".encode("latin-1", "replace")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)
