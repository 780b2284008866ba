from odoo.tests import TransactionCase, tagged

from odoo.addons.einvoice_common.tests.constraints import UniqueConstraintMixin


@tagged("post_install_l10n", "post_install", "-at_install")
class TestFactureAppUniqueConstraints(UniqueConstraintMixin, TransactionCase):
    """A branch ID is unique per connection on every Odoo version (19.0 ignores `_sql_constraints`)."""

    def test_a_branch_id_appears_once_per_connection(self):
        credential = self.env["einvoice.credential"].create(
            {
                "name": "Facture APP",
                "service": "factureapp",
                "environment": "sandbox",
                "company_id": self.env.company.id,
            }
        )
        values = {"name": "Matriz", "facture_id": "SUC-1", "credential_id": credential.id}
        self.assert_duplicate_refused(
            "l10n_mx_factureapp.branch", values, "l10n_mx_factureapp_branch_facture_id_unique", name="Sucursal"
        )
