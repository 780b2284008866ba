"""Keep a sandbox's state across restarts of `setup/run` (a pickle file under `.local/`).

A demo invoice stamped or uploaded before a restart must still be known to the sandbox
afterwards, and a token it issued must still work. The state object of a sandbox (`app.state`,
or the app itself) holds its data in containers (dicts, lists, sets, deques), counters
(`itertools.count`) and a few integers (credits, call counts): those are saved. Settings
(strings, booleans, floats), locks, events and callables are not: they come from this run's
options, so a restart with other options (a dialect, latency) takes them.

The file is written by this process only, under the repository's `.local/`; it is not an
exchange format (a file from another version that no longer loads is set aside and the
sandbox starts empty, saying so).
"""

import collections
import contextlib
import itertools
import logging
import os
import pickle
import re
import threading

from .faults import FaultInjector

_logger = logging.getLogger(__name__)
_COUNT = re.compile(r"count\((-?\d+)(?:, (-?\d+))?\)")
_KEPT = (dict, list, set, frozenset, tuple, collections.deque, int)


def state_of(app):
    """The object holding a sandbox's data: the app behind the fault injector, or its `state`."""
    if isinstance(app, FaultInjector):
        app = app.app
    return getattr(app, "state", app)


def _counter_value(counter):
    """The next value and step of an itertools.count (not picklable from Python 3.14 on)."""
    match = _COUNT.fullmatch(repr(counter))
    return (int(match.group(1)), int(match.group(2) or 1)) if match else None


def snapshot(state):
    """The persistable attributes of `state`, as picklable values."""
    data = {}
    lock = getattr(state, "lock", None) or contextlib.nullcontext()
    with lock:
        for name, value in vars(state).items():
            if isinstance(value, itertools.count):
                counter = _counter_value(value)
                if counter:
                    data[name] = ("itertools.count", counter)
                continue
            if not isinstance(value, _KEPT) or isinstance(value, bool):
                continue
            try:
                pickle.dumps(value)
            except Exception:  # noqa: BLE001 - anything that does not pickle is simply not kept
                _logger.debug("sandbox state %s not kept (not picklable)", name)
                continue
            data[name] = ("value", value)
    return data


def restore(state, data):
    lock = getattr(state, "lock", None) or contextlib.nullcontext()
    with lock:
        for name, (kind, value) in data.items():
            if kind == "itertools.count":
                setattr(state, name, itertools.count(*value))
            else:
                setattr(state, name, value)


def dump(app):
    return pickle.dumps(snapshot(state_of(app)), protocol=pickle.HIGHEST_PROTOCOL)


def write(path, blob):
    """Write atomically: a crash while writing leaves the previous file."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    temporary = f"{path}.tmp"
    with open(temporary, "wb") as handle:
        handle.write(blob)
    os.replace(temporary, path)


def load(app, path):
    """Restore the state saved at `path`; True when something was restored."""
    if not os.path.exists(path):
        return False
    try:
        with open(path, "rb") as handle:
            data = pickle.load(handle)  # noqa: S301 - our own file under .local/, see the module docstring
        restore(state_of(app), data)
    except Exception as exc:  # noqa: BLE001 - a stale file must not keep the sandboxes from starting
        os.replace(path, f"{path}.unreadable")
        _logger.warning("sandbox state %s could not be restored (%s): starting empty", path, exc)
        return False
    return True


class Keeper:
    """Saves a sandbox's state every `interval` seconds when it changed, and once at stop."""

    def __init__(self, app, path, interval=10.0):
        self.app, self.path, self.interval = app, path, interval
        self._last = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"sandbox-state-{path}", daemon=True)

    def start(self):
        self._thread.start()
        return self

    def save(self):
        blob = dump(self.app)
        if blob != self._last:
            write(self.path, blob)
            self._last = blob

    def _run(self):
        while not self._stop.wait(self.interval):
            try:
                self.save()
            except Exception:  # noqa: BLE001 - keep serving; the final save says what failed
                _logger.exception("saving the sandbox state to %s failed", self.path)

    def stop(self):
        self._stop.set()
        self._thread.join(5)
        self.save()
