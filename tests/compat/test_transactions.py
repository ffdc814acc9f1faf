"""Transactions, WATCH, scripts and locks as redis-py does them, on the engine."""
from __future__ import annotations

import threading
import time

import pytest
import redis

import cpipe


@pytest.fixture(params=["client", "autopipelined", "pool"])
def r(request, real_server):
    if request.param == "pool":
        c = cpipe.Pool(host="127.0.0.1", port=real_server.port, size=4, socket_timeout=10)
    else:
        c = cpipe.Redis(host="127.0.0.1", port=real_server.port, socket_timeout=10,
                        autopipeline=request.param == "autopipelined")
    c.flushall()
    yield c
    c.close()


@pytest.fixture
def other(real_server):
    c = redis.Redis(port=real_server.port)
    yield c
    c.close()


def test_default_pipeline_is_a_transaction(r):
    p = r.pipeline()
    assert p.transaction is True
    p.set("a", 1).incr("a")
    assert p.execute() == [True, 2]


def test_optimistic_locking_pattern_from_redis_pys_readme(r):
    r.set("OUR-SEQUENCE-KEY", 10)
    with r.pipeline() as pipe:
        while True:
            try:
                pipe.watch("OUR-SEQUENCE-KEY")
                current_value = pipe.get("OUR-SEQUENCE-KEY")  # immediate mode: the value
                next_value = int(current_value) + 1
                pipe.multi()
                pipe.set("OUR-SEQUENCE-KEY", next_value)
                pipe.execute()
                break
            except redis.WatchError:
                continue
    assert r.get("OUR-SEQUENCE-KEY") == b"11"


def test_conflict_raises_watch_error_and_nothing_runs(r, other):
    r.set("k", 1)
    pipe = r.pipeline()
    pipe.watch("k")
    other.set("k", 2)  # another client changes the watched key
    pipe.multi()
    pipe.set("k", 3).set("side", 1)
    with pytest.raises(redis.WatchError):
        pipe.execute()
    assert other.get("k") == b"2" and other.get("side") is None
    assert pipe.watching is False and len(pipe) == 0  # reset: reusable


def test_watch_runs_on_a_connection_of_its_own(r):
    shared_id = r.client_id()
    pipe = r.pipeline()
    pipe.watch("k")
    watching_id = pipe.client_id()  # immediate mode
    assert watching_id != shared_id
    # the shared connection's other callers are not inside the WATCH
    assert r.client_id() == shared_id or isinstance(r, cpipe.Pool)
    pipe.reset()
    # the dedicated connection is reused by the next WATCH (nothing is watched on it)
    pipe.watch("k")
    assert pipe.client_id() == watching_id
    pipe.reset()


def test_unwatch_and_discard(r, other):
    r.set("k", 1)
    pipe = r.pipeline()
    pipe.watch("k")
    assert pipe.unwatch() is True
    other.set("k", 2)
    pipe.multi()
    pipe.set("k", 3)
    assert pipe.execute() == [True]  # not watched any more
    with r.pipeline() as pipe:
        pipe.set("k", "queued")
        pipe.discard()  # redis-py queues DISCARD: EXEC then has no MULTI
        with pytest.raises(redis.ResponseError):
            pipe.execute()
    assert other.get("k") == b"3"


