"""Pool.fire_and_forget: no future, the reply dropped, an error reply kept
until flush() raises it (UnreadReplyError, bounded), a bad argument refused
before anything is sent, close() and fork accounted for."""
from __future__ import annotations

import os

import pytest
import redis

import cpipe


POOL_SIZE = 4  # the `pool` fixture's (tests/client/conftest.py)


def test_writes_land_and_flush_waits_for_them(pool):
    for i in range(20000):
        assert pool.fire_and_forget("HSET", "h", i, i) is None
    assert pool.flush(30) is True
    assert pool.call("HLEN", "h") == 20000
    assert pool.call("HGET", "h", "19999") == b"19999"


def test_errors_are_raised_at_flush_with_their_commands(pool):
    pool.call("SET", "str", "x")
    for i in range(10):
        pool.fire_and_forget("SET", f"k{i}", i)
        if i in (3, 7):
            pool.fire_and_forget("HSET", "str", "f", "v")  # WRONGTYPE
    with pytest.raises(cpipe.UnreadReplyError) as info:
        pool.flush(30)
    err = info.value
    assert isinstance(err, redis.exceptions.ResponseError)
    assert err.count == 2
    assert [(index, command) for index, command, _ in err.errors] == [
        (4, ("HSET", "str", "f", "v")), (9, ("HSET", "str", "f", "v"))]
    assert all("WRONGTYPE" in str(e) for _, _, e in err.errors)
    assert str(err).startswith("Command # 5 (HSET str f v) of fire_and_forget caused error: WRONGTYPE")
    assert "(1 more failed)" in str(err)
    # Every other command ran, and the errors were handed over once.
    assert pool.call("MGET", *[f"k{i}" for i in range(10)]) == [str(i).encode() for i in range(10)]
    assert pool.flush(30) is True


def test_kept_errors_are_bounded_and_counted(pool, monkeypatch):
    pool.call("SET", "str", "x")
    pool._unread.limit = 5
    for _ in range(50):
        pool.fire_and_forget("LPUSH", "str", "v")
    with pytest.raises(cpipe.UnreadReplyError) as info:
        pool.flush(30)
    assert info.value.count == 50
    assert len(info.value.errors) == 5


def test_bad_argument_is_refused_before_sending(pool):
    with pytest.raises(redis.exceptions.DataError):
        pool.fire_and_forget("SET", "k", object())
    assert pool.flush(5) is True
    assert pool.call("EXISTS", "k") == 0


def test_mixed_with_futures(pool):
    futs = []
    for i in range(1000):
        pool.fire_and_forget("INCR", "n")
        futs.append(pool.submit("INCR", "m"))
    assert pool.flush(30) is True
    assert sorted(f.result() for f in futs) == list(range(1, 1001))
    assert pool.call("GET", "n") == b"1000"


def test_close_before_replies_is_reported_at_flush(server):
    p = cpipe.Pool(host="127.0.0.1", port=server.port, size=2, socket_timeout=10)
    # Some are answered before close(), the rest fail with it: none may be
    # lost silently (neither run by the server nor reported at flush).
    for _ in range(5000):
        p.fire_and_forget("INCR", "closing")
    p.close()
    answered = int(redis.Redis(port=server.port).get("closing") or 0)
    try:
        p.flush(5)
        failed = 0
    except cpipe.UnreadReplyError as e:
        failed = e.count
        assert all(isinstance(x, redis.exceptions.ConnectionError) for _, _, x in e.errors)
    assert answered + failed >= 5000


def test_forked_child_runs_them_in_the_fallback(pool):
    pool.call("SET", "str", "x")
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            pool.fire_and_forget("SET", "child", "1")
            pool.fire_and_forget("HSET", "str", "f", "v")
            try:
                pool.flush(5)
            except cpipe.UnreadReplyError as e:
                code = 0 if e.count == 1 and e.errors[0][0] == 1 else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0
    assert pool.call("GET", "child") == b"1"


# -- the C fast path (StageCore.forget): staged while batches are in flight --

def test_fast_path_is_what_a_pool_calls(pool):
    # The bound method is StageCore's: the checks below go through it.
    assert pool.fire_and_forget.__self__ is pool._stager.core
    with pytest.raises(TypeError, match="keyword"):
        pool.fire_and_forget("SET", "k", "v", ex=5)
    with pytest.raises(TypeError, match="needs a command"):
        pool.fire_and_forget()
    assert pool.flush(5) is True


def test_fast_path_keeps_error_indexes_deep_in_a_load(pool):
    # Thousands of commands, so nearly all are staged behind batches in
    # flight; the failing ones keep their index among fire_and_forget calls.
    pool.call("SET", "str", "x")
    bad = {7000, 13001, 19999}
    for i in range(20000):
        if i in bad:
            pool.fire_and_forget("HSET", "str", "f", i)
        else:
            pool.fire_and_forget("RPUSH", "list", i)
    with pytest.raises(cpipe.UnreadReplyError) as info:
        pool.flush(30)
    # (in the order their batches were answered: sorted here)
    assert sorted((index, command) for index, command, _ in info.value.errors) == [
        (i, ("HSET", "str", "f", i)) for i in sorted(bad)]
    # The rest ran (a Pool's batches go over several connections: in any order).
    assert sorted(map(int, pool.call("LRANGE", "list", 0, -1))) == [i for i in range(20000) if i not in bad]


def test_fast_path_refuses_a_bad_argument_and_loses_nothing(pool):
    for i in range(10000):
        pool.fire_and_forget("RPUSH", "list", i)
    with pytest.raises(redis.exceptions.DataError):
        pool.fire_and_forget("RPUSH", "list", object())
    with pytest.raises(redis.exceptions.DataError):
        pool.fire_and_forget("RPUSH", "list", True)
    for i in range(10000, 12000):
        pool.fire_and_forget("RPUSH", "list", i)
    assert pool.flush(30) is True
    assert sorted(map(int, pool.call("LRANGE", "list", 0, -1))) == list(range(12000))
    # An index counts calls, refused ones too (as it always has): the next
    # error's index is the number of calls made before it.
    pool.call("SET", "str", "x")
    pool.fire_and_forget("LPUSH", "str", "v")
    with pytest.raises(cpipe.UnreadReplyError) as info:
        pool.flush(30)
    assert info.value.errors[0][0] == 12002


def test_fast_path_sends_a_blocking_command_on_its_own(pool):
    # A BLPOP among staged writes must not hold the batch behind it.
    for i in range(5000):
        pool.fire_and_forget("RPUSH", "list", i)
        if i == 2500:
            pool.fire_and_forget("BLPOP", "never", 1)
    fut = pool.submit("GET", "missing")
    assert fut.result(timeout=0.9) is None  # answered while BLPOP still waits
    assert pool.flush(30) is True
    assert pool.call("LLEN", "list") == 5000


def test_a_subclass_keeps_its_own_fire_and_forget(server):
    seen = []

    class Counting(cpipe.Pool):
        def fire_and_forget(self, *args):
            seen.append(args)
            super().fire_and_forget(*args)

    p = Counting(host="127.0.0.1", port=server.port, size=2, socket_timeout=10)
    try:
        for i in range(3000):
            p.fire_and_forget("SET", "sub", i)
        assert p.flush(30) is True
        assert len(seen) == 3000
        assert p.call("GET", "sub") == b"2999"
    finally:
        p.close()
