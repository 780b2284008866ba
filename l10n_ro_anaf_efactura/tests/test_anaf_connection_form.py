from odoo.tests import TransactionCase, tagged

from odoo.addons.einvoice_common.tests.connection_form import connection_form_shows


@tagged("post_install", "-at_install")
class TestAnafConnectionForm(TransactionCase):
    def test_form_shows_the_oauth_client_and_refresh(self):
        credential = self.env["einvoice.credential"].create(
            {"name": "ANAF form", "service": "anaf", "state": "connected"}
        )
        self.assertEqual(credential.einvoice_auth_kind, "oauth2")
        self.assertEqual(connection_form_shows(credential), {"client_id", "client_secret", "refresh"})