def test_transaction_helper_under_contention(r):
    threads, rounds = 6, 40
    r.set("counter", 0)
    errors = []

    def bump(pipe):
        value = int(pipe.get("counter"))
        pipe.multi()
        pipe.set("counter", value + 1)

    def worker():
        try:
            for _ in range(rounds):
                r.transaction(bump, "counter")
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    ts = [threading.Thread(target=worker) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    assert errors == []
    assert int(r.get("counter")) == threads * rounds


def test_transaction_value_from_callable(r):
    def func(pipe):
        pipe.multi()
        pipe.set("x", 1)
        return "from-callable"

    assert r.transaction(func, "x", value_from_callable=True) == "from-callable"
    assert r.transaction(func, "x") == [True]


def test_killed_watch_connection_is_a_watch_error_never_a_blind_exec(r, other):
    """If the WATCHing connection dies, the WATCH died with it: EXEC on a new
    connection would run unconditionally. The pipeline must raise instead."""
    r.set("k", 1)
    pipe = r.pipeline()
    pipe.watch("k")
    victim = pipe.client_id()
    other.client_kill_filter(_id=victim)
    other.set("k", 2)  # a change the WATCH should have caught
    time.sleep(0.05)
    with pytest.raises((redis.WatchError, redis.ConnectionError)):
        pipe.get("k")
        pipe.multi()
        pipe.set("k", 3)
        pipe.execute()
    assert other.get("k") == b"2"
    # and the next transaction works
    assert r.transaction(lambda p: (p.multi(), p.set("k", 4)), "k") == [True]
    assert other.get("k") == b"4"


def test_pipeline_error_messages_carry_the_arguments(r):
    r.set("c", "text")
    p = r.pipeline(transaction=False)
    p.set("a", 1).lpush("c", 3).get("a")
    with pytest.raises(redis.ResponseError) as exc:
        p.execute()
    assert str(exc.value).startswith("Command # 2 (LPUSH c 3) of pipeline caused error: WRONGTYPE")


# -- scripts -----------------------------------------------------------------

INCR_BY = "return redis.call('INCRBY', KEYS[1], ARGV[1])"


def test_eval_evalsha_script_load_exists_flush(r):
    assert r.eval(INCR_BY, 1, "n", 2) == 2
    sha = r.script_load(INCR_BY)
    assert r.evalsha(sha, 1, "n", 3) == 5
    assert r.script_exists(sha, "0" * 40) == [True, False]
    assert r.script_flush() is True
    with pytest.raises(redis.exceptions.NoScriptError):
        r.evalsha(sha, 1, "n", 1)


def test_registered_script_reloads_after_flush(r):
    script = r.register_script(INCR_BY)
    assert script(keys=["n"], args=[5]) == 5
    r.script_flush()
    assert script(keys=["n"], args=[1]) == 6  # NOSCRIPT -> SCRIPT LOAD -> EVALSHA


@pytest.mark.parametrize("transaction", [False, True])
def test_registered_script_in_a_pipeline(r, transaction):
    script = r.register_script(INCR_BY)
    r.script_flush()
    p = r.pipeline(transaction=transaction)
    p.set("n", 10)
    script(keys=["n"], args=[5], client=p)
    p.get("n")
    assert p.execute() == [True, 15, b"15"]  # the pipeline loaded the script first


def test_fcall(real_server):
    c = cpipe.Redis(port=real_server.port)
    try:
        code = "#!lua name=cpipetest\nredis.register_function('twice', function(keys, args) return args[1] * 2 end)"
        assert c.function_load(code, replace=True) == b"cpipetest"
        assert c.fcall("twice", 0, 21) == 42
    finally:
        c.function_delete("cpipetest")
        c.close()


# -- locks -------------------------------------------------------------------

def test_lock_acquire_release_extend_reacquire(r, other):
    lock = r.lock("L", timeout=5, sleep=0.01)
    assert lock.acquire() is True
    assert lock.locked() and lock.owned()
    assert 0 < other.pttl("L") <= 5000
    assert lock.extend(5) is True
    assert 5000 < other.pttl("L") <= 10000
    assert lock.reacquire() is True
    assert other.pttl("L") <= 5000
    lock.release()
    assert other.exists("L") == 0


def test_lock_blocking_timeout_and_ownership(r):
    holder = r.lock("L", timeout=10)
    assert holder.acquire()
    waiter = r.lock("L", blocking_timeout=0.2, sleep=0.02)
    t0 = time.monotonic()
    assert waiter.acquire() is False
    assert 0.15 < time.monotonic() - t0 < 2
    assert r.lock("L").acquire(blocking=False) is False
    with pytest.raises(redis.exceptions.LockError):
        waiter.release()  # not ours
    holder.release()
    with r.lock("L", blocking_timeout=1) as again:
        assert again.owned()


def test_lock_thread_local_false_shares_the_token(r):
    lock = r.lock("L", timeout=5, thread_local=False)
    assert lock.acquire()
    released = []
    t = threading.Thread(target=lambda: released.append(lock.release()))
    t.start()
    t.join(10)
    assert r.exists("L") == 0


def test_a_spare_watch_connection_closed_while_idle_is_replaced(r, other):
    pipe = r.pipeline()
    pipe.watch("k")
    first = pipe.client_id()
    pipe.reset()  # the connection becomes an idle spare
    other.client_kill_filter(_id=first)
    time.sleep(0.05)
    pipe.watch("k")  # nothing watched yet: a new connection, no error
    assert pipe.client_id() != first
    pipe.multi()
    pipe.set("k", 1)
    assert pipe.execute() == [True]


@pytest.mark.parametrize("transaction", [False, True])
def test_refused_argument_is_numbered_as_queued(r, transaction):
    p = r.pipeline(transaction=transaction)
    p.set("a", 1).set("b", {"no": "dicts"}).set("c", 3)
    with pytest.raises(redis.DataError, match=r"pipeline command 1\b"):
        p.execute()
    assert r.exists("a", "b", "c") == 0  # nothing was sent
