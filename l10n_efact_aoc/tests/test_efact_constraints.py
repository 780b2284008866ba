from odoo.tests import TransactionCase, tagged

from odoo.addons.einvoice_common.tests.constraints import UniqueConstraintMixin


@tagged("post_install_l10n", "post_install", "-at_install")
class TestEfactUniqueConstraints(UniqueConstraintMixin, TransactionCase):
    """eFACT ids are unique per company on every Odoo version (19.0 ignores `_sql_constraints`)."""

    def test_a_delivery_is_in_the_company_inbox_once(self):
        values = {"company_id": self.env.company.id, "hub_id": "EFACT-1"}
        self.assert_duplicate_refused("l10n_efact_aoc.inbox", values, "l10n_efact_aoc_inbox_hub_id_unique")

    def test_an_efact_invoice_is_linked_to_one_document_per_company_and_direction(self):
        values = {"company_id": self.env.company.id, "direction": "in", "hub_id": "EFACT-2"}
        self.assert_duplicate_refused("l10n_efact_aoc.document", values, "l10n_efact_aoc_document_hub_id_unique")

    def test_a_public_body_is_listed_once(self):
        values = {"name": "Ajuntament de Proves", "nif": "P0800000B"}
        self.assert_duplicate_refused(
            "l10n_efact_aoc.receptor", values, "l10n_efact_aoc_receptor_nif_unique", name="Another name"
        )
