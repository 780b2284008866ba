"""Sandbox of Facture APP's legacy REST API and of SAT's ConsultaCFDIService (SOAP).

`make_app(**options)` returns a WSGI app whose state is the app itself (`app.state`):
users, credits, branches, stamped CFDIs, bulk downloads, a settable clock. It
implements strictly what the connector relies on:

- auth: `Authorization: Basic base64(user:password)` or a raw token (`tokens=`), 401 otherwise;
- `Accept`: JSON (default) or XML answers;
- stamping: the posted pre-CFDI is parsed safely (DOCTYPE refused), validated against the
  official XSDs (seal placeholders), checked (SubTotal / Total arithmetic, issuer RFC of
  the branch, Fecha window), sealed and given a TFD 1.1 with a fresh UUID; posting the
  identical bytes again returns the same stamp (code 307) without spending a credit;
  credits run out (FA402); unknown branch (FA404);
- ZIP bulk stamping: a per-file XML report plus a download link to the stamped ZIP;
- consulta (by UUID, or by series/number to reconcile), XML and PDF retrieval;
- cancellation with motives 01-04 (01 needs a stamped replacement relating with 04),
  receiver acceptance (`app.receiver_answer(uuid, accept)`; silence for 72 h accepts),
  the documented free-text answers, and the acuse XML;
- SAT status: POST /ConsultaCFDIService.svc (SOAP 1.1, `Consulta(expresionImpresa)`).
"""

import base64
import hashlib
import io
import json
import os
import threading
import uuid as uuidlib
import zipfile
from datetime import datetime, timedelta
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit
from xml.sax.saxutils import escape

from lxml import etree
from werkzeug.wrappers import Request, Response

from . import catalogs, documents, sandbox_dialects

NS = {"cfdi": documents.NS_CFDI, "tfd": documents.NS_TFD, "pago20": documents.NS_PAGO}
PAC_RFC = "SPR190613I52"
SAT_CERT = "30001000000500003456"
ISSUER_CERT = "30001000000500003416"
GENERIC = (catalogs.RFC_GENERIC_NATIONAL, catalogs.RFC_GENERIC_FOREIGN)
SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"


def mexico_now():
    try:
        from zoneinfo import ZoneInfo

        return datetime.now(ZoneInfo("America/Mexico_City")).replace(tzinfo=None, microsecond=0)
    except Exception:  # no tz database: UTC-6
        return (datetime.utcnow() - timedelta(hours=6)).replace(microsecond=0)


class CfdiRecord:
    def __init__(self, **kw):
        self.__dict__.update(kw)


