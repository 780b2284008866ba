import logging

from odoo import Command, fields
from odoo.tests import tagged

from .common import FactureAppCommon

_logger = logging.getLogger(__name__)


@tagged("post_install", "post_install_l10n", "-at_install")
class TestFactureAppQueryCount(FactureAppCommon):
    """Stamping through ZIP costs the same SQL queries per invoice whatever the size of the batch:
    the attempts of a ZIP are created, written and told about together, never one walk per invoice."""

    def _posted_invoices(self, count):
        line = {"product_id": self.product.id, "price_unit": 100.0, "tax_ids": [Command.set(self.iva16.ids)]}
        moves = self.env["account.move"].create(
            [
                {
                    "move_type": "out_invoice",
                    "partner_id": self.customer.id,
                    "invoice_date": fields.Date.today(),
                    "journal_id": self.sale_journal.id,
                    "invoice_line_ids": [Command.create(dict(line, quantity=n + 1))],
                }
                for n in range(count)
            ]
        )
        moves.action_post()
        return moves

    def _queries(self, count):
        moves = self._posted_invoices(count)
        self.env.flush_all()
        self.env.invalidate_all()  # as a new request: nothing of the invoices is in the cache
        before = self.env.cr.sql_log_count
        moves.with_context(l10n_mx_factureapp_now=True).action_l10n_mx_factureapp_stamp_bulk()
        self.env.flush_all()
        queries = self.env.cr.sql_log_count - before
        self.assertEqual(set(moves.mapped("l10n_mx_factureapp_state")), {"stamped"})
        self.assertEqual(len(moves.l10n_mx_factureapp_document_ids), count, "one attempt each")
        messages = moves.message_ids.filtered(lambda m: "CFDI stamped by Facture APP" in (m.body or ""))
        self.assertEqual(sorted(messages.mapped("res_id")), sorted(moves.ids), "one chatter entry per invoice")
        return queries

    def test_bulk_queries_per_invoice_flat_from_10_to_100(self):
        """Queries per invoice = (queries of a run of n - those of a run of 1) / (n - 1): what each
        invoice adds to a run (a run also costs a fixed part: the connection, the call's exchange row,
        the attachments' settings ...). The same for 10 and for 100 invoices, and a few per invoice."""
        self.credential.l10n_mx_factureapp_chunk_size = 100  # one ZIP each time
        self._queries(1)  # the first run fills the registry's caches (settings, defaults): not counted
        one = self._queries(1)
        per_10 = (self._queries(10) - one) / 9
        per_100 = (self._queries(100) - one) / 99
        _logger.info("ZIP: %.1f queries per invoice from 1 to 10, %.1f from 1 to 100, %s for 1", per_10, per_100, one)
        self.assertAlmostEqual(per_100, per_10, delta=2, msg=f"{per_10:.1f} vs {per_100:.1f} queries per invoice")
        self.assertLessEqual(
            per_100, 6, f"{per_100:.1f} queries per invoice (fixed part of a run: {one - per_100:.0f})"
        )
        self.assertEqual(self.injector.calls_to("/rest/timbrado/masivoProduccion/", "POST"), 4)
