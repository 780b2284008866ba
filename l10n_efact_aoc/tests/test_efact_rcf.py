import hashlib
from unittest.mock import patch

from psycopg2 import IntegrityError

from odoo import Command, fields
from odoo.exceptions import AccessError, UserError
from odoo.tests import new_test_user, tagged
from odoo.tools import mute_logger

from odoo.addons.einvoice_common.einvoice import errors as common_errors

from ..efact import documents
from ..efact import errors as efact_errors
from ..models.einvoice_credential import efact_error_text
from .common import DIR3_A, DIR3_B, ENTITY_A, ENTITY_B, SECRET, SUPPLIER_NIF, EfactCommon


@tagged("post_install_l10n", "post_install", "-at_install")
class TestEfactRcf(EfactCommon):
    page_size = 25

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company_a = cls.company
        cls.company_a.write({"vat": ENTITY_A, "name": "Ajuntament de Proves"})
        cls.company_b = cls.setup_other_company(name="Consell Comarcal de Proves")["company"]
        cls.company_b.vat = ENTITY_B
        cls.credential = cls.env["einvoice.credential"].create(
            {
                "name": "eFACT RCF",
                "service": "efact",
                "environment": "test",
                "company_id": cls.company_a.id,
                "company_ids": [Command.set((cls.company_a | cls.company_b).ids)],
                "username": "rcf",
                "secret_key": SECRET,
                "l10n_efact_aoc_role_supplier": False,
                "l10n_efact_aoc_role_rcf": True,
                "max_retries": 1,
            }
        )
        cls.credential.base_url = cls.server.url
        cls.Move = cls.env["account.move"]

    def pull(self):
        self.Move._cron_l10n_efact_aoc_pull_invoices()

    def bills(self, company=None):
        domain = [
            ("move_type", "=", "in_invoice"),
            ("l10n_efact_aoc_document_ids", "!=", False),
        ]
        if company:
            domain.append(("company_id", "=", company.id))
        return self.Move.search(domain)

    def hub_states(self, hub_id):
        return [s["codi"] for s in self.app.state.invoices[hub_id]["states"]]

    def test_pull_60_invoices_over_3_pages_and_2_entities(self):
        state = self.app.state
        ids = []
        for n in range(60):
            lines = [
                ("Servei de neteja", 2, 50.0, 21.0),
                ("Llibres", 1, 30.0, 4.0),
                ("Menjador", 1, 20.0, 10.0),
            ]
            ids.append(
                state.seed_invoice(
                    nif=ENTITY_A if n % 2 == 0 else ENTITY_B,
                    number=f"F26-{n:03d}",
                    lines=lines,
                    attachments=[("albara.pdf", b"%PDF-1.4 albara")] if n % 10 == 0 else (),
                )
            )
        self.pull()
        self.assertEqual(len(self.bills(self.company_a)), 30)
        self.assertEqual(len(self.bills(self.company_b)), 30)
        self.assertEqual(sorted(state.deliveries), sorted(ids))
        self.assertEqual(set(state.deliveries.values()), {1}, "each invoice DELIVERED once")
        self.assertFalse(state.pending_for("rcf"))
        bill = self.bills().filtered(lambda b: b.ref == "F26-000")
        self.assertEqual(bill.company_id, self.company_a)
        self.assertEqual(bill.partner_id.vat, SUPPLIER_NIF)
        self.assertAlmostEqual(bill.amount_total, 174.2, places=2)  # 100 + 21 + 30 + 1.2 + 20 + 2
        self.assertFalse(bill.l10n_efact_aoc_import_warning)
        attachments = self.env["ir.attachment"].search([("res_model", "=", "account.move"), ("res_id", "=", bill.id)])
        self.assertIn("albara.pdf", attachments.mapped("name"))
        self.assertEqual(len(self.bills().partner_id), 1, "one supplier, created once")
        # registry on creation: ANNOTATED with a number of the company's sequence
        doc = bill.l10n_efact_aoc_document_id
        self.assertEqual(doc.hub_state, "annotated")
        self.assertTrue(doc.rcf_number.startswith("RCF/"))
        self.assertEqual(self.hub_states(doc.hub_id)[-2:], ["DELIVERED", "ANNOTATED"])
        self.assertEqual(state.invoices[doc.hub_id]["rcf_number"], doc.rcf_number)

    def test_crash_half_way_then_rerun_creates_no_duplicate(self):
        ids = [self.app.state.seed_invoice(nif=ENTITY_A, number=f"C{n}") for n in range(30)]
        # DELIVERED of the 21st fails after its bill was stored: the run stops there (page 2 untouched)
        self.injector.inject(
            "status",
            status=500,
            path=f"/rcf/factura/{ids[20]}",
            method="PATCH",
            times=2,
        )
        self.pull()
        self.assertEqual(len(self.bills()), 25)
        self.assertEqual(len(self.app.state.deliveries), 24)
        self.assertNotIn(ids[20], self.app.state.deliveries)
        self.pull()
        self.assertEqual(len(self.bills()), 30)
        self.assertEqual(sorted(self.app.state.deliveries), sorted(ids))
        self.assertEqual(set(self.app.state.deliveries.values()), {1})
        self.assertEqual(len(self.env["l10n_efact_aoc.document"].search([("hub_id", "in", ids)])), 30)

    def test_inbox_stores_the_delivery_and_links_the_bill(self):
        hub_id = self.app.state.seed_invoice(
            nif=ENTITY_A, number="IN-1", attachments=[("albara.pdf", b"%PDF-1.4 albara")]
        )
        self.pull()
        row = self.env["l10n_efact_aoc.inbox"].search([("hub_id", "=", hub_id)])
        self.assertEqual(row.state, "processed")
        self.assertTrue(row.delivered)
        self.assertEqual(row.company_id, self.company_a)
        self.assertEqual(row.number, "IN-1")
        self.assertEqual(row.receiver_nif, ENTITY_A)
        self.assertEqual(row.supplier_nif, SUPPLIER_NIF)
        facturae = self.app.state.invoices[hub_id]["facturae"]
        self.assertEqual(row.attachment_id.raw, facturae)
        self.assertEqual(row.sha256, hashlib.sha256(facturae).hexdigest())
        self.assertEqual(row.attachment_ids.mapped("name"), ["albara.pdf"])
        self.assertEqual(row.move_id, self.bills())
        self.assertEqual(row.move_id.l10n_efact_aoc_hub_id, hub_id)
        # the background downloads are logged against the inbox row
        exchanges = self.env["einvoice.exchange"].sudo().search(row._einvoice_exchange_domain())
        operations = set(exchanges.mapped("operation"))
        self.assertTrue({"efact.rcf.invoice", "efact.rcf.facturae", "efact.rcf.attachment"} <= operations, operations)
        self.assertIn("efact.rcf.state.delivered", operations)
        self.assertEqual(self.app.state.deliveries[hub_id], 1)

    def test_crash_between_storing_and_processing_loses_nothing(self):
        ids = [self.app.state.seed_invoice(nif=ENTITY_A, number=f"K{n}") for n in range(5)]
        Inbox = self.registry["l10n_efact_aoc.inbox"]

        class Killed(Exception):
            pass

        killed = False
        with patch.object(Inbox, "_l10n_efact_aoc_process", side_effect=Killed):
            try:  # not assertRaises: it rolls back to a savepoint, i.e. what a commit would have kept
                self.Move._l10n_efact_aoc_pull_invoices(self.credential)
            except Killed:
                killed = True
        self.assertTrue(killed)
        claimed = self.env["l10n_efact_aoc.inbox"].search([("hub_id", "in", ids)])
        self.assertEqual(len(claimed), 5, "the page's rows are created (claimable) before any download")
        self.assertEqual(len(claimed.filtered("attachment_id")), 5, "the batch was stored before the crash")
        self.assertEqual(claimed.mapped("state"), ["received"] * 5)
        self.assertTrue(all(claimed.mapped("attachment_id.raw")))
        self.assertFalse(self.bills())
        self.assertFalse(self.app.state.deliveries, "not DELIVERED before the bill exists")
        downloads = {hub_id: self.injector.calls_to(f"/rcf/factura/{hub_id}/facturae", "GET") for hub_id in ids}
        self.assertEqual(set(downloads.values()), {1})
        # the processing cron finishes what was stored and reports it
        self.env["l10n_efact_aoc.inbox"]._cron_l10n_efact_aoc_process()
        self.assertEqual(claimed.mapped("state"), ["processed"] * 5)
        self.assertEqual(len(self.bills()), 5)
        self.assertEqual(self.app.state.deliveries, dict.fromkeys(ids, 1))
        # the next pull finds nothing pending, downloads nothing again and duplicates nothing
        self.pull()
        self.assertEqual({h: self.injector.calls_to(f"/rcf/factura/{h}/facturae", "GET") for h in ids}, downloads)
        self.assertEqual(len(self.bills()), 5)
        self.assertEqual(set(self.app.state.deliveries.values()), {1})
        self.assertEqual(len(self.env["l10n_efact_aoc.inbox"].search([("hub_id", "in", ids)])), 5)

    def test_stored_delivery_is_processed_by_the_next_pull_and_skip_locked(self):
        hub_id = self.app.state.seed_invoice(nif=ENTITY_A, number="SL-1")
        Inbox = self.registry["l10n_efact_aoc.inbox"]
        claim = Inbox._l10n_efact_aoc_lock_where

        def held_elsewhere(self, condition):  # the row lock before processing is taken by another worker
            return self.browse() if condition.code.startswith("id IN") else claim(self, condition)

        # another worker holds the row: this run stores it, leaves it alone and reports nothing
        with patch.object(Inbox, "_l10n_efact_aoc_lock_where", held_elsewhere):
            self.pull()
        row = self.env["l10n_efact_aoc.inbox"].search([("hub_id", "=", hub_id)])
        self.assertEqual(row.state, "received")
        self.assertFalse(self.bills())
        self.assertFalse(self.app.state.deliveries)
        self.pull()
        self.assertEqual(row.state, "processed")
        self.assertEqual(len(self.bills()), 1)
        self.assertEqual(self.app.state.deliveries, {hub_id: 1})

    def test_failed_download_is_kept_and_downloaded_again(self):
        ids = [self.app.state.seed_invoice(nif=ENTITY_A, number=f"DF{n}") for n in range(3)]
        self.injector.inject("status", status=404, path=f"/rcf/factura/{ids[1]}/facturae", method="GET", times=1)
        self.pull()
        rows = self.env["l10n_efact_aoc.inbox"].search([("hub_id", "in", ids)])
        by_hub = {r.hub_id: r for r in rows}
        self.assertEqual(by_hub[ids[1]].state, "error")
        self.assertFalse(by_hub[ids[1]].attachment_id)
        self.assertIn("404", by_hub[ids[1]].reason)
        self.assertEqual(sorted(self.app.state.deliveries), sorted([ids[0], ids[2]]))
        exchanges = self.env["einvoice.exchange"].sudo().search(by_hub[ids[1]]._einvoice_exchange_domain())
        self.assertIn(404, exchanges.mapped("status_code"), "the failed download is logged on the row")
        with self.assertRaises(UserError):
            by_hub[ids[1]].action_l10n_efact_aoc_process_again()
        self.pull()
        self.assertEqual(by_hub[ids[1]].state, "processed")
        self.assertTrue(by_hub[ids[1]].attachment_id)
        self.assertEqual(len(self.bills()), 3)
        self.assertEqual(set(self.app.state.deliveries.values()), {1})
        self.assertEqual(len(self.env["l10n_efact_aoc.inbox"].search([("hub_id", "in", ids)])), 3)

    def test_delivered_accepted_but_our_commit_lost(self):
        hub_id = self.app.state.seed_invoice(nif=ENTITY_A, number="DL-1")
        self.pull()
        row = self.env["l10n_efact_aoc.inbox"].search([("hub_id", "=", hub_id)])
        self.assertEqual(self.app.state.deliveries, {hub_id: 1})
        # as if the commit after DELIVERED had been lost: the hub says DELIVERED, we do not know it
        row.sudo().delivered = False
        self.env["l10n_efact_aoc.inbox"]._cron_l10n_efact_aoc_process()
        self.assertTrue(row.delivered, "reconciled with the hub's state")
        self.assertEqual(self.app.state.deliveries, {hub_id: 1}, "DELIVERED not sent twice")

    def test_process_again_after_fixing_the_cause(self):
        hub_id = self.app.state.seed_invoice(nif=ENTITY_A, number="PA-1")
        journal = self.company_a.l10n_efact_aoc_purchase_journal_id
        self.company_a.l10n_efact_aoc_purchase_journal_id = False
        with patch.object(
            self.registry["res.company"], "_l10n_efact_aoc_purchase_journal", lambda self: self.env["account.journal"]
        ):
            self.pull()
        row = self.env["l10n_efact_aoc.inbox"].search([("hub_id", "=", hub_id)])
        self.assertEqual(row.state, "error")
        self.assertIn("purchase journal", row.reason)
        self.assertFalse(self.app.state.deliveries)
        self.company_a.l10n_efact_aoc_purchase_journal_id = journal
        row.action_l10n_efact_aoc_process_again()
        self.assertEqual(row.state, "processed")
        self.assertTrue(row.move_id)
        self.assertEqual(self.app.state.deliveries, {hub_id: 1})
        with self.assertRaises(UserError):
            row.action_l10n_efact_aoc_process_again()

    def test_shared_connection_lists_per_company_and_logs_against_the_company_served(self):
        """Issue 13 item 5: one pending list per company NIF, each exchange belongs to its company."""
        hub_a = self.app.state.seed_invoice(nif=ENTITY_A, number="SH-A", attachments=[("a.pdf", b"%PDF-1.4 a")])
        hub_b = self.app.state.seed_invoice(nif=ENTITY_B, number="SH-B")
        self.pull()
        self.assertEqual(self.bills(self.company_a).ref, "SH-A")
        self.assertEqual(self.bills(self.company_b).ref, "SH-B")
        Exchange = self.env["einvoice.exchange"].sudo()
        lists = Exchange.search([("credential_id", "=", self.credential.id), ("operation", "=", "efact.rcf.pending")])
        self.assertEqual(sorted(lists.mapped("company_id.name")), sorted([self.company_a.name, self.company_b.name]))
        for company, own, other in ((self.company_a, hub_a, hub_b), (self.company_b, hub_b, hub_a)):
            answers = "".join(lists.filtered(lambda x, c=company: x.company_id == c).mapped("response_body"))
            self.assertIn(own, answers, "each company's list names its own invoices ...")
            self.assertNotIn(other, answers, "... and none of the other company's")
        for hub_id, company in ((hub_a, self.company_a), (hub_b, self.company_b)):
            calls = Exchange.search([("credential_id", "=", self.credential.id), ("reference", "=", hub_id)])
            self.assertTrue(calls)
            self.assertEqual(calls.company_id, company, "every call about an invoice belongs to its company")
        user_b = self._billing_user(self.company_b)
        visible = Exchange.with_user(user_b).sudo(False).search([("credential_id", "=", self.credential.id)])
        self.assertNotIn(self.company_a, visible.company_id, "company B sees none of company A's exchanges")

    def test_an_answer_naming_another_nif_stores_nothing_on_the_company_asked_for(self):
        """Issue 13 item 5: a hub that ignores the NIF filter cannot get B's invoice stored as A's."""
        hub_b = self.app.state.seed_invoice(nif=ENTITY_B, number="NF-B")
        original = self.app.state.pending_for

        def ignore_filter(user, nif=None, oficina=None):
            return original(user, None, oficina)

        with patch.object(self.app.state, "pending_for", ignore_filter):
            self.pull()
        rows = self.env["l10n_efact_aoc.inbox"].search([("hub_id", "=", hub_b)])
        self.assertEqual(rows.company_id, self.company_b, "stored once, for the company owning the NIF")
        self.assertEqual(self.bills().company_id, self.company_b)
        self.assertEqual(self.app.state.deliveries, {hub_b: 1})

    def test_pull_filters_from_the_settings(self):
        self.app.state.seed_invoice(nif=ENTITY_A, number="FA-1")
        self.app.state.seed_invoice(nif=ENTITY_B, number="FB-1")
        self.credential.l10n_efact_aoc_filter_nif = ENTITY_B
        self.pull()
        self.assertEqual(self.bills().mapped("company_id"), self.company_b)
        self.credential.l10n_efact_aoc_filter_nif = False
        self.pull()
        self.assertEqual(len(self.bills()), 2)

    def test_service_errors_are_shown_in_the_user_language(self):
        self.env["res.lang"]._activate_lang("ca_ES")
        text = efact_errors.message(1012, efact_errors.RCF, "Invalid signature", with_code=False)
        exc = common_errors.AuthError(text, code="1012")
        catalan = efact_error_text(self.env(context=dict(self.env.context, lang="ca_ES")), exc)
        self.assertEqual(
            catalan,
            "[1012] La clau secreta no és vàlida. Reviseu l'usuari i la clau secreta d'eFACT a Configuració > "
            "Facturació > Facturació electrònica. (eFACT: Invalid signature)",
        )
        english = efact_error_text(self.env(context=dict(self.env.context, lang="en_US")), exc)
        self.assertEqual(english, str(exc))
        # through the cron: the connection's last error is in the language of the user running it
        self.credential.secret_key = "wrong"
        self.app.state.seed_invoice(nif=ENTITY_A)
        self.Move.with_context(lang="ca_ES")._cron_l10n_efact_aoc_pull_invoices()
        self.assertIn("La clau secreta no és vàlida.", self.credential.last_error)

    def test_received_facturae_is_checked_against_the_schema(self):
        base = dict(
            seller_nif=SUPPLIER_NIF,
            seller_name="Prov",
            buyer_nif=ENTITY_A,
            buyer_name="Aj",
            issue_date="2026-11-02",
            centres=list(zip(("01", "02", "03"), DIR3_A, strict=True)),
        )
        good = documents.build_sample_facturae(number="X1", **base)
        self.assertFalse(documents.validate_facturae(good))
        # still well-formed, signed and with matching totals, but an element the schema does not allow
        bad = good.replace(b"<InvoiceNumber>", b"<Nonsense>1</Nonsense><InvoiceNumber>", 1)
        self.assertNotEqual(bad, good)
        hub_id = self.app.state.seed_invoice(nif=ENTITY_A, number="X1", facturae=bad, amount=121.0)
        self.pull()
        row = self.env["l10n_efact_aoc.inbox"].search([("hub_id", "=", hub_id)])
        self.assertEqual(row.state, "rejected")
        self.assertIn("Facturae 3.2.2 schema", row.reason)
        self.assertIn("Nonsense", row.reason)
        self.assertFalse(self.bills())
        self.assertFalse(self.app.state.deliveries)

    def test_pull_filters_are_set_in_the_settings(self):
        self.app.state.seed_invoice(nif=ENTITY_A, number="OF-1")  # office DIR3_A[0]
        self.app.state.seed_invoice(nif=ENTITY_B, number="OF-2")  # office DIR3_B[0]
        settings = self.env["res.config.settings"].with_company(self.company_a).create({})
        self.assertEqual(settings.l10n_efact_aoc_credential_id, self.credential)
        settings.write({"l10n_efact_aoc_role_rcf": True, "l10n_efact_aoc_filter_oficina": DIR3_B[0]})
        settings.set_values()
        self.assertEqual(self.credential.l10n_efact_aoc_filter_oficina, DIR3_B[0])
        self.assertFalse(self.credential.l10n_efact_aoc_filter_nif)
        self.pull()
        self.assertEqual(self.bills().mapped("ref"), ["OF-2"])
        self.assertEqual(
            self.env["res.config.settings"].with_company(self.company_a).create({}).l10n_efact_aoc_filter_oficina,
            DIR3_B[0],
        )

    def _one_bill(self, **kw):
        hub_id = self.app.state.seed_invoice(nif=ENTITY_A, **kw)
        self.pull()
        return hub_id, self.bills().filtered(lambda b: b.l10n_efact_aoc_hub_id == hub_id)

    def test_life_cycle_post_pay_reports_recognised_and_paid_with_date(self):
        hub_id, bill = self._one_bill(number="LC-1")
        self.assertEqual(bill.state, "draft")
        bill.action_post()
        self.env["l10n_efact_aoc.report"]._cron_l10n_efact_aoc_send_reports()
        self.assertEqual(self.hub_states(hub_id)[-1], "RECOGNISED")
        self.env["account.payment.register"].with_context(active_model="account.move", active_ids=bill.ids).create(
            {"payment_date": "2026-11-15"}
        )._create_payments()
        self.assertIn(bill.payment_state, ("paid", "in_payment"))
        self.env["l10n_efact_aoc.report"]._cron_l10n_efact_aoc_send_reports()
        self.assertEqual(
            self.hub_states(hub_id),
            ["SENT", "REGISTERED", "DELIVERED", "ANNOTATED", "RECOGNISED", "PAID"],
        )
        self.assertEqual(self.app.state.invoices[hub_id]["states"][-1]["dataPagament"], "2026-11-15")
        self.assertEqual(bill.l10n_efact_aoc_state, "paid")
        with self.assertRaisesRegex(UserError, "paid"):
            self.env["l10n_efact_aoc.reject.wizard"].create(
                {"move_id": bill.id, "reject_reason": "too late"}
            ).action_reject()

    def test_reject_through_wizard(self):
        hub_id, bill = self._one_bill(number="RJ-1")
        wizard = self.env["l10n_efact_aoc.reject.wizard"].create(
            {
                "move_id": bill.id,
                "reject_code": "E01",
                "reject_reason": "Falta el número d'expedient",
            }
        )
        wizard.action_reject()
        self.env["l10n_efact_aoc.report"]._cron_l10n_efact_aoc_send_reports()
        last = self.app.state.invoices[hub_id]["states"][-1]
        self.assertEqual(last["codi"], "REJECTED")
        self.assertEqual(
            last["motiuRebuig"],
            {"codi": "E01", "descripcio": "Falta el número d'expedient"},
        )
        self.assertEqual(bill.state, "cancel")
        self.assertEqual(bill.l10n_efact_aoc_state, "rejected")
        # the supplier corrects it and sends it again: new hub id, new bill
        hub_2, bill_2 = self._one_bill(number="RJ-1")
        self.assertNotEqual(hub_2, hub_id)
        self.assertTrue(bill_2)
        self.assertNotEqual(bill_2, bill)

    def test_registry_on_button_and_order_enforced(self):
        self.company_a.l10n_efact_aoc_registry_mode = "button"
        hub_id, bill = self._one_bill(number="BT-1")
        self.assertEqual(self.hub_states(hub_id)[-1], "DELIVERED")
        bill.action_l10n_efact_aoc_report_received()
        bill.action_post()  # RECOGNISED cannot overtake ANNOTATED
        self.env["l10n_efact_aoc.report"]._cron_l10n_efact_aoc_send_reports()
        self.assertEqual(
            self.hub_states(hub_id)[2:],
            ["DELIVERED", "ANNOTATED", "RECEIVED", "RECOGNISED"],
        )
        doc = bill.l10n_efact_aoc_document_id
        self.assertEqual(doc.report_ids.mapped("status"), ["done"] * 3)
        self.assertEqual(doc.hub_state, "recognised")
        states = doc.history_ids.mapped("code")
        self.assertIn("ANNOTATED", states)

    def test_reports_are_retried_until_accepted(self):
        hub_id, bill = self._one_bill(number="RT-1")
        self.injector.inject("status", status=503, path=f"/rcf/factura/{hub_id}", method="PATCH", times=1)
        bill.action_post()
        self.env["l10n_efact_aoc.report"]._cron_l10n_efact_aoc_send_reports()
        report = bill.l10n_efact_aoc_document_id.report_ids.filtered(lambda r: r.state == "RECOGNISED")
        self.assertEqual(report.status, "pending")
        self.env["l10n_efact_aoc.report"]._cron_l10n_efact_aoc_send_reports()
        self.assertEqual(report.status, "done")
        self.assertEqual(self.hub_states(hub_id).count("RECOGNISED"), 1)

    def test_ftp_bill_is_linked_not_duplicated(self):
        partner = self.env["res.partner"].create({"name": "Proveïdor FTP", "vat": SUPPLIER_NIF, "is_company": True})
        existing = self.Move.create(
            {
                "move_type": "in_invoice",
                "partner_id": partner.id,
                "ref": "FTP-1",
                "invoice_date": "2026-11-02",
                "company_id": self.company_a.id,
                "invoice_line_ids": [
                    Command.create(
                        {
                            "name": "x",
                            "price_unit": 100.0,
                            "tax_ids": [Command.set(self.tax_purchase_a.ids)],
                        }
                    )
                ],
            }
        )
        amount = existing.amount_total
        hub_id = self.app.state.seed_invoice(nif=ENTITY_A, number="FTP-1", lines=(("x", 1, 100.0, 21.0),))
        self.assertEqual(self.app.state.invoices[hub_id]["import"], amount)
        self.pull()
        self.assertEqual(existing.l10n_efact_aoc_hub_id, hub_id)
        self.assertEqual(
            self.Move.search_count([("ref", "=", "FTP-1"), ("move_type", "=", "in_invoice")]),
            1,
        )
        self.assertEqual(self.app.state.deliveries[hub_id], 1)

    def test_link_by_hand_then_report(self):
        hub_id = self.app.state.seed_invoice(nif=ENTITY_A, number="OLD-1")
        self.app.state.invoices[hub_id]["downloaded"] = True  # delivered by the FTP integration
        bill = self.init_invoice("in_invoice", amounts=[100.0], company=self.company_a, post=True)
        self.env["l10n_efact_aoc.link.wizard"].create({"move_id": bill.id, "hub_id": hub_id}).action_link()
        self.assertEqual(bill.l10n_efact_aoc_hub_id, hub_id)
        self.env["l10n_efact_aoc.report"]._cron_l10n_efact_aoc_send_reports()
        self.assertEqual(self.hub_states(hub_id)[-2:], ["ANNOTATED", "RECOGNISED"])
        with self.assertRaisesRegex(UserError, "already linked"):
            other = self.init_invoice("in_invoice", amounts=[5.0], company=self.company_a)
            self.env["l10n_efact_aoc.link.wizard"].create({"move_id": other.id, "hub_id": hub_id}).action_link()

    def test_late_attachments(self):
        hub_id, bill = self._one_bill(number="AT-1")
        att_id = self.app.state.add_attachment(hub_id, "certificat.pdf", b"%PDF-1.4 certificat")
        self.pull()
        self.assertFalse(self.app.state.late_attachments)
        names = (
            self.env["ir.attachment"]
            .search([("res_model", "=", "account.move"), ("res_id", "=", bill.id)])
            .mapped("name")
        )
        self.assertIn("certificat.pdf", names)
        self.assertTrue(att_id)

    def test_empty_late_attachment_is_said_on_the_bill(self):
        hub_id, bill = self._one_bill(number="AT-0")
        self.app.state.add_attachment(hub_id, "buit.pdf", b"")
        self.pull()
        self.assertTrue(self._bill_attachments(bill, "buit.pdf"), "kept, as eFACT sent it")
        notes = bill.message_ids.filtered(lambda m: "buit.pdf" in (m.body or ""))
        self.assertIn("empty (0 bytes)", notes.body)
        self.assertFalse(self.app.state.late_attachments)

    def _bill_attachments(self, bill, name):
        return self.env["ir.attachment"].search(
            [("res_model", "=", "account.move"), ("res_id", "=", bill.id), ("name", "=", name)]
        )

    def test_late_attachment_is_stored_first_and_survives_a_crash(self):
        hub_id, bill = self._one_bill(number="AT-2")
        att_id = self.app.state.add_attachment(hub_id, "acta.pdf", b"%PDF-1.4 acta")
        Move = type(self.Move)
        with (
            patch.object(Move, "_l10n_efact_aoc_store_attachment", side_effect=RuntimeError("crash")),
            self.assertRaisesRegex(RuntimeError, "crash"),
        ):
            self.Move._l10n_efact_aoc_pull_attachments(self.credential)
        # stored against the inbox row of its invoice, still pending on eFACT, not on the bill yet
        inbox = self.env["l10n_efact_aoc.inbox"].search([("hub_id", "=", hub_id)])
        stored = inbox.attachment_ids.filtered(lambda a: a.description == f"efact:{att_id}")
        self.assertEqual(stored.raw, b"%PDF-1.4 acta")
        self.assertIn(att_id, self.app.state.late_attachments)
        self.assertFalse(self._bill_attachments(bill, "acta.pdf"))
        # the next run attaches the stored file once (no second download) and then deletes it on eFACT
        self.app.state.attachments[att_id]["content"] = b"changed on the hub"
        self.pull()
        self.pull()
        attached = self._bill_attachments(bill, "acta.pdf")
        self.assertEqual(len(attached), 1)
        self.assertEqual(attached.raw, b"%PDF-1.4 acta")
        self.assertNotIn(att_id, self.app.state.late_attachments)

    def test_late_attachment_of_an_unknown_invoice_is_kept(self):
        hub_id = self.app.state.seed_invoice(nif=ENTITY_A, number="AT-3")
        att_id = self.app.state.add_attachment(hub_id, "annex.pdf", b"%PDF-1.4 annex")
        self.Move._l10n_efact_aoc_pull_attachments(self.credential)
        inbox = self.env["l10n_efact_aoc.inbox"].search([("hub_id", "=", hub_id)])
        self.assertEqual(len(inbox), 1)
        self.assertEqual(inbox.state, "received")
        self.assertFalse(inbox.attachment_id)
        self.assertEqual(inbox.attachment_ids.mapped("name"), ["annex.pdf"])
        self.assertIn(att_id, self.app.state.late_attachments)  # not deleted on eFACT
        self.env["l10n_efact_aoc.inbox"]._cron_l10n_efact_aoc_process()  # nothing to process yet
        self.assertEqual(inbox.state, "received")
        # the invoice arrives: one bill with the attachment once, then it is deleted on eFACT
        self.pull()
        self.assertEqual(inbox.state, "processed")
        bill = inbox.move_id
        self.assertEqual(len(self._bill_attachments(bill, "annex.pdf")), 1)
        self.assertNotIn(att_id, self.app.state.late_attachments)
        self.assertEqual(self.env["l10n_efact_aoc.inbox"].search_count([("hub_id", "=", hub_id)]), 1)

    def test_inbox_retention_deletes_only_old_done_rows_whose_bill_has_the_files(self):
        Inbox = self.env["l10n_efact_aoc.inbox"]
        hub_old, bill_old = self._one_bill(number="RT-1", attachments=[("albara.pdf", b"%PDF-1.4 albara")])
        hub_kept, bill_kept = self._one_bill(number="RT-2", attachments=[("acta.pdf", b"%PDF-1.4 acta")])
        hub_new, _bill_new = self._one_bill(number="RT-3")
        old = Inbox.search([("hub_id", "=", hub_old)])
        kept = Inbox.search([("hub_id", "=", hub_kept)])
        new = Inbox.search([("hub_id", "=", hub_new)])
        self.assertEqual((old | kept | new).mapped("state"), ["processed"] * 3)
        self.assertTrue(all((old | kept | new).mapped("delivered")))
        # the bill lost a file the row stored: the row keeps it
        self.env["ir.attachment"].search(
            [("res_model", "=", "account.move"), ("res_id", "=", bill_kept.id), ("name", "=", "acta.pdf")]
        ).unlink()
        System = Inbox.sudo()  # rows are the system's
        failed = System.create(
            {"company_id": self.company_a.id, "hub_id": "RT-ERR", "state": "error", "move_id": bill_old.id}
        )
        received = System.create({"company_id": self.company_a.id, "hub_id": "RT-REC", "move_id": bill_old.id})
        rejected = System.create({"company_id": self.company_a.id, "hub_id": "RT-REJ", "state": "rejected"})
        self.env["ir.config_parameter"].sudo().set_param("l10n_efact_aoc.inbox_retention_days", "30")
        aged = old | kept | failed | received | rejected
        self.env.cr.execute(
            "UPDATE l10n_efact_aoc_inbox SET create_date = now() - interval '31 days' WHERE id IN %s",
            [tuple(aged.ids)],
        )
        aged.invalidate_recordset()
        stored_old = old.attachment_id | old.attachment_ids
        self.assertTrue(stored_old)
        Inbox._cron_l10n_efact_aoc_inbox_retention()
        self.assertFalse(old.exists())
        self.assertFalse(stored_old.exists())
        self.assertEqual(
            (kept | new | failed | received | rejected).exists(), kept | new | failed | received | rejected
        )
        # the bill keeps its Facturae and attachment
        names = (
            self.env["ir.attachment"]
            .search([("res_model", "=", "account.move"), ("res_id", "=", bill_old.id)])
            .mapped("name")
        )
        self.assertIn("albara.pdf", names)
        self.assertTrue(any(name.endswith(".xml") for name in names))
        # 0 keeps everything
        self.env["ir.config_parameter"].sudo().set_param("l10n_efact_aoc.inbox_retention_days", "0")
        self.env.cr.execute("UPDATE l10n_efact_aoc_inbox SET create_date = now() - interval '5000 days'")
        Inbox.invalidate_model()
        Inbox._cron_l10n_efact_aoc_inbox_retention()
        self.assertEqual((kept | new).exists(), kept | new)

    def test_bad_input_is_not_delivered(self):
        state = self.app.state
        base = dict(
            seller_nif=SUPPLIER_NIF,
            seller_name="Prov",
            buyer_nif=ENTITY_A,
            buyer_name="Aj",
            issue_date="2026-11-02",
            centres=list(zip(("01", "02", "03"), DIR3_A, strict=True)),
        )
        unsigned = state.seed_invoice(
            nif=ENTITY_A,
            facturae=documents.build_sample_facturae(number="U1", signed=False, **base),
        )
        doctype = state.seed_invoice(
            nif=ENTITY_A,
            amount=121.0,
            facturae=(b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "boom">]><x>&e;</x>'),
        )
        mismatch = state.seed_invoice(nif=ENTITY_A, number="M1", amount=999.0)
        garbage = state.seed_invoice(nif=ENTITY_A, amount=1.0, facturae=b"<html>oops")
        state.users["rcf"]["nifs"].append("ESP0800009B")
        state.add_entity("ESP0800009B", "Entitat sense empresa")
        orphan = state.seed_invoice(nif="ESP0800009B", number="O1")
        try:
            self.pull()
        finally:
            state.users["rcf"]["nifs"].remove("ESP0800009B")
        self.assertFalse(self.bills())
        self.assertFalse(state.deliveries, "eFACT is not told DELIVERED for bad input")
        self.assertFalse(self.env["l10n_efact_aoc.document"].search([("direction", "=", "in")]), "nothing half-created")
        rows = self.env["l10n_efact_aoc.inbox"].search([])
        by_hub = {r.hub_id: r for r in rows}
        self.assertIn("not signed", by_hub[unsigned].reason)
        self.assertIn("DOCTYPE", by_hub[doctype].reason)
        self.assertIn("does not match", by_hub[mismatch].reason)
        self.assertTrue(by_hub[garbage].reason)
        self.assertNotIn(orphan, by_hub, "an entity no company of the connection has: not even listed for it")
        self.assertEqual({r.state for r in rows}, {"rejected"})
        self.assertTrue(
            all(r.attachment_id.raw == state.invoices[r.hub_id]["facturae"] for r in rows), "stored as received"
        )
        self.assertEqual(len(state.pending_for("rcf")), 4)
        self.assertFalse(state.invoices[orphan]["downloaded"])
        downloads = self.injector.calls_to(f"/rcf/factura/{unsigned}/facturae", "GET")
        # a second run retries them from the stored file without downloading or creating anything twice
        self.pull()
        self.assertEqual(self.injector.calls_to(f"/rcf/factura/{unsigned}/facturae", "GET"), downloads)
        self.assertEqual(len(self.env["l10n_efact_aoc.inbox"].search([])), 4)
        self.assertEqual(by_hub[unsigned].attempts, 2)
        self.assertFalse(self.bills())

    def test_new_supplier_is_flagged_for_review(self):
        hub_id, bill = self._one_bill(number="NS-1", supplier_nif="ESA58818501", supplier_name="Nou Proveïdor SA")
        self.assertEqual(bill.partner_id.name, "Nou Proveïdor SA")
        self.assertIn("review", bill.activity_ids.summary)
        self.assertTrue(hub_id)

    def test_duplicate_hub_id_is_refused(self):
        hub_id, bill = self._one_bill(number="DUP-1")
        with (
            self.assertRaises(IntegrityError),
            self.cr.savepoint(),
            mute_logger("odoo.sql_db"),
        ):
            self.env["l10n_efact_aoc.document"].sudo().create(
                {
                    "direction": "in",
                    "company_id": self.company_a.id,
                    "hub_id": hub_id,
                    "hub_state": "registered",
                }
            )
        self.assertTrue(bill)

    def test_wrong_secret_key_creates_nothing(self):
        self.credential.secret_key = "wrong"
        self.app.state.seed_invoice(nif=ENTITY_A)
        self.pull()
        self.assertEqual(self.credential.state, "error")
        self.assertIn("1012", self.credential.last_error)
        self.assertFalse(self.bills())
        self.assertEqual(self.injector.calls_to("/rcf/factures-pendents", "GET"), 1)
        self.assertTrue(fields.Datetime.now())

    def test_credentials_refused_during_the_downloads_stop_the_batch_calls(self):
        ids = [self.app.state.seed_invoice(nif=ENTITY_A, number=f"AU-{n}") for n in range(20)]
        self.injector.inject("status", status=401, path="/rcf/factura/", method="GET")  # the first download
        self.pull()
        self.assertEqual(self.credential.state, "error")
        rows = self.env["l10n_efact_aoc.inbox"].search([("hub_id", "in", ids)])
        self.assertEqual(len(rows.filtered(lambda r: r.state == "error")), 1, "only the refused call marks its row")
        tried = self.injector.calls_to("/rcf/factura/", "GET")
        self.assertLess(tried, 2 * len(ids), "the calls not started when the refusal came are not made")
        self.assertFalse(self.bills())
        self.assertFalse(self.app.state.deliveries)
        # the key fixed: the next pull finishes, each Facturae downloaded once
        self.pull()
        self.assertEqual(len(self.bills()), 20)
        self.assertEqual(sorted(self.app.state.deliveries), sorted(ids))
        for hub_id in ids:
            self.assertEqual(self.injector.calls_to(f"/rcf/factura/{hub_id}/facturae", "GET"), 1)

    def test_test_connection_lists_entities_without_company(self):
        self.company_b.vat = "ESP0800003F"
        result = self.credential.action_l10n_efact_aoc_test_connection()
        self.assertEqual(result["params"]["type"], "warning")
        self.assertIn(ENTITY_B, result["params"]["message"])
        self.assertEqual(self.credential.state, "connected")
        self.company_b.vat = ENTITY_B
        result = self.credential.action_l10n_efact_aoc_test_connection()
        self.assertEqual(result["params"]["type"], "success")

    # -- rights (issue 13): the inbox and the state history are the system's ----------------------
    def _billing_user(self, company):
        return new_test_user(
            self.env,
            login=f"billing-{company.id}",
            groups="base.group_user,account.group_account_invoice",
            company_id=company.id,
            company_ids=[Command.set(company.ids)],
        )

    def test_billing_user_cannot_write_or_create_inbox_rows(self):
        hub_id, bill = self._one_bill(number="RW-1")
        row = self.env["l10n_efact_aoc.inbox"].search([("hub_id", "=", hub_id)])
        user = self._billing_user(self.company_a)
        foreign = self.env["ir.attachment"].create(
            {"name": "payroll.pdf", "raw": b"pay", "res_model": "res.partner", "res_id": self.company_b.partner_id.id}
        )
        as_user = row.with_user(user)
        self.assertEqual(as_user.state, "processed", "billing users read their company's inbox")
        for values in (
            {"attachment_ids": [Command.link(foreign.id)]},
            {"attachment_id": foreign.id},
            {"company_id": self.company_b.id},
            {"state": "received"},
        ):
            with self.assertRaises(AccessError), self.cr.savepoint():
                as_user.write(values)
        with self.assertRaises(AccessError), self.cr.savepoint():
            self.env["l10n_efact_aoc.inbox"].with_user(user).create({"company_id": self.company_a.id, "hub_id": "X"})
        with self.assertRaises(AccessError), self.cr.savepoint():
            self.env["ir.attachment"].with_user(user).create(
                {"name": "x.pdf", "raw": b"x", "res_model": row._name, "res_id": row.id}
            )
        self.assertTrue(bill)

    def test_process_again_checks_the_right_on_that_row_and_uses_only_its_own_files(self):
        hub_a = self.app.state.seed_invoice(nif=ENTITY_A, number="PR-A", attachments=[("albara.pdf", b"%PDF-1.4 a")])
        hub_b = self.app.state.seed_invoice(nif=ENTITY_B, number="PR-B")
        journal = self.company_a.l10n_efact_aoc_purchase_journal_id
        with patch.object(
            self.registry["res.company"], "_l10n_efact_aoc_purchase_journal", lambda self: self.env["account.journal"]
        ):
            self.pull()
        Inbox = self.env["l10n_efact_aoc.inbox"]
        row_a = Inbox.search([("hub_id", "=", hub_a)])
        row_b = Inbox.search([("hub_id", "=", hub_b)])
        self.assertEqual((row_a | row_b).mapped("state"), ["error", "error"])
        self.company_a.l10n_efact_aoc_purchase_journal_id = journal
        user = self._billing_user(self.company_a)
        # another company's row: refused before anything runs
        with self.assertRaises(AccessError):
            row_b.with_user(user).action_l10n_efact_aoc_process_again()
        self.assertEqual(row_b.state, "error")
        # a link to a file the system did not store for this row (e.g. written before rows were read-only)
        foreign = self.env["ir.attachment"].create(
            {"name": "payroll.pdf", "raw": b"pay", "res_model": "res.partner", "res_id": self.company_b.partner_id.id}
        )
        row_a.sudo().attachment_ids = [Command.link(foreign.id)]
        row_a.with_user(user).action_l10n_efact_aoc_process_again()
        self.assertEqual(row_a.state, "processed")
        names = (
            self.env["ir.attachment"]
            .search([("res_model", "=", "account.move"), ("res_id", "=", row_a.move_id.id)])
            .mapped("name")
        )
        self.assertIn("albara.pdf", names)
        self.assertNotIn("payroll.pdf", names, "only the files the system stored for the row reach the bill")
        self.assertEqual(self.app.state.deliveries, {hub_a: 1})
        # a user without the billing group cannot press it at all
        employee = new_test_user(self.env, login="employee-only", groups="base.group_user")
        with self.assertRaises(AccessError):
            row_a.with_user(employee).action_l10n_efact_aoc_process_again()

    def test_state_history_is_read_only_and_per_company(self):
        hub_a, bill_a = self._one_bill(number="HI-A")
        hub_b = self.app.state.seed_invoice(nif=ENTITY_B, number="HI-B")
        self.pull()
        Doc = self.env["l10n_efact_aoc.document"]
        history_a = Doc.search([("hub_id", "=", hub_a)]).history_ids
        history_b = Doc.search([("hub_id", "=", hub_b)]).history_ids
        self.assertTrue(history_a and history_b)
        self.assertEqual(history_b.company_id, self.company_b)
        user = self._billing_user(self.company_a)
        History = self.env["l10n_efact_aoc.history"].with_user(user)
        self.assertEqual(History.search([("id", "in", (history_a | history_b).ids)]), history_a.with_user(user))
        with self.assertRaises(AccessError), self.cr.savepoint():
            history_b.with_user(user).read(["code"])
        with self.assertRaises(AccessError), self.cr.savepoint():
            history_a.with_user(user).write({"code": "PAID"})
        with self.assertRaises(AccessError), self.cr.savepoint():
            History.create({"document_id": history_a.document_id[:1].id, "code": "PAID"})
        # what a billing user does still records history (as the system)
        bill_a.with_user(user).action_post()
        self.env["l10n_efact_aoc.report"]._cron_l10n_efact_aoc_send_reports()
        self.assertIn("RECOGNISED", Doc.search([("hub_id", "=", hub_a)]).history_ids.mapped("code"))

    def test_nothing_is_stored_on_a_row_for_another_nif(self):
        hub_id = self.app.state.seed_invoice(nif=ENTITY_A, number="NIF-1")
        RcfClient = type(self.credential._l10n_efact_aoc_rcf_client())
        original = RcfClient.get_invoice

        def other_nif(client, invoice_id):
            info = original(client, invoice_id)
            info.nif = ENTITY_B  # the hub's answer names another entity than its pending list
            return info

        with patch.object(RcfClient, "get_invoice", other_nif):
            self.pull()
        row = self.env["l10n_efact_aoc.inbox"].search([("hub_id", "=", hub_id)])
        self.assertEqual(row.company_id, self.company_a)
        self.assertEqual(row.state, "rejected")
        self.assertIn(ENTITY_B, row.reason)
        self.assertFalse(row.attachment_id | row.attachment_ids, "nothing of it stored")
        self.assertEqual(self.injector.calls_to(f"/rcf/factura/{hub_id}/facturae", "GET"), 0)
        self.assertFalse(self.bills())
        self.assertFalse(self.app.state.deliveries)

    # -- speed (issue 14): one create, one chatter entry, flat queries ---------------------------
    def test_received_bill_has_one_chatter_entry_and_no_core_attachment_notice(self):
        hub_id, bill = self._one_bill(
            number="CH-1",
            supplier_nif="ESA58818501",
            supplier_name="Proveïdor Nou SA",
            attachments=[("albara.pdf", b"%PDF-1.4 albara")],
        )
        messages = bill.message_ids.filtered(lambda m: m.message_type != "user_notification")
        self.assertEqual(len(messages), 1, messages.mapped("body"))
        body = messages.body
        self.assertIn(hub_id, body)
        self.assertIn("review it", body)
        self.assertIn("Registered in the accounting registry", body)
        self.assertNotIn("not updated from the attachment", body)
        self.assertEqual(messages.attachment_ids.mimetype, "application/xml")
        self.assertEqual(bill.invoice_line_ids.mapped("name"), ["Servei"])
        self.assertEqual(bill.ref, "CH-1")
        self.assertEqual(bill.invoice_date, fields.Date.to_date("2026-11-02"))
        self.assertAlmostEqual(bill.amount_total, 121.0)
        # a user who then drops the Facturae on the bill does not get core's "already contains lines" notice
        facturae = self.env["ir.attachment"].search(
            [("res_model", "=", "account.move"), ("res_id", "=", bill.id), ("mimetype", "=", "application/xml")]
        )
        bill.message_post(body="again", attachment_ids=facturae.copy().ids)
        self.assertFalse(
            bill.message_ids.filtered(lambda m: "not updated from the attachment" in (m.body or "")),
            "the received bill says nothing about core's attachment import",
        )

    def _pull_queries(self, count, prefix, chunk=5):
        """SQL queries per document of a pull of `count` invoices (half to each company) in batches of
        `chunk`, without the run's fixed part: the difference with a pull of one full batch per company
        (the pending list, the run's product/tax lookups). Whole batches on both sides: a batch's own
        fixed part (one create, one lock, one commit) is then shared by `chunk` documents in both."""
        totals = []
        for size in (2 * chunk, count):
            for n in range(size):
                self.app.state.seed_invoice(
                    nif=ENTITY_A if n % 2 else ENTITY_B,
                    number=f"{prefix}{size}-{n:03d}",
                    lines=[("Servei de neteja", 2, 50.0, 21.0), ("Llibres", 1, 30.0, 4.0)],
                )
            self.env.flush_all()
            before = self.cr.sql_log_count
            delivered, _refused = self.Move._l10n_efact_aoc_pull_invoices(self.credential, chunk=chunk)
            self.env.flush_all()
            self.assertEqual(len(delivered), size)
            totals.append(self.cr.sql_log_count - before)
        return (totals[1] - totals[0]) / (count - 2 * chunk)

    def test_queries_per_bill_are_flat_as_the_batch_grows(self):
        # the first bill of each company creates its registry sequence, the supplier...: not per document
        self.app.state.seed_invoice(nif=ENTITY_A, number="WARM-A")
        self.app.state.seed_invoice(nif=ENTITY_B, number="WARM-B")
        self.pull()
        small = self._pull_queries(20, "Q20-")  # 10 more documents
        large = self._pull_queries(110, "Q110-")  # 100 more documents
        self.assertLessEqual(abs(large - small), 2, f"{small:.1f} vs {large:.1f} queries per bill")
        self.assertLess(large, 70, "fewer queries per bill than core's Facturae import (71.8 in the bench)")

    def test_a_bill_failing_in_its_batch_fails_alone_and_the_others_land(self):
        ids = [self.app.state.seed_invoice(nif=ENTITY_A, number=f"BB-{n}") for n in range(5)]
        Move = self.registry["account.move"]
        created = Move._l10n_efact_aoc_bills_created
        batches = []

        def refuse_bb2(self, company, bills, prepared):
            batches.append(len(bills))
            if "BB-2" in bills.mapped("ref"):
                message = "BB-2 refused while its bill was created"
                raise UserError(message)
            return created(self, company, bills, prepared)

        with patch.object(Move, "_l10n_efact_aoc_bills_created", refuse_bb2):
            self.pull()
        self.assertEqual(batches, [5, 1, 1, 1, 1, 1], "one create for the batch, then one per bill")
        rows = {r.number: r for r in self.env["l10n_efact_aoc.inbox"].search([("hub_id", "in", ids)])}
        self.assertEqual(rows["BB-2"].state, "error")
        self.assertEqual(rows["BB-2"].reason, "BB-2 refused while its bill was created")
        self.assertFalse(rows["BB-2"].move_id)
        self.assertEqual(sorted(self.bills().mapped("ref")), ["BB-0", "BB-1", "BB-3", "BB-4"])
        self.assertEqual(sorted(self.app.state.deliveries), sorted(set(ids) - {rows["BB-2"].hub_id}))
        registry = self.bills().l10n_efact_aoc_document_ids.mapped("rcf_number")
        self.assertEqual(len(set(registry)), 4, "registry numbers only for the bills that landed")
        self.assertEqual(len(self.env["l10n_efact_aoc.document"].search([("hub_id", "in", ids)])), 4)
        # the cause fixed, processing again makes the fifth bill
        rows["BB-2"].action_l10n_efact_aoc_process_again()
        self.assertEqual(rows["BB-2"].state, "processed")
        self.assertEqual(len(self.bills()), 5)
        self.assertEqual(set(self.app.state.deliveries.values()), {1})
