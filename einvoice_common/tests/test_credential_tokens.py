import threading
from datetime import timedelta

from odoo import fields
from odoo.exceptions import AccessError, UserError
from odoo.tests import new_test_user, tagged
from odoo.tools import mute_logger

from ..einvoice import errors
from .common import DemoServiceCase, stacks


@tagged("post_install", "-at_install")
class TestCredentialTokens(DemoServiceCase):
    def test_fresh_token_is_used_without_refresh(self):
        credential = self.make_credential()
        token = credential.sudo().access_token
        self.assertEqual(credential._einvoice_access_token(), token)
        self.assertEqual(self.service.refresh_calls, 0)

    def test_token_about_to_expire_is_refreshed_proactively(self):
        credential = self.make_credential(access_token_expires_at=fields.Datetime.now() + timedelta(minutes=10))
        old_refresh = credential.sudo().refresh_token
        token = credential._einvoice_access_token()
        self.assertEqual(self.service.refresh_calls, 1)
        self.assertIn(token, self.service.access_tokens)
        self.assertNotEqual(credential.sudo().refresh_token, old_refresh)
        self.assertFalse(self.service.refresh_tokens[old_refresh], "the old refresh token is spent")
        self.assertGreater(
            credential.sudo().access_token_expires_at,
            fields.Datetime.now() + timedelta(minutes=50),
        )
        self.assertEqual(credential.state, "connected")

    def test_401_refreshes_once_and_the_call_succeeds(self):
        credential = self.make_credential(access_token="stale-token")
        with credential._einvoice_transport(auth=credential._einvoice_bearer_auth()) as transport:
            response = transport.post("/documents", operation="send", json={"reference": "INV/401"})
        self.assertEqual(response.status_code, 201)
        self.assertEqual(self.service.refresh_calls, 1)
        self.assertEqual([d["reference"] for d in self.service.documents][-1:], ["INV/401"])
        outcomes = (
            self.env["einvoice.exchange"]
            .search([("credential_id", "=", credential.id)], order="id")
            .mapped(lambda e: (e.operation, e.status_code))
        )
        self.assertEqual(outcomes, [("send", 401), ("oauth_refresh", 200), ("send", 201)])

    def test_revoked_refresh_token_expires_the_connection_and_warns_an_admin(self):
        credential = self.make_credential(
            refresh_token="rt-dead-0001",
            access_token_expires_at=fields.Datetime.now() - timedelta(minutes=1),
        )
        with mute_logger("odoo.addons.einvoice_common.models.einvoice_credential"):
            token, error = credential._einvoice_refresh_tokens(force=True)
        self.assertIsNone(token)
        self.assertIn("revoked", error)
        self.assertEqual(credential.state, "expired")
        activity = credential.activity_ids
        self.assertEqual(len(activity), 1)
        self.assertEqual(activity.user_id, self.env.ref("base.user_admin"))
        self.assertIn("refresh token revoked", str(activity.note))
        # a second failure updates the same activity instead of piling up
        with mute_logger("odoo.addons.einvoice_common.models.einvoice_credential"):
            credential._einvoice_refresh_tokens(force=True)
        self.assertEqual(len(credential.activity_ids), 1)
        with (
            mute_logger("odoo.addons.einvoice_common.models.einvoice_credential"),
            self.assertRaises(UserError),
        ):
            credential.action_einvoice_refresh_token()

    def test_cron_refreshes_what_expires_and_warns_before_refresh_token_dies(self):
        due = self.make_credential(
            name="due",
            access_token_expires_at=fields.Datetime.now() + timedelta(minutes=5),
        )
        fine = self.make_credential(name="fine")
        dying = self.make_credential(
            name="dying",
            refresh_token_expires_at=fields.Datetime.now() + timedelta(days=2),
        )
        fine_token = fine.sudo().access_token
        self.env["einvoice.credential"]._cron_einvoice_refresh_tokens()
        self.assertEqual(self.service.refresh_calls, 1)
        self.assertGreater(
            due.sudo().access_token_expires_at,
            fields.Datetime.now() + timedelta(minutes=30),
        )
        self.assertEqual(fine.sudo().access_token, fine_token)
        self.assertTrue(dying.activity_ids)
        self.assertFalse(fine.activity_ids)

    def test_secrets_are_for_administrators_only(self):
        credential = self.make_credential()
        accountant = new_test_user(self.env, login="einvoice_accountant", groups="account.group_account_invoice")
        as_accountant = credential.with_user(accountant)
        self.assertEqual(as_accountant.name, "Demo")
        for secret in ("client_secret", "access_token", "refresh_token", "password"):
            with self.assertRaises(AccessError):
                as_accountant.read([secret])

    def test_concurrent_refreshes_rotate_the_refresh_token_once(self):
        """Two workers find the token expired at the same moment: one rotation, one token."""
        values = self._credential_values(access_token_expires_at=fields.Datetime.now() - timedelta(minutes=1))
        with self.committed_env() as env:
            credential_id = env["einvoice.credential"].create(values).id
        self.addCleanup(self._delete_committed, credential_id)
        # Pause the token endpoint so both workers are inside the refresh at the same time.
        self.faults.inject("slow", seconds=0.5, path="/oauth/token")
        barrier = threading.Barrier(2)
        results, failures = [], []

        def worker():
            try:
                with self.registry.cursor() as cr:
                    env = self.env_for(cr, {"einvoice_own_cursor": True})
                    credential = env["einvoice.credential"].browse(credential_id)
                    barrier.wait(5)
                    results.append(credential._einvoice_access_token())
            except Exception as exc:  # reported below: a thread cannot fail the test itself
                failures.append(exc)

        threads = [threading.Thread(target=worker) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        self.assertFalse([t for t in threads if t.is_alive()], stacks())
        self.assertFalse(failures)
        self.assertEqual(self.service.refresh_calls, 1)
        self.assertEqual(len(set(results)), 1)
        with self.committed_env() as env:
            stored = env["einvoice.credential"].browse(credential_id).sudo()
            self.assertEqual(stored.access_token, results[0])
            self.assertTrue(
                self.service.refresh_tokens[stored.refresh_token],
                "the stored refresh token is live",
            )

    def _delete_committed(self, credential_id):
        with self.committed_env() as env:
            credential = env["einvoice.credential"].browse(credential_id)
            env["einvoice.exchange"].search([("credential_id", "=", credential_id)]).unlink()
            credential.unlink()

    def test_error_taxonomy_is_what_the_services_see(self):
        credential = self.make_credential(access_token="bad", refresh_token="revoked")
        with mute_logger("odoo.addons.einvoice_common.models.einvoice_credential"):
            with credential._einvoice_transport(auth=credential._einvoice_bearer_auth()) as transport:
                with self.assertRaises(errors.AuthError) as caught:  # the refused token cannot be renewed
                    transport.post("/documents", operation="send", json={"reference": "x"})
        self.assertIsInstance(caught.exception, UserError, "a person pressing a button gets a clear message")
        self.assertFalse([d for d in self.service.documents if d["reference"] == "x"])
