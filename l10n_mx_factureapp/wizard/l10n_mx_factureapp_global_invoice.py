from collections import Counter
from datetime import date as date_cls
from decimal import Decimal

from dateutil.relativedelta import relativedelta

from odoo import _, api, fields, models
from odoo.exceptions import UserError

from odoo.addons.einvoice_common import dbtools

from ..factureapp import catalogs
from ..factureapp import documents as cfdi

GLOBAL_MOVE_TYPES = ("out_invoice", "out_receipt")
GLOBAL_OPEN_STATES = (False, "to_stamp", "error")


def _months(periodicity, day):
    """SAT c_Meses: 01-12, or 13-18 for a bimester (13 = January-February)."""
    return f"{12 + (day.month + 1) // 2:02d}" if periodicity == "05" else f"{day.month:02d}"


class L10nMxFactureappGlobalInvoice(models.TransientModel):
    """Group the unstamped invoices and receipts to 'PUBLICO EN GENERAL' of a period into one
    global CFDI (InformacionGlobal), one concept per ticket (NoIdentificacion = its number)."""

    _name = "l10n_mx_factureapp.global.invoice"
    _description = "Facture APP global invoice (factura global)"

    company_id = fields.Many2one("res.company", required=True, default=lambda self: self.env.company)
    periodicity = fields.Selection(catalogs.PERIODICIDAD, required=True, default="04")
    date_from = fields.Date(
        required=True, default=lambda self: fields.Date.context_today(self).replace(day=1) - relativedelta(months=1)
    )
    date_to = fields.Date(
        required=True, default=lambda self: fields.Date.context_today(self).replace(day=1) - relativedelta(days=1)
    )
    months = fields.Char("Months (SAT)", compute="_compute_global_info")
    year = fields.Integer(compute="_compute_global_info")
    move_ids = fields.Many2many(
        "account.move",
        string="Invoices and receipts",
        compute="_compute_move_ids",
        store=True,
        readonly=False,
        help="Posted invoices and receipts to PUBLICO EN GENERAL of the period, in the company currency, "
        "without a CFDI.",
    )
    amount_total = fields.Monetary(compute="_compute_amount_total", currency_field="currency_id")
    currency_id = fields.Many2one(related="company_id.currency_id")

    @api.depends("periodicity", "date_from")
    def _compute_global_info(self):
        for wizard in self:
            day = wizard.date_from or fields.Date.context_today(wizard)
            wizard.months = _months(wizard.periodicity, day)
            wizard.year = day.year

    @api.depends("company_id", "date_from", "date_to")
    def _compute_move_ids(self):
        for wizard in self:
            wizard.move_ids = wizard._l10n_mx_factureapp_candidates()

    @api.depends("move_ids")
    def _compute_amount_total(self):
        for wizard in self:
            wizard.amount_total = sum(wizard.move_ids.mapped("amount_total"))

    def _l10n_mx_factureapp_candidates(self):
        self.ensure_one()
        if not (self.date_from and self.date_to):
            return self.env["account.move"]
        moves = self.env["account.move"].search(
            [
                ("company_id", "=", self.company_id.id),
                ("move_type", "in", GLOBAL_MOVE_TYPES),
                ("state", "=", "posted"),
                ("invoice_date", ">=", self.date_from),
                ("invoice_date", "<=", self.date_to),
                ("currency_id", "=", self.company_id.currency_id.id),
                ("l10n_mx_factureapp_state", "in", GLOBAL_OPEN_STATES),
                ("l10n_mx_factureapp_global_lead_id", "=", False),
            ],
            order="invoice_date, id",
        )
        return moves.filtered(lambda m: m._l10n_mx_factureapp_is_public())

    def _l10n_mx_factureapp_check(self):
        self.ensure_one()
        if self.date_from > self.date_to:
            raise UserError(_("The period of the global invoice ends before it starts."))
        if (self.date_from.year, _months(self.periodicity, self.date_from)) != (
            self.date_to.year,
            _months(self.periodicity, self.date_to),
        ):
            raise UserError(_("A global invoice covers one month (two months when bimonthly): shorten the period."))
        if not self.move_ids:
            raise UserError(
                _("No unstamped invoice or receipt to PUBLICO EN GENERAL in this period: nothing to group.")
            )
        wrong = self.move_ids - self._l10n_mx_factureapp_candidates()
        if wrong:
            raise UserError(
                _(
                    "These cannot go in a global invoice of this period (not posted, not to PUBLICO EN GENERAL, "
                    "outside the period, in another currency or already stamped): %(names)s",
                    names=", ".join(wrong.mapped("display_name")),
                )
            )
        if date_cls(self.year, 1, 1) > fields.Date.context_today(self):
            raise UserError(_("The global invoice cannot be for a future year."))

    def action_stamp(self):
        """Stamp one global CFDI for the selected invoices; they all show its UUID."""
        self.ensure_one()
        self._l10n_mx_factureapp_check()
        moves = self.move_ids.sorted(lambda m: (m.invoice_date, m.id))
        lead = moves[0]
        info = (self.periodicity, self.months, self.year)
        moves.with_context(check_move_validity=False, skip_invoice_sync=True).write(
            {"l10n_mx_factureapp_global_lead_id": lead.id}
        )

        def build():
            return lead._l10n_mx_factureapp_build_global(moves, info)

        extra = {"member_ids": [(6, 0, moves.ids)], "global_info": "|".join(str(part) for part in info)}
        refused = lead._l10n_mx_factureapp_start([(lead, build, extra)])
        error = refused.get(lead) or (lead.l10n_mx_factureapp_state == "error" and lead.l10n_mx_factureapp_error)
        if error:
            moves.with_context(check_move_validity=False, skip_invoice_sync=True).write(
                {"l10n_mx_factureapp_global_lead_id": False}
            )  # free to group again
            dbtools.commit(self.env)  # the refusal is kept, the tickets freed
            raise UserError(error)
        return {
            "type": "ir.actions.act_window",
            "res_model": "account.move",
            "res_id": lead.id,
            "view_mode": "form",
            "target": "current",
        }


