from odoo import models
from odoo.osv import expression


class AccountMove(models.Model):
    """One exchange-log smart button on every move that has calls, owned by einvoice_common.

    The count covers the move's own calls and those of the records that are about the move:
    every einvoice.attempt whose subject is the move, and every record logging exchanges
    (einvoice.exchange.mixin) with a `move_id` (ANAF, Facture APP, eFACT documents ...).
    Addons add other records by extending `_einvoice_exchange_domain` (call super, OR yours).
    """

    _name = "account.move"
    _inherit = ["account.move", "einvoice.exchange.mixin"]

    def _einvoice_exchange_domain(self):
        # EXTENDS 'einvoice_common': the move's own calls, then those of the records about it
        domains = [super()._einvoice_exchange_domain()]
        for Model, field_name in self._einvoice_exchange_related_models():
            related = Model.search([(field_name, "in", self.ids)])
            if related:
                domains.append([("res_model", "=", Model._name), ("res_id", "in", related.ids)])
        return expression.OR(domains)

    def _einvoice_exchange_related_models(self):
        """(model, field naming the move) for every concrete model logging exchanges about moves."""
        found, todo, seen = [], ["einvoice.exchange.mixin"], set()
        while todo:
            name = todo.pop()
            if name in seen:
                continue
            seen.add(name)
            todo.extend(self.env.registry[name]._inherit_children)
            Model = self.env[name].sudo()
            if Model._abstract or name == self._name:
                continue
            field_name = getattr(Model, "_einvoice_attempt_subject", None) or "move_id"
            field = Model._fields.get(field_name)
            if field and field.type == "many2one" and field.comodel_name == self._name:
                found.append((Model, field_name))
        return found

    def _compute_einvoice_exchange_count(self):
        # EXTENDS 'einvoice_common': one count per move over several models (forms show one move)
        Exchange = self.env["einvoice.exchange"].sudo()
        for move in self:
            move.einvoice_exchange_count = Exchange.search_count(move._einvoice_exchange_domain()) if move.id else 0
