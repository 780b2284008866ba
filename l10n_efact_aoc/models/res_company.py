from odoo import _, fields, models

from ..efact import documents


class ResCompany(models.Model):
    _inherit = "res.company"

    l10n_efact_aoc_registry_mode = fields.Selection(
        [
            ("create", "When the bill is created"),
            ("button", "With the Register button"),
        ],
        string="eFACT: register bills (ANNOTATED)",
        default="create",
        help="When a received invoice gets its accounting registry number and is reported ANNOTATED to eFACT.",
    )
    l10n_efact_aoc_registry_sequence_id = fields.Many2one(
        "ir.sequence",
        string="eFACT: registry number sequence",
        copy=False,
        help="Numbers of the accounting registry of invoices (RCF) reported with ANNOTATED.",
    )
    l10n_efact_aoc_purchase_journal_id = fields.Many2one(
        "account.journal",
        string="eFACT: journal of received invoices",
        domain="[('type', '=', 'purchase')]",
        check_company=True,
    )

    def _l10n_efact_aoc_nif(self):
        self.ensure_one()
        return documents.normalize_nif(self.vat or "")

    def _l10n_efact_aoc_registry_sequence(self):
        self.ensure_one()
        if not self.l10n_efact_aoc_registry_sequence_id:
            self.sudo().l10n_efact_aoc_registry_sequence_id = (
                self.env["ir.sequence"]
                .sudo()
                .create(
                    {
                        "name": _("eFACT accounting registry (%s)", self.name),
                        "code": "l10n_efact_aoc.registry",
                        "prefix": "RCF/%(year)s/",
                        "padding": 6,
                        "company_id": self.id,
                    }
                )
            )
        return self.l10n_efact_aoc_registry_sequence_id

    def _l10n_efact_aoc_purchase_journal(self):
        self.ensure_one()
        return self.l10n_efact_aoc_purchase_journal_id or self.env["account.journal"].search(
            [
                *self.env["account.journal"]._check_company_domain(self),
                ("type", "=", "purchase"),
            ],
            limit=1,
        )

    def _l10n_efact_aoc_credentials(self):
        """The active eFACT connections serving this company (any role)."""
        self.ensure_one()
        return (
            self.env["einvoice.credential"]
            .sudo()
            .search(
                [
                    ("service", "=", "efact"),
                    ("active", "=", True),
                    "|",
                    ("company_ids", "in", self.id),
                    ("company_id", "=", self.id),
                ]
            )
        )
