"""Issue 13 (eFACT): documents and inbox rows are the system's, whoever calls over RPC."""

from xmlrpc.client import Fault

from odoo import Command
from odoo.tests import HttpCase, new_test_user, tagged
from odoo.tools import mute_logger


@tagged("post_install_l10n", "post_install", "-at_install")
class TestEfactRightsOverRpc(HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        company = cls.env.company
        cls.doc = cls.env["l10n_efact_aoc.document"].create(
            {"direction": "out", "company_id": company.id, "hub_id": "160000001", "state": "sent"}
        )
        cls.row = cls.env["l10n_efact_aoc.inbox"].create({"company_id": company.id, "hub_id": "160000002"})
        cls.billing = new_test_user(
            cls.env,
            login="efact_rpc_billing",
            groups="base.group_user,account.group_account_invoice",
            company_id=company.id,
            company_ids=[Command.set(company.ids)],
        )
        cls.admin = new_test_user(
            cls.env,
            login="efact_rpc_admin",
            groups="base.group_user,base.group_system,account.group_account_manager",
            company_id=company.id,
            company_ids=[Command.set(company.ids)],
        )

    def _rpc(self, login, model, method, *args):
        db = self.env.cr.dbname
        uid = self.xmlrpc_common.authenticate(db, login, login, {})
        return self.xmlrpc_object.execute(db, uid, login, model, method, *args)

    def _refused(self, login, model, method, *args):
        with mute_logger("odoo.http", "odoo.addons.base.controllers.rpc"), self.assertRaises(Fault) as caught:
            self._rpc(login, model, method, *args)
        self.assertEqual(caught.exception.faultCode, 4, caught.exception.faultString)  # Odoo's access error

    def test_billing_user_reads_but_cannot_create_write_or_delete(self):
        Doc, Inbox = "l10n_efact_aoc.document", "l10n_efact_aoc.inbox"
        read = self._rpc("efact_rpc_billing", Doc, "read", [self.doc.id], ["hub_id", "state"])
        self.assertEqual(read[0]["hub_id"], "160000001")
        company = self.env.company.id
        self._refused("efact_rpc_billing", Doc, "create", [{"direction": "out", "company_id": company, "hub_id": "9"}])
        for values in ({"hub_id": "999"}, {"state": "draft"}, {"next_check": "2026-01-01 00:00:00"}):
            self._refused("efact_rpc_billing", Doc, "write", [self.doc.id], values)
        self._refused("efact_rpc_billing", Doc, "unlink", [self.doc.id])
        self._refused("efact_rpc_billing", Inbox, "create", [{"company_id": company, "hub_id": "X"}])
        self._refused("efact_rpc_billing", Inbox, "write", [self.row.id], {"hub_id": "160000001"})
        self.assertEqual((self.doc.hub_id, self.doc.state, self.row.hub_id), ("160000001", "sent", "160000002"))

    def test_administrator_cannot_write_documents_either(self):
        self._refused("efact_rpc_admin", "l10n_efact_aoc.document", "write", [self.doc.id], {"state": "error"})
        self._refused("efact_rpc_admin", "l10n_efact_aoc.document", "unlink", [self.doc.id])
        self.assertEqual(self.doc.state, "sent")
