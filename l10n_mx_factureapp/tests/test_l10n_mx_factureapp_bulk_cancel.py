from unittest.mock import patch

from odoo import Command
from odoo.exceptions import UserError
from odoo.tests import tagged
from odoo.tools import mute_logger

from .common import FactureAppCommon


@tagged("post_install", "post_install_l10n", "-at_install")
class TestFactureAppBulkCancel(FactureAppCommon):
    def test_bulk_zip_in_chunks_with_bad_ones(self):
        """60 invoices in ZIPs of 25: 2 refused locally, 3 refused by the service (credits run out);
        the 55 good ones are stamped once each, the others keep their reason."""
        self.credential.l10n_mx_factureapp_chunk_size = 25
        no_key = self.product.copy({"l10n_mx_factureapp_clave_prod_serv": False})
        moves = self.env["account.move"]
        for n in range(60):
            if n in (10, 40):
                moves |= self._invoice(
                    lines=[
                        {
                            "product_id": no_key.id,
                            "price_unit": 50.0,
                            "tax_ids": [Command.set(self.iva16.ids)],
                        }
                    ]
                )
            else:
                moves |= self._invoice(price=100.0 + n)
        self.app.credits = 55
        moves.with_context(l10n_mx_factureapp_now=True).action_l10n_mx_factureapp_stamp_bulk()
        stamped = moves.filtered(lambda m: m.l10n_mx_factureapp_state == "stamped")
        failed = moves - stamped
        self.assertEqual(len(stamped), 55)
        self.assertEqual(len(failed), 5)
        self.assertEqual(set(failed.mapped("l10n_mx_factureapp_state")), {"error"})
        self.assertTrue(all(m.l10n_mx_factureapp_error for m in failed))
        self.assertEqual(len(set(stamped.mapped("l10n_mx_factureapp_uuid"))), 55)
        self.assertEqual(len(self.app.cfdis), 55, "each good invoice stamped once")
        self.assertEqual(
            self.injector.calls_to("/rest/timbrado/masivoProduccion/", "POST"),
            3,
            "three ZIPs of at most 25",
        )
        self.assertIn("ClaveProdServ", moves[10].l10n_mx_factureapp_error)
        credit_failures = failed.filtered(
            lambda m: (
                "credits" in (m.l10n_mx_factureapp_error or "").lower() or "FA402" in (m.l10n_mx_factureapp_error or "")
            )
        )
        self.assertEqual(len(credit_failures), 3)
        for move in stamped[:5]:
            self._stamped_root(move)
            self.assertEqual(move.l10n_mx_factureapp_document_ids.channel, "bulk")

    def test_bulk_queued_for_the_cron(self):
        self.credential.l10n_mx_factureapp_chunk_size = 2
        moves = self.env["account.move"]
        for n in range(5):
            moves |= self._invoice(price=10.0 + n)
        moves.action_l10n_mx_factureapp_stamp_bulk()
        self.assertTrue(all(moves.mapped("l10n_mx_factureapp_bulk_queued")))
        self.env["account.move"]._cron_l10n_mx_factureapp_follow()
        self.assertEqual(set(moves.mapped("l10n_mx_factureapp_state")), {"stamped"})

    def _cancel(self, move, motive, replacement=None):
        wizard = move.env["l10n_mx_factureapp.cancel"].create(
            {
                "move_id": move.id,
                "motive": motive,
                "replacement_id": replacement and replacement.id,
            }
        )
        return wizard.action_cancel()

    def test_cancel_motive_02_without_acceptance(self):
        move = self._invoice(price=100.0)
        move.action_l10n_mx_factureapp_stamp()
        self._cancel(move, "02")
        self.assertEqual(move.l10n_mx_factureapp_state, "cancelled")
        self.assertEqual(move.l10n_mx_factureapp_sat_state, "Cancelado")
        self.assertIn(b"<EstatusUUID>201", move.l10n_mx_factureapp_acuse_id.raw)
        self.assertEqual(move.state, "cancel", "the invoice is cancelled in Odoo too")

    def test_cancel_motive_03_with_receiver_acceptance_and_cron(self):
        move = self._invoice(price=5000.0)
        move.action_l10n_mx_factureapp_stamp()
        self.app.advance(30)
        move.action_l10n_mx_factureapp_sat_status()
        self.assertEqual(move.l10n_mx_factureapp_sat_cancellable, "Cancelable con aceptación")
        self._cancel(move, "03")
        self.assertEqual(move.l10n_mx_factureapp_state, "cancel_requested")
        self.assertTrue(move.l10n_mx_factureapp_cancel_link)
        self.assertEqual(move.l10n_mx_factureapp_sat_cancel_status, "En proceso")
        self.assertTrue(move.activity_ids)
        self.app.receiver_answer(move.l10n_mx_factureapp_uuid, accept=True)
        self.env["account.move"]._cron_l10n_mx_factureapp_follow()
        self.assertEqual(move.l10n_mx_factureapp_state, "cancelled")
        self.assertEqual(move.l10n_mx_factureapp_sat_cancel_status, "Cancelado con aceptación")
        self.assertTrue(move.l10n_mx_factureapp_acuse_id)

    def test_cancel_rejected_by_receiver(self):
        move = self._invoice(price=5000.0)
        move.action_l10n_mx_factureapp_stamp()
        self.app.advance(30)
        self._cancel(move, "02")
        self.app.receiver_answer(move.l10n_mx_factureapp_uuid, accept=False)
        self.env["account.move"]._cron_l10n_mx_factureapp_follow()
        self.assertEqual(move.l10n_mx_factureapp_state, "cancel_rejected")
        self.assertFalse(move.l10n_mx_factureapp_acuse_id)
        self.assertEqual(move.state, "posted")

    def test_cancel_motive_01_needs_stamped_replacement(self):
        move = self._invoice(price=100.0)
        move.action_l10n_mx_factureapp_stamp()
        with self.assertRaises(UserError):
            self._cancel(move, "01")
        action = (
            self.env["l10n_mx_factureapp.cancel"]
            .create({"move_id": move.id, "motive": "01"})
            .action_create_replacement()
        )
        replacement = self.env["account.move"].browse(action["res_id"])
        self.assertEqual(replacement.l10n_mx_factureapp_substituted_id, move)
        replacement.action_post()
        replacement.action_l10n_mx_factureapp_stamp()
        root = self._stamped_root(replacement)
        self.assertEqual(
            root.find("{http://www.sat.gob.mx/cfd/4}CfdiRelacionados").get("TipoRelacion"),
            "04",
        )
        self._cancel(move, "01", replacement)
        self.assertEqual(move.l10n_mx_factureapp_state, "cancelled")
        self.assertTrue(move.l10n_mx_factureapp_acuse_id)
        self.assertEqual(replacement.l10n_mx_factureapp_state, "stamped")

    def test_cancel_motive_04_and_not_cancellable_with_children(self):
        move = self._invoice(price=100.0)
        move.action_l10n_mx_factureapp_stamp()
        wizard = (
            self.env["account.move.reversal"]
            .with_context(active_model="account.move", active_ids=move.ids)
            .create({"reason": "bonificación", "journal_id": move.journal_id.id})
        )
        refund = self.env["account.move"].browse(wizard.refund_moves()["res_id"])
        refund.invoice_line_ids.price_unit = 10.0
        refund.action_post()
        refund.action_l10n_mx_factureapp_stamp()
        with self.assertRaisesRegex(UserError, "related CFDIs"):
            self._cancel(move, "04")
        self.assertEqual(move.l10n_mx_factureapp_state, "stamped")
        self._cancel(refund, "02")
        self.assertEqual(refund.l10n_mx_factureapp_state, "cancelled")
        self._cancel(move, "04")
        self.assertEqual(move.l10n_mx_factureapp_state, "cancelled")
        self.assertEqual(move.l10n_mx_factureapp_cancel_motive, "04")

    def test_bulk_report_with_unknown_and_missing_files(self):
        """A report that forgets a file leaves that invoice 'outcome unknown' until the stamp is
        looked up; names of files never sent are ignored."""
        moves = self._invoice(price=10.0) | self._invoice(price=20.0) | self._invoice(price=30.0)
        self.app.report_drop = {1}  # the second file of the ZIP
        self.app.report_extra = ["never-sent.xml"]
        with self.assertLogs("odoo.addons.l10n_mx_factureapp", level="WARNING") as logs:
            moves.with_context(l10n_mx_factureapp_now=True).action_l10n_mx_factureapp_stamp_bulk()
        self.assertIn("never-sent.xml", logs.output[0])
        self.assertEqual(moves.mapped("l10n_mx_factureapp_state"), ["stamped", "unknown", "stamped"])
        self.assertEqual(len(self.app.cfdis), 3, "the service stamped all three")
        self._run_due_attempts()
        self.assertEqual(moves[1].l10n_mx_factureapp_state, "stamped")
        self.assertEqual(len(self.app.cfdis), 3, "nothing was stamped twice")
        self.assertEqual(len(set(moves.mapped("l10n_mx_factureapp_uuid"))), 3)

    def test_bulk_answer_not_recordable_for_one_keeps_the_others(self):
        """Recording one file's answer fails: the other answers of the ZIP are still recorded
        (one savepoint each after the batch's failed), and nothing is stamped twice."""
        moves = self._invoice(price=10.0) | self._invoice(price=20.0) | self._invoice(price=30.0)
        Document = type(self.env["l10n_mx_factureapp.document"])
        original = Document._l10n_mx_factureapp_zip_apply

        def flaky(doc, item, stamped):
            if doc.move_id == moves[1]:
                raise ValueError("cannot record this one")
            return original(doc, item, stamped)

        with (
            patch.object(Document, "_l10n_mx_factureapp_zip_apply", flaky),
            mute_logger("odoo.addons.l10n_mx_factureapp", "odoo.addons.einvoice_common"),
        ):
            moves.with_context(l10n_mx_factureapp_now=True).action_l10n_mx_factureapp_stamp_bulk()
        states = moves.mapped("l10n_mx_factureapp_state")
        self.assertEqual((states[0], states[2]), ("stamped", "stamped"))
        self.assertNotIn(states[1], ("stamped", "error"), "its outcome is confirmed later, not given up")
        self.assertEqual(len(self.app.cfdis), 3)
        self.assertEqual(self.injector.calls_to("/rest/timbrado/masivoProduccion/", "POST"), 1)

    def test_bulk_answer_lost_all_unknown_then_looked_up(self):
        """The ZIP reached the PAC, its answer was lost: each of the N attempts is unknown (its intent
        was committed before the call), then each is found by its own lookup; no second ZIP."""
        moves = self._invoice(price=10.0) | self._invoice(price=20.0) | self._invoice(price=30.0)
        self.injector.inject("lost", path="/rest/timbrado/masivoProduccion/")
        with mute_logger("odoo.addons.einvoice_common"):
            moves.with_context(l10n_mx_factureapp_now=True).action_l10n_mx_factureapp_stamp_bulk()
        attempts = moves.l10n_mx_factureapp_document_ids
        self.assertEqual(attempts.mapped("state"), ["unknown"] * 3)
        self.assertEqual(set(moves.mapped("l10n_mx_factureapp_state")), {"unknown"})
        self.assertTrue(all(moves.mapped("l10n_mx_factureapp_blocking")))
        self.assertEqual(len(self.app.cfdis), 3, "the PAC stamped the ZIP")
        self._run_due_attempts()
        self.assertEqual(set(moves.mapped("l10n_mx_factureapp_state")), {"stamped"})
        self.assertEqual(len(self.app.cfdis), 3, "nothing was stamped twice")
        self.assertEqual(self.injector.calls_to("/rest/timbrado/masivoProduccion/", "POST"), 1)
        self.assertEqual(self.injector.calls_to("/rest/timbrado/produccion/", "POST"), 0, "nothing resent")

    def test_bulk_never_received_resends_the_same_bytes(self):
        """The ZIP never reached the PAC (connection reset): unknown, looked up, not found, and each
        attempt's stored bytes are sent again, once, automatically."""
        moves = self._invoice(price=10.0) | self._invoice(price=20.0)
        self.injector.inject("reset", path="/rest/timbrado/masivoProduccion/")
        with mute_logger("odoo.addons.einvoice_common"):
            moves.with_context(l10n_mx_factureapp_now=True).action_l10n_mx_factureapp_stamp_bulk()
        attempts = moves.l10n_mx_factureapp_document_ids
        self.assertEqual(attempts.mapped("state"), ["unknown"] * 2)
        self.assertFalse(self.app.cfdis)
        hashes = set(attempts.mapped("payload_sha256"))
        self._run_due_attempts()
        self.assertEqual(set(moves.mapped("l10n_mx_factureapp_state")), {"stamped"})
        self.assertEqual(set(self.app.by_digest), hashes, "the identical bytes")
        self.assertEqual(self.app.stamp_calls, 2, "once each")
        self.assertEqual(attempts.mapped("attempts"), [2, 2])

    def test_accountant_without_settings_rights(self):
        """An invoicing user stamps, checks SAT and cancels; errors reach the administrator."""
        from odoo.tests.common import new_test_user

        user = new_test_user(
            self.env,
            login="mx_accountant",
            groups="account.group_account_invoice",
            company_id=self.company.id,
            company_ids=[Command.set(self.company.ids)],
        )
        move = self._invoice(price=100.0).with_user(user)
        move.action_l10n_mx_factureapp_stamp()
        self.assertEqual(move.l10n_mx_factureapp_state, "stamped")
        move.action_l10n_mx_factureapp_sat_status()
        self.assertEqual(move.l10n_mx_factureapp_sat_state, "Vigente")
        self._cancel(move, "02")
        self.assertEqual(move.l10n_mx_factureapp_state, "cancelled")
        other = self._invoice(price=50.0).with_user(user)
        self.app.credits = 0
        error = other._l10n_mx_factureapp_stamp()[other]
        self.assertIn("credits", error)
        self.assertTrue(self.credential.activity_ids)
