"""ANAF e-Factura (SPV) in pure Python: client, documents, error texts, quotas, sandbox.

Imports nothing from Odoo nor from another addon; collaborators (transport, clock)
arrive as arguments.
"""
