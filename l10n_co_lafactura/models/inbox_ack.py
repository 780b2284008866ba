"""The webhook's acknowledgement in SQL: one lookup, one insert, on the request's cursor.

LaFactura.co's hook must be answered fast whatever the load, so the acknowledgement uses no
user, no ORM record and no session: the controller hands its cursor to `find_connection`
(the connection whose secret matches, compared in constant time) and to `store` (one
statement that inserts a new body or counts a repeat, and says whether the processing cron is
already due; it never waits for the cron's locks). Every
value travels as a query parameter (never formatted into the SQL) and is cut to its column's
size; the body's size was capped before it was read.
"""

import hmac
from collections import namedtuple

from psycopg2.extensions import TRANSACTION_STATUS_IDLE

from odoo import SUPERUSER_ID, api, fields
from odoo.tools import SQL

CRON_XMLID = ("l10n_co_lafactura", "ir_cron_l10n_co_lafactura_process")
MIN_SECRET = 32

Connection = namedtuple("Connection", "id company_id max_body_kb")


def find_connection(cr, secret):
    """The active LaFactura connection whose webhook secret is `secret`, or None (one query)."""
    if not secret or len(secret) < MIN_SECRET:
        return None
    lookup = SQL(
        """SELECT id, company_id, l10n_co_lafactura_max_body_kb, l10n_co_lafactura_webhook_secret
             FROM einvoice_credential
            WHERE service = 'lafactura' AND active AND l10n_co_lafactura_webhook_secret IS NOT NULL"""
    )
    if _fresh_transaction(cr):
        # The acknowledgement's transaction at READ COMMITTED: its one statement is atomic, and
        # under Odoo's REPEATABLE READ a row committed by the cron or by an identical delivery
        # after this lookup would make it fail to serialize (Odoo then sleeps before retrying).
        lookup = SQL("SET TRANSACTION ISOLATION LEVEL READ COMMITTED; %s", lookup)
    cr.execute(lookup)
    found = None
    given = secret.encode()
    for credential_id, company_id, max_body_kb, known in cr.fetchall():
        if hmac.compare_digest(known.encode(), given):  # every row compared: no early exit
            found = Connection(credential_id, company_id, max_body_kb)
    return found


def _fresh_transaction(cr):
    """True when nothing ran yet in this cursor's transaction (its isolation may still change)."""
    connection = getattr(cr, "_cnx", None)  # a test cursor shares the test's open transaction
    return connection is not None and connection.info.transaction_status == TRANSACTION_STATUS_IDLE


def _clip(value, size):
    return (value or "")[:size] or None


def _row_values(connection, delivery, body, remote_addr, content_type):
    keys = delivery.keys or {}
    return {
        "credential": connection.id,
        "company": connection.company_id,
        "now": fields.Datetime.now(),
        "remote_addr": (remote_addr or "")[:64],
        "content_type": (content_type or "")[:128],
        "body": body.decode("utf-8", "replace").replace("\x00", "\ufffd"),  # PostgreSQL text holds no NUL
        "sha": delivery.sha256,
        "size": len(body),
        "cufe": _clip(keys.get("cufe"), 128),  # a CUFE is 96 characters; a huge one would not fit the index
        "kind": keys.get("type") if keys.get("type") in ("fc", "nc", "nd") else None,
        "kind_raw": _clip(keys.get("type"), 16),
        "mode": keys.get("mode") if keys.get("mode") in ("1", "2") else None,
        "number": _clip(keys.get("num"), 64),
        "provider_vat": _clip(keys.get("provider_id"), 32),
        "provider_name": _clip(keys.get("provider_name"), 256),
        "state": delivery.state,
        "reason": delivery.reason or None,
        "code": delivery.code or None,
        "uid": SUPERUSER_ID,
        "module": CRON_XMLID[0],
        "cron": CRON_XMLID[1],
    }


