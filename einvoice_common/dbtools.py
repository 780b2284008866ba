"""Transaction helpers shared by every e-invoicing addon (commit, claim, own cursor).

What must survive a rollback of the caller (an intent before a call, a service's answer)
is written through `own_env`: a cursor of its own, READ COMMITTED, committed by `commit`.
Under tests the records live in the test transaction, so the current cursor is used
(commits are no-ops) unless the context asks for a real one (`einvoice_own_cursor`).
"""

from contextlib import contextmanager
from typing import NamedTuple

from psycopg2 import errors as pg_errors
from psycopg2.extensions import ISOLATION_LEVEL_READ_COMMITTED

from odoo import api, modules
from odoo.exceptions import UserError, ValidationError
from odoo.tools import SQL

from . import compat

# A concurrent worker changed or holds the row: skip it, the other worker owns it.
CONCURRENCY_ERRORS = (
    pg_errors.SerializationFailure,
    pg_errors.LockNotAvailable,
    pg_errors.DeadlockDetected,
)


def can_commit(env=None):
    """Commit only outside tests (or on a cursor a test opened for real)."""
    if env is not None and env.context.get("einvoice_own_cursor"):
        return True
    return not modules.module.current_test


def commit(env):
    """Commit `env`'s cursor when allowed: what we sent or received must not be rolled back."""
    if can_commit(env):
        env.cr.commit()  # pylint: disable=invalid-commit


def lock_skip_locked(records, where=None):
    """The subset of `records` this transaction could lock; the rest is busy elsewhere.

    `where` (an SQL) re-checks a condition on the latest committed row version, so a row
    another worker moved on (e.g. no longer 'waiting') is skipped too.
    """
    if not records:
        return records
    query = SQL(
        "SELECT id FROM %s WHERE id IN %s %s FOR UPDATE SKIP LOCKED",
        SQL.identifier(records._table),
        tuple(records.ids),
        SQL("AND %s", where) if where else SQL(""),
    )
    # a serialization failure here (a row changed since our snapshot) is the caller's to handle
    records.env.cr.execute(query, log_exceptions=False)
    locked = {row[0] for row in records.env.cr.fetchall()}
    return records.filtered(lambda r: r.id in locked)


def uses_own_cursor(env):
    return not modules.module.current_test or bool(env.context.get("einvoice_own_cursor"))


@contextmanager
def own_env(env):
    """An environment on a cursor of its own (READ COMMITTED), closed at exit.

    READ COMMITTED: an UPDATE waits for a concurrent holder and then applies to the
    latest version instead of failing with a serialization error (Odoo runs REPEATABLE
    READ). Under tests, `env` itself is yielded.
    """
    if not uses_own_cursor(env):
        yield env
        return
    with env.registry.cursor() as cr:
        connection = getattr(cr, "connection", None)  # a TestCursor (HttpCase) has none
        if connection is not None:
            connection.set_isolation_level(ISOLATION_LEVEL_READ_COMMITTED)
        cr.transaction = compat.Transaction(env.registry)  # no registry lookup (and its lock)
        yield api.Environment(cr, env.uid, dict(env.context))


def is_concurrency_error(exc):
    return isinstance(exc, CONCURRENCY_ERRORS)


class CreateResult(NamedTuple):
    """One entry of `create_batch`'s answer: the record created, or the error that refused it."""

    record: object
    error: Exception | None


# What one bad document may raise while it is created: it alone fails, the others still land.
RECORD_ERRORS = (UserError, ValidationError, pg_errors.IntegrityError, pg_errors.DataError)


def create_batch(model, vals_list, after=None, errors=RECORD_ERRORS):
    """Create `vals_list` in ONE `model.create` (Odoo batches the INSERTs and the computes over
    the whole recordset), inside a savepoint; when it fails with one of `errors`, create each
    record in a savepoint of its own, so only the bad one fails and the others still land.

    `after(records, positions)`, when given, does more work on the records just created
    (`records[i]` was made from `vals_list[positions[i]]`) inside the same savepoint: its errors
    count like those of `create`. Any other exception (a concurrency error, a bug) propagates.
    Returns a list aligned with `vals_list` of `CreateResult(record, error)`. Commit is the
    caller's (e.g. once per batch, with small batches).
    """
    if not vals_list:
        return []
    try:
        with model.env.cr.savepoint():
            records = model.create(vals_list)
            if after:
                after(records, list(range(len(vals_list))))
        return [CreateResult(record, None) for record in records]
    except errors as exc:
        if len(vals_list) == 1:
            return [CreateResult(model.browse(), exc)]
    return [_create_one(model, vals, position, after, errors) for position, vals in enumerate(vals_list)]


def _create_one(model, vals, position, after, errors):
    try:
        with model.env.cr.savepoint():
            record = model.create(vals)
            if after:
                after(record, [position])
    except errors as exc:
        return CreateResult(model.browse(), exc)
    return CreateResult(record, None)
