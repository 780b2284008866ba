"""ANAF's published call limits as a pure ledger, and the status polling schedule.

Limits (limiteApeluriAPI.txt): 1000 calls/minute in all; stareMesaj 100 per message
per day; descarcare 10 per message per day; simple list 1500 per CUI per day;
paginated list 100 000 per CUI per day. Days are Europe/Bucharest days.

`QuotaLedger(store)` counts through a `store` with `get(op, key, day) -> int` and
`add(op, key, day) -> int` (the Odoo layer persists it in a table; `MemoryStore`
here). `acquire(op, key, now)` says whether one more call is allowed and, when it
is, records it; the per-minute bucket is kept in memory per process (one cron
runs at a time), with a safety margin below ANAF's ceiling.
"""

import threading
from collections import deque
from datetime import datetime, timedelta, timezone

try:
    from zoneinfo import ZoneInfo

    BUCHAREST = ZoneInfo("Europe/Bucharest")
except Exception:  # pragma: no cover - tzdata missing
    BUCHAREST = timezone(timedelta(hours=2))

DAILY = {
    "status": 100,  # per message
    "download": 10,  # per message
    "list": 1500,  # per CUI
    "list_page": 100000,  # per CUI
    "rasp": 1000,  # per CUI
}
PER_MINUTE = 1000


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


class MemoryStore:
    def __init__(self):
        self.counts = {}
        self.lock = threading.Lock()

    def get(self, op, key, day):
        return self.counts.get((op, str(key), day), 0)

    def add(self, op, key, day):
        with self.lock:
            value = self.counts.get((op, str(key), day), 0) + 1
            self.counts[(op, str(key), day)] = value
            return value


class QuotaLedger:
    def __init__(
        self,
        store=None,
        *,
        daily=None,
        per_minute=PER_MINUTE,
        margin=0.95,
        daily_margin=None,
    ):
        self.store = store if store is not None else MemoryStore()  # an Odoo store may be falsy
        self.daily = dict(DAILY, **(daily or {}))
        if daily_margin:
            self.daily = {op: max(1, int(limit * daily_margin)) for op, limit in self.daily.items()}
        self.per_minute = max(1, int(per_minute * margin))
        self.window = deque()
        self.lock = threading.Lock()

    def remaining(self, op, key, now):
        limit = self.daily.get(op)
        if limit is None:
            return None
        return max(0, limit - self.store.get(op, key, bucharest_day(now)))

    def allowed(self, op, key, now):
        remaining = self.remaining(op, key, now)
        return remaining is None or remaining > 0

    def acquire(self, op, key, now):
        """Record one call if the daily limit allows it; False when it does not."""
        if not self.allowed(op, key, now):
            return False
        if op in self.daily:
            self.store.add(op, key, bucharest_day(now))
        return True

    # -- per-minute bucket (monotonic seconds) -----------------------------------
    def minute_wait(self, t):
        """Seconds to wait before one more call at monotonic time t (0 = go)."""
        with self.lock:
            while self.window and t - self.window[0] >= 60:
                self.window.popleft()
            if len(self.window) < self.per_minute:
                self.window.append(t)
                return 0.0
            return 60 - (t - self.window[0]) + 0.001

    def throttle(self, clock, sleep):
        """Block until the per-minute bucket has room, then take a slot."""
        while True:
            wait = self.minute_wait(clock())
            if not wait:
                return
            sleep(wait)


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
