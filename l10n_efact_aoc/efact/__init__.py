"""eFACT (Consorci AOC) pure package: JWT, clients, documents, errors and sandbox.

Imports nothing from Odoo and nothing from other addons.
"""
