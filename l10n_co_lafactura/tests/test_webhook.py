import json
import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from unittest.mock import patch

import requests
import werkzeug.serving

from odoo.tests import HttpCase, tagged

from odoo.addons.einvoice_common.tests import odoo_compat

from ..lafactura import fixtures, sandbox
from .common import LaFacturaCommon

JSON = {"Content-Type": "application/json"}


@tagged("post_install", "-at_install", "post_install_l10n")
class TestLaFacturaWebhook(LaFacturaCommon, HttpCase):
    def url(self, secret=None):
        return "/l10n_co_lafactura/hook/" + (secret or self.credential.sudo().l10n_co_lafactura_webhook_secret)

    def post(self, data, headers=None, secret=None):
        return self.opener.post(
            self.base_url() + self.url(secret),
            data=data,
            headers=JSON if headers is None else headers,
            timeout=30,
        )

    def count(self):
        return self.Inbox.search_count([("credential_id", "=", self.credential.id)])

    def test_unknown_secret_404_nothing_stored(self):
        body = json.dumps(fixtures.hook_body(self.document())).encode()
        for secret in (
            "x" * 64,
            "short",
            self.credential.sudo().l10n_co_lafactura_webhook_secret[:-1] + "!",
        ):
            self.assertEqual(self.post(body, secret=secret).status_code, 404)
        self.assertEqual(self.count(), 0)

    def test_refused_requests_store_nothing(self):
        self.credential.l10n_co_lafactura_max_body_kb = 1
        self.assertEqual(self.url_open(self.url()).status_code, 405)
        self.assertEqual(self.post(b"{}", headers={"Content-Type": "text/plain"}).status_code, 415)
        self.assertEqual(self.post(b"{}", headers={}).status_code, 415)
        self.assertEqual(self.post(b'{"a": "' + b"x" * 2048 + b'"}').status_code, 413)
        self.assertEqual(self.count(), 0)

    def test_malformed_bodies_stored_as_rejected(self):
        for body, code in (
            (b"", "empty_body"),
            (b"{not json", "invalid_json"),
            (b'{"document": {}}', "not_a_document"),
        ):
            response = self.post(body)
            self.assertEqual(response.status_code, 400)
            row = self.Inbox.browse(response.json()["id"])
            self.assertEqual((row.state, row.reason_code), ("rejected", code))
            self.assertTrue(row.reason)

    def test_delivery_stored_answered_at_once_duplicates_too(self):
        doc = self.document()
        body = json.dumps(fixtures.hook_body(doc)).encode()
        response = self.post(body)
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.json()["duplicate"], False)
        row = self.Inbox.browse(response.json()["id"])
        self.assertEqual(
            (row.state, row.cufe, row.number, row.provider_vat, row.remote_addr),
            ("received", doc["general"]["cufe"], "FE1", self.SUPPLIER, "127.0.0.1"),
        )
        self.assertEqual(len(row.body_sha256), 64)
        self.assertFalse(row.move_id)  # the answer did not wait for the bill
        cron = self.env.ref("l10n_co_lafactura.ir_cron_l10n_co_lafactura_process")
        self.assertTrue(self.env["ir.cron.trigger"].search_count([("cron_id", "=", cron.id)]))
        again = self.post(body)
        self.assertEqual(
            (again.status_code, again.json()["duplicate"], again.json()["id"]),
            (200, True, row.id),
        )
        self.assertEqual(row.delivery_count, 2)

    def test_regenerated_secret_stops_old_url(self):
        old = self.credential.sudo().l10n_co_lafactura_webhook_secret
        self.assertGreaterEqual(len(old), 60)
        self.assertTrue(self.credential.l10n_co_lafactura_webhook_url.endswith(old))
        self.credential.action_l10n_co_lafactura_regenerate_secret()
        body = json.dumps(fixtures.hook_body(self.document())).encode()
        self.assertEqual(self.post(body, secret=old).status_code, 404)
        self.assertEqual(self.post(body).status_code, 200)
        settings = self.env["res.config.settings"].with_company(self.company).create({})
        self.assertEqual(
            settings.l10n_co_lafactura_webhook_url,
            self.credential.l10n_co_lafactura_webhook_url,
        )

    def test_hundred_deliveries_thirty_percent_duplicates_ten_at_a_time(self):
        documents = fixtures.scenario(70, seed=7)
        for doc in documents:
            self.lafactura.state.add(doc)
        order = sandbox.schedule(documents, total=100, duplicate_rate=0.3, seed=8)
        bodies = [json.dumps(fixtures.hook_body(doc)).encode() for doc in order]
        url = self.base_url() + self.url()  # the ORM is not used from the sender threads
        with odoo_compat.concurrent_session(self) as session, ThreadPoolExecutor(max_workers=10) as pool:
            statuses = list(
                pool.map(
                    lambda body: session.post(url, data=body, headers=JSON, timeout=60).status_code,
                    bodies,
                )
            )
        self.assertEqual(statuses, [200] * 100)
        rows = self.Inbox.search([("credential_id", "=", self.credential.id)])
        self.assertEqual((len(rows), sum(rows.mapped("delivery_count"))), (70, 100))
        self.process()
        self.process()
        self.assertEqual(
            set(rows.mapped("state")),
            {"processed"},
            rows.filtered(lambda r: r.state != "processed").mapped("reason"),
        )
        moves = rows.move_id
        self.assertEqual(len(moves), 70)
        self.assertEqual(
            set(moves.mapped("l10n_co_lafactura_cufe")),
            {d["general"]["cufe"] for d in documents},
        )
        kinds = {d["general"]["cufe"]: d["general"]["type"] for d in documents}
        for move in moves:
            kind = kinds[move.l10n_co_lafactura_cufe]
            if kind == "nc":
                self.assertEqual(
                    (
                        move.move_type,
                        kinds[move.reversed_entry_id.l10n_co_lafactura_cufe],
                    ),
                    ("in_refund", "fc"),
                )
            elif kind == "nd":
                self.assertEqual(
                    (
                        move.move_type,
                        kinds[move.debit_origin_id.l10n_co_lafactura_cufe],
                    ),
                    ("in_invoice", "fc"),
                )
            else:
                self.assertEqual((move.move_type, move.state), ("in_invoice", "posted"))
        self.assertEqual(
            {kinds[c] for c in moves.mapped("l10n_co_lafactura_cufe")},
            {"fc", "nc", "nd"},
        )


