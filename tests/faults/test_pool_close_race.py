"""Issue 7 item 4: Pool.submit, flush, command methods and close() racing
from many threads raise only cpipe's errors (ConnectionError once closed),
and every future submit returned completes."""
from __future__ import annotations

import concurrent.futures
import random
import sys
import threading
import time

import pytest

import cpipe

ROUNDS = 15
THREADS = 8
FUTURE_BOUND = 10.0  # seconds for every returned future to be done after close()


def _race_once(port: int, seed: int) -> tuple[list, list]:
    """Threads submit, flush and call while one thread closes; returns
    (futures that submit returned, unexpected exceptions)."""
    rng = random.Random(seed)
    pool = cpipe.Pool(host="127.0.0.1", port=port, size=2, socket_timeout=10)
    futures: list = []
    unexpected: list = []
    start = threading.Barrier(THREADS + 1)

    def worker(t: int) -> None:
        start.wait()
        refused_at = None
        for i in range(100_000):
            try:
                kind = i % 7
                if kind == 5:
                    pool.flush(0.05)
                elif kind == 6:
                    pool.get(f"k{t}")
                else:
                    futures.append((f"{t}-{i}", pool.submit("ECHO", f"{t}-{i}")))
            except cpipe.ConnectionError:
                # What a closed pool must raise. Keep going a while: each
                # refused submit is another chance to race close()'s cleanup.
                now = time.monotonic()
                if refused_at is None:
                    refused_at = now
                elif now - refused_at > 0.3:
                    return
            except BaseException as e:  # noqa: BLE001 - the defect under test
                unexpected.append(e)
                return

    def closer() -> None:
        start.wait()
        time.sleep(rng.uniform(0, 0.02))
        try:
            pool.close()
        except BaseException as e:  # noqa: BLE001
            unexpected.append(e)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(THREADS)]
    threads.append(threading.Thread(target=closer))
    threads.append(threading.Thread(target=closer))  # two closes at once
    start = threading.Barrier(len(threads))
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    assert not any(th.is_alive() for th in threads), "a thread hung"
    try:
        assert pool.flush(5) is True, "flush() after close() did not return True"
    except BaseException as e:  # noqa: BLE001
        unexpected.append(e)
    return futures, unexpected


@pytest.fixture
def busy_switching():
    # Switch threads far more often than the default 5 ms, so the
    # interleavings this race needs happen in a short test.
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    yield
    sys.setswitchinterval(old)


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_submit_flush_call_racing_close(real_server, busy_switching, round_):
    futures, unexpected = _race_once(real_server.port, round_)
    assert unexpected == [], [repr(e) for e in unexpected[:5]]
    done, not_done = concurrent.futures.wait([f for _, f in futures], timeout=FUTURE_BOUND)
    assert not not_done, f"{len(not_done)} of {len(futures)} futures never completed"
    for value, fut in futures:
        exc = fut.exception(0)
        if exc is None:
            assert fut.result(0) == value.encode()
        else:
            assert isinstance(exc, cpipe.ConnectionError), repr(exc)


def test_closed_pool_raises_connection_error_everywhere(real_server):
    pool = cpipe.Pool(host="127.0.0.1", port=real_server.port, size=2, socket_timeout=10)
    assert pool.submit("PING").result(10) == b"PONG"
    pool.close()
    for action in (lambda: pool.submit("PING"), lambda: pool.phset("h", "f", "v"),
                   lambda: pool.phget("h", "f"), lambda: pool.get("k"), lambda: pool.call("PING")):
        with pytest.raises(cpipe.ConnectionError):
            action()
    assert pool.flush(1) is True
    pool.close()  # idempotent


def test_close_before_the_completion_thread_started(real_server):
    """close() racing the first submit (which starts the completion thread)."""
    for _ in range(30):
        pool = cpipe.Pool(host="127.0.0.1", port=real_server.port, size=1, socket_timeout=10)
        out: list = []

        def first_submit() -> None:
            try:
                out.append(pool.submit("PING"))
            except cpipe.ConnectionError:
                pass
            except BaseException as e:  # noqa: BLE001
                out.append(e)

        t = threading.Thread(target=first_submit)
        t.start()
        pool.close()
        t.join(30)
        for item in out:
            assert isinstance(item, concurrent.futures.Future), repr(item)
            assert item.exception(FUTURE_BOUND) is None or isinstance(item.exception(0), cpipe.ConnectionError)


def test_submit_failing_after_close_swept_its_future(real_server):
    """The exact interleaving behind the KeyError: submit registers its
    future, close() runs to the end (the completion thread resolves every
    registered future), then submit's send fails. submit must raise
    ConnectionError, and the future it registered is already resolved."""
    pool = cpipe.Pool(host="127.0.0.1", port=real_server.port, size=1, socket_timeout=10)
    assert pool.submit("PING").result(10) == b"PONG"  # the completion thread runs
    real_submit = pool._submit
    closed = threading.Event()

    def submit_after_close(*args):
        closer = threading.Thread(target=lambda: (pool.close(), closed.set()))
        closer.start()
        closer.join(30)
        assert closed.is_set()
        return real_submit(*args)

    pool._submit = submit_after_close
    with pytest.raises(cpipe.ConnectionError):
        pool.submit("ECHO", "late")
    assert pool.flush(5) is True
