from datetime import timedelta

from odoo import Command, fields
from odoo.exceptions import UserError
from odoo.tests import tagged

from .common import SECRET, EfactCommon


@tagged("post_install_l10n", "post_install", "-at_install")
class TestEfactSupplier(EfactCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._setup_supplier()
        cls.public_body.with_company(cls.company).invoice_sending_method = "manual"

    def _cron(self, due=True):
        """The supplier side's one cron; `due`: the attempts' next checks have come (no sleeping)."""
        Doc = self.env["l10n_efact_aoc.document"]
        if due:
            live = Doc.sudo().search([("direction", "=", "out"), ("next_check", "!=", False)])
            live.write({"next_check": fields.Datetime.now() - timedelta(seconds=1)})
        Doc._cron_l10n_efact_aoc_attempts()

    def _wizard(self, invoices):
        model = "account.move.send.wizard" if len(invoices) == 1 else "account.move.send.batch.wizard"
        return self.env[model].with_context(active_model="account.move", active_ids=invoices.ids).create({})

    def test_send_one_from_send_and_print(self):
        invoice = self._invoice(1000.0)
        wizard = self._wizard(invoice)
        self.assertIn("l10n_efact_aoc", wizard.extra_edis)
        wizard.action_send_and_print()
        doc = invoice.l10n_efact_aoc_document_id
        self.assertEqual(invoice.l10n_efact_aoc_state, "registered")
        self.assertTrue(doc.hub_id and doc.registry_number and doc.registry_date)
        self.assertEqual(doc.amount, 1210.0)
        self.assertEqual(
            (doc.oficina_comptable, doc.organ_gestor, doc.unitat_tramitadora),
            ("L01080193", "L01080194", "L01080195"),
        )
        hub = self.app.state.invoices[doc.hub_id]
        self.assertIn(b"ds:Signature", hub["facturae"].replace(b"ds:Signature", b"ds:Signature"))
        self.assertTrue(doc.attachment_id.raw.startswith(b"<?xml") or b"Facturae" in doc.attachment_id.raw)
        self.assertTrue(doc.einvoice_exchange_count >= 1)
        exchange = self.env["einvoice.exchange"].search([("res_model", "=", doc._name), ("res_id", "=", doc.id)])
        self.assertNotIn(
            "tests-secret-key",
            "".join(exchange.mapped("request_headers") + exchange.mapped("request_body")),
        )
        # not applicable any more: no second submission from the wizard
        self.assertFalse(invoice._l10n_efact_aoc_is_applicable())
        self.assertIn("cannot be sent twice", invoice._l10n_efact_aoc_send())
        self.assertEqual(len(self.app.state.invoices), 1)

    def test_send_batch_of_50_and_pull_states(self):
        invoices = self.env["account.move"]
        for n in range(50):
            invoices |= self._invoice(100.0 + n)
        self._wizard(invoices).action_send_and_print(force_synchronous=True)
        self.assertEqual(set(invoices.mapped("l10n_efact_aoc_state")), {"registered"})
        self.assertEqual(len(self.app.state.invoices), 50)
        # the public body annotates, recognises and pays one, rejects another
        paid, rejected = (
            invoices[0].l10n_efact_aoc_document_id,
            invoices[1].l10n_efact_aoc_document_id,
        )
        self.app.state.rcf_update(paid.hub_id, "ANNOTATED", numeroRegistreRCF="RCF-2026-7")
        self.app.state.rcf_update(paid.hub_id, "RECOGNISED")
        self.app.state.rcf_update(paid.hub_id, "PAID", dataPagament="2026-11-20")
        self.app.state.rcf_update(
            rejected.hub_id,
            "REJECTED",
            codiMotiuRebuig="E01",
            descripcioMotiuRebuig="Falta el número d'expedient",
        )
        self.app.state.page_size = 40  # 100 SENT/REGISTERED + 4 changes over 3 pages
        try:
            self._cron(due=False)
        finally:
            self.app.state.page_size = self.page_size
        self.assertFalse(
            self.app.state.pending_states,
            "every state deleted on the hub after applying it",
        )
        self.assertEqual(invoices[0].l10n_efact_aoc_state, "paid")
        self.assertEqual(str(paid.payment_date), "2026-11-20")
        self.assertEqual(paid.rcf_number, "RCF-2026-7")
        self.assertEqual(
            paid.history_ids.sorted(lambda h: (h.date, h.id)).mapped("code"),
            ["SENT", "REGISTERED", "ANNOTATED", "RECOGNISED", "PAID"],
        )
        self.assertEqual(invoices[1].l10n_efact_aoc_state, "rejected")
        self.assertEqual(rejected.reject_reason, "Falta el número d'expedient")
        self.assertEqual(rejected.reject_code, "E01")
        activity = invoices[1].activity_ids
        self.assertEqual(len(activity), 1)
        self.assertIn("Falta el número", activity.note)
        self.assertIn("paid on 2026-11-20", invoices[0].message_ids[0].body)
        # a rejected invoice may be corrected and sent again as a new submission
        self.assertFalse(invoices[1]._l10n_efact_aoc_send())
        self.assertEqual(len(invoices[1].l10n_efact_aoc_document_ids), 2)
        self.assertEqual(invoices[1].l10n_efact_aoc_state, "registered")

    def test_lost_response_is_reconciled_not_resent(self):
        invoice = self._invoice(500.0)
        self.injector.inject("lost", path="/proveidors/factura", method="POST")
        self.assertFalse(invoice._l10n_efact_aoc_send())
        doc = invoice.l10n_efact_aoc_document_id
        self.assertEqual(doc.state, "unknown")
        self.assertTrue(doc.einvoice_attempt_blocking)
        self.assertIn("Outcome being confirmed with eFACT, next check at", invoice.l10n_efact_aoc_status)
        self.assertEqual(len(self.app.state.invoices), 1)
        self.assertIn("cannot be sent twice", invoice._l10n_efact_aoc_send())
        self.assertFalse(invoice._l10n_efact_aoc_is_applicable(), "Send & Print offers no resend meanwhile")
        self._cron()
        self.assertEqual((doc.state, doc.hub_state), ("sent", "registered"))
        self.assertEqual(doc.hub_id, next(iter(self.app.state.invoices)))
        self.assertEqual(self.injector.calls_to("/proveidors/factura", "POST"), 1)
        self.assertTrue(any("no second submission" in body for body in invoice.message_ids.mapped("body")))

    def test_lost_answer_never_received_is_resent_once_with_identical_bytes(self):
        invoice = self._invoice(510.0)
        received_before = len(self.app.state.received_sha256)
        self.injector.inject("reset", path="/proveidors/factura", method="POST")  # never reached the hub
        self.assertFalse(invoice._l10n_efact_aoc_send())
        doc = invoice.l10n_efact_aoc_document_id
        self.assertEqual(doc.state, "unknown")
        self.assertTrue(doc.payload_sha256, "the exact request and its hash were stored before the call")
        self.assertFalse(self.app.state.invoices)
        self._cron()
        self.assertEqual(invoice.l10n_efact_aoc_state, "registered", "resent automatically, nobody clicked")
        self.assertEqual(doc.attempts, 2, "one resend")
        self.assertEqual(len(self.app.state.invoices), 1)
        self.assertEqual(self.injector.calls_to("/proveidors/factura", "POST"), 2)
        self.assertEqual(
            self.app.state.received_sha256[received_before:], [doc.payload_sha256], "the same bytes, unchanged"
        )
        self.assertEqual(len(invoice.l10n_efact_aoc_document_ids), 1, "the same submission, not a new one")
        self._cron()
        self.assertEqual(self.injector.calls_to("/proveidors/factura", "POST"), 2, "and only once")

    def test_attachment_too_large_names_the_file(self):
        invoice = self._invoice(50.0)
        invoice.l10n_efact_aoc_attachment_ids = self.env["ir.attachment"].create(
            {
                "name": "plànol_obra.pdf",
                "raw": b"%PDF" + b"0" * (2 * 1024 * 1024 + 1),
                "res_model": "account.move",
                "res_id": invoice.id,
            }
        )
        error = invoice._l10n_efact_aoc_send()
        self.assertIn("plànol_obra.pdf", error)
        self.assertIn("is 2,097,157 bytes", error)
        self.assertIn("at most 2,097,152 bytes", error)
        self.assertFalse(invoice.l10n_efact_aoc_document_ids)
        self.assertFalse(self.app.state.invoices)
        with self.assertRaisesRegex(UserError, "plànol_obra.pdf"):
            self._wizard(invoice).action_send_and_print()

    def test_attachments_are_sent(self):
        invoice = self._invoice(60.0)
        invoice.l10n_efact_aoc_attachment_ids = self.env["ir.attachment"].create(
            {
                "name": "albara.pdf",
                "raw": b"%PDF-1.4 albara",
                "res_model": "account.move",
                "res_id": invoice.id,
            }
        )
        self.assertFalse(invoice._l10n_efact_aoc_send())
        hub = self.app.state.invoices[invoice.l10n_efact_aoc_hub_id]
        self.assertEqual(
            [self.app.state.attachments[a]["nom"] for a in hub["attachments"]],
            ["albara.pdf"],
        )

    def test_wrong_secret_key_waits_for_the_connection_then_sends(self):
        self.credential.secret_key = "wrong"
        invoice = self._invoice(70.0)
        self.assertFalse(invoice._l10n_efact_aoc_send(), "not the invoice's fault: no error on it")
        doc = invoice.l10n_efact_aoc_document_id
        self.assertEqual((doc.state, doc.waiting_reason), ("waiting", "connection"))
        self.assertIn("1012", doc.message)
        self.assertIn("secret key", doc.message)
        self.assertEqual(invoice.l10n_efact_aoc_state, "waiting")
        self.assertEqual(self.credential.state, "error")
        self.assertEqual(self.injector.calls_to("/proveidors/factura", "POST"), 1, "a 401 is never retried")
        self.assertFalse(self.app.state.invoices)
        sha256 = doc.payload_sha256
        self.credential.secret_key = SECRET  # the administrator fixes the key: the waiting invoice is due now
        self.assertLessEqual(doc.next_check, fields.Datetime.now())
        self._cron(due=False)
        self.assertEqual((doc.state, doc.hub_state), ("sent", "registered"))
        self.assertEqual(self.app.state.received_sha256[-1], sha256, "the bytes stored at the first try")
        self.assertEqual(len(self.app.state.invoices), 1)
        self.assertEqual(self.credential.state, "connected")

    def test_receipt_refresh_receptors_dir3(self):
        invoice = self._invoice(80.0)
        self.assertFalse(invoice._l10n_efact_aoc_send())
        invoice.action_l10n_efact_aoc_download_receipt()
        doc = invoice.l10n_efact_aoc_document_id
        self.assertTrue(doc.receipt_id.raw.startswith(b"%PDF"))
        self.app.state.rcf_update(doc.hub_id, "ANNOTATED", numeroRegistreRCF="RCF-9")
        invoice.action_l10n_efact_aoc_refresh()
        self.assertEqual(doc.hub_state, "annotated")
        self.assertEqual(doc.rcf_number, "RCF-9")
        # "Check with eFACT" on a sent submission: the engine's poll, PAID ends it as accepted
        self.app.state.rcf_update(doc.hub_id, "RECOGNISED")
        self.app.state.rcf_update(doc.hub_id, "PAID", dataPagament="2026-11-30")
        doc.action_l10n_efact_aoc_reconcile()
        self.assertEqual((doc.state, doc.hub_state, str(doc.payment_date)), ("accepted", "paid", "2026-11-30"))
        self.assertEqual(invoice.l10n_efact_aoc_state, "paid")
        self.assertIn("paid on 2026-11-30", invoice.message_ids[0].body)
        # receptors and their DIR3 units for a new public-body customer
        self.credential.action_l10n_efact_aoc_sync_receptors()
        self.assertEqual(self.env["l10n_efact_aoc.receptor"].search_count([]), 2)
        partner = self.env["res.partner"].create(
            {
                "name": "Consell",
                "is_company": True,
                "vat": "ESP0800002H",
                "country_id": self.env.ref("base.es").id,
            }
        )
        partner.action_l10n_efact_aoc_load_dir3()
        centres = partner.child_ids.filtered(lambda c: c.type == "facturae_ac")
        self.assertEqual(
            sorted(centres.mapped("l10n_es_edi_facturae_ac_center_code")),
            ["L05000001", "L05000002", "L05000003"],
        )

    def test_rejected_invoice_corrected_and_sent_again(self):
        invoice = self._invoice(300.0)
        self.assertFalse(invoice._l10n_efact_aoc_send())
        first = invoice.l10n_efact_aoc_document_id
        self.app.state.hub_reject(first.hub_id, "E02", "Import incorrecte")
        self._cron(due=False)
        self.assertEqual(invoice.l10n_efact_aoc_state, "rejected")
        self.assertTrue(invoice._l10n_efact_aoc_is_applicable())
        invoice.button_draft()
        invoice.invoice_line_ids.price_unit = 250.0
        invoice.action_post()
        self.assertFalse(invoice._l10n_efact_aoc_send())
        second = invoice.l10n_efact_aoc_document_id
        self.assertNotEqual(second, first)
        self.assertEqual(self.app.state.invoices[second.hub_id]["import"], 302.5)
        self.assertEqual(first.state, "rejected")

    def test_list_action_sends_many_and_reports_failures(self):
        invoices = self._invoice(10.0) | self._invoice(20.0) | self._invoice(30.0)
        invoices[2].l10n_efact_aoc_attachment_ids = self.env["ir.attachment"].create(
            {"name": "virus.exe", "raw": b"MZ", "res_model": "account.move", "res_id": invoices[2].id}
        )
        result = invoices.action_l10n_efact_aoc_send()
        self.assertEqual(result["params"]["type"], "warning")
        self.assertEqual(invoices.mapped("l10n_efact_aoc_state"), ["registered", "registered", False])
        self.assertIn("virus.exe", invoices[2].message_ids[0].body)
        self.assertEqual(len(self.app.state.invoices), 2)

    def test_saving_settings_keeps_a_custom_url(self):
        settings = self.env["res.config.settings"].create({"l10n_efact_aoc_environment": "test"})
        settings.execute()
        self.assertEqual(self.credential.base_url, self.server.url, "same environment: the URL entered stays")

    def test_settings_store_the_connection(self):
        self.credential.environment = "sandbox"
        settings = self.env["res.config.settings"].create(
            {
                "l10n_efact_aoc_environment": "test",
                "l10n_efact_aoc_user": "integrador",
                "l10n_efact_aoc_secret_key": "nova-clau",
                "l10n_efact_aoc_role_supplier": True,
                "l10n_efact_aoc_role_rcf": True,
                "l10n_efact_aoc_registry_mode": "button",
            }
        )
        settings.execute()
        credential = self.credential.sudo()
        self.assertEqual(credential.username, "integrador")
        self.assertEqual(credential.secret_key, "nova-clau")
        self.assertTrue(credential.l10n_efact_aoc_role_rcf)
        self.assertEqual(credential.base_url, "https://efact-pre.aoc.cat")
        self.assertEqual(self.company.l10n_efact_aoc_registry_mode, "button")
        # an empty secret field keeps the stored key
        self.env["res.config.settings"].create(
            {"l10n_efact_aoc_user": "integrador", "l10n_efact_aoc_role_supplier": True}
        ).execute()
        self.assertEqual(credential.secret_key, "nova-clau")
        defaults = self.env["res.config.settings"].default_get(["l10n_efact_aoc_user"])
        self.assertEqual(defaults["l10n_efact_aoc_user"], "integrador")

    def test_schema_invalid_facturae_is_stopped_before_sending(self):
        centres = self.public_body.child_ids.filtered(lambda c: c.type == "facturae_ac")
        centres.write({"street": False})
        invoice = self._invoice(40.0)
        error = invoice._l10n_efact_aoc_send()
        self.assertIn("official Facturae 3.2.2 schema", error)
        self.assertIn("the address (street, ZIP, city, state, country) of Ajuntament de Proves", error)
        self.assertNotIn("Element", error, "no raw validator line for the user")
        logged = self.env["einvoice.exchange"].search(
            [
                ("res_model", "=", "account.move"),
                ("res_id", "=", invoice.id),
                ("operation", "=", "efact.facturae_schema"),
            ]
        )
        self.assertIn("Element", logged.error, "the validator's text is kept in the exchange log")
        self.assertEqual(invoice.l10n_efact_aoc_document_ids.state, "error", "nothing sent: fix, then send again")
        self.assertFalse(self.injector.calls_to("/proveidors/factura", "POST"))

    def test_line_without_tax_is_named_before_sending(self):
        invoice = self.init_invoice("out_invoice", partner=self.public_body, amounts=[100.0])
        invoice.invoice_line_ids.tax_ids = False
        invoice.action_post()
        wizard = self._wizard(invoice)
        alert = wizard.alerts["l10n_efact_aoc_problems"]["message"]
        self.assertIn("has no tax", alert)
        self.assertIn(invoice.invoice_line_ids.name, alert)
        self.assertIn("has no tax", invoice._l10n_efact_aoc_send())
        self.assertFalse(self.app.state.invoices)

    def test_schema_problem_alerted_in_send_and_print(self):
        self.public_body.child_ids.filtered(lambda c: c.type == "facturae_ac").write({"street": False})
        invoice = self._invoice(45.0)
        alert = self._wizard(invoice).alerts["l10n_efact_aoc_problems"]["message"]
        self.assertIn("official Facturae 3.2.2 schema", alert)
        self.assertIn("the address", alert)
        self.assertFalse(self.injector.calls_to("/proveidors/factura", "POST"))

    def test_efact_ui_only_for_spanish_companies_with_a_connection(self):
        invoice = self._invoice(10.0, post=False)
        self.assertTrue(invoice.l10n_efact_aoc_enabled)
        self.credential.active = False
        invoice.invalidate_recordset(["l10n_efact_aoc_enabled"])
        self.assertFalse(invoice.l10n_efact_aoc_enabled, "no active eFACT connection: no eFACT tab or button")
        self.credential.active = True
        other = self.env["res.company"].create({"name": "SC Test SRL", "country_id": self.env.ref("base.ro").id})
        self.credential.company_ids = [Command.link(other.id)]
        move = self.env["account.move"].new({"company_id": other.id, "move_type": "in_invoice"})
        self.assertFalse(move.l10n_efact_aoc_enabled, "a Romanian company sees nothing of eFACT")
        arch = self.env["account.move"].get_view(view_type="form")["arch"]
        self.assertIn('name="l10n_efact_aoc"', arch)
        self.assertIn("not l10n_efact_aoc_enabled", arch)

    def test_success_in_an_unexpected_shape_is_unknown_then_reconciled(self):
        # HTTP 200 without the Factura, without its id, as an HTML page, or empty: never an error
        for n, dialect in enumerate(("ack", "noid", "html", "empty")):
            with self.subTest(dialect=dialect):
                invoice = self._invoice(515.0 + n)
                posts = self.injector.calls_to("/proveidors/factura", "POST")
                self.app.state.send_dialect = dialect
                try:
                    self.assertFalse(invoice._l10n_efact_aoc_send(), "not an error for the user")
                finally:
                    self.app.state.send_dialect = "plain"
                doc = invoice.l10n_efact_aoc_document_id
                self.assertEqual(doc.state, "unknown")
                self.assertIn("cannot be sent twice", invoice._l10n_efact_aoc_send())
                self._cron()
                self.assertEqual((doc.state, doc.hub_state), ("sent", "registered"))
                self.assertEqual(doc.hub_id, list(self.app.state.invoices)[-1])
                self.assertEqual(len(self.app.state.invoices), n + 1, "one document at eFACT")
                self.assertEqual(self.injector.calls_to("/proveidors/factura", "POST"), posts + 1)
