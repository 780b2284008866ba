from odoo import fields, models


class L10nCoLafacturaInboxRepeat(models.Model):
    """A repeat of a stored delivery that came while the cron was booking its row.

    The acknowledgement never waits for the processing cron: when the row is locked, the repeat
    is parked here, and the cron adds it to the row's `delivery_count` once its batch is done.
    """

    _name = "l10n_co_lafactura.inbox.repeat"
    _description = "LaFactura.co repeated delivery, to count"
    _log_access = False

    # The row's id, not a Many2one: a foreign key check takes a share lock on the row, which is
    # exactly what the cron's claim (FOR UPDATE) makes wait. A repeat of a deleted row is
    # dropped when the cron counts the repeats.
    inbox_id = fields.Integer("Inbox row", required=True, index=True)
    received_at = fields.Datetime(required=True)
