"""Helpers of the ANAF e-Factura tier-1 tests: sandbox on loopback, client, invoices."""

import os
from datetime import datetime, timezone

from einvoice_common.einvoice import oauth2
from einvoice_common.einvoice.faults import FaultInjector
from einvoice_common.einvoice.transport import BearerAuth, Transport
from l10n_ro_anaf_efactura.anaf import sandbox
from l10n_ro_anaf_efactura.anaf.client import AnafClient

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")
SELLER = "8000000000"
BUYER = "9000000000"

INVOICE = """<?xml version="1.0" encoding="UTF-8"?>
<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
 xmlns:cac="urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
 xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2">
  <cbc:CustomizationID>urn:cen.eu:en16931:2017#compliant#urn:efactura.mfinante.ro:CIUS-RO:1.0.1</cbc:CustomizationID>
  <cbc:ID>{number}</cbc:ID>
  <cbc:IssueDate>2026-11-20</cbc:IssueDate>
  <cbc:DueDate>2026-12-20</cbc:DueDate>
  <cbc:InvoiceTypeCode>380</cbc:InvoiceTypeCode>
  <cbc:DocumentCurrencyCode>RON</cbc:DocumentCurrencyCode>
  <cac:AccountingSupplierParty><cac:Party>
    <cac:PostalAddress><cbc:StreetName>Strada Lunga 1</cbc:StreetName><cbc:CityName>{seller_city}</cbc:CityName>
      <cbc:CountrySubentity>{seller_county}</cbc:CountrySubentity><cac:Country><cbc:IdentificationCode>RO</cbc:IdentificationCode></cac:Country></cac:PostalAddress>
    <cac:PartyTaxScheme><cbc:CompanyID>RO{seller}</cbc:CompanyID><cac:TaxScheme><cbc:ID>VAT</cbc:ID></cac:TaxScheme></cac:PartyTaxScheme>
    <cac:PartyLegalEntity><cbc:RegistrationName>{seller_name}</cbc:RegistrationName></cac:PartyLegalEntity>
  </cac:Party></cac:AccountingSupplierParty>
  <cac:AccountingCustomerParty><cac:Party>
    <cac:PostalAddress><cbc:StreetName>Bulevardul Unirii 2</cbc:StreetName><cbc:CityName>Cluj-Napoca</cbc:CityName>
      <cbc:CountrySubentity>RO-CJ</cbc:CountrySubentity><cac:Country><cbc:IdentificationCode>RO</cbc:IdentificationCode></cac:Country></cac:PostalAddress>
    <cac:PartyTaxScheme><cbc:CompanyID>RO{buyer}</cbc:CompanyID><cac:TaxScheme><cbc:ID>VAT</cbc:ID></cac:TaxScheme></cac:PartyTaxScheme>
    <cac:PartyLegalEntity><cbc:RegistrationName>Cumparator SRL</cbc:RegistrationName></cac:PartyLegalEntity>
  </cac:Party></cac:AccountingCustomerParty>
  <cac:LegalMonetaryTotal><cbc:PayableAmount currencyID="RON">{amount}</cbc:PayableAmount></cac:LegalMonetaryTotal>
  <cac:InvoiceLine><cbc:ID>1</cbc:ID><cbc:InvoicedQuantity unitCode="C62">1</cbc:InvoicedQuantity>
    <cac:Item><cbc:Name>{item}</cbc:Name></cac:Item></cac:InvoiceLine>
</Invoice>
"""


def make_invoice(
    number="INV/2026/00001",
    seller=SELLER,
    buyer=BUYER,
    amount="121.00",
    seller_county="RO-CJ",
    seller_city="Cluj-Napoca",
    item="Servicii",
    seller_name="Vanzator SRL",
):
    return INVOICE.format(
        number=number,
        seller=seller,
        buyer=buyer,
        amount=amount,
        seller_county=seller_county,
        seller_city=seller_city,
        item=item,
        seller_name=seller_name,
    ).encode()


def fixture_bytes(name):
    with open(os.path.join(FIXTURES, name), "rb") as handle:
        return handle.read()


class Clock:
    def __init__(self, start=None):
        self.now = start or datetime.now(timezone.utc).timestamp()

    def __call__(self):
        return self.now

    def advance(self, seconds):
        self.now += seconds


class TokenHolder:
    """What the Odoo credential does, in memory: tokens + refresh through the token endpoint."""

    def __init__(
        self,
        oauth_transport,
        oauth_url,
        client_id="anaf-client",
        client_secret="anaf-secret",
    ):
        self.transport, self.url = oauth_transport, oauth_url
        self.client_id, self.client_secret = client_id, client_secret
        self.tokens = None
        self.refreshes = 0

    def __call__(self, force_refresh=False):
        if force_refresh:
            self.refreshes += 1
            self.tokens = oauth2.refresh(
                self.transport,
                self.url + "/token",
                self.client_id,
                self.client_secret,
                self.tokens.refresh_token,
                datetime.utcnow(),
            )
        return self.tokens.access_token


class Anaf:
    """Sandbox served on loopback behind a FaultInjector, with a ready client."""

    def __init__(self, serve_app, **options):
        self.clock = options.pop("clock", None) or Clock()
        self.app = sandbox.make_app(clock=self.clock, cifs=options.pop("cifs", (SELLER, BUYER)), **options)
        self.faults = FaultInjector(self.app)
        self.server = serve_app(self.faults)
        self.base = self.server.url + "/test/FCTEL/rest"
        self.oauth_url = self.server.url + "/anaf-oauth2/v1"
        self.sleeps = []
        self.exchanges = []
        self.oauth_transport = Transport(self.server.url, service="anaf", sleep=self.sleeps.append)
        self.holder = TokenHolder(self.oauth_transport, self.oauth_url)
        issued = self.app.state.issue_tokens()
        self.holder.tokens = oauth2.TokenSet(
            issued["access_token"],
            issued["refresh_token"],
            oauth2.expiry(issued["access_token"]),
            oauth2.expiry(issued["refresh_token"]),
        )
        self.client = self.make_client()

    def make_client(self, **kwargs):
        kwargs.setdefault("timeout", (2, 5))
        transport = Transport(
            self.base,
            service="anaf",
            auth=BearerAuth(self.holder),
            sleep=self.sleeps.append,
            recorder=self.exchanges.append,
            **kwargs,
        )
        return AnafClient(transport, clock=self.clock)

    @property
    def state(self):
        return self.app.state

    def now_ms(self):
        return int(self.clock() * 1000)
