import logging

from odoo import Command, fields
from odoo.tests import tagged
from odoo.tools import SQL

from ..anaf import quota
from ..models import einvoice_credential
from .common import SELLER, AnafCommon
from .test_anaf_receive import bill_xml

_logger = logging.getLogger(__name__)

# ANAF allows 1000 calls in any 60 s. The tests keep the rule and shorten the clock: the sandbox answers
# HTTP 429 beyond SANDBOX_LIMIT calls in any WINDOW seconds, and our limiter (einvoice_common's, in
# PostgreSQL) is configured 5 % below it, as it is below ANAF's 1000 in production. Unthrottled, Odoo
# downloads signed ZIPs at 0 ms faster than SANDBOX_LIMIT per WINDOW (48 in 2 s under a looser limit, on a loaded
# 2-core machine): the limiter has to hold them back.
WINDOW = 2
SANDBOX_LIMIT = 30
OUR_LIMIT = int(SANDBOX_LIMIT * quota.DAILY_MARGIN)


@tagged("post_install", "post_install_l10n", "-at_install")
class TestAnafRateLimit(AnafCommon):
    """Every request to ANAF (uploads, statuses, downloads after a final answer, lists, reconciliation,
    received bills, CIF checks) is counted by one limiter shared by every worker and server."""

    sandbox_options = {"per_minute": SANDBOX_LIMIT, "window": WINDOW}

    def setUp(self):
        super().setUp()
        self.patch(einvoice_credential, "RATE_WINDOW_S", WINDOW)
        self.env["ir.config_parameter"].sudo().set_param("l10n_ro_anaf_efactura.calls_per_minute", OUR_LIMIT)

    def counted(self):
        """Requests our limiter let through for ANAF's host (all of this test's, in its transaction)."""
        self.env.cr.execute(
            SQL(
                "SELECT COALESCE(SUM(count), 0) FROM einvoice_rate_limit WHERE key = %s",
                self.credential._l10n_ro_anaf_efactura_minute_key(),
            )
        )
        return self.env.cr.fetchone()[0]

    def used_today(self, operation, key):
        start, _end = quota.day_window(fields.Datetime.now())
        return self.env["einvoice.rate.limit"]._einvoice_used(f"anaf:{operation}:{key}", start)

    def make_invoices(self, count):
        line = {"name": "Servicii", "quantity": 1, "price_unit": 100.0, "tax_ids": [Command.set(self.tax_21.ids)]}
        moves = (
            self.env["account.move"]
            .with_company(self.company)
            .create(
                [
                    {
                        "move_type": "out_invoice",
                        "partner_id": self.partner_ro.id,
                        "invoice_date": fields.Date.today(),
                        "invoice_line_ids": [Command.create(dict(line, price_unit=100.0 + n))],
                    }
                    for n in range(count)
                ]
            )
        )
        moves.action_post()
        return moves

    def test_400_invoices_at_0_ms_never_exceed_the_limit_in_any_window(self):
        moves = self.make_invoices(400)
        moves.action_l10n_ro_anaf_efactura_send()
        self.run_status_cron(minutes=5)  # one list call reports all 400; each signed ZIP is downloaded
        self.assertEqual(set(moves.mapped("l10n_ro_anaf_efactura_state")), {"ok"})
        state = self.app.state
        self.assertEqual(len(state.uploads), 400)
        self.assertEqual(state.rate_limited, 0, "HTTP 429 answers from ANAF")
        most = state.most_calls_in_window(WINDOW)
        self.assertLessEqual(most, SANDBOX_LIMIT, f"at most {SANDBOX_LIMIT} calls in any {WINDOW} s")
        self.assertEqual(self.counted(), len(state.call_times), "every request went through the limiter")
        self.assertGreater(len(state.call_times), 800)  # 400 uploads, 400 downloads, the list
        elapsed = state.call_times[-1] - state.call_times[0]
        _logger.info(
            "400 ANAF invoices at 0 ms: %s calls in %.1f s (%.0f calls/min), at most %s in any %s s "
            "(sandbox limit %s, ours %s), %s x HTTP 429",
            len(state.call_times),
            elapsed,
            len(state.call_times) / elapsed * 60,
            most,
            WINDOW,
            SANDBOX_LIMIT,
            OUR_LIMIT,
            state.rate_limited,
        )

    def test_every_kind_of_call_is_counted_with_its_daily_counter(self):
        polled = self.make_invoice(1)  # alone: polled (stareMesaj), then its ZIP downloaded
        polled.action_l10n_ro_anaf_efactura_send()
        self.app.state.upload_dialect = "unexpected"  # unclear answer: reconciled through the list
        reconciled = self.make_invoice(2)
        reconciled.action_l10n_ro_anaf_efactura_send()
        self.app.state.upload_dialect = None
        self.run_status_cron(minutes=5)
        self.assertEqual((polled | reconciled).mapped("l10n_ro_anaf_efactura_state"), ["ok", "ok"])
        self.app.state.add_received(bill_xml("F-1", SELLER), SELLER)
        self.env["l10n_ro_anaf_efactura.message"]._cron_l10n_ro_anaf_efactura_receive()
        self.credential.action_l10n_ro_anaf_efactura_check_cifs()
        operations = {op for op, _params in self.app.state.calls}
        self.assertLessEqual({"upload", "stareMesaj", "descarcare", "listaMesajePaginatieFactura"}, operations)
        self.assertEqual(self.counted(), len(self.app.state.call_times))
        document = polled.l10n_ro_anaf_efactura_document_ids
        self.assertEqual(self.used_today("status", document.index), 1)
        self.assertEqual(self.used_today("download", document.download_id), 1)
        self.assertGreaterEqual(self.used_today("list_page", SELLER), 2)  # reconciliation and the inbox
