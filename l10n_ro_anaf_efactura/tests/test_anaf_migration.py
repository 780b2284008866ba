from datetime import date, timedelta

from odoo.tests import tagged

from ..hooks import migrate_l10n_ro_edi
from .common import SELLER, AnafCommon


@tagged("post_install", "post_install_l10n", "-at_install")
class TestAnafMigration(AnafCommon):
    def test_l10n_ro_edi_tokens_and_documents_are_taken_over(self):
        issued = self.app.state.issue_tokens()
        self.company.write(
            {
                "l10n_ro_edi_client_id": "anaf-client",
                "l10n_ro_edi_client_secret": "anaf-secret",
                "l10n_ro_edi_access_token": issued["access_token"],
                "l10n_ro_edi_refresh_token": issued["refresh_token"],
                "l10n_ro_edi_access_expiry_date": date.today() + timedelta(days=80),
                "l10n_ro_edi_test_env": True,
            }
        )
        sent, validated = self.make_invoice(40), self.make_invoice(41)
        xml, _problems = sent._l10n_ro_anaf_efactura_build()
        index = self.credential._l10n_ro_anaf_efactura_client().upload(xml, SELLER).index
        Legacy = self.env["l10n_ro_edi.document"]
        # the upload index: on the document in 18.0's l10n_ro_edi, on the invoice in 19.0's
        on_document = "key_loading" in Legacy._fields
        Legacy.create(
            {"invoice_id": sent.id, "state": "invoice_sent", **({"key_loading": index} if on_document else {})}
        )
        Legacy.create(
            {
                "invoice_id": validated.id,
                "state": "invoice_validated",
                "key_signature": "SIG",
                "key_certificate": "CERT",
                **({"key_loading": "123"} if on_document else {}),
            }
        )
        if not on_document:
            sent.l10n_ro_edi_index, validated.l10n_ro_edi_index = index, "123"

        migrate_l10n_ro_edi(self.env)

        migrated = self.env["einvoice.credential"].search([("service", "=", "anaf"), ("environment", "=", "test")])
        self.assertEqual(len(migrated), 1)
        self.assertEqual(migrated.access_token, issued["access_token"])
        self.assertEqual(migrated.refresh_token, issued["refresh_token"])
        self.assertTrue(migrated.refresh_token_expires_at)  # read from the JWT, not assumed
        self.assertIn(self.company, migrated.company_ids)
        self.assertEqual(sent.l10n_ro_anaf_efactura_state, "sent")
        self.assertEqual(sent.l10n_ro_anaf_efactura_index, index)
        self.assertEqual(validated.l10n_ro_anaf_efactura_state, "ok")
        self.assertEqual(validated.l10n_ro_anaf_efactura_document_ids.key_signature, "SIG")
        self.assertTrue(sent.l10n_ro_edi_document_ids)  # l10n_ro_edi's data stays readable

        # installing took over l10n_ro_edi's token cron (it would rotate our refresh token) and status action
        self.assertFalse(self.env.ref("l10n_ro_edi.ir_cron_l10n_ro_edi_refresh_access_token").active)
        self.assertFalse(self.env.ref("l10n_ro_edi.l10n_ro_edi_action_fetch_ciusro_status").binding_model_id)

        migrate_l10n_ro_edi(self.env)  # idempotent
        self.assertEqual(len(sent.l10n_ro_anaf_efactura_document_ids), 1)

        # the status cron follows the migrated upload to its end, without uploading again
        migrated.environment = "sandbox"
        self.run_status_cron()
        self.assertEqual(sent.l10n_ro_anaf_efactura_state, "ok")
        self.assertEqual(len(self.app.state.uploads), 1)
