from odoo.tests import TransactionCase, tagged

from odoo.addons.einvoice_common.tests.connection_form import connection_form_shows


@tagged("post_install", "-at_install")
class TestEfactConnectionForm(TransactionCase):
    def test_efact_form_shows_the_user_and_secret_key_only(self):
        credential = self.env["einvoice.credential"].create(
            {"name": "eFACT form", "service": "efact", "state": "connected"}
        )
        self.assertEqual(credential.einvoice_auth_kind, "jwt_secret")
        # a JWT signed with a secret key: no OAuth fields, no password, nothing to refresh
        self.assertEqual(connection_form_shows(credential), {"username", "secret_key"})
