"""Uniqueness guarantees, checked the same way on every Odoo version.

Odoo 19.0 ignores ``_sql_constraints`` (a warning only), so a constraint declared the 18.0 way
would silently vanish there: these helpers check that the database itself refuses a duplicate,
and that every constraint an addon declares exists in PostgreSQL.
"""

import psycopg2

from odoo.tools import mute_logger

from .. import compat


class UniqueConstraintMixin:
    """For TransactionCase: `assert_duplicate_refused` and `assert_declared_constraints_exist`."""

    def assert_duplicate_refused(self, model, values, constraint, **changes):
        """Insert `values` once, then again (with `changes`): PostgreSQL refuses the second.

        `constraint` is the database's name of the unique constraint or index that must refuse it.
        """
        Model = self.env[model].sudo()
        Model.create(values)
        Model.flush_model()
        with (
            self.assertRaises(psycopg2.IntegrityError) as caught,
            mute_logger("odoo.sql_db"),
            self.env.cr.savepoint(),
        ):
            Model.create(dict(values, **changes))
            Model.flush_model()
        self.assertIsInstance(caught.exception, psycopg2.errors.UniqueViolation)
        self.assertEqual(caught.exception.diag.constraint_name, constraint)

    def assert_declared_constraints_exist(self, modules):
        """Every SQL constraint `modules` declare (on any model) is in the database, same definition."""
        checked = 0
        for name in self.env.registry:
            model = self.env[name]
            if model._abstract or not model._auto:
                continue
            for conname, definition in compat.declared_constraints(model, modules).items():
                self.env.cr.execute(
                    "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
                    "WHERE conname = %s AND conrelid = %s::regclass",
                    (conname, model._table),
                )
                row = self.env.cr.fetchone()
                self.assertTrue(row, f"{name}: constraint {conname} ({definition}) is missing from the database")
                self.assertEqual(_normal(row[0]), _normal(definition), f"{name}: {conname}")
                checked += 1
        self.assertTrue(checked, f"{modules} declare no SQL constraint")
        return checked


def _normal(definition):
    return "".join(definition.lower().split())
