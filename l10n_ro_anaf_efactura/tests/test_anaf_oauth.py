from urllib.parse import parse_qs, urlsplit

from odoo.tests import HttpCase, tagged
from odoo.tools import mute_logger

from .common import AnafCommon


@tagged("post_install", "post_install_l10n", "-at_install")
class TestAnafOAuth(AnafCommon, HttpCase):
    def setUp(self):
        super().setUp()
        self.credential.write({"access_token": False, "refresh_token": False, "state": "draft"})
        self.authenticate("admin", "admin")
        self.env.user.company_ids |= self.company | self.company_b

    def _start(self):
        response = self.url_open(
            f"/l10n_ro_anaf_efactura/authorize/{self.credential.id}",
            allow_redirects=False,
        )
        self.assertIn(response.status_code, (302, 303))
        location = response.headers["Location"]
        self.assertTrue(location.startswith(self.server.url + "/anaf-oauth2/v1/authorize?"))
        query = parse_qs(urlsplit(location).query)
        self.assertEqual(query["token_content_type"], ["jwt"])
        self.assertEqual(query["redirect_uri"], [self.credential.l10n_ro_anaf_efactura_callback_url])
        return location

    def _anaf(self, location, decision):
        self.app.state.decision = decision
        try:
            answer = self.opener.get(location, allow_redirects=False, timeout=10)
        finally:
            self.app.state.decision = None
        self.assertEqual(answer.status_code, 302)
        callback = answer.headers["Location"]
        self.assertTrue(callback.startswith(self.credential.l10n_ro_anaf_efactura_callback_url))
        parts = urlsplit(callback)
        return f"{parts.path}?{parts.query}"

    def test_oauth_end_to_end_through_the_controller(self):
        callback = self._anaf(self._start(), "approve")
        response = self.url_open(callback, allow_redirects=False)
        self.assertIn(response.status_code, (302, 303))
        self.credential.invalidate_recordset()
        self.assertEqual(self.credential.state, "connected")
        self.assertTrue(self.credential.access_token and self.credential.refresh_token)
        self.assertTrue(self.credential.access_token_expires_at and self.credential.refresh_token_expires_at)
        self.assertEqual(self.app.state.token_calls, ["authorization_code"])
        # the new token works for an upload
        move = self.make_invoice(20)
        move.action_l10n_ro_anaf_efactura_send()
        self.assertEqual(move.l10n_ro_anaf_efactura_state, "sent")

    def test_denied_authorisation_is_reported_on_the_connection(self):
        callback = self._anaf(self._start(), "deny")
        self.url_open(callback, allow_redirects=False)
        self.credential.invalidate_recordset()
        self.assertEqual(self.credential.state, "error")
        self.assertFalse(self.credential.access_token)

    def test_forged_state_is_refused(self):
        self._anaf(self._start(), "approve")
        code = list(self.app.state.codes)[-1]
        forged = self.credential._einvoice_oauth_state()[:-4] + "AAAA"
        with mute_logger("odoo.addons.l10n_ro_anaf_efactura.controllers.main", "odoo.http"):
            response = self.url_open(
                f"/l10n_ro_anaf_efactura/callback?code={code}&state={forged}",
                allow_redirects=False,
            )
        self.assertEqual(response.status_code, 403)
        self.credential.invalidate_recordset()
        self.assertFalse(self.credential.access_token)
        self.assertEqual(self.app.state.token_calls, [])

    def test_replayed_state_is_refused(self):
        callback = self._anaf(self._start(), "approve")
        self.url_open(callback, allow_redirects=False)
        self.assertEqual(self.app.state.token_calls, ["authorization_code"])
        with mute_logger("odoo.addons.l10n_ro_anaf_efactura.controllers.main", "odoo.http"):
            replay = self.url_open(callback, allow_redirects=False)
        self.assertEqual(replay.status_code, 403)
        self.assertEqual(self.app.state.token_calls, ["authorization_code"])

    def test_a_new_authentication_voids_the_previous_state(self):
        first = self._anaf(self._start(), "approve")
        self._anaf(self._start(), "approve")
        with mute_logger("odoo.addons.l10n_ro_anaf_efactura.controllers.main", "odoo.http"):
            response = self.url_open(first, allow_redirects=False)
        self.assertEqual(response.status_code, 403)
        self.assertEqual(self.app.state.token_calls, [])

    def test_state_is_bound_to_the_administrator_who_started(self):
        """Signature, expiry and single use are einvoice_common's (test_connection); ANAF adds: administrators
        only, and ANAF connections only."""
        Credential = self.env["einvoice.credential"]
        state = self.credential._einvoice_oauth_state()
        other = Credential.with_user(self.env.ref("base.user_demo"))
        self.assertFalse(other._l10n_ro_anaf_efactura_consume_state(state))
        self.assertEqual(Credential._l10n_ro_anaf_efactura_consume_state(state), self.credential)
        self.assertFalse(Credential._l10n_ro_anaf_efactura_consume_state(state))  # once only
        demo = Credential.create({"name": "demo", "service": "demo", "environment": "sandbox"})
        self.assertFalse(Credential._l10n_ro_anaf_efactura_consume_state(demo._einvoice_oauth_state()))
