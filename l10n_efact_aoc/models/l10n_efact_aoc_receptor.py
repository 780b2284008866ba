import logging

from odoo import _, api, fields, models
from odoo.exceptions import UserError
from odoo.tools import SQL

from odoo.addons.einvoice_common import compat, dbtools
from odoo.addons.einvoice_common.einvoice import errors as common_errors

from ..efact import documents
from .einvoice_credential import efact_error_text

_logger = logging.getLogger(__name__)


class L10nEfactAocReceptor(models.Model):
    """A public body adhered to eFACT (from /receptors)."""

    _name = "l10n_efact_aoc.receptor"
    _description = "eFACT public body"
    _order = "name"

    name = fields.Char(required=True)
    nif = fields.Char("NIF", required=True, index=True)
    street = fields.Char()
    city = fields.Char()
    state_name = fields.Char("Province")
    zip = fields.Char()
    dir3_ids = fields.One2many("l10n_efact_aoc.dir3", "receptor_id", string="DIR3 units")
    detail_loaded = fields.Boolean()

    compat.sql_constraints(locals(), [("nif_unique", "unique(nif)", "This public body is already listed.")])

    @api.model
    def _l10n_efact_aoc_sync(self, credential):
        """Refresh the list of adhered public bodies."""
        try:
            receptors = credential._l10n_efact_aoc_supplier_client(record=credential).receptors()
        except common_errors.EInvoiceError as exc:
            raise UserError(_("eFACT did not list its public bodies: %s", efact_error_text(self.env, exc))) from exc
        existing = {r.nif: r for r in self.search([])}
        to_create = []
        for receptor in receptors:
            if receptor.nif in existing:
                if existing[receptor.nif].name != receptor.name:
                    existing[receptor.nif].name = receptor.name
            else:
                to_create.append({"nif": receptor.nif, "name": receptor.name or receptor.nif})
        if to_create:
            # ON CONFLICT: another worker or server may list the same bodies at this moment (a Send
            # on each server); the second one must neither fail the user's Send nor log an error
            self.flush_model()
            try:
                with self.env.cr.savepoint(flush=False):
                    self._l10n_efact_aoc_insert(to_create)
            except dbtools.CONCURRENCY_ERRORS:
                _logger.info("eFACT public bodies listed by another worker at the same time: skipped")
            self.invalidate_model()
        return len(receptors)

    def _l10n_efact_aoc_insert(self, to_create):
        rows = SQL(", ").join(
            SQL(
                "(%s, %s, %s, now() at time zone 'utc', %s, now() at time zone 'utc')",
                vals["nif"],
                vals["name"],
                self.env.uid,
                self.env.uid,
            )
            for vals in to_create
        )
        self.env.cr.execute(
            SQL(
                """INSERT INTO l10n_efact_aoc_receptor (nif, name, create_uid, create_date, write_uid, write_date)
                   VALUES %s ON CONFLICT (nif) DO NOTHING""",
                rows,
            ),
            log_exceptions=False,  # a concurrent insert is handled by the caller
        )

    def _l10n_efact_aoc_load_detail(self, credential):
        for receptor in self:
            try:
                detail = credential._l10n_efact_aoc_supplier_client(record=credential).receptor(receptor.nif)
            except common_errors.EInvoiceError as exc:
                raise UserError(
                    _(
                        "eFACT did not give the units of %(name)s: %(error)s",
                        name=receptor.name,
                        error=efact_error_text(self.env, exc),
                    )
                ) from exc
            address = detail.address or {}
            receptor.write(
                {
                    "street": address.get("carrer"),
                    "city": address.get("localitat"),
                    "state_name": address.get("provincia"),
                    "zip": address.get("codiPostal"),
                    "detail_loaded": True,
                }
            )
            receptor._l10n_efact_aoc_merge_units(detail.dir3)

    def _l10n_efact_aoc_merge_units(self, units):
        """Update the DIR3 triples in place: a triple still listed keeps its record (so the contacts that
        chose it keep it), a new one is added, one eFACT no longer lists is archived (the pre-send check
        then refuses it by name) rather than deleted."""
        self.ensure_one()
        Dir3 = self.env["l10n_efact_aoc.dir3"].with_context(active_test=False)
        existing = {
            (d.oficina_comptable, d.organ_gestor, d.unitat_tramitadora): d
            for d in Dir3.search([("receptor_id", "=", self.id)])
        }
        listed = set()
        for unit in units:
            key = (unit.oficina_comptable, unit.organ_gestor, unit.unitat_tramitadora)
            listed.add(key)
            values = {
                "oficina_comptable_name": unit.names.get("oficinaComptable"),
                "organ_gestor_name": unit.names.get("organGestor"),
                "unitat_tramitadora_name": unit.names.get("unitatTramitadora"),
                "active": True,
            }
            if key in existing:
                existing[key].write(values)
            else:
                Dir3.create(
                    dict(
                        values,
                        receptor_id=self.id,
                        oficina_comptable=key[0],
                        organ_gestor=key[1],
                        unitat_tramitadora=key[2],
                    )
                )
        stale = Dir3.browse([d.id for key, d in existing.items() if key not in listed])
        stale.filtered("active").active = False

    @api.model
    def _l10n_efact_aoc_find(self, vat):
        nif = documents.normalize_nif(vat)
        if not nif:
            return self.browse()
        return self.search([]).filtered(lambda r: documents.normalize_nif(r.nif) == nif)[:1]


class L10nEfactAocDir3(models.Model):
    """One DIR3 triple (accounting office, managing body, processing unit) of a public body."""

    _name = "l10n_efact_aoc.dir3"
    _description = "eFACT DIR3 units"
    _rec_names_search = [
        "oficina_comptable",
        "organ_gestor",
        "unitat_tramitadora",
        "unitat_tramitadora_name",
    ]

    receptor_id = fields.Many2one("l10n_efact_aoc.receptor", required=True, ondelete="cascade", index=True)
    active = fields.Boolean(default=True, help="Archived when eFACT no longer lists this combination.")
    oficina_comptable = fields.Char("Accounting office", required=True)
    oficina_comptable_name = fields.Char()
    organ_gestor = fields.Char("Managing body", required=True)
    organ_gestor_name = fields.Char()
    unitat_tramitadora = fields.Char("Processing unit", required=True)
    unitat_tramitadora_name = fields.Char()

    @api.depends(
        "oficina_comptable",
        "organ_gestor",
        "unitat_tramitadora",
        "unitat_tramitadora_name",
    )
    def _compute_display_name(self):
        for dir3 in self:
            dir3.display_name = f"{dir3.oficina_comptable} / {dir3.organ_gestor} / {dir3.unitat_tramitadora}" + (
                f" ({dir3.unitat_tramitadora_name})" if dir3.unitat_tramitadora_name else ""
            )
