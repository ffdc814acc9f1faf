"""Blocking commands on an auto-pipelined Client or Pool get a connection of
their own: other callers' commands never queue behind them."""
from __future__ import annotations

import threading
import time

import pytest

import cpipe

from ._helpers import run_threads

KINDS = ["client", "pool"]


@pytest.fixture(params=KINDS)
def shared(request, server):
    if request.param == "client":
        r = cpipe.Client(host="127.0.0.1", port=server.port, autopipeline=True, socket_timeout=10)
    else:
        r = cpipe.Pool(host="127.0.0.1", port=server.port, size=2, socket_timeout=10)
    r.flushall()
    yield r
    r.close()


class Blocked(threading.Thread):
    """Runs one blocking call; records its result (or exception) and when."""

    def __init__(self, fn, *args) -> None:
        super().__init__(daemon=True)
        self.fn, self.args = fn, args
        self.result = self.error = None
        self.started_at = self.returned_at = 0.0

    def run(self) -> None:
        self.started_at = time.monotonic()
        try:
            self.result = self.fn(*self.args)
        except BaseException as e:  # noqa: BLE001 - checked by the test
            self.error = e
        self.returned_at = time.monotonic()


def _thousand_gets(r) -> float:
    """1,000 checked GETs from 8 threads; returns when they finished."""
    r.mset({f"g{i}": f"v{i}" for i in range(1000)})

    def work(t: int) -> None:
        for i in range(t, 1000, 8):
            assert r.get(f"g{i}") == f"v{i}".encode()

    run_threads(work, 8, timeout=30)
    return time.monotonic()


def test_blpop_timeout_does_not_hold_up_others(shared):
    b = Blocked(shared.blpop, ["bl-empty"], 2)
    b.start()
    time.sleep(0.1)  # the BLPOP is on the wire
    gets_done = _thousand_gets(shared)
    assert b.is_alive(), "the BLPOP returned before the GETs finished"
    b.join(10)
    assert not b.is_alive()
    assert b.error is None and b.result is None  # timed out on the server
    assert gets_done < b.returned_at
    assert b.returned_at - b.started_at >= 1.5


def test_lpush_wakes_blpop_with_its_value(shared):
    b = Blocked(shared.blpop, ["bl-wake"], 5)
    b.start()
    time.sleep(0.1)
    _thousand_gets(shared)
    assert b.is_alive()
    pusher = threading.Thread(target=shared.lpush, args=("bl-wake", "the-value"))
    pusher.start()
    pusher.join(10)
    b.join(10)
    assert not b.is_alive()
    assert b.error is None
    assert b.result == (b"bl-wake", b"the-value")
    assert shared.llen("bl-wake") == 0


# (method, args builder, how to feed the key, expected result)
BLOCKING = {
    "BLPOP": (lambda r, k: r.blpop([k], 5), lambda r, k: r.rpush(k, "x"), (None, b"x")),
    "BRPOP": (lambda r, k: r.brpop([k], 5), lambda r, k: r.rpush(k, "x"), (None, b"x")),
    "BRPOPLPUSH": (lambda r, k: r.brpoplpush(k, k + ":dst", 5), lambda r, k: r.rpush(k, "x"), b"x"),
    "BLMOVE": (lambda r, k: r.blmove(k, k + ":dst", 5, "LEFT", "RIGHT"), lambda r, k: r.rpush(k, "x"), b"x"),
    "BZPOPMIN": (lambda r, k: r.bzpopmin([k], 5), lambda r, k: r.zadd(k, {"m": 1.5}), (None, b"m", 1.5)),
    "BZPOPMAX": (lambda r, k: r.bzpopmax([k], 5), lambda r, k: r.zadd(k, {"m": 2.5}), (None, b"m", 2.5)),
}


@pytest.mark.parametrize("name", list(BLOCKING))
def test_each_blocking_command_is_isolated(shared, name):
    block, feed, expected = BLOCKING[name]
    # More blockers than the pool has connections, on distinct keys.
    keys = [f"{name}:{i}" for i in range(6)]
    blockers = [Blocked(block, shared, k) for k in keys]
    for b in blockers:
        b.start()
    time.sleep(0.2)
    _thousand_gets(shared)
    assert all(b.is_alive() for b in blockers)
    for k in keys:
        feed(shared, k)
    for k, b in zip(keys, blockers):
        b.join(10)
        assert not b.is_alive()
        assert b.error is None, b.error
        want = expected if not isinstance(expected, tuple) else tuple(k.encode() if e is None else e for e in expected)
        assert b.result == want, (k, b.result)


def test_blocking_forever_then_woken(shared):
    b = Blocked(shared.blpop, ["bl-forever"], 0)
    b.start()
    time.sleep(0.1)
    _thousand_gets(shared)
    assert b.is_alive()
    assert shared.rpush("bl-forever", "late") == 1
    b.join(10)
    assert b.result == (b"bl-forever", b"late")


def test_blocking_futures_and_threads_together(shared):
    """Many blocked callers at once (futures on a Pool, threads on both)."""
    futures = []
    if isinstance(shared, cpipe.Pool):
        futures = [shared.submit("BLPOP", f"bf{i}", 5) for i in range(10)]
    threads = [Blocked(shared.brpop, [f"bt{i}"], 5) for i in range(10)]
    for b in threads:
        b.start()
    time.sleep(0.2)
    _thousand_gets(shared)
    assert not any(f.done() for f in futures)
    assert all(b.is_alive() for b in threads)
    for i in range(10):
        shared.rpush(f"bf{i}", f"fv{i}")
        shared.rpush(f"bt{i}", f"tv{i}")
    assert [f.result(10) for f in futures] == [[f"bf{i}".encode(), f"fv{i}".encode()] for i in range(len(futures))]
    for i, b in enumerate(threads):
        b.join(10)
        assert b.result == (f"bt{i}".encode(), f"tv{i}".encode())
