from odoo.exceptions import UserError
from odoo.tests import tagged
from odoo.tools import mute_logger

from odoo.addons.einvoice_common.einvoice.errors import RejectedError

from .common import AnafCommon


@tagged("post_install", "post_install_l10n", "-at_install")
class TestAnafBadInput(AnafCommon):
    """The issue's "Bad input" list: clear error, nothing lost, no duplicate upload."""

    def test_bucharest_customer_without_sector_is_caught_before_upload(self):
        bucharest = self.partner_ro.copy({"name": "Client Bucuresti SRL", "city": "Bucuresti"})
        bucharest.state_id = self.env.ref("base.RO_B")
        move = self.make_invoice(21, partner=bucharest)
        with self.assertRaises(UserError) as caught:
            move.action_l10n_ro_anaf_efactura_send()
        self.assertIn(bucharest.name, str(caught.exception))
        self.assertIn("SECTOR", str(caught.exception))
        self.assertFalse(self.app.state.uploads)

    def test_company_without_vat_is_caught_before_upload(self):
        move = self.make_invoice(22)
        self.company.partner_id.write({"vat": False, "company_registry": False})
        with self.assertRaises(UserError) as caught:
            move.action_l10n_ro_anaf_efactura_send()
        self.assertIn(self.company.partner_id.display_name, str(caught.exception))
        self.assertIn("VAT", str(caught.exception))
        self.assertFalse(self.app.state.uploads)

    def test_company_without_county_is_caught_before_upload(self):
        move = self.make_invoice(23)
        self.company.partner_id.state_id = False
        with self.assertRaises(UserError) as caught:
            move.action_l10n_ro_anaf_efactura_send()
        self.assertIn("State", str(caught.exception))
        self.assertFalse(self.app.state.uploads)

    def test_json_error_where_the_zip_was_expected_keeps_the_invoice_sent(self):
        move = self.make_invoice(24)
        move.action_l10n_ro_anaf_efactura_send()
        self.app.state.daily["download"] = -1  # ANAF answers JSON {"eroare": ...} instead of the ZIP
        self.run_status_cron()
        document = move.l10n_ro_anaf_efactura_document_ids
        self.assertEqual(move.l10n_ro_anaf_efactura_state, "sent")
        self.assertFalse(document.zip_attachment_id)
        self.assertIn("descarcari", document.message)
        self.app.state.daily["download"] = 10
        self.run_status_cron(hours=4)
        self.assertEqual(move.l10n_ro_anaf_efactura_state, "ok")
        self.assertTrue(document.zip_attachment_id)
        self.assertEqual(len(self.uploads(move)), 1)

    def test_html_error_page_on_upload_is_reconciled_before_any_resend(self):
        move = self.make_invoice(25)
        self.faults.inject("html", status=200, path="/upload", method="POST")  # a proxy page: ANAF never saw it
        move.action_l10n_ro_anaf_efactura_send()
        self.assertEqual(move.l10n_ro_anaf_efactura_state, "unknown")
        self.assertIn("being confirmed with ANAF", move.l10n_ro_anaf_efactura_message)
        self.run_status_cron(minutes=5)  # not in ANAF's list yet: no resend within the grace period
        self.assertEqual(move.l10n_ro_anaf_efactura_state, "unknown")
        self.assertFalse(self.uploads(move))
        self.run_status_cron(hours=25)  # still absent from ANAF's list: sent again, once
        self.run_status_cron(hours=26)
        self.assertEqual(move.l10n_ro_anaf_efactura_state, "ok")
        self.assertEqual(len(self.uploads(move)), 1)
        # the same attempt sent the same bytes again, once ANAF's list proved it never arrived
        self.assertEqual(move.l10n_ro_anaf_efactura_document_ids.mapped("state"), ["accepted"])

    def test_upload_refusals_show_anaf_text_with_translated_advice(self):
        self.env["res.lang"]._activate_lang("ro_RO")
        # the advice rows' Romanian texts come from the addon's ro.po, as when a user installs Romanian
        self.env["ir.module.module"].search([("name", "=", "l10n_ro_anaf_efactura")])._update_translations("ro_RO")
        cases = {
            "Marime fisier transmis mai mare de 10 MB.": "too_big",
            "Fisierul transmis nu este valid. org.xml.sax.SAXParseException; x": "invalid_xml",
            "CIF introdus= 1 nu este inregistrat in Registrul RO e-Factura executari silite": "not_enforcement",
        }
        advice = {
            code: self.env.ref(f"l10n_ro_anaf_efactura.error_advice_{code}").with_context(lang="en_US").advice
            for code in cases.values()
        }
        for n, (text, code) in enumerate(cases.items()):
            move = self.make_invoice(30 + n)
            self.app.state.force_upload_error[move.name] = text
            move.with_context(lang="ro_RO")._l10n_ro_anaf_efactura_send()
            document = move.l10n_ro_anaf_efactura_document_ids
            self.assertEqual(document.state, "error", text)
            self.assertIn(text, document.message)
            self.assertNotIn(advice[code], document.message)  # the Romanian advice, not the English one
            refusal = RejectedError(text, code=code)
            self.assertEqual(
                document.with_context(lang="en_US")._einvoice_attempt_error_text(refusal).split("\n")[0], advice[code]
            )
            # a refused upload may be fixed and sent again; nothing is uploaded twice by itself
            self.app.state.force_upload_error.clear()
            move._l10n_ro_anaf_efactura_send()
            self.assertEqual(move.l10n_ro_anaf_efactura_state, "sent")
            self.assertEqual(len(self.uploads(move)), 1)

    def test_technical_error_on_upload_waits_instead_of_failing(self):
        move = self.make_invoice(40)
        self.app.state.force_upload_error[move.name] = "A aparut o eroare tehnica. Cod: 500"
        move.action_l10n_ro_anaf_efactura_send()
        self.assertEqual(move.l10n_ro_anaf_efactura_state, "waiting")
        self.app.state.force_upload_error.clear()
        self.run_status_cron(hours=7)  # uploads the waiting invoice
        self.run_status_cron()  # reads ANAF's answer
        self.assertEqual(move.l10n_ro_anaf_efactura_state, "ok")
        self.assertEqual(len(self.uploads(move)), 1)

    def test_revoked_token_on_status_keeps_the_invoice_sent(self):
        move = self.make_invoice(41)
        move.action_l10n_ro_anaf_efactura_send()
        self.app.state.revoke_all()
        with mute_logger("odoo.addons.einvoice_common.models.einvoice_credential"):
            self.run_status_cron()
        self.assertEqual(move.l10n_ro_anaf_efactura_state, "sent")
        self.assertTrue(self.credential.activity_ids)
        self.assertEqual(len(self.uploads(move)), 1)
