from odoo import api, models

from .. import compat


class IrActionsServer(models.Model):
    _inherit = "ir.actions.server"

    @api.model
    def _einvoice_restrict_to_groups(self, action_xmlids, group_xmlids):
        """Limit list actions to groups from a data file's <function>, on every Odoo version.

        The field is groups_id on 18.0 and group_ids on 19.0, so XML data cannot name it.
        """
        groups = [self.env.ref(xmlid).id for xmlid in group_xmlids]
        for xmlid in action_xmlids:
            self.env.ref(xmlid).write({compat.ACTION_GROUPS_FIELD: [(6, 0, groups)]})