class FactureSandbox:
    def __init__(
        self,
        users=None,
        tokens=None,
        credits=1000,
        branches=None,
        check_date=True,
        clock=None,
        free_cancel_hours=24,
        acceptance_hours=72,
        acceptance_threshold=Decimal(1000),
        dialect="json",
    ):
        if dialect not in sandbox_dialects.DIALECTS:
            raise ValueError(f"unknown dialect {dialect!r}: one of {', '.join(sandbox_dialects.DIALECTS)}")
        self.dialect = dialect
        self.users = dict(users if users is not None else {"demo": "demo-password"})
        self.tokens = set(tokens or ())
        self.credits = credits
        self.branches = (
            branches
            if branches is not None
            else [
                {
                    "ID": 1,
                    "nombre": "Matriz",
                    "codigoPostal": "20914",
                    "rfc": "EKU9003173C9",
                },
                {
                    "ID": 2,
                    "nombre": "Sucursal Norte",
                    "codigoPostal": "64000",
                    "rfc": "EKU9003173C9",
                },
            ]
        )
        self.check_date = check_date
        self.now = clock or mexico_now
        self.free_cancel_hours = free_cancel_hours
        self.acceptance_hours = acceptance_hours
        self.acceptance_threshold = acceptance_threshold
        self.lock = threading.RLock()
        self.initial_credits = credits
        self.cfdis = {}  # uuid -> CfdiRecord
        self.by_digest = {}  # sha256 of posted bytes -> uuid
        self.downloads = {}  # token -> zip bytes
        self.stamp_calls = 0
        self.requests = []  # (method, path, headers subset) for tests
        self.offset = timedelta(0)
        self.report_drop = set()  # fault switches of the bulk report: files (names or positions) left out ...
        self.report_extra = []  # ... and names of files that were never sent
        # hostile switches: the stamp is made (and kept) but answered as `stamp_shape` says
        # ("no_xml": success without the stamped XML, "text": a bare "OK", "html": an HTML
        # page, "tfd_only": only the UUID); `report_link` replaces the bulk download link; `download_body` the ZIP
        self.stamp_shape = ""
        self.report_link = None
        self.download_body = None

    @property
    def state(self):
        return self

    # -- controls for tests -------------------------------------------------------
    def reset(self):
        """Forget every stamp and restore the credits and the clock (between tests)."""
        with self.lock:
            self.credits = self.initial_credits
            self.cfdis.clear()
            self.by_digest.clear()
            self.downloads.clear()
            self.requests.clear()
            self.stamp_calls = 0
            self.offset = timedelta(0)
            self.report_drop = set()
            self.report_extra = []
            self.stamp_shape = ""
            self.report_link = None
            self.download_body = None

    def clock(self):
        return self.now() + self.offset

    def place_clock(self, postal_code):
        """The sandbox's clock at a place of issue: Fecha is checked in that place's zone, as
        SAT does (a Tijuana branch is two hours behind Mexico City in winter)."""
        central = documents.zone_info(catalogs.DEFAULT_ZONE)
        moment = self.clock()
        aware = moment.replace(tzinfo=central) if hasattr(central, "key") else central.localize(moment)
        return documents.place_now(postal_code, now=aware)

    def advance(self, hours):
        self.offset += timedelta(hours=hours)

    def receiver_answer(self, uuid, accept):
        """The receiver accepts or rejects a pending cancellation in their Buzón Tributario."""
        with self.lock:
            rec = self.cfdis[uuid.upper()]
            if rec.cancel_status != "En proceso":
                raise ValueError("no pending cancellation")
            if accept:
                rec.status, rec.cancel_status = "Cancelado", "Cancelado con aceptación"
                rec.cancelled_at = self.clock()
            else:
                rec.cancel_status, rec.rejected_once = "Solicitud rechazada", True

    def stamped(self):
        return [r for r in self.cfdis.values()]

    # -- WSGI ---------------------------------------------------------------------------
    def __call__(self, environ, start_response):
        request = Request(environ)
        try:
            response = self.dispatch(request)
        except Exception as exc:  # the sandbox must answer, like a real service would
            response = Response(
                json.dumps({"succeed": False, "code": "FA500", "message": str(exc)}),
                500,
                content_type="application/json",
            )
        return response(environ, start_response)

    def dispatch(self, request):
        path = request.path.rstrip("/") + "/"
        self.requests.append(
            (
                request.method,
                path,
                {k: request.headers.get(k, "") for k in ("Accept", "Sucursal")},
            )
        )
        if path == "/ConsultaCFDIService.svc/" and request.method == "POST":
            return self.sat_status(request)
        if path.startswith("/rest/descarga/") and request.method == "GET":
            if not self.authorized(request):
                return self.answer(
                    request,
                    {"succeed": False, "code": "FA401", "message": "No autorizado"},
                    401,
                )
            data = self.downloads.get(request.args.get("id", ""))
            if data is None:
                return self.answer(
                    request,
                    {
                        "succeed": False,
                        "code": "FA404",
                        "message": "Descarga no encontrada",
                    },
                    404,
                )
            if self.download_body is not None:
                data = self.download_body
            return Response(data, 200, content_type="application/zip")
        routes = {
            ("GET", "/rest/administracion/usuario/"): self.user,
            ("GET", "/rest/administracion/sucursales/"): self.sucursales,
            ("POST", "/rest/timbrado/produccion/"): self.timbrar,
            ("POST", "/rest/timbrado/masivoProduccion/"): self.masivo,
            ("GET", "/rest/consulta/cfdi/"): self.consulta,
            ("GET", "/rest/consulta/xml/"): self.consulta_xml,
            ("GET", "/rest/consulta/pdf/"): self.consulta_pdf,
            ("GET", "/rest/cancelacion/produccion/"): self.cancelar,
            ("GET", "/rest/cancelacion/acuse/"): self.acuse,
        }
        handler = routes.get((request.method, path))
        if handler is None:
            return self.answer(
                request,
                {"succeed": False, "code": "FA400", "message": "Recurso no encontrado"},
                404,
            )
        if not self.authorized(request):
            return self.answer(
                request,
                {
                    "succeed": False,
                    "code": "FA401",
                    "message": "Credenciales inválidas",
                },
                401,
            )
        with self.lock:
            return handler(request)

    def authorized(self, request):
        header = request.headers.get("Authorization", "")
        if header.startswith("Basic "):
            try:
                user, _, password = base64.b64decode(header[6:]).decode().partition(":")
            except Exception:
                return False
            return user in self.users and self.users[user] == password
        return bool(header) and header in self.tokens

    def answer(self, request, data, status=200):
        path = request.path.rstrip("/") + "/"
        body, status, ctype = sandbox_dialects.render(
            self.dialect, path, data, status, request.headers.get("Accept", "")
        )
        return Response(body, status, content_type=ctype)

    # -- account ---------------------------------------------------------------------------
    def user(self, request):
        return self.answer(
            request,
            {
                "succeed": True,
                "code": "200",
                "usuario": {
                    "usuario": "demo",
                    "nombre": "Usuario de pruebas",
                    "creditos": self.credits,
                    "activo": True,
                },
            },
        )

    def sucursales(self, request):
        return self.answer(request, {"succeed": True, "code": "200", "sucursales": self.branches})

    def branch(self, request):
        value = request.headers.get("Sucursal", "")
        return next((b for b in self.branches if str(b["ID"]) == value), None)

    # -- stamping ---------------------------------------------------------------------------
    def timbrar(self, request):
        branch = self.branch(request)
        if branch is None:
            return self.answer(
                request,
                {
                    "succeed": False,
                    "code": "FA404",
                    "message": "Sucursal no encontrada",
                },
            )
        ok, data = self.stamp_bytes(request.get_data(), branch)
        if ok and self.stamp_shape:
            return self.hostile_stamp(data)
        return self.answer(request, data)

    def hostile_stamp(self, data):
        """A stamp that was made, answered in a shape no client can read as a stamp."""
        if self.stamp_shape == "no_xml":
            body = json.dumps({"succeed": True, "code": "200", "message": data["message"]})
            return Response(body, 200, content_type="application/json")
        if self.stamp_shape == "tfd_only":
            return Response(
                json.dumps({"exito": True, "folioFiscal": data["uuid"]}), 200, content_type="application/json"
            )
        if self.stamp_shape == "html":  # a proxy's or portal's page in front of the PAC
            page = b"<!DOCTYPE html><html><body><h1>Solicitud procesada</h1></body></html>"
            return Response(page, 200, content_type="text/html")
        return Response(b"OK", 200, content_type="text/plain")

    def stamp_bytes(self, body, branch):
        """(ok, answer dict) for one posted pre-CFDI."""
        self.stamp_calls += 1
        digest = hashlib.sha256(body).hexdigest()
        if digest in self.by_digest:
            rec = self.cfdis[self.by_digest[digest]]
            return True, {
                "succeed": True,
                "code": "307",
                "message": "El comprobante contiene un timbre previo",
                "uuid": rec.uuid,
                "xml": rec.xml.decode(),
                "fechaTimbrado": rec.stamped_at_text,
            }
        try:
            root = documents.parse(body)
        except Exception as exc:
            return False, {
                "succeed": False,
                "code": "FA410",
                "message": f"XML mal formado: {exc}",
            }
        if root.tag != f"{{{documents.NS_CFDI}}}Comprobante":
            return False, {
                "succeed": False,
                "code": "FA410",
                "message": "No es un CFDI 4.0",
            }
        problems = documents.xsd_errors(root)
        if problems:
            return False, {
                "succeed": False,
                "code": "FA410",
                "message": "; ".join(problems[:3]),
            }
        failure = self.business_checks(root, branch)
        if failure:
            return False, {"succeed": False, "code": failure[0], "message": failure[1]}
        if self.credits <= 0:
            return False, {
                "succeed": False,
                "code": "FA402",
                "message": "No cuenta con créditos disponibles",
            }
        self.credits -= 1
        rec = self.seal(root, branch)
        self.by_digest[digest] = rec.uuid
        return True, {
            "succeed": True,
            "code": "200",
            "message": "Comprobante timbrado correctamente",
            "uuid": rec.uuid,
            "xml": rec.xml.decode(),
            "fechaTimbrado": rec.stamped_at_text,
        }

    def business_checks(self, root, branch):
        emisor = root.find("cfdi:Emisor", NS)
        if branch.get("rfc") and emisor.get("Rfc") != branch["rfc"]:
            return (
                "CFDI40124",
                f"El RFC del emisor {emisor.get('Rfc')} no corresponde al CSD de la sucursal",
            )
        if self.check_date:
            fecha = datetime.strptime(root.get("Fecha"), "%Y-%m-%dT%H:%M:%S")
            now = self.place_clock(root.get("LugarExpedicion", ""))
            if fecha > now + timedelta(minutes=10) or fecha < now - timedelta(hours=72):
                return (
                    "CFDI40101",
                    "La fecha de emisión no está dentro de las 72 horas anteriores",
                )
        kind = root.get("TipoDeComprobante")
        if kind == "P":
            return self.payment_checks(root)
        currency = root.get("Moneda")
        places = catalogs.currency_decimals(currency)
        if kind in ("I", "E"):
            concepts = root.findall("cfdi:Conceptos/cfdi:Concepto", NS)
            subtotal = sum((Decimal(c.get("Importe")) for c in concepts), Decimal(0))
            if documents.rnd(subtotal, places) != Decimal(root.get("SubTotal")):
                return (
                    "CFDI40108",
                    "El SubTotal no es igual a la suma de los importes de los conceptos",
                )
            if currency not in ("MXN", "XXX") and not root.get("TipoCambio"):
                return "CFDI40115", "TipoCambio es requerido"
            impuestos = root.find("cfdi:Impuestos", NS)
            transferred = Decimal(impuestos.get("TotalImpuestosTrasladados", "0")) if impuestos is not None else 0
            withheld = Decimal(impuestos.get("TotalImpuestosRetenidos", "0")) if impuestos is not None else 0
            expected = Decimal(root.get("SubTotal")) - Decimal(root.get("Descuento", "0")) + transferred - withheld
            if documents.rnd(expected, places) != Decimal(root.get("Total")):
                return (
                    "CFDI40119",
                    "El Total no corresponde a SubTotal - Descuento + impuestos",
                )
            if root.get("MetodoPago") == "PPD" and root.get("FormaPago") != "99":
                return "CFDI40105", "Si MetodoPago es PPD, FormaPago debe ser 99"
            if root.get("MetodoPago") == "PUE" and root.get("FormaPago") == "99":  # SAT's code number unconfirmed
                return "CFDI40104", "Si MetodoPago es PUE, FormaPago no puede ser 99 (Por definir)"
        return None

    def payment_checks(self, root):
        """SAT's Pagos 2.0 arithmetic and the paid documents (sandbox codes CRP-SBX-n; SAT's own CRP2xxxx
        numbering is not reproduced)."""
        total_mxn = Decimal(0)
        for pago in root.iterfind(".//pago20:Pago", NS):
            monto = Decimal(pago.get("Monto"))
            rate = Decimal(pago.get("TipoCambioP") or "1")
            total_mxn += monto * rate
            paid = Decimal(0)
            for docto in pago.iterfind("pago20:DoctoRelacionado", NS):
                problem = self.docto_checks(docto)
                if problem:
                    return problem
                paid += Decimal(docto.get("ImpPagado")) / Decimal(docto.get("EquivalenciaDR") or "1")
            places = catalogs.currency_decimals(pago.get("MonedaP"))
            if documents.rnd(paid, places) > monto:
                return (
                    "CRP-SBX-1",
                    "La suma de ImpPagado / EquivalenciaDR de los documentos relacionados excede el Monto del pago",
                )
        totales = root.find(".//pago20:Totales", NS)
        if documents.rnd(total_mxn, 2) != Decimal(totales.get("MontoTotalPagos")):
            return "CRP-SBX-2", "MontoTotalPagos no es la suma de Monto por TipoCambioP"
        return None

    def docto_checks(self, docto):
        before = Decimal(docto.get("ImpSaldoAnt"))
        paid = Decimal(docto.get("ImpPagado"))
        after = Decimal(docto.get("ImpSaldoInsoluto"))
        if after < 0 or after != before - paid:
            return "CRP-SBX-3", "ImpSaldoInsoluto debe ser ImpSaldoAnt - ImpPagado y no negativo"
        original = self.cfdis.get(docto.get("IdDocumento").upper())
        if original is None or original.status != "Vigente":
            return "CRP-SBX-4", "El IdDocumento no corresponde a un CFDI vigente timbrado por este PAC"
        head = documents.parse(original.xml)
        if head.get("MetodoPago") != "PPD":
            return "CRP-SBX-5", "El documento relacionado no tiene MetodoPago PPD"
        if head.get("Moneda") == docto.get("MonedaDR") and before > Decimal(head.get("Total")):
            return "CRP-SBX-6", "ImpSaldoAnt excede el Total del documento relacionado"
        return None

    def seal(self, root, branch):
        uuid = str(uuidlib.uuid4()).upper()
        now = self.clock()
        digest = hashlib.sha256(etree.tostring(root, encoding="UTF-8")).digest()
        seal = base64.b64encode(digest * 8).decode()
        root.set("Sello", seal)
        root.set("NoCertificado", ISSUER_CERT)
        root.set("Certificado", base64.b64encode(b"sandbox-csd-" + digest).decode())
        complement = root.find("cfdi:Complemento", NS)
        if complement is None:
            complement = etree.SubElement(root, f"{{{documents.NS_CFDI}}}Complemento")
            addenda = root.find("cfdi:Addenda", NS)
            if addenda is not None:
                addenda.addprevious(complement)
        tfd = etree.SubElement(
            complement,
            f"{{{documents.NS_TFD}}}TimbreFiscalDigital",
            nsmap={"tfd": documents.NS_TFD},
        )
        tfd.set(
            f"{{{documents.NS_XSI}}}schemaLocation",
            "http://www.sat.gob.mx/TimbreFiscalDigital "
            "http://www.sat.gob.mx/sitio_internet/cfd/TimbreFiscalDigital/TimbreFiscalDigitalv11.xsd",
        )
        stamped_at = now.strftime("%Y-%m-%dT%H:%M:%S")
        for key, value in (
            ("Version", "1.1"),
            ("UUID", uuid),
            ("FechaTimbrado", stamped_at),
            ("RfcProvCertif", PAC_RFC),
            ("SelloCFD", seal),
            ("NoCertificadoSAT", SAT_CERT),
            (
                "SelloSAT",
                base64.b64encode(hashlib.sha512(seal.encode()).digest()).decode(),
            ),
        ):
            tfd.set(key, value)
        xml = documents.serialize(root)
        receptor = root.find("cfdi:Receptor", NS)
        related = []
        for rel in root.findall("cfdi:CfdiRelacionados", NS):
            for node in rel.findall("cfdi:CfdiRelacionado", NS):
                related.append((rel.get("TipoRelacion"), node.get("UUID").upper()))
        for node in root.iterfind(".//pago20:DoctoRelacionado", NS):
            related.append(("pago", node.get("IdDocumento").upper()))
        total = Decimal(root.get("Total"))
        rate = Decimal(root.get("TipoCambio") or "1")
        rec = CfdiRecord(
            uuid=uuid,
            xml=xml,
            kind=root.get("TipoDeComprobante"),
            total=root.get("Total"),
            total_mxn=total * rate,
            issuer=root.find("cfdi:Emisor", NS).get("Rfc"),
            receiver=receptor.get("Rfc"),
            series=root.get("Serie", ""),
            number=root.get("Folio", ""),
            stamped_at=now,
            stamped_at_text=stamped_at,
            branch=branch["ID"],
            related=related,
            status="Vigente",
            cancel_status="",
            motive="",
            replacement="",
            requested_at=None,
            cancelled_at=None,
            rejected_once=False,
        )
        self.cfdis[uuid] = rec
        return rec

    def masivo(self, request):
        upload = request.files.get("file")
        if upload is None:
            return self.answer(
                request,
                {
                    "succeed": False,
                    "code": "FA400",
                    "message": "Falta el archivo (file)",
                },
            )
        branch = self.branch(request) or (self.branches[0] if self.branches else None)
        if branch is None:
            return self.answer(
                request,
                {
                    "succeed": False,
                    "code": "FA404",
                    "message": "Sucursal no encontrada",
                },
            )
        try:
            files = zipfile.ZipFile(io.BytesIO(upload.read()))
            names = [i.filename for i in files.infolist() if not i.is_dir()]
        except zipfile.BadZipFile:
            return self.answer(request, {"succeed": False, "code": "FA409", "message": "ZIP inválido"})
        lines, stamped = [], {}
        for position, name in enumerate(names):
            ok, data = self.stamp_bytes(files.read(name), branch)
            if ok:
                stamped[name] = data["xml"].encode()
            if name in self.report_drop or position in self.report_drop:
                continue
            lines.append((name, ok, data.get("uuid", ""), data.get("code", ""), data.get("message", "")))
        lines += [(name, True, str(uuidlib.uuid4()).upper(), "", "") for name in self.report_extra]
        token = uuidlib.uuid4().hex
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, xml in stamped.items():
                archive.writestr(name, xml)
        self.downloads[token] = buffer.getvalue()
        link = f"{request.host_url.rstrip('/')}/rest/descarga/?id={token}"
        if self.report_link is not None:
            link = self.report_link
        body, ctype = sandbox_dialects.bulk_report(self.dialect, lines, link)
        return Response(body, 200, content_type=ctype)

    # -- retrieval -------------------------------------------------------------------------
    def record(self, uuid):
        rec = self.cfdis.get((uuid or "").upper())
        if rec is not None:
            self.settle(rec)
        return rec

    def consulta(self, request):
        rec = None
        if request.args.get("cfdi"):
            rec = self.record(request.args["cfdi"])
        elif request.args.get("serie") is not None or request.args.get("folio"):
            issuer = request.args.get("rfcEmisor")
            rec = next(
                (
                    r
                    for r in self.cfdis.values()
                    if r.series == request.args.get("serie", "")
                    and r.number == request.args.get("folio", "")
                    and (not issuer or r.issuer == issuer)
                ),
                None,
            )
        if rec is None:
            return self.answer(
                request,
                {"succeed": False, "code": "CA205", "message": "El UUID no existe"},
                404,
            )
        cbb = documents.verification_url(documents.stamp_info(rec.xml))
        return self.answer(
            request,
            {
                "succeed": True,
                "code": "200",
                "cfdi": {
                    "uuid": rec.uuid,
                    "estatus": rec.status.lower(),
                    "cancelada": rec.status == "Cancelado",
                    "total": rec.total,
                    "rfcEmisor": rec.issuer,
                    "rfcReceptor": rec.receiver,
                    "serie": rec.series,
                    "folio": rec.number,
                    "fechaTimbrado": rec.stamped_at_text,
                    "cbb": cbb,
                },
            },
        )

    def consulta_xml(self, request):
        rec = self.record(request.args.get("uuid"))
        if rec is None:
            return self.answer(
                request,
                {"succeed": False, "code": "CA205", "message": "El UUID no existe"},
                404,
            )
        return Response(rec.xml, 200, content_type="application/xml; charset=utf-8")

    def consulta_pdf(self, request):
        rec = self.record(request.args.get("uuid"))
        if rec is None:
            return self.answer(
                request,
                {"succeed": False, "code": "CA205", "message": "El UUID no existe"},
                404,
            )
        return Response(
            _pdf(f"CFDI {rec.uuid} {rec.series}{rec.number} Total {rec.total}"),
            200,
            content_type="application/pdf",
        )

    # -- cancellation -------------------------------------------------------------------------
    def settle(self, rec):
        if rec.cancel_status == "En proceso" and not rec.rejected_once and rec.requested_at is not None:
            if self.clock() - rec.requested_at >= timedelta(hours=self.acceptance_hours):
                rec.status, rec.cancel_status, rec.cancelled_at = (
                    "Cancelado",
                    "Plazo vencido",
                    self.clock(),
                )

    def children(self, rec):
        return [
            r
            for r in self.cfdis.values()
            if r.status == "Vigente" and r.uuid != rec.uuid and any(u == rec.uuid and t != "04" for t, u in r.related)
        ]

    def cancellable(self, rec):
        if self.children(rec):
            return "No cancelable"
        if self.needs_acceptance(rec):
            return "Cancelable con aceptación"
        return "Cancelable sin aceptación"

    def needs_acceptance(self, rec):
        return (
            rec.kind == "I"
            and rec.receiver not in GENERIC
            and rec.total_mxn > self.acceptance_threshold
            and self.clock() - rec.stamped_at > timedelta(hours=self.free_cancel_hours)
        )

    def cancelar(self, request):
        uuid = (request.args.get("uuid") or "").upper()
        motive = request.args.get("motivo", "")
        replacement = (request.args.get("folioSustitucion") or "").upper()
        if self.branch(request) is None:
            return self.answer(
                request,
                {
                    "succeed": False,
                    "code": "FA404",
                    "message": "Sucursal no encontrada",
                },
            )
        if motive not in ("01", "02", "03", "04"):
            return self.answer(
                request,
                {
                    "succeed": False,
                    "code": "FA420",
                    "message": "Motivo de cancelación inválido o ausente (motivo)",
                },
            )
        rec = self.record(uuid)
        if rec is None:
            return self.answer(
                request,
                {
                    "succeed": False,
                    "message": "",
                    "error": "CA205 - El UUID no existe / Error al cancelar el UUID de la factura",
                },
            )
        if motive == "01":
            sub = self.record(replacement) if replacement else None
            if sub is None or sub.status != "Vigente" or ("04", uuid) not in sub.related:
                return self.answer(
                    request,
                    {
                        "succeed": False,
                        "code": "FA421",
                        "message": "El folio de sustitución no existe o no se relaciona (TipoRelacion 04)",
                    },
                )
        elif replacement:
            return self.answer(
                request,
                {
                    "succeed": False,
                    "code": "FA421",
                    "message": "El folio de sustitución solo aplica al motivo 01",
                },
            )
        if rec.status == "Cancelado":
            return self.answer(
                request,
                {
                    "succeed": True,
                    "message": f"El comprobante {uuid} ya se encuentra previamente cancelado",
                },
            )
        if rec.cancel_status == "En proceso":
            return self.answer(
                request,
                {
                    "succeed": False,
                    "message": f"El comprobante {uuid} ya se encuetra en proceso de cancelación",
                },
            )
        if self.children(rec):
            return self.answer(
                request,
                {
                    "succeed": False,
                    "message": "Primero debes cancelar sus comprobantes de relación tipo padre.",
                    "error": f"El comprobante {uuid} tiene relación con otros comprobantes.",
                },
            )
        rec.motive, rec.replacement, rec.requested_at = (
            motive,
            replacement,
            self.clock(),
        )
        if self.needs_acceptance(rec):
            rec.cancel_status = "En proceso"
            payload = base64.b64encode(
                json.dumps(
                    {
                        "uuid": uuid,
                        "rfcReceptor": rec.receiver,
                        "rfcEmisor": rec.issuer,
                        "totalFactura": rec.total,
                    }
                ).encode()
            )
            link = f"{request.host_url.rstrip('/')}/cancelacion/index.html?data={payload.decode()}"
            return self.answer(
                request,
                {
                    "succeed": True,
                    "enlace": link,
                    "message": f"Envie el siguiente enlace al receptor para autorizar la cancelación: {link}",
                    "error": "El comprobante debe ser autorizado por el receptor para ser cancelado.",
                },
            )
        rec.status, rec.cancel_status, rec.cancelled_at = (
            "Cancelado",
            "Cancelado sin aceptación",
            self.clock(),
        )
        return self.answer(
            request,
            {
                "succeed": True,
                "message": f"El comprobante {uuid} fue cancelado, pero su estado no ha cambiado en el "
                "sistema del SAT. Se le enviará un correo cuando el SAT lo actualice.",
            },
        )

    def acuse(self, request):
        rec = self.record(request.args.get("uuid"))
        if rec is None or rec.status != "Cancelado":
            return self.answer(
                request,
                {
                    "succeed": False,
                    "code": "FA430",
                    "message": "Error al obtener acuse, el comprobante no esta cancelado.",
                },
            )
        fecha = rec.cancelled_at.strftime("%Y-%m-%dT%H:%M:%S")
        sig = base64.b64encode(hashlib.sha512(f"{rec.uuid}{fecha}".encode()).digest()).decode()
        body = (
            f'<?xml version="1.0" encoding="utf-8"?><Acuse xmlns:xsd="http://www.w3.org/2001/XMLSchema" '
            f'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" Fecha="{fecha}" RfcEmisor="{rec.issuer}">'
            f'<Folios xmlns="http://cancelacfd.sat.gob.mx"><UUID>{rec.uuid}</UUID>'
            f"<EstatusUUID>201</EstatusUUID></Folios>"
            f'<Signature xmlns="http://www.w3.org/2000/09/xmldsig#" Id="SelloSAT"><SignatureValue>{sig}'
            f"</SignatureValue></Signature></Acuse>"
        )
        return Response(body.encode(), 200, content_type="application/xml; charset=utf-8")

    # -- SAT ConsultaCFDIService ---------------------------------------------------------------
    def sat_status(self, request):
        try:
            envelope = documents.parse(request.get_data())
            expression = envelope.find(".//{http://tempuri.org/}expresionImpresa").text or ""
        except Exception:
            return Response(
                _soap_fault("Solicitud inválida"),
                500,
                content_type="text/xml; charset=utf-8",
            )
        params = {k: v[0] for k, v in parse_qs(expression.lstrip("?").replace("&amp;", "&")).items()}
        with self.lock:
            rec = self.record(params.get("id", ""))
            matches = (
                rec is not None
                and rec.issuer == params.get("re")
                and rec.receiver == params.get("rr")
                and (_same_amount(rec.total, params.get("tt", "")))
            )
            if not matches:
                result = (
                    "N - 602: Comprobante no encontrado.",
                    "",
                    "No Encontrado",
                    "",
                    "",
                )
            else:
                result = (
                    "S - Comprobante obtenido satisfactoriamente.",
                    self.cancellable(rec),
                    rec.status,
                    rec.cancel_status,
                    "200",
                )
        return Response(_soap_response(*result), 200, content_type="text/xml; charset=utf-8")


