from odoo import Command
from odoo.exceptions import AccessError, UserError
from odoo.tests import new_test_user, tagged

from .common import DemoServiceCase


@tagged("post_install", "-at_install")
class TestConnection(DemoServiceCase):
    def test_a_billing_user_cannot_refresh_and_nothing_is_called(self):
        credential = self.make_credential()
        accountant = new_test_user(self.env, login="einvoice_billing", groups="account.group_account_invoice")
        calls = len(self.faults.calls)
        with self.assertRaises(AccessError):
            credential.with_user(accountant).action_einvoice_refresh_token()
        self.assertEqual(len(self.faults.calls), calls, "rights are checked before any call")
        self.assertEqual(self.service.refresh_calls, 0)

    def test_refresh_is_refused_for_a_connection_without_tokens(self):
        credential = self.make_credential()
        self.patch(type(credential), "_einvoice_auth_kind", lambda self: "jwt_secret")  # eFACT's answer
        credential.invalidate_recordset()
        self.assertFalse(credential.einvoice_can_refresh)
        self.assertFalse(credential.einvoice_uses_oauth or credential.einvoice_uses_password)
        self.assertTrue(credential.einvoice_uses_secret_key and credential.einvoice_uses_username)
        with self.assertRaises(UserError):
            credential.action_einvoice_refresh_token()
        self.assertEqual(credential.state, "connected")

    def test_capabilities_per_auth_kind(self):
        credential = self.make_credential()
        expected = {
            "basic": (True, True, False, False, False),
            "oauth2": (False, False, False, True, True),
            "token": (False, False, False, False, False),
        }
        for kind, flags in expected.items():
            self.patch(type(credential), "_einvoice_auth_kind", lambda self, kind=kind: kind)
            credential.invalidate_recordset()
            got = (
                credential.einvoice_uses_username,
                credential.einvoice_uses_password,
                credential.einvoice_uses_secret_key,
                credential.einvoice_uses_oauth,
                credential.einvoice_can_refresh,
            )
            self.assertEqual(got, flags, kind)

    def test_state_follows_the_last_successful_call(self):
        credential = self.make_credential(state="draft")
        with credential._einvoice_transport(auth=credential._einvoice_bearer_auth()) as transport:
            transport.get("/documents", operation="list", params={"reference": "x"})
        self.assertEqual(credential.state, "connected")

    def test_demo_service_is_offered_in_tests_only(self):
        Credential = self.env["einvoice.credential"]
        self.assertIn("demo", dict(Credential.fields_get(["service"])["service"]["selection"]))
        self.patch(type(Credential), "_einvoice_demo_allowed", lambda self: False)
        self.assertNotIn("demo", dict(Credential.fields_get(["service"])["service"]["selection"]))

    def test_exchanges_belong_to_the_company_served(self):
        other = self.env["res.company"].create({"name": "Served company"})
        credential = self.make_credential(company_ids=[Command.set([self.env.company.id, other.id])])
        with credential._einvoice_transport(auth=credential._einvoice_bearer_auth(), company=other) as transport:
            transport.get("/documents", operation="list", params={"reference": "x"})
        with credential._einvoice_transport(auth=credential._einvoice_bearer_auth(), record=credential) as transport:
            transport.get("/documents", operation="list", params={"reference": "y"})
        rows = self.env["einvoice.exchange"].search([("credential_id", "=", credential.id)], order="id")
        self.assertEqual(rows.mapped("company_id"), other | self.env.company)
        self.assertEqual(rows[0].company_id, other)

    def test_one_exchange_button_counts_the_move_and_its_attempts(self):
        credential = self.make_credential()
        move = self.env["account.move"].create({"move_type": "entry"})
        attempts, _errors = self.env["einvoice.demo.attempt"]._einvoice_attempt_start(
            [{"move_id": move.id, "credential_id": credential.id}]
        )
        with credential._einvoice_transport(auth=credential._einvoice_bearer_auth(), record=move) as transport:
            transport.get("/documents", operation="list", params={"reference": "x"})
        # the domain every addon extends (an addon may count its own way: the button opens this domain)
        self.assertEqual(self.env["einvoice.exchange"].search_count(move._einvoice_exchange_domain()), 2)
        action = move.action_einvoice_view_exchanges()
        self.assertEqual(self.env["einvoice.exchange"].search_count(action["domain"]), 2)
        arch = self.env["account.move"].get_view(self.env.ref("account.view_move_form").id)["arch"]
        self.assertEqual(arch.count('name="action_einvoice_view_exchanges"'), 1, "one exchange button, never two")

    def test_oauth_state_is_single_use_and_bound_to_its_user(self):
        credential = self.make_credential()
        state = credential._einvoice_oauth_state()
        Credential = self.env["einvoice.credential"]
        other = new_test_user(self.env, login="einvoice_other_admin", groups="base.group_system")
        self.assertFalse(Credential.with_user(other)._einvoice_oauth_consume_state(state), "another user's state")
        self.assertEqual(Credential._einvoice_oauth_consume_state(state), credential)
        self.assertFalse(Credential._einvoice_oauth_consume_state(state), "replayed")
        self.assertFalse(Credential._einvoice_oauth_consume_state(state[:-3] + "abc"), "forged")
        accountant = new_test_user(self.env, login="einvoice_billing2", groups="account.group_account_invoice")
        with self.assertRaises(AccessError):
            credential.with_user(accountant)._einvoice_oauth_state()

    def test_oauth_state_expires_and_a_new_one_voids_the_pending_one(self):
        credential = self.make_credential()
        Credential = self.env["einvoice.credential"]
        state = credential._einvoice_oauth_state(now=1000)
        self.assertFalse(Credential._einvoice_oauth_consume_state(state, max_age=900, now=1000 + 901), "expired")
        first = credential._einvoice_oauth_state()
        second = credential._einvoice_oauth_state()
        self.assertFalse(Credential._einvoice_oauth_consume_state(first), "voided by the second")
        self.assertEqual(Credential._einvoice_oauth_consume_state(second), credential)
