"""Pool's futures keep their state in C (cpipe._native.FutureCore, see
cpipe/bridge_future.c) and phset/phget are one C call (StageCore.hset/hget):
they must still be concurrent.futures.Futures in every way a caller can
tell, against a real server: isinstance, wait(), as_completed(), result()
with a timeout from other threads, callbacks, error replies, close(),
garbage collection of cycles, and a forked child."""
from __future__ import annotations

import gc
import logging
import os
import threading
import time
import weakref
from concurrent.futures import (ALL_COMPLETED, FIRST_COMPLETED, Future, TimeoutError as FutureTimeout,
                                as_completed, wait)

import pytest
import redis

import cpipe
from tests.client.test_fork import _fork_and_run




def collected(ref) -> bool:
    """Whether gc.collect() frees ref's object, within a few seconds: the
    completion thread may still hold its last batch just after flush()."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        gc.collect()
        if ref() is None:
            return True
        time.sleep(0.01)
    return False


def blocked(pool, key="cf:never"):
    """A future that stays pending until someone pushes to key (or for 30 s)."""
    return pool.submit("BLPOP", key, 30)


def test_phset_and_phget_are_c_calls_returning_futures(server):
    # From the start, as a benchmark takes `ph = pool.phset` before its first call.
    p = cpipe.Pool(host="127.0.0.1", port=server.port, size=2, socket_timeout=10)
    try:
        ph = p.phset
        assert type(ph).__name__ == "builtin_function_or_method"
        first = [ph("cf:first", i, i) for i in range(1000)]  # the first also starts the completion thread
        assert p.flush(10) and [f.result() for f in first] == [1] * 1000
    finally:
        p.close()


def test_phset_and_phget_futures(pool):
    f = pool.phset("cf:h", "a", 1)
    g = pool.phget(name="cf:h", key="a")
    assert isinstance(f, Future) and isinstance(g, Future)
    assert f.result(10) == 1 and g.result(10) == b"1"
    assert f.done() and not f.running() and not f.cancel() and not f.cancelled()
    assert "finished" in repr(f)


def test_the_fast_path_keeps_out_while_the_lock_is_held(pool):
    pool.phset("cf:h", "warm", 1).result(10)
    assert pool.flush(10)
    stager = pool._stager
    core = stager.core
    futs = []
    with stager.lock:
        real = core.inflight
        core.inflight = core.max_inflight  # as when batches are in flight: the fast path would stage
        t = threading.Thread(target=lambda: futs.extend(pool.phset("cf:h", i, i) for i in range(100)))
        t.start()
        t.join(0.2)
        assert t.is_alive() and not core.items and not core.buf  # it waits for the lock
        core.inflight = real
    t.join(10)
    assert pool.flush(10) and [f.result() for f in futs] == [1] * 100


def test_bad_calls_raise_before_anything_is_sent(pool):
    pool.phset("cf:h", "warm", 1).result(10)
    with pytest.raises(TypeError, match="phset"):
        pool.phset("cf:h", "a")
    with pytest.raises(TypeError, match="unexpected keyword"):
        pool.phget("cf:h", field="a")
    with pytest.raises(cpipe.DataError):
        pool.phset("cf:h", None, 1)
    assert pool.flush(10) is True
    assert pool.call("HLEN", "cf:h") == 1


def test_running_until_done_and_never_cancelled(pool):
    f = blocked(pool, "cf:l")
    assert f.running() and not f.done()
    assert f.cancel() is False and not f.cancelled()
    with pytest.raises(FutureTimeout):
        f.result(timeout=0.05)
    with pytest.raises(FutureTimeout):
        f.exception(timeout=0.05)
    pool.call("LPUSH", "cf:l", "x")
    assert f.result(10) == [b"cf:l", b"x"]
    assert f.done() and not f.running() and f.exception() is None


def test_wait_first_and_all_completed(pool):
    slow = blocked(pool, "cf:w")
    quick = pool.phset("cf:h", "a", 1)
    done, not_done = wait([slow, quick], timeout=10, return_when=FIRST_COMPLETED)
    assert quick in done and slow in not_done
    pool.call("LPUSH", "cf:w", "x")
    done, not_done = wait([slow, quick], timeout=10, return_when=ALL_COMPLETED)
    assert done == {slow, quick} and not not_done


def test_as_completed_yields_each_once(pool):
    slow = blocked(pool, "cf:a")
    quick = [pool.phset("cf:h", i, i) for i in range(200)]
    seen = []
    for f in as_completed(quick + [slow], timeout=10):
        seen.append(f)
        if len(seen) == len(quick):
            pool.call("LPUSH", "cf:a", "x")
    assert seen[-1] is slow and set(seen[:-1]) == set(quick)
    assert all(f.result() == 1 for f in quick)


def test_result_with_timeout_from_many_threads(pool):
    f = blocked(pool, "cf:t")
    got, timeouts = [], []
    started = threading.Barrier(17)

    def waiter():
        try:
            f.result(timeout=0.01)
        except FutureTimeout:
            timeouts.append(1)
        started.wait(10)
        got.append(f.result(timeout=10))

    threads = [threading.Thread(target=waiter) for _ in range(16)]
    for t in threads:
        t.start()
    started.wait(10)
    pool.call("LPUSH", "cf:t", "x")
    for t in threads:
        t.join(15)
    assert len(timeouts) == 16
    assert got == [[b"cf:t", b"x"]] * 16


def test_done_callbacks_before_and_after_completion(pool, caplog):
    f = blocked(pool, "cf:c")
    calls = []

    def boom(fut):
        raise RuntimeError("a callback that fails")

    f.add_done_callback(lambda fut: calls.append(("before", fut)))
    f.add_done_callback(boom)  # logged by concurrent.futures; the next one still runs
    last = threading.Event()
    f.add_done_callback(lambda fut: (calls.append(("after boom", fut)), last.set()))
    assert calls == []
    with caplog.at_level(logging.ERROR, logger="concurrent.futures"):
        pool.call("LPUSH", "cf:c", "x")
        # As with any Future, result() may return before the callbacks have run.
        assert last.wait(10)
    assert calls == [("before", f), ("after boom", f)]
    assert "exception calling callback" in caplog.text
    f.add_done_callback(lambda fut: calls.append(("done already", fut)))
    assert calls[-1] == ("done already", f)


def test_an_error_reply_is_the_futures_exception(pool):
    pool.call("SET", "cf:str", "x")
    f = pool.phset("cf:str", "f", "v")  # WRONGTYPE
    g = pool.submit("HSET", "cf:str", "f", "v")
    for fut in (f, g):
        assert isinstance(fut.exception(10), redis.exceptions.ResponseError)
        with pytest.raises(redis.exceptions.ResponseError, match="WRONGTYPE"):
            fut.result()


def test_close_fails_pending_futures_with_connection_error(server):
    p = cpipe.Pool(host="127.0.0.1", port=server.port, size=2, socket_timeout=10)
    slow = blocked(p, "cf:close")
    waiting = []
    t = threading.Thread(target=lambda: waiting.append(slow.exception(10)))
    t.start()
    staged = [p.phset("cf:h", i, i) for i in range(5000)]
    p.close()
    t.join(15)
    assert isinstance(waiting[0], redis.exceptions.ConnectionError)
    for f in staged:
        e = f.exception(10)  # done: a reply, or the close
        assert e is None or isinstance(e, redis.exceptions.ConnectionError)
    with pytest.raises(redis.exceptions.ConnectionError):
        p.phset("cf:h", "a", 1)


def test_plain_replies_are_not_tracked_by_the_gc(pool):
    f = pool.phset("cf:h", "a", 1)
    assert pool.flush(10)
    assert not gc.is_tracked(f)  # 200k of these must not be walked by each collection
    assert f.result() == 1 and f.exception() is None and f.done() and not gc.is_tracked(f)
    pool.call("HSET", "cf:big", "a", 1)
    g = pool.submit("HGETALL", "cf:big")
    assert pool.flush(10)
    assert g.result() in ([b"a", b"1"], {b"a": b"1"})  # RESP2 or RESP3
    assert gc.is_tracked(g)  # a container may lead back to the future (even a dict of bytes, once changed)
    e = pool.submit("HSET", "cf:big")  # an error reply: an exception, which has a traceback
    assert pool.flush(10)
    assert isinstance(e.exception(), redis.exceptions.ResponseError) and gc.is_tracked(e)
    h = pool.phset("cf:h", "b", 1)
    h.note = "a user attribute"
    assert gc.is_tracked(h)
    w = pool.phset("cf:h", "c", 1)
    assert w.result(10) == 1 and gc.is_tracked(w)  # it had to wait: its Condition exists


@pytest.mark.parametrize("when", ["before", "after"])
def test_a_cycle_through_a_callback_is_collected(pool, when):
    f = blocked(pool, "cf:gc") if when == "before" else pool.phset("cf:h", "a", 1)
    if when == "after":
        f.result(10)
    f.add_done_callback(lambda _: f)  # f -> its callbacks -> the lambda's cell -> f
    if when == "before":
        pool.call("LPUSH", "cf:gc", "x")
        f.result(10)
    assert pool.flush(10)
    ref = weakref.ref(f)
    del f
    assert collected(ref)


def test_a_cycle_through_a_reply_is_collected(pool):
    pool.call("HSET", "cf:big", "a", 1)
    f = pool.submit("HGETALL", "cf:big")
    assert pool.flush(10)
    reply = f.result()
    if isinstance(reply, dict):
        reply["me"] = f  # f -> its reply -> f
    else:
        reply.append(f)
    del reply
    ref = weakref.ref(f)
    del f
    assert collected(ref)


@pytest.mark.parametrize("how", ["attribute", "vars"])
def test_a_cycle_through_the_instance_dict_is_collected(pool, how):
    f = pool.phset("cf:h", "a", 1)
    assert pool.flush(10) and not gc.is_tracked(f)
    if how == "attribute":
        f.me = f
    else:
        vars(f)["me"] = f  # the dict handed out: the future is tracked from here
    assert f.me is f and f.__dict__ == {"me": f}
    ref = weakref.ref(f)
    del f
    assert collected(ref)


def test_fork_child_completes_inherited_futures_and_makes_new_ones(server):
    p = cpipe.Pool(host="127.0.0.1", port=server.port, size=2, socket_timeout=10)
    try:
        inherited = blocked(p, "cf:fork")
        called = []
        inherited.add_done_callback(lambda fut: called.append(os.getpid()))

        def child() -> str:
            import warnings

            warnings.simplefilter("ignore")
            new = p.phset("cf:forkh", "a", 1)
            return "|".join([
                type(inherited.exception(5)).__name__,
                str(called == [os.getpid()]),
                str(isinstance(new, Future)),
                repr(new.result(5)),
                repr(p.phget("cf:forkh", "a").result(5)),
            ])

        code, text = _fork_and_run(child)
        assert code == 0, text
        assert text == "ConnectionError|True|True|1|b'1'", text
        # The parent's future is its own: still pending, still completes here.
        assert inherited.running() and called == []
        p.call("LPUSH", "cf:fork", "x")
        assert inherited.result(10) == [b"cf:fork", b"x"] and called == [os.getpid()]
    finally:
        p.close()


def test_asyncio_wrap_future_awaits_it(pool):
    import asyncio

    async def main():
        slow = blocked(pool, "cf:aio")
        pool.call("LPUSH", "cf:aio", "x")
        quick = pool.phset("cf:h", "a", 1)
        return await asyncio.wait_for(asyncio.gather(asyncio.wrap_future(slow), asyncio.wrap_future(quick)), 10)

    assert asyncio.run(main()) == [[b"cf:aio", b"x"], 1]
