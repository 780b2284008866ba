from odoo.tests import tagged
from odoo.tools import mute_logger

from .common import AnafCommon


@tagged("post_install", "post_install_l10n", "-at_install")
class TestAnafConcurrent(AnafCommon):
    """Uploads and downloads of a batch leave concurrently (models/l10n_ro_anaf_efactura_dispatch.py)."""

    def setUp(self):
        super().setUp()
        self.env["ir.config_parameter"].sudo().set_param("l10n_ro_anaf_efactura.concurrent_calls", 4)

    def make_invoices(self, count, first=1):
        moves = self.env["account.move"]
        for n in range(count):
            moves |= self.make_invoice(first + n)
        return moves

    def queue(self, moves):
        """What Send & Print of several invoices does: the attempts are left to the send cron."""
        self.env["account.move.send"]._call_web_service_after_invoice_pdf_render(
            {move: {"extra_edis": {"ro_edi"}} for move in moves}
        )

    def test_send_and_print_of_several_invoices_leaves_the_uploads_to_the_cron(self):
        moves = self.make_invoices(3)
        cron = self.env.ref("l10n_ro_anaf_efactura.ir_cron_l10n_ro_anaf_efactura_status")
        triggers = self.env["ir.cron.trigger"].search_count([("cron_id", "=", cron.id)])
        self.queue(moves)
        self.assertEqual(set(moves.mapped("l10n_ro_anaf_efactura_state")), {"sending"})
        self.assertFalse(self.app.state.uploads)  # the request did not wait for ANAF
        self.assertGreater(self.env["ir.cron.trigger"].search_count([("cron_id", "=", cron.id)]), triggers)
        self.run_status_cron(minutes=0)  # uploads, concurrently
        self.assertEqual(set(moves.mapped("l10n_ro_anaf_efactura_state")), {"sent"})
        self.run_status_cron()  # one list call, then the downloads, concurrently
        self.assertEqual(set(moves.mapped("l10n_ro_anaf_efactura_state")), {"ok"})
        self.assertEqual(len(self.app.state.uploads), 3)
        self.assertTrue(all(moves.l10n_ro_anaf_efactura_document_ids.mapped("zip_attachment_id")))
        # every call is in the exchange log, on its submission
        documents = moves.l10n_ro_anaf_efactura_document_ids
        exchanges = self.env["einvoice.exchange"].search(
            [("res_model", "=", documents._name), ("res_id", "in", documents.ids)]
        )
        for operation in ("upload", "download"):
            done = exchanges.filtered(lambda e, op=operation: e.operation == op)
            self.assertEqual(sorted(done.mapped("res_id")), sorted(documents.ids), operation)

    def test_one_invoice_from_send_and_print_is_still_uploaded_at_once(self):
        move = self.make_invoice(5)
        self.queue(move)
        self.assertEqual(move.l10n_ro_anaf_efactura_state, "sent")

    def test_lost_answers_during_concurrent_uploads_are_reconciled_never_sent_twice(self):
        moves = self.make_invoices(8, first=20)
        self.faults.inject("lost", path="/upload", method="POST", times=3)  # ANAF got them; we read nothing
        self.faults.inject("html", status=200, path="/upload", method="POST")  # a proxy's page: ANAF got nothing
        with mute_logger("odoo.addons.einvoice_common.models.einvoice_attempt"):
            moves.action_l10n_ro_anaf_efactura_send()
        states = moves.mapped("l10n_ro_anaf_efactura_state")
        self.assertEqual((states.count("unknown"), states.count("sent")), (4, 4))
        self.assertEqual(self.faults.calls_to("/upload", "POST"), 8)
        self.run_status_cron(minutes=5)  # reconciled against ANAF's list, the others concluded
        self.run_status_cron(minutes=5)
        unknown = moves.filtered(lambda m: m.l10n_ro_anaf_efactura_state == "unknown")
        self.assertEqual(len(unknown), 1)  # the one ANAF never got: not resent before the grace period
        self.assertFalse(self.uploads(unknown))
        self.assertEqual(self.faults.calls_to("/upload", "POST"), 8)
        self.run_status_cron(hours=25)  # ANAF's list proves it never arrived: the same bytes go again
        self.run_status_cron()
        self.assertEqual(set(moves.mapped("l10n_ro_anaf_efactura_state")), {"ok"})
        self.assertEqual(self.faults.calls_to("/upload", "POST"), 9)
        for move in moves:
            self.assertEqual(len(self.uploads(move)), 1, move.name)
            self.assertEqual(move.l10n_ro_anaf_efactura_index, self.uploads(move)[0].index)
        document = unknown.l10n_ro_anaf_efactura_document_ids
        self.assertEqual(len(document), 1)  # one attempt, sent twice with the same bytes
        self.assertEqual(document.attempts, 2)

    def test_a_refused_token_is_refreshed_once_and_the_batch_goes_out(self):
        self.app.state.expire_access_tokens()
        moves = self.make_invoices(4, first=40)
        moves.action_l10n_ro_anaf_efactura_send()
        self.assertEqual(set(moves.mapped("l10n_ro_anaf_efactura_state")), {"sent"})
        self.assertEqual(self.app.state.token_calls, ["refresh_token"])
        self.assertEqual(len(self.app.state.uploads), 4)

    def test_a_quota_reached_before_dispatch_sends_nothing_and_waits(self):
        self.env["ir.config_parameter"].sudo().set_param("l10n_ro_anaf_efactura.calls_per_minute", 2)
        moves = self.make_invoices(4, first=50)
        Limiter = type(self.env["einvoice.rate.limit"])
        acquire = Limiter._einvoice_acquire

        def no_wait(limiter, key, limit, window_s=60, max_wait=0.0, **kwargs):  # a test does not wait a minute
            return acquire(limiter, key, limit, window_s, max_wait=0.0, **kwargs)

        self.patch(Limiter, "_einvoice_acquire", no_wait)
        moves.action_l10n_ro_anaf_efactura_send()
        states = moves.mapped("l10n_ro_anaf_efactura_state")
        self.assertEqual(states.count("sent"), 2)
        self.assertEqual(states.count("waiting"), 2)
        self.assertEqual(len(self.app.state.uploads), 2)

    def queries_per_invoice(self, count, first):
        """SQL queries per invoice from the queued attempts to ANAF's final answer (both cron runs)."""
        moves = self.make_invoices(count, first=first)
        self.queue(moves)
        self.env.flush_all()
        before = self.env.cr.sql_log_count
        self.run_status_cron(minutes=0)  # uploads
        self.run_status_cron()  # one list call, the downloads, the conclusions
        self.env.flush_all()
        self.assertEqual(set(moves.mapped("l10n_ro_anaf_efactura_state")), {"ok"})
        return (self.env.cr.sql_log_count - before) / count

    def test_queries_per_invoice_stay_flat_from_10_to_100_invoices(self):
        self.queries_per_invoice(10, first=1)  # warm-up: Odoo's caches (parameters, xml ids, taxes) fill once
        small = self.queries_per_invoice(10, first=100)
        large = self.queries_per_invoice(100, first=200)
        # measured on 18.0: 23.7 and 22.2 (uploads about 14, answers about 8 per invoice)
        self.assertAlmostEqual(small, large, delta=2, msg=f"{small:.1f} vs {large:.1f} queries per invoice")
