from odoo.tests import TransactionCase, tagged

from odoo.addons.einvoice_common.tests.connection_form import connection_form_shows


@tagged("post_install", "-at_install")
class TestFactureAppConnectionForm(TransactionCase):
    def test_form_follows_the_authorization_scheme(self):
        credential = self.env["einvoice.credential"].create(
            {"name": "Facture APP form", "service": "factureapp", "state": "connected"}
        )
        self.assertEqual(credential.einvoice_auth_kind, "basic")
        self.assertEqual(connection_form_shows(credential), {"username", "password"})
        credential.l10n_mx_factureapp_auth_scheme = "token"
        self.assertEqual(credential.einvoice_auth_kind, "token")
        self.assertEqual(connection_form_shows(credential), {"api_token"})
