import json
import os
import resource
import subprocess
import sys
import tempfile
from datetime import date, timedelta

from odoo.exceptions import UserError
from odoo.tests import tagged
from odoo.tools import mute_logger

from ..anaf import documents
from .common import SELLER, AnafCommon


def _unlimited_address_space():
    """Odoo caps its address space (limit_memory_hard); GraalVM (saxonche) must reserve more."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (hard, hard))


CIUS_RO = os.path.join(os.path.dirname(os.path.dirname(__file__)), "anaf", "cius_ro.py")


@tagged("post_install", "post_install_l10n", "-at_install")
class TestAnafSend(AnafCommon):
    def test_send_poll_ok_archives_the_signed_zip(self):
        move = self.make_invoice(1000)
        move.action_l10n_ro_anaf_efactura_send()
        self.assertEqual(move.l10n_ro_anaf_efactura_state, "sent")
        self.assertEqual(len(self.uploads(move)), 1)
        self.assertEqual(move.l10n_ro_anaf_efactura_index, self.uploads(move)[0].index)
        self.run_status_cron()
        document = move.l10n_ro_anaf_efactura_document_ids
        self.assertEqual(move.l10n_ro_anaf_efactura_state, "ok")
        self.assertTrue(document.zip_attachment_id and document.signature_attachment_id and document.key_signature)
        self.assertEqual(
            documents.parse_zip(document.zip_attachment_id.raw).xml,
            document.payload_attachment_id.raw,
        )
        self.assertFalse(move.show_reset_to_draft_button)
        with self.assertRaises(UserError):
            move.button_draft()
        # Accepted: never uploaded again
        with self.assertRaises(UserError):
            move.action_l10n_ro_anaf_efactura_send()
        self.assertEqual(len(self.uploads(move)), 1)
        self.assertTrue(move.einvoice_exchange_count or document.einvoice_exchange_count)

    def test_credit_note_is_sent_as_cn(self):
        move = self.make_invoice(50, move_type="out_refund")
        move.action_l10n_ro_anaf_efactura_send()
        self.assertEqual(self.uploads(move)[0].standard, "CN")
        self.run_status_cron()
        self.assertEqual(move.l10n_ro_anaf_efactura_state, "ok")

    def test_nok_shows_anaf_errors_and_opens_an_activity(self):
        move = self.make_invoice(10)
        self.app.state.force_nok[move.name] = "R6.1: CIF-ul vanzatorului nu figureaza in baza de date:1"
        move.action_l10n_ro_anaf_efactura_send()
        self.run_status_cron()
        document = move.l10n_ro_anaf_efactura_document_ids
        self.assertEqual(move.l10n_ro_anaf_efactura_state, "nok")
        self.assertIn("R6.1", document.anaf_errors)
        self.assertTrue(document.zip_attachment_id)
        self.assertTrue(move.activity_ids.filtered(lambda a: "rejected" in (a.summary or "")))
        self.assertIn("R6.1", move.message_ids[0].body)
        # A rejected invoice may be corrected and sent again (a new attempt)
        self.app.state.force_nok.clear()
        move.action_l10n_ro_anaf_efactura_send()
        self.assertEqual(len(move.l10n_ro_anaf_efactura_document_ids), 2)

    def test_lost_upload_answer_gives_one_upload_not_two(self):
        move = self.make_invoice(77)
        self.faults.inject("lost", path="/upload", method="POST")
        move.action_l10n_ro_anaf_efactura_send()
        self.assertEqual(move.l10n_ro_anaf_efactura_state, "unknown")
        with self.assertRaises(UserError):
            move.action_l10n_ro_anaf_efactura_send()  # refused while the outcome is unknown
        self.run_status_cron(minutes=5)
        self.assertEqual(move.l10n_ro_anaf_efactura_state, "ok")
        self.assertEqual(len(self.uploads(move)), 1)
        self.assertEqual(self.faults.calls_to("/upload", "POST"), 1)
        self.assertEqual(move.l10n_ro_anaf_efactura_index, self.uploads(move)[0].index)

    def test_anaf_down_means_waiting_then_sent_by_itself(self):
        move = self.make_invoice(5)
        self.app.state.down = True
        move.action_l10n_ro_anaf_efactura_send()
        self.assertEqual(move.l10n_ro_anaf_efactura_state, "waiting")
        self.assertFalse(self.uploads(move))
        self.run_status_cron()  # still down: keeps waiting, no error
        self.assertEqual(move.l10n_ro_anaf_efactura_state, "waiting")
        self.app.state.down = False
        self.run_status_cron()  # uploads the queued invoice
        self.run_status_cron()  # then reads ANAF's answer
        self.assertEqual(move.l10n_ro_anaf_efactura_state, "ok")
        self.assertEqual(len(self.uploads(move)), 1)

    def test_transient_status_errors_keep_the_invoice_sent(self):
        move = self.make_invoice(6)
        move.action_l10n_ro_anaf_efactura_send()
        self.faults.inject("status", status=500, path="stareMesaj", times=5)
        self.run_status_cron()
        self.assertEqual(move.l10n_ro_anaf_efactura_state, "sent")
        self.faults.inject("html", status=200, path="stareMesaj")
        self.run_status_cron(hours=3)
        self.assertEqual(move.l10n_ro_anaf_efactura_state, "sent")
        self.faults.clear()
        self.run_status_cron(hours=6)
        self.assertEqual(move.l10n_ro_anaf_efactura_state, "ok")
        self.assertEqual(len(self.uploads(move)), 1)

    def test_status_quota_waits_until_tomorrow(self):
        move = self.make_invoice(7)
        move.action_l10n_ro_anaf_efactura_send()
        document = move.l10n_ro_anaf_efactura_document_ids
        for _i in range(95):  # 95 % of ANAF's 100 daily queries (einvoice.rate.limit): ours stop there
            self.credential._l10n_ro_anaf_efactura_daily("status", document.index)
        self.run_status_cron()
        self.assertEqual(move.l10n_ro_anaf_efactura_state, "sent")
        self.assertIn("daily limit", document.message)
        self.assertFalse(any(op == "stareMesaj" for op, _p in self.app.state.calls))

    def test_missing_county_is_caught_before_upload_with_the_field_named(self):
        self.partner_ro.state_id = False
        move = self.make_invoice(8)
        with self.assertRaises(UserError) as caught:
            move.action_l10n_ro_anaf_efactura_send()
        self.assertIn(self.partner_ro.name, str(caught.exception))
        self.assertFalse(self.uploads(move))

    def test_expired_token_refreshed_once_on_401_and_shared_by_two_companies(self):
        self.app.state.expire_access_tokens()
        old_refresh = self.credential.refresh_token
        move_a = self.make_invoice(11)
        move_a.action_l10n_ro_anaf_efactura_send()
        self.assertEqual(move_a.l10n_ro_anaf_efactura_state, "sent")
        self.assertEqual(self.app.state.token_calls, ["refresh_token"])
        self.assertNotEqual(self.credential.refresh_token, old_refresh)
        move_b = self.make_invoice(12, company=self.company_b)
        move_b.action_l10n_ro_anaf_efactura_send()
        self.assertEqual(move_b.l10n_ro_anaf_efactura_state, "sent")
        self.assertEqual(
            sorted(u.cif for u in self.app.state.uploads.values()),
            ["8000000000", "9000000003"],
        )
        self.assertEqual(self.app.state.token_calls, ["refresh_token"])  # refreshed once for both

    def test_revoked_token_keeps_invoice_waiting_and_warns_the_administrator(self):
        self.app.state.revoke_all()
        move = self.make_invoice(13)
        with mute_logger("odoo.addons.einvoice_common.models.einvoice_credential"):
            move.action_l10n_ro_anaf_efactura_send()
        self.assertEqual(move.l10n_ro_anaf_efactura_state, "waiting")
        self.assertFalse(self.uploads(move))
        self.assertEqual(self.credential.state, "expired")
        self.assertTrue(self.credential.activity_ids)

    def test_send_and_print_takes_over_the_spv_checkbox(self):
        move = self.make_invoice(14)
        edis = self.env["account.move.send"]._get_all_extra_edis()
        self.assertIn("ro_edi", edis)
        self.assertTrue(edis["ro_edi"]["is_applicable"](move))
        wizard = (
            self.env["account.move.send.wizard"]
            .with_context(active_model="account.move", active_ids=move.ids)
            .create({})
        )
        self.assertIn("ro_edi", wizard.extra_edis)
        wizard.action_send_and_print()
        self.assertEqual(move.l10n_ro_anaf_efactura_state, "sent")
        self.assertFalse(move.l10n_ro_edi_document_ids)  # l10n_ro_edi's own upload did not run
        self.assertEqual(len(self.uploads(move)), 1)
        self.assertFalse(edis["ro_edi"]["is_applicable"](move))

    def test_batch_of_60_reaches_ok_within_quotas(self):
        moves = self.env["account.move"]
        for n in range(60):
            moves |= self.make_invoice(100 + n)
        self.env["ir.actions.server"].browse(
            self.env.ref("l10n_ro_anaf_efactura.action_server_l10n_ro_anaf_efactura_send").id
        ).with_context(active_model="account.move", active_ids=moves.ids).run()
        self.assertEqual(set(moves.mapped("l10n_ro_anaf_efactura_state")), {"sent"})
        self.run_status_cron()
        self.assertEqual(set(moves.mapped("l10n_ro_anaf_efactura_state")), {"ok"})
        self.assertEqual(
            len(self.app.state.uploads),
            len({u.number for u in self.app.state.uploads.values()}),
        )
        self.assertTrue(all(m.l10n_ro_anaf_efactura_document_ids.zip_attachment_id for m in moves))
        counters = self.app.state.counters
        self.assertLessEqual(max((v for (op, _k, _d), v in counters.items() if op == "status"), default=0), 1)
        self.assertLessEqual(max((v for (op, _k, _d), v in counters.items() if op == "download"), default=0), 1)

    def test_one_list_call_reports_the_outcome_of_many_uploads(self):
        moves = self.env["account.move"]
        for n in range(20):
            moves |= self.make_invoice(300 + n)
        self.app.state.force_nok[moves[-1].name] = "BR-RO-999: eroare de test"
        moves.action_l10n_ro_anaf_efactura_send()
        before = len(self.app.state.calls)
        self.run_status_cron()
        self.assertEqual(set(moves[:-1].mapped("l10n_ro_anaf_efactura_state")), {"ok"})
        self.assertEqual(moves[-1].l10n_ro_anaf_efactura_state, "nok")
        ops = [op for op, _p in self.app.state.calls[before:]]
        self.assertNotIn("stareMesaj", ops)  # no status query per invoice
        self.assertEqual(ops.count("listaMesajePaginatieFactura"), 1)
        self.assertEqual(ops.count("descarcare"), 20)  # the signed ZIPs, once each
        calls_per_invoice = len(self.app.state.calls) / len(moves)
        self.assertLess(calls_per_invoice, 3)  # core: upload + stareMesaj + descarcare

    def test_deadline_monitor_warns_before_the_5_working_days(self):
        move = self.make_invoice(15, post=False)
        move.invoice_date = date.today() - timedelta(days=9)
        move.action_post()
        warned = self.env["account.move"]._cron_l10n_ro_anaf_efactura_deadline()
        self.assertIn(move, warned)
        self.assertTrue(move.l10n_ro_anaf_efactura_deadline)
        self.assertNotIn(move, self.env["account.move"]._cron_l10n_ro_anaf_efactura_deadline())  # once

    def test_generated_xml_passes_the_cius_ro_1_0_9_stylesheet(self):
        """Odoo's XML for each kind we send, through ANAF's official stylesheet (saxonche, own process)."""
        foreign = self.partner_ro.copy(
            {
                "name": "Kunde GmbH",
                "vat": "DE123456788",
                "city": "Berlin",
                "country_id": self.env.ref("base.de").id,
                "state_id": self.env.ref("base.state_de_be").id,
            }
        )
        bucharest = self.partner_ro.copy(
            {
                "name": "Client Bucuresti SRL",
                "city": "SECTOR3",
                "state_id": self.env.ref("base.RO_B").id,
            }
        )
        moves = {
            "invoice": self.make_invoice(1234.5),
            "credit_note": self.make_invoice(99, move_type="out_refund"),
            "foreign_buyer": self.make_invoice(10, partner=foreign),
            "bucharest_buyer": self.make_invoice(20, partner=bucharest),
        }
        folder = tempfile.mkdtemp(prefix="anaf_cius_ro_")
        paths = []
        for kind, move in moves.items():
            xml, problems = move._l10n_ro_anaf_efactura_build()
            self.assertEqual(problems, [], kind)
            path = os.path.join(folder, f"odoo_{kind}.xml")
            with open(path, "wb") as handle:
                handle.write(xml)
            paths.append(path)
        result = subprocess.run(
            [sys.executable, CIUS_RO, *paths],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            preexec_fn=_unlimited_address_space,
        )
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertEqual(set(json.loads(result.stdout)), set(paths))

    def test_interrupted_upload_is_reconciled_not_resent(self):
        move = self.make_invoice(41)
        xml, _problems = move._l10n_ro_anaf_efactura_build()
        # the worker uploaded, then died before storing the answer
        self.credential._l10n_ro_anaf_efactura_client().upload(xml, "RO" + SELLER)
        document = self.env["l10n_ro_anaf_efactura.document"].create(
            {
                "move_id": move.id,
                "credential_id": self.credential.id,
                "state": "sending",
                "payload_attachment_id": self.env["ir.attachment"].create({"name": "x.xml", "raw": xml}).id,
                "payload_sha256": documents.sha256(xml),
            }
        )
        self.env.cr.execute(
            "UPDATE l10n_ro_anaf_efactura_document SET sending_since = (now() at time zone 'UTC') - interval '1 hour', "
            "create_date = (now() at time zone 'UTC') - interval '1 hour' WHERE id = %s",
            [document.id],
        )
        document.invalidate_recordset()
        self.run_status_cron()
        self.assertEqual(move.l10n_ro_anaf_efactura_state, "ok")
        self.assertEqual(len(self.uploads(move)), 1)

    def test_check_cifs_tells_which_companies_anaf_accepts(self):
        self.app.state.rights["SERIAL-1"] = {SELLER}
        action = self.credential.action_l10n_ro_anaf_efactura_check_cifs()
        settings = self.env[action["res_model"]].browse(action["res_id"])  # the form the administrator sees
        self.assertEqual(settings.credential_id, self.credential)
        lines = settings.l10n_ro_anaf_efactura_coverage.splitlines()
        self.assertTrue(any(SELLER in line and "accepted" in line for line in lines), lines)
        self.assertTrue(any("9000000003" in line and "refused" in line for line in lines), lines)

    def test_cif_without_rights_keeps_the_invoice_waiting_and_tells_the_administrator(
        self,
    ):
        self.app.state.rights["SERIAL-1"] = {SELLER}
        move = self.make_invoice(42, company=self.company_b)
        move.action_l10n_ro_anaf_efactura_send()
        self.assertEqual(move.l10n_ro_anaf_efactura_state, "waiting")
        self.assertIn("SPV", move.l10n_ro_anaf_efactura_message)
        self.assertTrue(self.credential.activity_ids)
        self.assertFalse(self.app.state.uploads)

    def test_xml_refused_at_upload_is_final_and_resendable(self):
        move = self.make_invoice(43)
        self.app.state.force_xml_errors.add(move.name)
        move.action_l10n_ro_anaf_efactura_send()
        self.run_status_cron()
        self.assertEqual(move.l10n_ro_anaf_efactura_state, "xml_errors")
        self.assertTrue(move.activity_ids)
        self.assertEqual(sum(1 for op, _p in self.app.state.calls if op == "descarcare"), 0)
        self.app.state.force_xml_errors.clear()
        move.action_l10n_ro_anaf_efactura_send()
        self.assertEqual(move.l10n_ro_anaf_efactura_state, "sent")

    def test_foreign_buyer_is_sent_with_extern_and_validation_first(self):
        self.company.l10n_ro_anaf_efactura_validate_first = True
        foreign = self.partner_ro.copy(
            {
                "name": "Kunde GmbH",
                "vat": "DE123456788",
                "city": "Berlin",
                "country_id": self.env.ref("base.de").id,
                "state_id": self.env.ref("base.state_de_be").id,
            }
        )
        move = self.make_invoice(44, partner=foreign)
        move.action_l10n_ro_anaf_efactura_send()
        self.assertEqual(move.l10n_ro_anaf_efactura_state, "sent")
        ops = [(op, params.get("extern")) for op, params in self.app.state.calls]
        self.assertEqual(ops, [("validare/FACT1", None), ("upload", "DA")])
