import logging

from werkzeug.exceptions import RequestEntityTooLarge

from odoo import http
from odoo.http import request

from ..lafactura import documents as lf_docs
from ..lafactura import redact

_logger = logging.getLogger(__name__)
redact.install()  # the access log writes the URL path, which carries the secret

SECRET_HEADER = "X-LaFactura-Secret"


class LaFacturaWebhook(http.Controller):
    """LaFactura.co's hook: store first, answer at once, process in the cron.

    The caller is authenticated by a per-connection secret (the hook has no signature),
    in the URL path (what LaFactura's support configures) or in the `X-LaFactura-Secret`
    header on `/l10n_co_lafactura/hook`. Unknown secret: 404 and nothing stored. Not POST /
    not JSON / too large: 405 / 415 / 413, nothing stored. Empty, malformed or hostile
    JSON: stored as rejected with the reason, 400. A document: stored (identical bodies
    once, counted), 200 at once, also for a duplicate.
    """

    # The route's own cap bounds what werkzeug reads, chunked bodies included (one byte
    # over the largest allowed body, so that a cut-off stream is seen as too large); a
    # connection's own limit can only be lower.
    @http.route(
        ["/l10n_co_lafactura/hook", "/l10n_co_lafactura/hook/<string:secret>"],
        type="http",
        auth="public",
        methods=None,
        csrf=False,
        save_session=False,
        max_content_length=lf_docs.DEFAULT_MAX_BODY + 1,
    )
    def l10n_co_lafactura_hook(self, secret=None, **kwargs):
        httprequest = request.httprequest
        secret = secret or httprequest.headers.get(SECRET_HEADER, "")
        credential = request.env["einvoice.credential"].sudo()._l10n_co_lafactura_by_secret(secret)
        if not credential:
            _logger.info("LaFactura.co webhook: unknown secret from %s", httprequest.remote_addr)
            return request.make_json_response({"ok": False, "error": "not found"}, status=404)
        cap = min(lf_docs.DEFAULT_MAX_BODY, max(1, credential.l10n_co_lafactura_max_body_kb or 1) * 1024)
        length = httprequest.content_length
        body = b""
        if httprequest.method == "POST" and (length is None or length <= cap):
            try:
                body = httprequest.get_data()  # cached: Odoo may retry the request on a serialization failure
            except RequestEntityTooLarge:
                length = cap + 1
        result = lf_docs.inspect_delivery(
            httprequest.method,
            httprequest.headers.get("Content-Type", ""),
            body,
            max_bytes=cap,
            content_length=length,
        )
        if not result.state:
            _logger.info(
                "LaFactura.co webhook (connection %s): refused with %s from %s: %s",
                credential.id,
                result.http_status,
                httprequest.remote_addr,
                result.reason,
            )
            headers = [("Allow", "POST")] if result.http_status == 405 else None
            return request.make_json_response(
                {"ok": False, "error": result.reason},
                status=result.http_status,
                headers=headers,
            )
        row_id, inserted = (
            request.env["l10n_co_lafactura.inbox"]
            .sudo()
            ._l10n_co_lafactura_store(
                credential,
                result,
                body,
                remote_addr=httprequest.remote_addr,
                content_type=httprequest.headers.get("Content-Type", ""),
            )
        )
        if result.state == "rejected":
            return request.make_json_response({"ok": False, "id": row_id, "error": result.reason}, status=400)
        return request.make_json_response({"ok": True, "id": row_id, "duplicate": not inserted}, status=200)
