"""Pure-Python core shared by the e-invoicing addons.

Nothing here imports Odoo. The service addons never import this package from
their own pure packages either: they receive a `Transport` (and the error
classes it carries) as an argument, which keeps each service package standalone.
"""
