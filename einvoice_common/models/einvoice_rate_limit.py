import logging
import time
import zlib
from datetime import datetime, timedelta

from odoo import api, fields, models
from odoo.tools import SQL

from .. import compat, dbtools
from ..einvoice import errors

_logger = logging.getLogger(__name__)


class EinvoiceRateLimit(models.Model):
    """Call counters shared by every worker and server (PostgreSQL, not a process dict).

    Two uses, one table of (key, window_start, count) rows:
    - sliding windows ("1000 calls per minute"): one row per key and second, summed over
      the window under an advisory lock on the key;
    - fixed windows ("100 status queries per message per day"): one row per key and
      window, incremented by one conditional upsert.
    Every method is private: not callable over RPC, so no user can spend a quota.
    Counts are committed at once on a cursor of their own: a call made is a call counted.
    """

    _name = "einvoice.rate.limit"
    _description = "E-invoicing call counter"
    _log_access = False

    key = fields.Char(required=True, index=True, readonly=True)
    window_start = fields.Datetime(required=True, readonly=True)
    count = fields.Integer(required=True, default=0, readonly=True)

    compat.sql_constraints(
        locals(), [("key_window_unique", "unique(key, window_start)", "One counter per key and window.")]
    )

    # -- sliding window -----------------------------------------------------------------------
    @api.model
    def _einvoice_acquire(self, key, limit, window_s=60, max_wait=0.0, now=None, sleep=time.sleep):
        """Count one call under `key`, at most `limit` in any `window_s` seconds.

        Waits up to `max_wait` seconds for room, else raises errors.QuotaError (retry_after
        set): the attempt waits for the quota, nothing was sent.
        """
        deadline = time.monotonic() + max_wait
        while True:
            wait = self._einvoice_try_acquire(key, limit, window_s, now)
            if wait is None:
                return True
            if now is not None or time.monotonic() + wait > deadline:
                raise errors.QuotaError(
                    f"The limit of {limit} calls per {window_s} s for {key} is reached.", retry_after=wait
                )
            sleep(wait)

    @api.model
    def _einvoice_try_acquire(self, key, limit, window_s, now=None):
        """Count one call and return None, or return the seconds until there is room.

        Two round trips (this runs before every call to a service): the key's lock with the
        database's clock, then one statement that sums the window and counts the call when
        there is room (the lock serializes it per key).
        """
        with dbtools.own_env(self.env) as env:
            cr = env.cr
            cr.execute(
                SQL(
                    "SELECT pg_advisory_xact_lock(%s, %s), clock_timestamp() AT TIME ZONE 'UTC'",
                    _lock_space(),
                    _lock_key(key),
                )
            )
            second = _floor_second(now or _as_datetime(cr.fetchone()[1]))
            # Buckets are whole seconds: count the one the window starts in too (strict bound).
            start = second - timedelta(seconds=window_s)
            cr.execute(
                SQL(
                    """WITH used AS (SELECT COALESCE(SUM(count), 0) AS calls, MIN(window_start) AS oldest
                                       FROM einvoice_rate_limit WHERE key = %(key)s AND window_start >= %(start)s),
                            counted AS (INSERT INTO einvoice_rate_limit (key, window_start, count)
                                        SELECT %(key)s, %(second)s, 1 FROM used WHERE used.calls < %(limit)s
                                        ON CONFLICT (key, window_start)
                                        DO UPDATE SET count = einvoice_rate_limit.count + 1
                                        RETURNING 1)
                       SELECT used.calls, used.oldest, EXISTS (SELECT 1 FROM counted) FROM used""",
                    key=key,
                    start=start,
                    second=second,
                    limit=limit,
                )
            )
            _used, oldest, counted = cr.fetchone()
            dbtools.commit(env)
            if counted:
                return None
            return max((oldest - start).total_seconds() + 1.0, 0.05)

    # -- fixed window (daily counters) ----------------------------------------------------------
    @api.model
    def _einvoice_acquire_fixed(self, key, limit, window_start, window_end=None):
        """Count one call in the fixed window starting at `window_start` (naive UTC).

        Raises errors.QuotaError (retry_after: until `window_end`) when `limit` is reached.
        """
        with dbtools.own_env(self.env) as env:
            env.cr.execute(
                SQL(
                    """INSERT INTO einvoice_rate_limit (key, window_start, count) VALUES (%s, %s, 1)
                       ON CONFLICT (key, window_start) DO UPDATE SET count = einvoice_rate_limit.count + 1
                       WHERE einvoice_rate_limit.count < %s
                       RETURNING count""",
                    key,
                    window_start,
                    limit,
                )
            )
            counted = env.cr.fetchone()
            dbtools.commit(env)
        if counted is None:
            retry = (window_end - fields.Datetime.now()).total_seconds() if window_end else None
            raise errors.QuotaError(f"The daily limit of {limit} calls for {key} is reached.", retry_after=retry)
        return counted[0]

    @api.model
    def _einvoice_used(self, key, window_start):
        """Calls counted in a fixed window (for screens and tests)."""
        self.env.cr.execute(
            SQL("SELECT count FROM einvoice_rate_limit WHERE key = %s AND window_start = %s", key, window_start)
        )
        row = self.env.cr.fetchone()
        return row[0] if row else 0

    # -- housekeeping ------------------------------------------------------------------------------
    @api.model
    def _cron_einvoice_purge_rate_limits(self, days=3):
        """Counters older than a few days count nothing any more."""
        self.env.cr.execute(
            SQL("DELETE FROM einvoice_rate_limit WHERE window_start < %s", fields.Datetime.now() - timedelta(days=days))
        )
        return self.env.cr.rowcount


def _lock_space():
    return zlib.crc32(b"einvoice.rate.limit") - 2**31


def _lock_key(key):
    return zlib.crc32(key.encode()) - 2**31


def _floor_second(moment):
    return moment.replace(microsecond=0)


def _as_datetime(value):
    return value if isinstance(value, datetime) else fields.Datetime.to_datetime(value)