def _same_amount(a, b):
    try:
        return Decimal(a) == Decimal(b)
    except Exception:
        return False


def _soap_response(code, cancellable, state, cancel_status, efos):
    ns = "http://schemas.datacontract.org/2004/07/Sat.Cfdi.Negocio.ConsultaCfdi.Servicio"
    fields = "".join(
        f"<a:{k}>{escape(v)}</a:{k}>"
        for k, v in (
            ("CodigoEstatus", code),
            ("EsCancelable", cancellable),
            ("Estado", state),
            ("EstatusCancelacion", cancel_status),
            ("ValidacionEFOS", efos),
        )
    )
    return (
        f'<s:Envelope xmlns:s="{SOAP_NS}"><s:Body><ConsultaResponse xmlns="http://tempuri.org/">'
        f'<ConsultaResult xmlns:a="{ns}" xmlns:i="http://www.w3.org/2001/XMLSchema-instance">{fields}'
        f"</ConsultaResult></ConsultaResponse></s:Body></s:Envelope>"
    ).encode()


def _soap_fault(text):
    return (
        f'<s:Envelope xmlns:s="{SOAP_NS}"><s:Body><s:Fault><faultcode>s:Client</faultcode>'
        f"<faultstring>{escape(text)}</faultstring></s:Fault></s:Body></s:Envelope>"
    ).encode()


def _pdf(text):
    """A tiny valid one-page PDF showing `text`."""
    safe = text.replace("\\", "").replace("(", "").replace(")", "")
    stream = f"BT /F1 12 Tf 50 750 Td ({safe}) Tj ET".encode("latin-1", "replace")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref))
    return out.getvalue()


def make_app(**options):
    """The Facture APP + SAT status sandbox (a WSGI app; `app.state` is the app). The answer
    dialect comes from `dialect=`, else from EINVOICE_SANDBOX_FACTURE_DIALECT (for `setup/run`
    demos against another plausible server), else `json`."""
    options.setdefault("dialect", os.environ.get("EINVOICE_SANDBOX_FACTURE_DIALECT") or "json")
    return FactureSandbox(**options)


def host_of(url):
    return urlsplit(url).netloc
