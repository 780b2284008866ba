import threading
import time

from odoo import _, api, fields, models
from odoo.tools import SQL

from odoo.addons.einvoice_common import compat
from odoo.addons.einvoice_common.einvoice import errors as einvoice_errors

from ..anaf import quota

_BUCKETS = {}  # dbname -> (deque of call times, lock): the per-minute bucket of this process
_BUCKETS_LOCK = threading.Lock()


class L10nRoAnafEfacturaQuota(models.Model):
    """ANAF's daily call counters (per message or per CIF, per Bucharest day), shared by all workers."""

    _name = "l10n_ro_anaf_efactura.quota"
    _description = "ANAF e-Factura call counter"
    _order = "day desc, operation, key"
    _log_access = False

    operation = fields.Char(required=True)
    key = fields.Char(required=True, help="Upload index, download id or CIF")
    day = fields.Char(required=True, help="Day in Europe/Bucharest (YYYY-MM-DD)")
    count = fields.Integer(default=0)

    compat.sql_constraints(
        locals(),
        [
            (
                "operation_key_day_unique",
                "unique(operation, key, day)",
                "One counter per operation, key and day.",
            ),
        ],
    )

    @api.model
    def _l10n_ro_anaf_efactura_ledger(self):
        """A QuotaLedger persisted in this table, 5 % below ANAF's published limits.

        Daily counters live in the database (all workers); the per-minute bucket is shared by
        every thread of this process for this database (one cron runs at a time).
        """
        ledger = quota.QuotaLedger(_CounterStore(self.env.cr), daily_margin=0.95)
        with _BUCKETS_LOCK:
            window, lock = _BUCKETS.setdefault(self.env.cr.dbname, (ledger.window, ledger.lock))
        ledger.window, ledger.lock = window, lock
        return ledger

    @api.model
    def _l10n_ro_anaf_efactura_call(self):
        """One slot of ANAF's per-minute budget (waits for room)."""
        self._l10n_ro_anaf_efactura_ledger().throttle(time.monotonic, time.sleep)

    @api.model
    def _l10n_ro_anaf_efactura_daily(self, op, key):
        """One of ANAF's daily calls `op` for `key`; QuotaError (until Bucharest's midnight) when none is left."""
        now = fields.Datetime.now()
        if not self._l10n_ro_anaf_efactura_ledger().acquire(op, key, now):
            retry = (quota.next_bucharest_midnight(now) - now).total_seconds()
            raise einvoice_errors.QuotaError(
                _("ANAF's daily limit of %(op)s calls for %(key)s is reached; asked again tomorrow.", op=op, key=key),
                retry_after=retry,
            )

    @api.model
    def _l10n_ro_anaf_efactura_purge(self):
        """Counters older than 3 days are of no use (ANAF's limits are daily)."""
        self.env.cr.execute(
            "DELETE FROM l10n_ro_anaf_efactura_quota WHERE day < to_char(now() - interval '3 days', 'YYYY-MM-DD')"
        )


class _CounterStore:
    """The store protocol of anaf.quota.QuotaLedger on this table; a plain object, so nothing is callable over RPC."""

    def __init__(self, cr):
        self.cr = cr

    def get(self, op, key, day):
        self.cr.execute(
            SQL(
                "SELECT count FROM l10n_ro_anaf_efactura_quota WHERE operation = %s AND key = %s AND day = %s",
                op,
                str(key),
                day,
            )
        )
        row = self.cr.fetchone()
        return row[0] if row else 0

    def add(self, op, key, day):
        self.cr.execute(
            SQL(
                """INSERT INTO l10n_ro_anaf_efactura_quota (operation, key, day, count) VALUES (%s, %s, %s, 1)
               ON CONFLICT (operation, key, day) DO UPDATE SET count = l10n_ro_anaf_efactura_quota.count + 1
               RETURNING count""",
                op,
                str(key),
                day,
            )
        )
        return self.cr.fetchone()[0]
