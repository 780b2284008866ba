from odoo.tests import TransactionCase, tagged

from odoo.addons.einvoice_common.tests.connection_form import connection_form_shows


@tagged("post_install", "-at_install")
class TestLafacturaConnectionForm(TransactionCase):
    def test_form_shows_basic_auth_and_the_webhook_url_to_administrators(self):
        credential = self.env["einvoice.credential"].create(
            {"name": "LaFactura form", "service": "lafactura", "state": "connected"}
        )
        self.assertEqual(credential.einvoice_auth_kind, "basic")
        self.assertEqual(connection_form_shows(credential), {"username", "password"})
        self.assertTrue(credential.with_user(self.env.ref("base.user_admin")).l10n_co_lafactura_webhook_url)
