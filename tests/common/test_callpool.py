"""einvoice/callpool.py: calls overlap, results come back in order, errors come back as values."""

import threading

import pytest

from einvoice_common.einvoice import callpool, errors


def test_map_concurrently_keeps_the_order_and_hands_back_errors():
    def call(n):
        if n == 2:
            raise errors.TransientError("timeout")
        return n * 10

    results = callpool.map_concurrently(call, range(6), workers=3)
    assert [r for r, _e in results] == [0, 10, None, 30, 40, 50]
    assert isinstance(results[2][1], errors.TransientError)
    assert callpool.map_concurrently(call, [], workers=3) == []
    assert callpool.map_concurrently(call, [1], workers=3) == [(10, None)]


def test_map_concurrently_skips_what_is_not_started_once_told_to_stop():
    def call(n):
        if n == 0:
            raise errors.AuthError("refused")
        return n

    results = callpool.map_concurrently(call, range(5), workers=1, stop=lambda exc: exc.kind == "auth")
    assert isinstance(results[0][1], errors.AuthError)
    assert results[1:] == [(None, None)] * 4, "nothing called after the refusal"


def test_map_concurrently_really_overlaps_the_calls():
    # Each call waits until three are inside at once: run one after the other, the barrier breaks.
    barrier = threading.Barrier(3, timeout=5)

    def call(n):
        barrier.wait()
        return n

    assert callpool.map_concurrently(call, range(3), workers=3) == [(0, None), (1, None), (2, None)]


def test_dispatcher_hands_each_outcome_back_with_its_key():
    with callpool.Dispatcher(workers=2) as pool:
        pool.submit("a", lambda: 1)
        pool.submit("b", lambda: 1 / 0)
        back = dict(pool.drain())
    assert back["a"].answer == 1 and back["a"].error is None
    assert isinstance(back["b"].error, ZeroDivisionError) and back["b"].answer is None


def test_counted_calls_refuse_the_call_nobody_counted():
    throttle = callpool.CountedCalls(1, errors.QuotaError)
    throttle("upload", {})
    with pytest.raises(errors.QuotaError) as info:
        throttle("upload", {})
    assert info.value.retry_after == 60
