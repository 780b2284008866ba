"""SAT's public CFDI status service (ConsultaCFDIService) through zeep and the shipped WSDL.

The endpoint is an argument (production, SAT's test host, or the sandbox). The HTTP
session comes from the caller's einvoice Transport (`transport.session`, timeouts
`transport.timeout`), and failures are raised as that transport's error classes.
"""

import os
from dataclasses import dataclass

from . import documents

WSDL = os.path.join(os.path.dirname(os.path.abspath(__file__)), "wsdl", "ConsultaCFDIService.wsdl")
PRODUCTION = "https://consultaqr.facturaelectronica.sat.gob.mx/ConsultaCFDIService.svc"
TEST = "https://pruebacfdiconsultaqr.cloudapp.net/ConsultaCFDIService.svc"
BINDING = "{http://tempuri.org/}BasicHttpBinding_IConsultaCFDIService"


@dataclass
class SatStatus:
    code: str  # CodigoEstatus ("S - ..." found, "N - 60x ..." not found)
    state: str  # Estado: Vigente / Cancelado / No Encontrado
    cancellable: str  # EsCancelable: Cancelable sin aceptación / con aceptación / No cancelable
    cancel_status: (
        str  # EstatusCancelacion: "", En proceso, Plazo vencido, Cancelado con/sin aceptación, Solicitud rechazada
    )
    efos: str  # ValidacionEFOS: "200" = not listed

    @property
    def found(self):
        return self.code.startswith("S")

    @property
    def efos_listed(self):
        return bool(self.efos) and self.efos != "200"

    @property
    def settled_cancel(self):
        """'cancelled', 'rejected', 'pending' or '' (no cancellation asked)."""
        if self.state == "Cancelado":
            return "cancelled"
        if self.cancel_status == "Solicitud rechazada":
            return "rejected"
        if self.cancel_status == "En proceso":
            return "pending"
        return ""


MAX_ANSWER_BYTES = 256 * 1024  # a ConsultaResponse is under 2 KiB


class AnswerTooLarge(ValueError):
    pass


def _capped_transport(base, limit):
    """A zeep transport whose SOAP answers are read in chunks and refused past `limit` bytes
    (zeep would otherwise read and parse whatever size the server sends)."""

    class CappedTransport(base):
        def post(self, address, message, headers):
            response = self.session.post(
                address, data=message, headers=headers, timeout=self.operation_timeout, stream=True
            )
            try:
                declared = response.headers.get("Content-Length", "")
                if declared.isdigit() and int(declared) > limit:
                    raise AnswerTooLarge(f"SAT's answer announces {declared} bytes")
                chunks, size = [], 0
                for chunk in response.iter_content(16384):
                    size += len(chunk)
                    if size > limit:
                        raise AnswerTooLarge(f"SAT's answer is larger than {limit // 1024} KiB")
                    chunks.append(chunk)
                response._content = b"".join(chunks)
            finally:
                response.close()
            return response

    return CappedTransport


class SatStatusClient:
    def __init__(self, transport, endpoint=PRODUCTION, max_answer_bytes=MAX_ANSWER_BYTES):
        import zeep
        from zeep.transports import Transport as ZeepTransport

        self.transport = transport
        timeout = transport.timeout[1] if isinstance(transport.timeout, tuple) else transport.timeout
        capped = _capped_transport(ZeepTransport, max_answer_bytes)
        zt = capped(session=transport.session, timeout=timeout, operation_timeout=timeout)
        self._client = zeep.Client(wsdl=WSDL, transport=zt)
        self._service = self._client.create_service(BINDING, endpoint)

    def status(self, uuid, issuer_rfc, receiver_rfc, total):
        import requests
        import zeep.exceptions

        expression = documents.status_expression(uuid, issuer_rfc, receiver_rfc, total)
        try:
            result = self._service.Consulta(expresionImpresa=expression)
        except AnswerTooLarge as exc:
            raise self.transport.ProtocolError(f"{exc}; refused.") from exc
        except requests.Timeout as exc:
            raise self.transport.TransientError("SAT's status service did not answer in time.") from exc
        except requests.RequestException as exc:
            raise self.transport.TransientError(f"Could not reach SAT's status service: {exc}") from exc
        except zeep.exceptions.Fault as exc:
            raise self.transport.RejectedError(f"SAT's status service refused the query: {exc.message}") from exc
        except (zeep.exceptions.Error, ValueError) as exc:
            raise self.transport.ProtocolError(f"SAT's status service answered something unreadable: {exc}") from exc
        if result is None:
            raise self.transport.ProtocolError("SAT's status service answered an empty result.")
        return SatStatus(
            code=result.CodigoEstatus or "",
            state=result.Estado or "",
            cancellable=result.EsCancelable or "",
            cancel_status=result.EstatusCancelacion or "",
            efos=result.ValidacionEFOS or "",
        )
