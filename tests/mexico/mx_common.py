"""Shared helpers of the Facture APP (Mexico) tier-1 tests and benchmarks."""

from datetime import timedelta
from decimal import Decimal as D

from einvoice_common.einvoice.transport import BasicAuth, Transport
from l10n_mx_factureapp.factureapp import client as fclient
from l10n_mx_factureapp.factureapp import documents as doc
from l10n_mx_factureapp.factureapp import sandbox

ISSUER = doc.Party("EKU9003173C9", "ESCUELA KEMPER URGATE", "601")
CUSTOMER = doc.Party("URE180429TM6", "UNIVERSIDAD ROBOTICA ESPAÑOLA", "601", "86991", "G03")
IVA16 = doc.Tax("iva", "Tasa", D("0.16"))


def now():
    return sandbox.mexico_now() - timedelta(minutes=1)


def invoice(number="1", lines=None, **kw):
    lines = (
        lines
        if lines is not None
        else [
            doc.Line(
                "Servicio de consultoría",
                D(2),
                D("1500.00"),
                "80111600",
                "E48",
                taxes=[IVA16],
            )
        ]
    )
    values = dict(
        kind="I",
        date=now(),
        issuer=ISSUER,
        receiver=CUSTOMER,
        lines=lines,
        place="20914",
        series="INV",
        number=number,
        payment_method="PUE",
        payment_form="03",
    )
    values.update(kw)
    return doc.Invoice(**values)


class Facture:
    def __init__(self, app, server, injector):
        self.app, self.server, self.injector = app, server, injector
        self.transport = Transport(
            server.url,
            service="Facture APP",
            auth=BasicAuth("demo", "demo-password"),
            sleep=lambda s: None,
            retries=2,
        )
        self.client = fclient.FactureClient(self.transport)
