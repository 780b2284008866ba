"""Concurrent ANAF calls through einvoice_common's callpool.py: pure HTTP in threads, counted calls only."""

import threading

import pytest
from anaf_support import SELLER, make_invoice

from einvoice_common.einvoice import callpool
from einvoice_common.einvoice import errors as taxonomy
from einvoice_common.einvoice.transport import Transport
from l10n_ro_anaf_efactura.anaf.client import AnafClient


def _thread_client(anaf, exchanges, calls=1):
    token = anaf.holder(False)
    transport = Transport(
        anaf.base,
        service="anaf",
        auth=callpool.FixedBearer(token),
        throttle=callpool.CountedCalls(calls, taxonomy.QuotaError),
        recorder=exchanges.append,
        sleep=lambda _s: None,
    )
    return AnafClient(transport, clock=anaf.clock)


def test_uploads_overlap_and_each_outcome_comes_back_with_its_exchanges(anaf):
    anaf.faults.latency = 0.05
    inside, most = [0], [0]
    lock = threading.Lock()
    original = anaf.faults.sleep

    def counting_sleep(seconds):  # how many requests the sandbox is answering at the same moment
        with lock:
            inside[0] += 1
            most[0] = max(most[0], inside[0])
        try:
            original(seconds)
        finally:
            with lock:
                inside[0] -= 1

    anaf.faults.sleep = counting_sleep
    outcomes = {}
    with callpool.Dispatcher(workers=4) as pool:
        for n in range(8):
            exchanges = []
            client = _thread_client(anaf, exchanges)
            number = f"INV/2026/{n:05d}"
            pool.submit(number, lambda c=client, x=number: c.upload(make_invoice(x), cif=SELLER), exchanges)
        outcomes.update(pool.drain())
    assert len(outcomes) == 8 and all(o.error is None for o in outcomes.values())
    assert len({o.answer.index for o in outcomes.values()}) == 8
    assert all(len(o.exchanges) == 1 and o.exchanges[0].operation == "upload" for o in outcomes.values())
    assert len(anaf.state.uploads) == 8
    assert most[0] > 1  # the calls were in flight together


def test_a_retry_nobody_counted_is_not_sent(anaf):
    """One call counted: the 429 is not retried (it would be a call the shared limiter never saw)."""
    anaf.faults.inject("status", status=429, path="stareMesaj")
    exchanges = []
    client = _thread_client(anaf, exchanges, calls=1)
    index = anaf.client.upload(make_invoice(), cif=SELLER).index
    with callpool.Dispatcher(workers=2) as pool:
        pool.submit("status", lambda: client.message_state(index), exchanges)
        ((_key, outcome),) = list(pool.drain())
    assert isinstance(outcome.error, taxonomy.QuotaError)
    assert anaf.faults.calls_to("stareMesaj", "GET") == 1
    assert [e.status for e in exchanges] == [429]


def test_a_refused_token_is_not_refreshed_in_the_thread(anaf):
    anaf.state.expire_access_tokens()
    exchanges = []
    client = _thread_client(anaf, exchanges)
    with callpool.Dispatcher(workers=2) as pool:
        pool.submit("upload", lambda: client.upload(make_invoice(), cif=SELLER), exchanges)
        ((_key, outcome),) = list(pool.drain())
    assert isinstance(outcome.error, taxonomy.AuthError) and outcome.error.status == 401
    assert anaf.state.token_calls == [] and not anaf.state.uploads


def test_a_lost_answer_comes_back_as_unknown_outcome(anaf):
    anaf.faults.inject("lost", path="/upload", method="POST")
    exchanges = []
    client = _thread_client(anaf, exchanges)
    with callpool.Dispatcher(workers=2) as pool:
        pool.submit("upload", lambda: client.upload(make_invoice(), cif=SELLER), exchanges)
        ((_key, outcome),) = list(pool.drain())
    assert isinstance(outcome.error, taxonomy.UnknownOutcome)
    assert len(anaf.state.uploads) == 1  # ANAF has it: the caller must reconcile, never resend


def test_finished_never_waits(anaf):
    release = threading.Event()
    with callpool.Dispatcher(workers=1) as pool:
        pool.submit("slow", release.wait)
        assert list(pool.finished()) == []
        release.set()
        assert [key for key, _o in pool.drain()] == ["slow"]


def test_no_counted_call_means_nothing_sent(anaf):
    client = _thread_client(anaf, [], calls=0)
    with pytest.raises(taxonomy.QuotaError):
        client.upload(make_invoice(), cif=SELLER)
    assert not anaf.state.uploads


def test_room_hands_back_calls_until_a_thread_is_free():
    """A call is counted only when a thread can make it at once: `room` waits for one, yielding what is back."""
    release = threading.Event()
    with callpool.Dispatcher(workers=2) as pool:
        pool.submit("first", release.wait)
        assert list(pool.room()) == []  # one thread still free: nothing to wait for
        pool.submit("second", lambda: "done")
        threading.Timer(0.05, release.set).start()
        back = [key for key, _o in pool.room()]  # both threads were busy: waits for one to come back
        assert back and len(pool.pending) < 2
        assert sorted(back + [key for key, _o in pool.drain()]) == ["first", "second"]