@tagged("post_install", "-at_install", "post_install_l10n")
class TestLaFacturaWebhookHostile(LaFacturaCommon, HttpCase):
    """Issue 10/13: hostile bodies answer 400 with a reason; the secret never reaches a log line."""

    def secret(self):
        return self.credential.sudo().l10n_co_lafactura_webhook_secret

    def post(self, data, headers=None, path=None):
        return self.opener.post(
            self.base_url() + (path or "/l10n_co_lafactura/hook/" + self.secret()),
            data=data,
            headers=JSON if headers is None else headers,
            timeout=60,
        )

    def test_deeply_nested_body_answers_400_with_a_reason(self):
        response = self.post(b"[" * 100_000 + b"]" * 100_000)
        self.assertEqual(response.status_code, 400)
        self.assertIn("deep", response.json()["error"])
        row = self.Inbox.browse(response.json()["id"])
        self.assertEqual((row.state, row.reason_code), ("rejected", "too_deep"))

    def test_nul_bytes_answer_400_and_are_stored(self):
        response = self.post(b'{"document": "\x00"}')
        self.assertEqual(response.status_code, 400)
        self.assertEqual(self.Inbox.browse(response.json()["id"]).state, "rejected")
        doc = self.document(number="NUL-1")
        body = json.dumps(fixtures.hook_body(doc)).replace('"NUL-1"', '"NUL\\u0000-1"').encode()
        response = self.post(body)
        self.assertEqual(response.status_code, 200)
        self.assertEqual(self.Inbox.browse(response.json()["id"]).number, "NUL-1")

    def test_oversized_cufe_is_stored_not_a_server_error(self):
        # A multi-kilobyte CUFE does not fit a btree index row (random hex: PostgreSQL cannot compress
        # it under the limit): the ack must still store the delivery.
        doc = self.document(number="BIG-1")
        doc["general"]["cufe"] = os.urandom(4000).hex()
        response = self.post(json.dumps(fixtures.hook_body(doc)).encode())
        self.assertIn(response.status_code, (200, 400))
        row = self.Inbox.browse(response.json()["id"])
        self.assertTrue(row.exists())
        self.assertLessEqual(len(row.cufe or ""), 128)

    def test_secret_in_a_header(self):
        body = json.dumps(fixtures.hook_body(self.document(number="HDR-1"))).encode()
        path = "/l10n_co_lafactura/hook"
        self.assertEqual(self.post(body, path=path).status_code, 404)
        self.assertEqual(self.post(body, path=path, headers={**JSON, "X-LaFactura-Secret": "x" * 64}).status_code, 404)
        response = self.post(body, path=path, headers={**JSON, "X-LaFactura-Secret": self.secret()})
        self.assertEqual(response.status_code, 200)
        self.assertEqual(self.Inbox.browse(response.json()["id"]).number, "HDR-1")

    def test_access_log_never_carries_the_secret(self):
        seen, done = [], threading.Event()

        class Catch(logging.Handler):
            def emit(self, record):
                line = record.getMessage()
                seen.append(line)
                if "/l10n_co_lafactura/hook" in line:
                    done.set()

        handler = Catch(logging.INFO)
        werkzeug_logger = logging.getLogger("werkzeug")
        level = werkzeug_logger.level
        werkzeug_logger.setLevel(logging.INFO)
        werkzeug_logger.addHandler(handler)
        try:
            body = json.dumps(fixtures.hook_body(self.document(number="LOG-1"))).encode()
            self.assertEqual(self.post(body).status_code, 200)
            self.assertTrue(done.wait(30), seen)  # the access line is written after the answer
        finally:
            werkzeug_logger.removeHandler(handler)
            werkzeug_logger.setLevel(level)
        lines = [line for line in seen if "/l10n_co_lafactura/hook" in line]
        self.assertTrue(lines)
        self.assertFalse([line for line in seen if self.secret() in line])
        self.assertIn("/l10n_co_lafactura/hook/[redacted]", lines[0])

    def test_chunked_body_capped_by_the_route(self):
        self.credential.l10n_co_lafactura_max_body_kb = 100_000  # a connection cannot raise the route's cap
        read = []
        original = werkzeug.serving.DechunkedInput.readinto

        def counting_readinto(stream, buffer):  # what the server really pulled off the socket
            size = original(stream, buffer)
            read.append(size or 0)
            return size

        chunk = b" " * 65536

        def body():
            yield b'{"pad": "'
            for _index in range(1024):  # 64 MiB, chunked: no Content-Length (Odoo's default cap is 128)
                yield chunk
            yield b'"}'

        with patch.object(werkzeug.serving.DechunkedInput, "readinto", counting_readinto):
            try:
                status = self.post(body()).status_code
            except requests.exceptions.ConnectionError:
                status = 413  # the server answered and closed while the client was still sending
        self.assertEqual(status, 413)
        self.assertTrue(read)
        self.assertLessEqual(sum(read), 5 * 1024 * 1024 + 1)  # read up to the route's cap, not 64 (or 128) MiB
        self.assertEqual(self.Inbox.search_count([("credential_id", "=", self.credential.id)]), 0)
