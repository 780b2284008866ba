import logging

from werkzeug.exceptions import RequestEntityTooLarge

from odoo import http
from odoo.http import request

from ..lafactura import documents as lf_docs
from ..lafactura import redact
from ..models import inbox_ack

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
    # connection's own limit can only be lower. auth="none" and save_session=False: the
    # caller is authenticated by the secret alone, so no user is loaded, no session is
    # stored and no cookie is set; the acknowledgement is one lookup and one insert in SQL
    # on the request's cursor (`inbox_ack`), and the processing cron does the rest.
    @http.route(
        ["/l10n_co_lafactura/hook", "/l10n_co_lafactura/hook/<string:secret>"],
        type="http",
        auth="none",
        readonly=False,  # auth="none" routes default to a read-only cursor: the insert would fail, then run again
        methods=None,
        csrf=False,
        save_session=False,
        max_content_length=lf_docs.DEFAULT_MAX_BODY + 1,
    )
    def l10n_co_lafactura_hook(self, secret=None, **kwargs):
        httprequest = request.httprequest
        cr = request.env.cr
        connection = inbox_ack.find_connection(cr, secret or httprequest.headers.get(SECRET_HEADER, ""))
        if not connection:
            _logger.info("LaFactura.co webhook: unknown secret from %s", httprequest.remote_addr)
            return request.make_json_response({"ok": False, "error": "not found"}, status=404)
        result, body = self._l10n_co_lafactura_inspect(connection)
        if not result.state:
            _logger.info(
                "LaFactura.co webhook (connection %s): refused with %s from %s: %s",
                connection.id,
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
        row_id, inserted = inbox_ack.store(
            cr,
            connection,
            result,
            body,
            remote_addr=httprequest.remote_addr,
            content_type=httprequest.headers.get("Content-Type", ""),
        )
        if result.state == "rejected":
            return request.make_json_response({"ok": False, "id": row_id, "error": result.reason}, status=400)
        return request.make_json_response({"ok": True, "id": row_id, "duplicate": not inserted}, status=200)

    def _l10n_co_lafactura_inspect(self, connection):
        """(delivery check, body): the body is read only when within the connection's cap."""
        httprequest = request.httprequest
        cap = min(lf_docs.DEFAULT_MAX_BODY, max(1, connection.max_body_kb or 1) * 1024)
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
        return result, body
