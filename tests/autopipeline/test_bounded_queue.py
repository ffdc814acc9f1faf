"""max_queued bounds the commands in flight per connection: against a server
that never answers, callers past the bound wait, then get TimeoutError;
nothing grows without bound and nothing hangs."""
from __future__ import annotations

import threading
import time

import pytest

import cpipe

from ._helpers import StallServer, run_threads

BOUND = 4


def _callers(r, n: int):
    """n threads each calling GET once; returns (threads, outcomes)."""
    outcomes: list = []
    lock = threading.Lock()

    def one(i: int) -> None:
        t = time.monotonic()
        try:
            res = r.get(f"k{i}")
        except BaseException as e:  # noqa: BLE001 - checked by the test
            res = e
        with lock:
            outcomes.append((res, time.monotonic() - t))

    threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    return threads, outcomes


@pytest.mark.parametrize("size", [1, 2])
def test_callers_past_the_bound_wait_then_time_out(size):
    with StallServer() as stall:
        if size == 1:
            r = cpipe.Client(host="127.0.0.1", port=stall.port, protocol=2, autopipeline=True,
                             max_queued=BOUND, socket_timeout=1.5)
        else:
            r = cpipe.Pool(host="127.0.0.1", port=stall.port, protocol=2, size=size,
                           max_queued=BOUND, socket_timeout=1.5)
        try:
            threads, outcomes = _callers(r, 24)
            time.sleep(0.7)
            # Only the bound's worth of commands went out; everyone else waits.
            assert 0 < stall.total() <= BOUND * size, stall.per_conn
            assert stall.max_per_conn() <= BOUND
            assert outcomes == []
            assert all(t.is_alive() for t in threads)
            deadline = time.monotonic() + 30
            for t in threads:
                t.join(max(0.0, deadline - time.monotonic()))
            assert not any(t.is_alive() for t in threads), "callers still waiting: a hang"
            assert len(outcomes) == 24
            for res, _ in outcomes:
                assert isinstance(res, cpipe.TimeoutError), res
            # Each connection the client opened carried at most BOUND commands.
            assert stall.max_per_conn() <= BOUND, stall.per_conn
        finally:
            r.close()


def test_submit_past_the_bound_waits_then_times_out():
    """Pool.submit blocks its caller at the bound (up to socket_timeout);
    every future then fails with TimeoutError."""
    with StallServer() as stall:
        pool = cpipe.Pool(host="127.0.0.1", port=stall.port, protocol=2, size=1, max_queued=BOUND, socket_timeout=1)
        try:
            futs = []
            t0 = time.monotonic()
            box: dict = {}

            def submitter() -> None:
                try:
                    for i in range(12):
                        futs.append(pool.submit("GET", f"k{i}"))
                except BaseException as e:  # noqa: BLE001
                    box["error"] = e

            t = threading.Thread(target=submitter, daemon=True)
            t.start()
            time.sleep(0.5)
            assert stall.total() <= BOUND
            assert len(futs) <= BOUND  # the submitter is held at the bound
            t.join(30)
            assert not t.is_alive(), "submit hung"
            if "error" in box:  # raising at submit is an acceptable way to fail too
                assert isinstance(box["error"], cpipe.TimeoutError), box["error"]
            for f in futs:
                exc = f.exception(timeout=30)
                assert isinstance(exc, cpipe.TimeoutError), exc
            assert time.monotonic() - t0 < 30
            assert stall.max_per_conn() <= BOUND, stall.per_conn
        finally:
            pool.close()


def test_recovers_when_the_server_answers_again():
    with StallServer() as stall:
        r = cpipe.Client(host="127.0.0.1", port=stall.port, protocol=2, autopipeline=True,
                         max_queued=BOUND, socket_timeout=1)
        try:
            threads, outcomes = _callers(r, 8)
            for t in threads:
                t.join(20)
            assert len(outcomes) == 8
            assert all(isinstance(res, cpipe.TimeoutError) for res, _ in outcomes), outcomes
            stall.stalled = False  # new connections are answered
            assert r.set("k", "v") is True
            assert r.get("k") == b"v"

            def work(t: int) -> None:
                for i in range(300):
                    assert r.echo(f"{t}:{i}") == f"{t}:{i}".encode()

            run_threads(work, 16, timeout=60)
        finally:
            r.close()


def test_small_bound_with_a_real_server_stays_correct(server):
    """A bound of 2 with 16 threads: callers take turns, none deadlocks."""
    r = cpipe.Client(host="127.0.0.1", port=server.port, autopipeline=True, max_queued=2, socket_timeout=30)
    try:
        def work(t: int) -> None:
            for i in range(500):
                assert r.set(f"sb{t}", f"{t}:{i}") is True
                assert r.get(f"sb{t}") == f"{t}:{i}".encode()

        run_threads(work, 16, timeout=120)
        # A pipeline larger than the bound is still accepted, alone.
        p = r.pipeline()
        for i in range(100):
            p.echo(str(i))
        assert p.execute() == [str(i).encode() for i in range(100)]
    finally:
        r.close()


@pytest.mark.parametrize("size", [1, 2])
def test_waiting_for_room_is_bounded_by_socket_timeout(size):
    """However many callers wait for room, each fails after about socket_timeout."""
    with StallServer() as stall:
        r = cpipe.Pool(host="127.0.0.1", port=stall.port, protocol=2, size=size, max_queued=BOUND, socket_timeout=1)
        try:
            threads, outcomes = _callers(r, 80)
            for t in threads:
                t.join(30)
            assert len(outcomes) == 80
            assert all(isinstance(res, cpipe.TimeoutError) for res, _ in outcomes)
            assert max(d for _, d in outcomes) < 3.0, max(d for _, d in outcomes)
            assert stall.max_per_conn() <= BOUND
        finally:
            r.close()
