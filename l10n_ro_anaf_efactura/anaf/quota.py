"""ANAF's published call limits (what is counted, under which key, up to what), and the status polling schedule.

Limits (limiteApeluriAPI.txt): 1000 calls/minute in all; stareMesaj 100 per message
per day; descarcare 10 per message per day; simple list 1500 per CUI per day;
paginated list 100 000 per CUI per day. Days are Europe/Bucharest days.

Counting is not done here: the Odoo layer counts every request in PostgreSQL
(einvoice_common's `einvoice.rate.limit`), shared by all workers and servers, with the
keys and ceilings given here (`daily_key`, `daily_limit`, `PER_MINUTE_OURS`).
"""

from datetime import datetime, timedelta, timezone

try:
    from zoneinfo import ZoneInfo

    BUCHAREST = ZoneInfo("Europe/Bucharest")
except (ImportError, KeyError):  # pragma: no cover - tzdata missing
    BUCHAREST = timezone(timedelta(hours=2))

DAILY = {
    "status": 100,  # per message
    "download": 10,  # per message
    "list": 1500,  # per CUI
    "list_page": 100000,  # per CUI
    "rasp": 1000,  # per CUI
}
PER_MINUTE = 1000
# Our ceilings stay 5 % below ANAF's: a request counted just before a window edge may
# reach ANAF just after it.
DAILY_MARGIN = 0.95
PER_MINUTE_OURS = int(PER_MINUTE * DAILY_MARGIN)


def bucharest_day(now):
    """The ANAF day of a naive-UTC or aware datetime, as 'YYYY-MM-DD'."""
    if now.tzinfo is None:
        now = now.replace(tzinfo=timezone.utc)
    return now.astimezone(BUCHAREST).date().isoformat()


def next_bucharest_midnight(now):
    aware = now.replace(tzinfo=timezone.utc) if now.tzinfo is None else now
    local = aware.astimezone(BUCHAREST)
    midnight = datetime.combine(local.date() + timedelta(days=1), datetime.min.time(), tzinfo=BUCHAREST)
    result = midnight.astimezone(timezone.utc)
    return result.replace(tzinfo=None) if now.tzinfo is None else result


def day_window(now):
    """(start, end) of the ANAF day of `now`, as naive-UTC datetimes (Bucharest midnights)."""
    end = next_bucharest_midnight(now)
    aware = now.replace(tzinfo=timezone.utc) if now.tzinfo is None else now
    local = aware.astimezone(BUCHAREST)
    start = datetime.combine(local.date(), datetime.min.time(), tzinfo=BUCHAREST).astimezone(timezone.utc)
    return start.replace(tzinfo=None), end.replace(tzinfo=None)


# The query parameter that names what a daily limit counts, per client operation.
_DAILY_PARAM = {"status": "id_incarcare", "download": "id", "list": "cif", "list_page": "cif"}


def daily_key(operation, params):
    """(limited operation, key) of one request, or None when ANAF counts it per minute only."""
    name = _DAILY_PARAM.get(operation)
    value = (params or {}).get(name) if name else None
    return (operation, str(value)) if value not in (None, "") else None


def daily_limit(operation, margin=DAILY_MARGIN):
    """Our daily ceiling for `operation`, a margin below ANAF's (None: no daily limit)."""
    limit = DAILY.get(operation)
    return None if limit is None else max(1, int(limit * margin))


# Status polling: soon after upload (ANAF usually answers in minutes), then spaced out.
# 16 polls in the first day at most, far below 100 per message per day.
POLL_SCHEDULE_MINUTES = [
    1,
    2,
    5,
    10,
    15,
    30,
    60,
    60,
    120,
    120,
    240,
    240,
    360,
    360,
    480,
    720,
]


def next_poll(now, polls_done):
    """When to ask stareMesaj again after `polls_done` answers 'in prelucrare' / transient errors."""
    index = min(polls_done, len(POLL_SCHEDULE_MINUTES) - 1)
    return now + timedelta(minutes=POLL_SCHEDULE_MINUTES[index])