# One statement: a repeat of a stored body (found with a plain read, which waits for nothing)
# is counted on its row unless the cron's batch holds that row, then parked in
# l10n_co_lafactura_inbox_repeat; a new body is inserted. Inserting a repeat instead would wait
# in the unique index for the batch that is updating the row, then fail to serialize.
DELIVER = """
WITH target AS (
    SELECT id FROM l10n_co_lafactura_inbox WHERE credential_id = %(credential)s AND body_sha256 = %(sha)s
), counted AS (
    UPDATE l10n_co_lafactura_inbox SET delivery_count = delivery_count + 1, last_received_at = %(now)s
     WHERE id = (SELECT id FROM l10n_co_lafactura_inbox WHERE id IN (SELECT id FROM target)
                    FOR NO KEY UPDATE SKIP LOCKED)
    RETURNING id
), parked AS (
    INSERT INTO l10n_co_lafactura_inbox_repeat (inbox_id, received_at)
    SELECT id, %(now)s FROM target WHERE NOT EXISTS (SELECT 1 FROM counted)
    RETURNING inbox_id
), stored AS (
    INSERT INTO l10n_co_lafactura_inbox
        (credential_id, company_id, received_at, last_received_at, delivery_count, remote_addr,
         content_type, body, body_sha256, body_size, cufe, doc_type, doc_type_raw, mode, number,
         provider_vat, provider_name, state, reason, reason_code, attempts,
         create_uid, create_date, write_uid, write_date)
    SELECT %(credential)s, %(company)s, %(now)s, %(now)s, 1, %(remote_addr)s, %(content_type)s, %(body)s,
           %(sha)s, %(size)s, %(cufe)s, %(kind)s, %(kind_raw)s, %(mode)s, %(number)s, %(provider_vat)s,
           %(provider_name)s, %(state)s, %(reason)s, %(code)s, 0, %(uid)s, %(now)s, %(uid)s, %(now)s
     WHERE NOT EXISTS (SELECT 1 FROM target)
    ON CONFLICT (credential_id, body_sha256) DO NOTHING
    RETURNING id
), cron AS (
    SELECT res_id AS id FROM ir_model_data WHERE module = %(module)s AND name = %(cron)s AND model = 'ir.cron'
)
SELECT COALESCE((SELECT id FROM stored), (SELECT id FROM target)), EXISTS (SELECT 1 FROM stored),
       (SELECT id FROM cron), EXISTS (
           SELECT 1 FROM ir_cron_trigger
            WHERE cron_id = (SELECT id FROM cron) AND call_at <= (clock_timestamp() AT TIME ZONE 'UTC'))
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

    One statement (`DELIVER`), which also tells whether the processing cron is already due, so
    that during a burst only the first delivery adds a trigger (and wakes the cron workers).
    """
    # Two identical new deliveries at once: the loser's serialization failure makes Odoo retry
    # the request (its body is cached); no need to log the query with the body.
    cr.execute(DELIVER, _row_values(connection, delivery, body, remote_addr, content_type), log_exceptions=False)
    row_id, inserted, cron_id, cron_due = cr.fetchone()
    if row_id is None:  # READ COMMITTED: an identical delivery committed its row meanwhile
        cr.execute(DELIVER, _row_values(connection, delivery, body, remote_addr, content_type), log_exceptions=False)
        row_id, inserted, cron_id, cron_due = cr.fetchone()
    if inserted and delivery.state == "received" and cron_id and not cron_due:
        api.Environment(cr, SUPERUSER_ID, {})["ir.cron"].browse(cron_id)._trigger()
    return row_id, inserted


def fold_repeats(cr, inbox_ids=None):
    """Add the parked repeats to their rows' counts (rows another transaction holds: later)."""
    where = SQL("WHERE inbox_id IN %s", tuple(inbox_ids)) if inbox_ids else SQL("")
    cr.execute(SQL(FOLD, where), log_exceptions=False)
