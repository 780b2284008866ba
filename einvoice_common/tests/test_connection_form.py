from odoo.tests import TransactionCase, tagged

from .connection_form import connection_form_shows


@tagged("post_install", "-at_install")
class TestConnectionForm(TransactionCase):
    def test_the_demo_oauth_connection_shows_oauth_fields_and_refresh(self):
        credential = self.env["einvoice.credential"].create(
            {"name": "Demo OAuth", "service": "demo", "state": "connected"}
        )
        self.assertEqual(connection_form_shows(credential), {"client_id", "client_secret", "refresh"})
        credential.state = "draft"  # nothing to refresh before the first token
        self.assertEqual(connection_form_shows(credential), {"client_id", "client_secret"})
