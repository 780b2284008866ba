import logging
from datetime import timedelta

from odoo import fields
from odoo.tests import tagged

from ..einvoice import errors
from .common import DemoServiceCase


@tagged("post_install", "-at_install")
class TestExchangeLog(DemoServiceCase):
    def test_no_secret_in_exchange_rows_chatter_or_server_log(self):
        credential = self.make_credential(access_token="stale-token-value", username="user", password="pa55word-value")
        partner = self.env["res.partner"].create({"name": "Document owner"})
        # Every log line at DEBUG, except Odoo's own SQL tracing (a developer-only switch).
        with self.assertLogs(level=logging.DEBUG) as captured:
            with credential._einvoice_transport(auth=credential._einvoice_bearer_auth(), record=partner) as transport:
                transport.post(
                    "/documents",
                    operation="send",
                    json={"reference": "R1", "password": "pa55word-value"},
                )
            credential.action_einvoice_refresh_token()
        sudo = credential.sudo()
        secrets = {
            "stale-token-value",
            "pa55word-value",
            sudo.access_token,
            sudo.refresh_token,
        }
        rows = self.env["einvoice.exchange"].search([("credential_id", "=", credential.id)])
        self.assertGreaterEqual(len(rows), 4)
        dumped = str(rows.read([f for f in rows._fields if f not in ("res_id",)]))
        messages = str(credential.message_ids.mapped("body")) + str(partner.message_ids.mapped("body"))
        server_log = "\n".join(line for line in captured.output if not line.startswith("DEBUG:odoo.sql_db"))
        self.assertIn("access token renewed", server_log)
        for secret in secrets:
            self.assertNotIn(secret, dumped)
            self.assertNotIn(secret, messages)
            self.assertNotIn(secret, server_log)
        self.assertIn("***", dumped)

    def test_exchange_rows_link_to_the_document_and_count_on_it(self):
        credential = self.make_credential()
        move = self.env["account.move"].create({"move_type": "entry"})
        with credential._einvoice_transport(auth=credential._einvoice_bearer_auth(), record=move) as transport:
            transport.post(
                "/documents",
                operation="send",
                json={"reference": "M1"},
                reference="M1",
                keep_payload=True,
            )
        row = self.env["einvoice.exchange"].search([("res_model", "=", "account.move"), ("res_id", "=", move.id)])
        self.assertEqual(
            (row.operation, row.status_code, row.outcome, row.reference),
            ("send", 201, "ok", "M1"),
        )
        self.assertEqual(row.company_id, move.company_id)
        self.assertIn(b"M1", row.request_attachment_id.raw)
        self.assertEqual(credential.exchange_count, 1)
        action = credential.action_einvoice_view_exchanges()
        self.assertEqual(self.env["einvoice.exchange"].search(action["domain"]), row)

    def test_failed_attempts_are_logged_with_their_outcome(self):
        credential = self.make_credential(max_retries=0)
        self.faults.inject("lost", path="/documents")
        raised = None
        with credential._einvoice_transport(auth=credential._einvoice_bearer_auth()) as transport:
            try:  # not assertRaises: it would roll back the exchange row with its savepoint
                transport.post("/documents", operation="send", json={"reference": "L1"})
            except errors.UnknownOutcome as exc:
                raised = exc
        self.assertIsInstance(raised, errors.UnknownOutcome)
        row = self.env["einvoice.exchange"].search([("credential_id", "=", credential.id)])
        self.assertEqual(row.outcome, "transient")
        self.assertIn("Connection lost", row.error)

    def test_retention_cron_purges_old_rows_only(self):
        Exchange = self.env["einvoice.exchange"]
        old = Exchange.create({"service": "demo", "operation": "old"})
        new = Exchange.create({"service": "demo", "operation": "new"})
        self.env.cr.execute(
            "UPDATE einvoice_exchange SET create_date = %s WHERE id = %s",
            (fields.Datetime.now() - timedelta(days=400), old.id),
        )
        Exchange.invalidate_model(["create_date"])
        self.assertEqual(Exchange._cron_einvoice_purge_exchanges(), 1)
        self.assertFalse(old.exists())
        self.assertTrue(new.exists())

    def test_settings_show_the_connections(self):
        credential = self.make_credential()
        settings = self.env["res.config.settings"].create({})
        self.assertIn(credential, settings.einvoice_credential_ids)
        self.assertEqual(
            settings.action_einvoice_open_credentials()["res_model"],
            "einvoice.credential",
        )

    def test_calls_of_worker_threads_are_written_in_one_create_against_their_records(self):
        from ..einvoice.transport import Exchange

        credential = self.make_credential()
        move = self.env["account.move"].create({"move_type": "entry"})
        partner = self.env["res.partner"].create({"name": "Other document"})
        recorded = [
            (move, Exchange("Demo", "get", "GET", "https://x/a", 1, status=200, reference="A")),
            (partner, Exchange("Demo", "get", "GET", "https://x/b", 1, status=503, outcome="transient", error="busy")),
            (move, Exchange("Demo", "put", "PUT", "https://x/c", 1, status=200, response_payload=b"%PDF-1")),
        ]
        Exchange_ = self.env["einvoice.exchange"]

        def queries(count):
            plain = [(move, Exchange("Demo", "get", "GET", f"https://x/{n}", 1, status=200)) for n in range(count)]
            self.env.flush_all()
            before = self.cr.sql_log_count
            Exchange_._einvoice_record_many(credential, plain)
            self.env.flush_all()
            return self.cr.sql_log_count - before

        queries(1)  # caches warm
        self.assertEqual(queries(3), queries(9), "one INSERT, whatever the number of calls")
        rows = Exchange_._einvoice_record_many(credential, recorded)
        self.assertEqual(rows.mapped("res_id"), [move.id, partner.id, move.id])
        self.assertEqual(rows.mapped("outcome"), ["ok", "transient", "ok"])
        self.assertEqual(rows[0].company_id, move.company_id)
        self.assertEqual(rows[2].response_attachment_id.raw, b"%PDF-1")
        self.assertFalse(rows[0].response_attachment_id)
        self.assertEqual(Exchange_._einvoice_record_many(credential, []), Exchange_)
