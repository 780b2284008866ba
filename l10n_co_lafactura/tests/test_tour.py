import json

from odoo.tests import HttpCase, new_test_user, tagged

from ..lafactura import fixtures
from .common import LaFacturaCommon


@tagged("post_install", "-at_install", "post_install_l10n")
class TestLaFacturaTours(LaFacturaCommon, HttpCase):
    """Issue 11: the main flow in a browser, and what a billing user does not see."""

    def test_tour_webhook_delivery_then_the_bill(self):
        admin = self.env.ref("base.user_admin")
        admin.write({"company_ids": [(4, self.company.id)], "company_id": self.company.id})
        doc = self.document(number="FE-TOUR-1")
        secret = self.credential.sudo().l10n_co_lafactura_webhook_secret
        response = self.opener.post(
            f"{self.base_url()}/l10n_co_lafactura/hook/{secret}",
            data=json.dumps(fixtures.hook_body(doc)).encode(),
            headers={"Content-Type": "application/json"},
            timeout=30,
        )
        self.assertEqual(response.status_code, 200)
        self.process()  # what the cron triggered by the delivery does
        self.assertEqual(self.bill_of(doc).state, "posted")
        self.start_tour("/odoo", "l10n_co_lafactura_inbox_to_bill", login="admin")

    def test_tour_billing_user_sees_no_secret(self):
        new_test_user(
            self.env,
            login="co_billing_tour",
            password="co_billing_tour",
            groups="account.group_account_invoice",
            company_id=self.company.id,
            company_ids=[(6, 0, self.company.ids)],
        )
        url = f"/odoo/action-einvoice_common.einvoice_credential_action/{self.credential.id}"
        self.start_tour(url, "l10n_co_lafactura_billing_sees_no_secret", login="co_billing_tour")
