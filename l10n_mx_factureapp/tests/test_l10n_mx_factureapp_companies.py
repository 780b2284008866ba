import unittest
from datetime import datetime
from decimal import Decimal
from unittest.mock import patch

import pytz

from odoo import Command
from odoo.exceptions import AccessError, UserError
from odoo.tests import tagged
from odoo.tests.common import new_test_user
from odoo.tools import mute_logger

from odoo.addons.einvoice_common import compat

from .common import FactureAppCommon
from .test_l10n_mx_factureapp_once import UnreadableSuccess

NORTE_RFC = "AAA010101AAA"


@tagged("post_install", "post_install_l10n", "-at_install")
class TestFactureAppCompanies(FactureAppCommon):
    """One connection serving two companies; branches in other time zones; who may write what."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.norte = cls.setup_other_company(name="EMPRESA NORTE (tests)")["company"]
        cls.norte.write({"vat": NORTE_RFC, "zip": "22000", "l10n_mx_factureapp_regimen": "601"})
        cls.app.branches.append({"ID": 3, "nombre": "Tijuana", "codigoPostal": "22000", "rfc": NORTE_RFC})
        cls.addClassCleanup(cls.app.branches.pop)
        cls.credential.company_ids |= cls.norte
        cls.credential.action_l10n_mx_factureapp_sync_branches()
        cls.norte_user = new_test_user(
            cls.env,
            login="mx_norte_biller",
            groups="account.group_account_invoice",
            company_id=cls.norte.id,
            company_ids=[Command.set(cls.norte.ids)],
        )

    def _norte_invoice(self):
        env = self.env(user=self.norte_user, context={"allowed_company_ids": self.norte.ids})
        tax = self.env["account.tax"].search(
            [("company_id", "=", self.norte.id), ("type_tax_use", "=", "sale"), ("amount", "=", 16.0)], limit=1
        )
        move = env["account.move"].create(
            {
                "move_type": "out_invoice",
                "partner_id": self.customer.id,
                "invoice_line_ids": [
                    Command.create(
                        {"product_id": self.product.id, "quantity": 2, "price_unit": 500.0, "tax_ids": tax.ids}
                    )
                ],
            }
        )
        move.action_post()
        return move

    def test_branches_belong_to_the_company_they_serve(self):
        branches = self.credential.l10n_mx_factureapp_branch_ids
        tijuana = branches.filtered(lambda b: b.facture_id == "3")
        self.assertEqual(tijuana.company_id, self.norte)
        self.assertEqual((branches - tijuana).company_id, self.company)
        self.assertEqual(self.norte.l10n_mx_factureapp_branch_id, tijuana)
        self.assertEqual(self.company.l10n_mx_factureapp_branch_id.facture_id, "1")

    def test_one_connection_stamps_for_a_second_company_in_another_time_zone(self):
        tijuana = self.norte.l10n_mx_factureapp_branch_id
        tijuana.tz = "America/Tijuana"
        move = self._norte_invoice()
        error = move._l10n_mx_factureapp_stamp()[move]
        self.assertFalse(error)
        root = self._stamped_root(move)
        self.assertEqual(root.find("{http://www.sat.gob.mx/cfd/4}Emisor").get("Rfc"), NORTE_RFC)
        self.assertEqual(root.get("LugarExpedicion"), "22000")
        fecha = datetime.strptime(root.get("Fecha"), "%Y-%m-%dT%H:%M:%S")
        local = datetime.now(pytz.timezone("America/Tijuana")).replace(tzinfo=None)
        self.assertLess(abs((local - fecha).total_seconds()), 300, "Fecha is the local time of Tijuana")
        self.assertEqual(move.l10n_mx_factureapp_document_ids.branch_id, tijuana)

    def test_billing_user_cannot_write_attempts(self):
        move = self._norte_invoice()
        move._l10n_mx_factureapp_stamp()
        doc = move.l10n_mx_factureapp_document_ids
        self.assertEqual(doc.state, "accepted", "the system wrote the attempt for the billing user")
        with self.assertRaises(AccessError):
            doc.write({"state": "error"})
        with self.assertRaises(AccessError):
            doc.create({"move_id": move.id, "kind": "I", "state": "accepted"})
        with self.assertRaises(AccessError):
            self.credential.with_user(self.norte_user).action_l10n_mx_factureapp_sync_branches()


@tagged("post_install", "post_install_l10n", "-at_install")
class TestFactureAppNeutralized(FactureAppCommon):
    def test_neutralized_copy_reaches_no_production_host(self):
        from odoo.modules.neutralize import get_neutralization_queries

        self.credential.sudo().write(
            {
                "environment": "production",
                "base_url": "https://app.facture.com.mx/",
                "username": "real-user",
                "password": "real-password",
                "api_token": "real-token",
            }
        )
        move = self._invoice()
        self.env.flush_all()
        for query in get_neutralization_queries(["einvoice_common", "l10n_mx_factureapp"]):
            self.env.cr.execute(query)
        self.env.invalidate_all()
        credential = self.credential.sudo()
        self.assertRecordValues(
            credential,
            [
                {
                    "environment": "sandbox",
                    "base_url": False,
                    "l10n_mx_factureapp_sat_url": False,
                    "username": False,
                    "password": False,
                    "api_token": False,
                }
            ],
        )
        crons = self.env["ir.cron"].with_context(active_test=False).search([("cron_name", "ilike", "Facture APP")])
        self.assertTrue(crons)
        self.assertFalse(any(crons.mapped("active")))
        calls = len(self.injector.calls)
        error = move._l10n_mx_factureapp_stamp()[move]
        self.assertTrue(error, "nothing to call: the copy cannot stamp")
        self.assertEqual(len(self.injector.calls), calls)
        # nothing sent nor in flight: at most an attempt waiting for a connection an administrator sets
        self.assertFalse(move.l10n_mx_factureapp_document_ids.filtered(lambda d: d.state not in ("error", "waiting")))


@tagged("post_install", "post_install_l10n", "-at_install")
class TestFactureAppBeforeStamping(FactureAppCommon):
    def _alerts(self, move):
        wizard = (
            self.env["account.move.send.wizard"]
            .with_context(active_model="account.move", active_ids=move.ids)
            .create({})
        )
        return wizard.alerts or {}

    def test_pue_with_form_99_and_long_description_alerted(self):
        move = self._invoice(
            lines=[
                {
                    "product_id": self.product.id,
                    "name": "Servicio de consultoría " * 60,
                    "price_unit": 100.0,
                    "tax_ids": [Command.set(self.iva16.ids)],
                }
            ],
        )
        move.l10n_mx_factureapp_payment_form = "99"
        self.assertEqual(move.l10n_mx_factureapp_payment_method, "PUE")
        alerts = self._alerts(move)
        self.assertIn("99", alerts["l10n_mx_factureapp_invalid"]["message"])
        self.assertIn("1000", alerts["l10n_mx_factureapp_warnings"]["message"].replace(",", ""))
        self.assertEqual(move._l10n_mx_factureapp_stamp()[move].count("99"), 1, "refused before sending")
        self.assertFalse(self.app.stamp_calls)

    def test_prices_keep_six_decimals(self):
        self.assertEqual(self.env["decimal.precision"].precision_get("Product Price"), 6)
        self.assertEqual(self.env["decimal.precision"].precision_get(compat.QUANTITY_PRECISION_NAME), 6)
        move = self._invoice(price=12.345678, quantity=1.5)
        line = move.invoice_line_ids
        self.assertEqual((line.price_unit, line.quantity), (12.345678, 1.5))
        self.assertFalse(move._l10n_mx_factureapp_stamp()[move])
        root = self._stamped_root(move)
        concept = root.find("{http://www.sat.gob.mx/cfd/4}Conceptos/{http://www.sat.gob.mx/cfd/4}Concepto")
        self.assertEqual(concept.get("Cantidad"), "1.5")
        self.assertEqual(concept.get("ValorUnitario"), "12.345678", "the price as entered, not back-computed")

    def test_price_as_entered_with_a_discount_is_sent_with_descuento(self):
        line = {
            "product_id": self.product.id,
            "quantity": 18.765,
            "price_unit": 42.0,
            "discount": 10.0,
            "tax_ids": [Command.set(self.iva16.ids)],
        }
        move = self._invoice(lines=[line])
        self.assertFalse(move._l10n_mx_factureapp_stamp()[move])
        root = self._stamped_root(move)
        concept = root.find("{http://www.sat.gob.mx/cfd/4}Conceptos/{http://www.sat.gob.mx/cfd/4}Concepto")
        # 42.00 x 18.765 = 788.13, less 10 %: Odoo's subtotal 709.317 -> 709.32
        self.assertEqual(Decimal(concept.get("ValorUnitario")), Decimal("42"))
        self.assertEqual(Decimal(concept.get("Importe")), Decimal("788.13"))
        self.assertEqual(Decimal(concept.get("Descuento")), Decimal("78.81"))
        self.assertEqual(Decimal(root.get("SubTotal")) - Decimal(root.get("Descuento")), Decimal("709.32"))

    def test_pdf_failure_never_hides_the_stamp(self):
        Report = type(self.env["ir.actions.report"])
        move = self._invoice()

        def no_wkhtmltopdf(*args, **kwargs):
            raise UserError(self.env._("Unable to find Wkhtmltopdf on this system. The PDF can not be created."))

        with patch.object(Report, "get_wkhtmltopdf_state", lambda self: "install"):
            self.assertIn("l10n_mx_factureapp_no_pdf", self._alerts(move))
        wizard = (
            self.env["account.move.send.wizard"]
            .with_context(active_model="account.move", active_ids=move.ids)
            .create({})
        )
        with patch.object(Report, "_pre_render_qweb_pdf", no_wkhtmltopdf):
            with unittest.TestCase.assertRaises(self, UserError) as caught:  # no savepoint: see what is kept
                wizard.action_send_and_print()
        message = caught.exception.args[0]
        self.assertTrue(message.startswith("The CFDI is stamped and kept"), message)
        self.assertIn(move.l10n_mx_factureapp_uuid, message)
        self._stamped_root(move)

    def test_lost_cancellation_answer_is_settled_by_sat(self):
        move = self._invoice()
        move.action_l10n_mx_factureapp_stamp()
        unreadable = UnreadableSuccess(self.app, "<html>OK</html>", path="/rest/cancelacion/produccion/")
        with patch.object(self.injector, "app", unreadable), mute_logger("odoo.addons.einvoice_common"):
            outcome = move._l10n_mx_factureapp_request_cancel("02")
        self.assertEqual(outcome, "unknown")
        self.assertIn(move.l10n_mx_factureapp_state, ("cancel_requested", "cancelled"), "never left as stamped")
        self.env["account.move"]._cron_l10n_mx_factureapp_follow()
        self.assertEqual(move.l10n_mx_factureapp_state, "cancelled", "SAT confirms what the PAC did")

    def test_cancellation_needs_sat_before_the_call(self):
        move = self._invoice()
        move.action_l10n_mx_factureapp_stamp()
        self.credential.write({"environment": "test", "l10n_mx_factureapp_sat_url": False})
        with patch.object(type(self.credential), "_l10n_mx_factureapp_sat_endpoint", lambda self: ""):
            with self.assertRaises(UserError):
                move._l10n_mx_factureapp_request_cancel("02")
        self.assertEqual(self.injector.calls_to("/rest/cancelacion/"), 0, "the PAC was never asked")