class AccountMove(models.Model):
    _inherit = "account.move"

    l10n_mx_factureapp_global_lead_id = fields.Many2one(
        "account.move",
        string="In global invoice",
        copy=False,
        index="btree_not_null",
        readonly=True,
        help="The invoice whose global CFDI (PUBLICO EN GENERAL, InformacionGlobal) includes this one.",
    )

    def _l10n_mx_factureapp_is_public(self):
        self.ensure_one()
        partner = self.partner_id.commercial_partner_id
        return partner._l10n_mx_factureapp_rfc() == catalogs.RFC_GENERIC_NATIONAL

    def _l10n_mx_factureapp_global_members(self):
        self.ensure_one()
        return self.search([("l10n_mx_factureapp_global_lead_id", "=", self.id)]) - self

    def _l10n_mx_factureapp_global_lines(self):
        """One concept per ticket and tax combination: ClaveProdServ 01010101, ClaveUnidad ACT,
        'Venta', NoIdentificacion = the ticket's number (SAT's rules for a global invoice)."""
        self.ensure_one()
        groups = {}
        for line in self._l10n_mx_factureapp_lines():
            key = tuple((t.kind, t.factor, str(t.rate), t.withholding, t.affects_base) for t in line.taxes)
            amount = cfdi.d(line.quantity) * cfdi.d(line.unit_price) - cfdi.d(line.discount)
            group = groups.setdefault(key, [line.taxes, Decimal(0)])
            group[1] += amount
        return [
            cfdi.Line(
                description="Venta",
                quantity=Decimal(1),
                unit_price=cfdi.rnd(amount, 6),
                clave_prod_serv="01010101",
                clave_unidad="ACT",
                product_code=(self.name or "")[:100],
                taxes=taxes,
            )
            for taxes, amount in groups.values()
        ]

    def _l10n_mx_factureapp_build_global(self, members, global_info):
        """The global CFDI of `members` (self, the lead, included), validated against the XSD."""
        self.ensure_one()
        data = self._l10n_mx_factureapp_invoice_data()
        forms = Counter(
            m.l10n_mx_factureapp_payment_form for m in members if m.l10n_mx_factureapp_payment_form not in (False, "99")
        )
        data.receiver = cfdi.Party(
            rfc=catalogs.RFC_GENERIC_NATIONAL,
            name=catalogs.PUBLICO_EN_GENERAL,
            regimen="616",
            zip=data.place,
            uso_cfdi="S01",
        )
        data.lines = [line for member in members for line in member._l10n_mx_factureapp_global_lines()]
        data.global_info = global_info
        data.payment_method = "PUE"
        data.payment_form = forms.most_common(1)[0][0] if forms else "01"
        data.payment_terms = ""
        data.related = []
        data.expected_total = sum((Decimal(str(round(m.amount_total, 2))) for m in members), Decimal(0))
        data.total_tolerance = Decimal("0.01") * len(members)  # each ticket was rounded on its own
        try:
            xml = cfdi.build_invoice(data)
        except cfdi.CfdiError as exc:
            raise UserError(_("The global invoice cannot be built: %(problems)s", problems=exc)) from exc
        problems = cfdi.xsd_errors(xml)
        if problems:
            raise UserError(
                _("The global invoice does not pass the SAT schema:\n%(errors)s", errors="\n".join(problems))
            )
        return xml
