"""Small helpers of the invoice's Facture APP models (no Odoo model here)."""

from decimal import Decimal


def _dec(value, digits=6):
    return Decimal(str(round(value, digits)))


def _notification(message, kind="info"):
    """A client action that tells the user what a button did."""
    return {
        "type": "ir.actions.client",
        "tag": "display_notification",
        "params": {
            "message": message,
            "type": kind,
            "sticky": False,
            "next": {"type": "ir.actions.client", "tag": "soft_reload"},
        },
    }
