from dateutil.relativedelta import relativedelta

from odoo import fields
from odoo.exceptions import UserError
from odoo.tests import tagged
from odoo.tools import mute_logger

from ..factureapp import documents as cfdi
from .common import FactureAppCommon

NS = {"cfdi": cfdi.NS_CFDI}


@tagged("post_install", "post_install_l10n", "-at_install")
class TestFactureAppGlobalInvoice(FactureAppCommon):
    """Factura global: the unstamped tickets to PUBLICO EN GENERAL of a period in one CFDI."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.public = cls.env["res.partner"].create(
            {"name": "PUBLICO EN GENERAL", "country_id": cls.env.ref("base.mx").id}
        )
        cls.last_month = fields.Date.context_today(cls.env.user).replace(day=1) - relativedelta(months=1)

    def _tickets(self):
        day = self.last_month
        tickets = self._invoice(partner=self.public, invoice_date=day.replace(day=3), price=100.0)
        tickets |= self._invoice(partner=self.public, invoice_date=day.replace(day=9), price=33.33, quantity=3)
        tickets |= self._invoice(
            partner=self.public, invoice_date=day.replace(day=20), price=250.0, taxes=self.iva16.browse()
        )
        tickets |= self._invoice(
            partner=self.public, invoice_date=day.replace(day=27), price=80.0, move_type="out_receipt"
        )
        return tickets

    def _wizard(self, **values):
        return self.env["l10n_mx_factureapp.global.invoice"].create(values)

    def test_global_invoice_groups_the_period(self):
        tickets = self._tickets()
        other = self._invoice(invoice_date=self.last_month.replace(day=5))  # a named customer
        this_month = self._invoice(partner=self.public)  # outside the period
        wizard = self._wizard()
        self.assertEqual(wizard.move_ids, tickets)
        self.assertEqual((wizard.months, wizard.year), (f"{self.last_month.month:02d}", self.last_month.year))
        self.assertAlmostEqual(wizard.amount_total, sum(tickets.mapped("amount_total")))
        wizard.action_stamp()
        uuids = set(tickets.mapped("l10n_mx_factureapp_uuid"))
        self.assertEqual(len(uuids), 1)
        self.assertEqual(set(tickets.mapped("l10n_mx_factureapp_state")), {"stamped"})
        self.assertEqual(len(self.app.cfdis), 1, "one CFDI for the whole period")
        root = self._stamped_root(tickets[1])
        info = root.find("cfdi:InformacionGlobal", NS)
        self.assertEqual(
            (info.get("Periodicidad"), info.get("Meses"), info.get("Año")),
            ("04", f"{self.last_month.month:02d}", str(self.last_month.year)),
        )
        receptor = root.find("cfdi:Receptor", NS)
        self.assertEqual(
            (
                receptor.get("Rfc"),
                receptor.get("Nombre"),
                receptor.get("RegimenFiscalReceptor"),
                receptor.get("UsoCFDI"),
            ),
            ("XAXX010101000", "PUBLICO EN GENERAL", "616", "S01"),
        )
        concepts = root.findall("cfdi:Conceptos/cfdi:Concepto", NS)
        self.assertEqual([c.get("NoIdentificacion") for c in concepts], tickets.mapped("name"))
        self.assertEqual({c.get("ClaveProdServ") for c in concepts}, {"01010101"})
        self.assertEqual({c.get("ClaveUnidad") for c in concepts}, {"ACT"})
        self.assertEqual([c.get("ObjetoImp") for c in concepts], ["02", "02", "01", "02"])
        self.assertEqual(root.get("Total"), f"{sum(tickets.mapped('amount_total')):.2f}")
        self.assertFalse(other.l10n_mx_factureapp_uuid or this_month.l10n_mx_factureapp_uuid)
        # a ticket of the global invoice is not stamped again, alone or in another global invoice
        tickets[2].action_l10n_mx_factureapp_stamp()
        self.assertEqual(len(self.app.cfdis), 1)
        with self.assertRaisesRegex(UserError, "nothing to group"):
            self._wizard().action_stamp()
        self.assertEqual(self._wizard(periodicity="05", date_from=fields.Date.to_date("2026-03-01")).months, "14")
        with self.assertRaisesRegex(UserError, "one month"):
            self._wizard(
                date_from=self.last_month.replace(day=20), date_to=self.last_month + relativedelta(months=1, day=5)
            ).action_stamp()

    def test_global_invoice_lost_answer_then_lookup(self):
        tickets = self._tickets()
        self.injector.inject("lost", path="/rest/timbrado/produccion/")
        with mute_logger("odoo.addons.einvoice_common"):
            self._wizard().action_stamp()
        self.assertEqual(set(tickets.mapped("l10n_mx_factureapp_state")), {"unknown"})
        calls = self.app.stamp_calls
        self._run_due_attempts()
        self.assertEqual(self.app.stamp_calls, calls, "looked up, not resent")
        self.assertEqual(set(tickets.mapped("l10n_mx_factureapp_state")), {"stamped"})
        self.assertEqual(len(set(tickets.mapped("l10n_mx_factureapp_uuid"))), 1)
        self.assertEqual(len(self.app.cfdis), 1)

    def test_global_invoice_refused_leaves_the_tickets_free(self):
        tickets = self._tickets()
        self.app.credits = 0
        with self.assertRaisesRegex(UserError, "credits"):
            self._wizard().action_stamp()
        self.assertFalse(tickets.l10n_mx_factureapp_global_lead_id)
        self.assertFalse(self.app.cfdis)
        self.app.credits = 10
        self._wizard().action_stamp()
        self.assertEqual(set(tickets.mapped("l10n_mx_factureapp_state")), {"stamped"})
