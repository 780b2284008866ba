"""Error taxonomy of every call made to an e-invoicing service.

The distinction that matters is whether the service may have acted on a request:
- TransientError: it did not (connection refused, 429, 503) -> try later;
  QuotaError (a TransientError) when a rate limit or daily quota says not now.
- AuthError: credentials or token refused -> a person must act, never retried.
- RejectedError: the service answered and refused the document -> fix and resend.
- UnknownOutcome: a non-idempotent call may have reached the service and we did not
  read the answer -> reconcile with the service before anything is resent.
- ProtocolError: the answer could not be understood (HTML page, oversized body).
"""


class EInvoiceError(Exception):
    """Base class; `code` is the service's code when there is one."""

    kind = "error"

    def __init__(self, message="", *, code=None, status=None, details=None, retry_after=None):
        super().__init__(message or code or self.kind)
        self.message = message or ""
        self.code = code
        self.status = status
        self.details = details or []
        self.retry_after = retry_after

    def __str__(self):
        text = self.message or self.kind
        return f"[{self.code}] {text}" if self.code else text


class TransientError(EInvoiceError):
    kind = "transient"


class QuotaError(TransientError):
    """Our own limiter (or the service's quota) says: not now. Nothing was sent."""

    kind = "quota"


class AuthError(EInvoiceError):
    kind = "auth"


class HostRefused(AuthError):
    """The connection may not reach this host (a neutralized copy or a sandbox connection).

    Raised before anything is sent; for a person it is a connection to fix, like an AuthError.
    """


class RejectedError(EInvoiceError):
    kind = "rejected"


class UnknownOutcome(EInvoiceError):
    kind = "unknown"


class ProtocolError(EInvoiceError):
    kind = "protocol"


ALL = (TransientError, QuotaError, AuthError, HostRefused, RejectedError, UnknownOutcome, ProtocolError)
