"""Pure HTTP calls overlapped in a few threads; everything else stays in the caller's thread.

Every service's cron spends most of its wait on the network: uploads, downloads, document
lookups. The calls can overlap; the database work cannot (a cursor belongs to one thread).
So the caller does all database work before and after, in its own thread, and hands the
threads only calls that need nothing but HTTP: a client whose token was read beforehand
(`FixedBearer`), whose throttle spends only calls the database limiter already counted
(`CountedCalls`), and whose recorder keeps the exchanges in memory, written afterwards.

Two shapes:
- `map_concurrently(function, items)`: a batch, results in order (downloads, lookups);
- `Dispatcher`: a stream, each call submitted once a thread is free and counted just before
  (uploads under a rate limit: counted and sent stay milliseconds apart).
"""

import threading
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field


def map_concurrently(function, items, workers=4, stop=None):
    """[(result, None) or (None, exception)] of `function(item)` for each item, in order.

    Once an exception satisfies `stop` (e.g. refused credentials: every other call would fail
    the same way), the items not started yet are skipped: (None, None).
    """
    stopped = []

    def guarded(item):
        if stopped:
            return None, None
        try:
            return function(item), None
        except Exception as exc:  # noqa: BLE001 - handed back to the caller, item by item
            if stop is not None and stop(exc):
                stopped.append(exc)
            return None, exc

    items = list(items)
    if len(items) <= 1 or workers <= 1:
        return [guarded(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(workers, len(items)), thread_name_prefix="einvoice-call") as pool:
        return list(pool.map(guarded, items))


class FixedBearer:
    """Bearer auth with a token read before dispatch: a 401 is not refreshed in the thread
    (refreshing needs the database); the caller refreshes and calls again where it may."""

    def __init__(self, token):
        self.token = token

    def headers(self):
        return {"Authorization": f"Bearer {self.token}"}

    def refresh(self):
        return False

    def requests_auth(self):
        return None

    def secrets(self):
        return [self.token] if self.token else []


class CountedCalls:
    """A transport throttle spending calls the database limiter has already counted.

    A retry the caller did not count finds none left and raises `error` (the transport's
    QuotaError): nothing more is sent, and the caller treats it as "not now".
    """

    def __init__(self, calls, error):
        self.left, self.error, self.lock = calls, error, threading.Lock()

    def __call__(self, operation, params):
        with self.lock:
            if self.left <= 0:
                raise self.error(f"No call counted for one more {operation}: asked again later.", retry_after=60)
            self.left -= 1


@dataclass
class Outcome:
    """What came back from one call: the answer, or the exception it raised, and its exchanges."""

    answer: object = None
    error: BaseException = None
    exchanges: list = field(default_factory=list)


class Dispatcher:
    """A small thread pool for pure HTTP calls; results are read by the submitting thread.

    The caller loops: `room()` hands back what came back and waits while every thread is busy;
    then it counts the next call in the limiter and `submit`s it (it leaves at once); at the end
    `drain()` hands back the rest as they come back.
    """

    def __init__(self, workers=4):
        self.workers = max(1, workers)
        self.pool = ThreadPoolExecutor(self.workers, thread_name_prefix="einvoice-call")
        self.pending = {}

    def submit(self, key, call, exchanges=None):
        """Run `call()` in a thread; its outcome (answer or exception) comes back with `key`."""
        outcome = Outcome(exchanges=exchanges if exchanges is not None else [])

        def run():
            try:
                outcome.answer = call()
            except Exception as exc:  # noqa: BLE001 - every outcome goes back to the caller's thread
                outcome.error = exc
            return outcome

        self.pending[self.pool.submit(run)] = key

    def finished(self):
        """The calls already back, without waiting."""
        for future in [f for f in self.pending if f.done()]:
            yield self.pending.pop(future), future.result()

    def room(self):
        """The calls already back, then, while every thread is busy, each call as it comes back."""
        yield from self.finished()
        while len(self.pending) >= self.workers:
            yield from self._next_back()

    def drain(self):
        """Every call still out, as each comes back."""
        while self.pending:
            yield from self._next_back()

    def _next_back(self):
        done, _running = wait(list(self.pending), return_when=FIRST_COMPLETED)
        for future in done:
            yield self.pending.pop(future), future.result()

    def close(self):
        self.pool.shutdown(wait=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
