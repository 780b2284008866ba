"""The webhook's acknowledgement in SQL: one lookup, one insert, on the request's cursor.

LaFactura.co's hook must be answered fast whatever the load, so the acknowledgement uses no
user, no ORM record and no session: the controller hands its cursor to `find_connection`
(the connection whose secret matches, compared in constant time) and to `store` (one
INSERT ... ON CONFLICT that also says whether the processing cron is already due). Every
value travels as a query parameter (never formatted into the SQL) and is cut to its column's
size; the body's size was capped before it was read.
"""

import hmac
from collections import namedtuple

from odoo import SUPERUSER_ID, api, fields
from odoo.tools import SQL

CRON_XMLID = ("l10n_co_lafactura", "ir_cron_l10n_co_lafactura_process")
MIN_SECRET = 32

Connection = namedtuple("Connection", "id company_id max_body_kb")


def find_connection(cr, secret):
    """The active LaFactura connection whose webhook secret is `secret`, or None (one query)."""
    if not secret or len(secret) < MIN_SECRET:
        return None
    cr.execute(
        SQL(
            """SELECT id, company_id, l10n_co_lafactura_max_body_kb, l10n_co_lafactura_webhook_secret
                 FROM einvoice_credential
                WHERE service = 'lafactura' AND active AND l10n_co_lafactura_webhook_secret IS NOT NULL"""
        )
    )
    found = None
    given = secret.encode()
    for credential_id, company_id, max_body_kb, known in cr.fetchall():
        if hmac.compare_digest(known.encode(), given):  # every row compared: no early exit
            found = Connection(credential_id, company_id, max_body_kb)
    return found


def _clip(value, size):
    return (value or "")[:size] or None


def _row_values(connection, delivery, body, remote_addr, content_type):
    keys = delivery.keys or {}
    kind = keys.get("type") if keys.get("type") in ("fc", "nc", "nd") else None
    mode = keys.get("mode") if keys.get("mode") in ("1", "2") else None
    now = fields.Datetime.now()
    return [
        connection.id,
        connection.company_id,
        now,
        now,
        (remote_addr or "")[:64],
        (content_type or "")[:128],
        body.decode("utf-8", "replace").replace("\x00", "\ufffd"),  # PostgreSQL text holds no NUL
        delivery.sha256,
        len(body),
        keys.get("cufe") or None,
        kind,
        _clip(keys.get("type"), 16),
        mode,
        _clip(keys.get("num"), 64),
        _clip(keys.get("provider_id"), 32),
        _clip(keys.get("provider_name"), 256),
        delivery.state,
        delivery.reason or None,
        delivery.code or None,
        SUPERUSER_ID,
        now,
        SUPERUSER_ID,
        now,
    ]


INSERT = """
WITH stored AS (
    INSERT INTO l10n_co_lafactura_inbox
        (credential_id, company_id, received_at, last_received_at, delivery_count, remote_addr,
         content_type, body, body_sha256, body_size, cufe, doc_type, doc_type_raw, mode, number,
         provider_vat, provider_name, state, reason, reason_code, attempts,
         create_uid, create_date, write_uid, write_date)
    VALUES (%s, %s, %s, %s, 1, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 0,
            %s, %s, %s, %s)
    ON CONFLICT (credential_id, body_sha256) DO NOTHING
    RETURNING id
), cron AS (
    SELECT res_id AS id FROM ir_model_data WHERE module = %s AND name = %s AND model = 'ir.cron'
)
SELECT stored.id, cron.id, EXISTS (
    SELECT 1 FROM ir_cron_trigger
     WHERE cron_id = cron.id AND call_at <= (clock_timestamp() AT TIME ZONE 'UTC')
) FROM stored LEFT JOIN cron ON TRUE
"""

# A repeat of a stored body: counted on its row, unless the cron holds that row (booking it):
# then parked in l10n_co_lafactura_inbox_repeat, never waiting for the cron's commit.
REPEAT = """
WITH target AS (
    SELECT id FROM l10n_co_lafactura_inbox WHERE credential_id = %s AND body_sha256 = %s
), counted AS (
    UPDATE l10n_co_lafactura_inbox SET delivery_count = delivery_count + 1, last_received_at = %s
     WHERE id = (SELECT id FROM l10n_co_lafactura_inbox WHERE id IN (SELECT id FROM target)
                    FOR NO KEY UPDATE SKIP LOCKED)
    RETURNING id
), parked AS (
    INSERT INTO l10n_co_lafactura_inbox_repeat (inbox_id, received_at)
    SELECT id, %s FROM target WHERE NOT EXISTS (SELECT 1 FROM counted)
    RETURNING inbox_id
)
SELECT target.id, EXISTS (SELECT 1 FROM parked) FROM target
"""

FOLD = """
WITH held AS (
    SELECT id FROM l10n_co_lafactura_inbox
     WHERE id IN (SELECT inbox_id FROM l10n_co_lafactura_inbox_repeat %s)
       FOR NO KEY UPDATE SKIP LOCKED
), gone AS (
    DELETE FROM l10n_co_lafactura_inbox_repeat
     WHERE inbox_id IN (SELECT id FROM held)
        OR NOT EXISTS (SELECT 1 FROM l10n_co_lafactura_inbox WHERE id = inbox_id)
    RETURNING inbox_id, received_at
)
UPDATE l10n_co_lafactura_inbox AS inbox
   SET delivery_count = inbox.delivery_count + folded.repeats,
       last_received_at = GREATEST(inbox.last_received_at, folded.last)
  FROM (SELECT inbox_id, count(*) AS repeats, max(received_at) AS last FROM gone GROUP BY inbox_id) AS folded
 WHERE inbox.id = folded.inbox_id
"""


def store(cr, connection, delivery, body, remote_addr="", content_type=""):
    """Store one delivery (one row per distinct body); returns (row id, inserted).

    A new body: one INSERT, which also tells whether the processing cron is already due, so
    that during a burst only the first delivery adds a trigger (and wakes the cron workers).
    A repeat: counted on its row in one more statement that never waits for a lock. Concurrent
    identical deliveries never fail nor double.
    """
    values = _row_values(connection, delivery, body, remote_addr, content_type)
    # Two identical deliveries at once: the loser's serialization failure makes Odoo retry
    # the request (its body is cached); no need to log the query with the body.
    cr.execute(SQL(INSERT, *values, *CRON_XMLID), log_exceptions=False)
    stored = cr.fetchone()
    if not stored:
        now = values[2]
        cr.execute(SQL(REPEAT, connection.id, delivery.sha256, now, now), log_exceptions=False)
        return cr.fetchone()[0], False
    row_id, cron_id, cron_due = stored
    if delivery.state == "received" and cron_id and not cron_due:
        api.Environment(cr, SUPERUSER_ID, {})["ir.cron"].browse(cron_id)._trigger()
    return row_id, True


def fold_repeats(cr, inbox_ids=None):
    """Add the parked repeats to their rows' counts (rows another transaction holds: later)."""
    where = SQL("WHERE inbox_id IN %s", tuple(inbox_ids)) if inbox_ids else SQL("")
    cr.execute(SQL(FOLD, where), log_exceptions=False)
