"""Staged phset/phget/fire_and_forget (cpipe._staging): each future gets its
own command's reply under many threads, a bad argument raises at the call
and leaves the batch intact, the stage is bounded, and close() fails what
was staged and never sent."""
from __future__ import annotations

import threading
import time

import pytest
import redis

import cpipe
from cpipe import _staging




def test_each_future_gets_its_own_reply_from_many_threads(pool):
    for t in range(8):
        pool.call("HSET", f"h{t}", *[x for i in range(500) for x in (i, f"{t}:{i}")])
    errors = []

    def reader(t: int) -> None:
        try:
            futs = [(i, pool.phget(f"h{t}", i)) for i in range(500)] * 4
            for i, f in futs:
                got = f.result(30)
                if got != f"{t}:{i}".encode():
                    errors.append((t, i, got))
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=reader, args=(t,)) for t in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    assert not any(th.is_alive() for th in threads)
    assert errors == []


def test_a_bad_argument_raises_at_the_call_and_loses_nothing(pool):
    futs = [pool.phset("h", i, i) for i in range(100)]
    with pytest.raises(redis.exceptions.DataError):
        pool.phset("h", "bad", object())
    futs += [pool.phset("h", i, i) for i in range(100, 200)]
    assert pool.flush(30) is True
    assert [f.result() for f in futs] == [1] * 200
    assert pool.call("HLEN", "h") == 200
    assert pool.call("HEXISTS", "h", "bad") == 0


def test_error_reply_fails_only_its_future(pool):
    pool.call("SET", "str", "x")
    futs = [pool.phset("h", i, i) if i != 50 else pool.phset("str", "f", "v") for i in range(100)]
    pool.flush(30)
    assert isinstance(futs[50].exception(), redis.exceptions.ResponseError)
    assert all(f.result() == 1 for i, f in enumerate(futs) if i != 50)


def test_the_stage_is_bounded(pool, monkeypatch):
    stager = pool._stager
    monkeypatch.setattr(stager.core, "max_commands", 64)
    seen = []
    original = stager._send_locked

    def watching() -> None:
        seen.append(len(stager.items))
        original()

    monkeypatch.setattr(stager, "_send_locked", watching)
    for i in range(20000):
        pool.phset("h", i, i)
        assert len(stager.items) <= 64
    assert pool.flush(30) is True
    assert max(seen) <= 64
    assert pool.call("HLEN", "h") == 20000


def test_close_fails_what_was_staged(server):
    p = cpipe.Pool(host="127.0.0.1", port=server.port, size=1, socket_timeout=10)
    futs = [p.phset("closing", i, i) for i in range(20000)]
    p.close()
    outcomes = [f.exception(10) for f in futs]
    assert all(e is None or isinstance(e, redis.exceptions.ConnectionError) for e in outcomes)
    added = redis.Redis(port=server.port).hlen("closing")
    assert added >= sum(e is None for e in outcomes)
    with pytest.raises(redis.exceptions.ConnectionError):
        p.phset("closing", "late", 1)


def test_a_callback_may_stage_again_when_a_batch_fails_to_send():
    # A staged batch the engine refuses fails its futures; their callbacks
    # run then, and one that calls phset again must find the stage's lock
    # free (it is not reentrant): this used to hang for good.
    from tests._servers import start_real_server

    srv = start_real_server("--enable-debug-command", "yes")
    p = cpipe.Pool(host="127.0.0.1", port=srv.port, size=1, socket_timeout=10)
    hung = False
    try:
        p.ping()
        p.fire_and_forget("DEBUG", "SLEEP", "0.5")  # the one batch in flight, for half a second
        staged = [p.phset("h", f"f{i}", i) for i in range(3)]  # staged behind it
        assert p._stager.items, "the phsets were sent at once: nothing to test"
        again = []
        for fut in staged:
            fut.add_done_callback(lambda f: again.append(p.phset("h", "again", 1)))
        real = p._stager._submit_staged
        calls = []

        def refuse_once(*args):
            calls.append(args)
            if len(calls) == 1:
                raise cpipe.ConnectionError("refused by the test")
            return real(*args)

        p._stager._submit_staged = refuse_once
        outcome = []
        t = threading.Thread(target=lambda: outcome.append(_flush_outcome(p)), daemon=True)
        t.start()
        t.join(20)
        hung = t.is_alive()
        assert not hung, "flush() hung: a callback could not stage again"
        assert outcome == ["ConnectionError: refused by the test"]
        assert all(isinstance(f.exception(), cpipe.ConnectionError) for f in staged)
        assert len(again) == 3
        assert p.flush(10) is True
        assert [f.result(10) for f in again] == [1, 0, 0]
    finally:
        if not hung:  # close() would wait for the stage's lock forever too
            p.close()
        srv.stop()


def _flush_outcome(pool) -> str:
    try:
        return f"flushed: {pool.flush(10)}"
    except Exception as e:  # noqa: BLE001 - reported to the test
        return f"{type(e).__name__}: {e}"


def test_the_main_threads_wait_for_the_stage_lock_is_interruptible(pool):
    # The lock's sections are short, but a wait that never ends (a bug, a
    # callback that stages again) must still give way to Ctrl-C.
    import signal

    class Interrupted(Exception):
        pass

    def on_alarm(signum, frame):
        raise Interrupted()

    core = pool._stager.core
    taken, stop = threading.Event(), threading.Event()

    def hold():
        core.acquire()
        taken.set()
        stop.wait(30)
        core.release()

    holder = threading.Thread(target=hold, daemon=True)
    holder.start()
    assert taken.wait(10)
    old = signal.signal(signal.SIGALRM, on_alarm)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.2)
        start = time.monotonic()
        with pytest.raises(Interrupted):
            pool.phset("h", "f", 1)  # the fast path sees the lock held: it waits for it
        # Raised while waiting, not once the holder let go (after 30 s).
        assert time.monotonic() - start < 5
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
        stop.set()
        holder.join(10)
    # Nothing was staged, and the pool works on.
    assert pool.phset("h", "f", 2).result(10) == 1
    assert pool.call("HGET", "h", "f") == b"2"
