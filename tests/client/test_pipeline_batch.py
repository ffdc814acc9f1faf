"""Pipelines that encode each command as it is queued (the native Batch):
the same replies, errors, order and transactions as redis-py's pipeline,
and the fall-back to argument tuples where a batch cannot be used."""
from __future__ import annotations

import gc

import pytest
import redis

import cpipe


def _queue_mixed(p, n=30):
    """Hot and redis-py-built commands interleaved, with callbacks on both kinds."""
    for i in range(n):
        p.set(f"k{i}", i)                  # hot, callback (True)
        p.lrange(f"l{i % 3}", 0, -1)       # general
        p.hset("h", f"f{i}", i)            # hot, no callback
        p.hgetall("h")                     # hot, callback (dict)
        p.zadd("z", {f"m{i}": i})          # general
        p.zrange("z", 0, -1, withscores=True)  # general with options
        p.rpush(f"l{i % 3}", i)            # hot
        p.get(f"k{i}")                     # hot
        p.ping()                           # general, callback


@pytest.mark.parametrize("transaction", [False, True])
@pytest.mark.parametrize("decode", [False, True])
def test_mixed_hot_and_general_keep_order_and_callbacks(server, make_client, transaction, decode):
    ours = make_client(server, decode_responses=decode)
    rp = redis.Redis(port=server.port, decode_responses=decode)
    try:
        rp.flushdb()
        p = rp.pipeline(transaction=transaction)
        _queue_mixed(p)
        expected = p.execute()
        rp.flushdb()
        p = ours.pipeline(transaction=transaction)
        _queue_mixed(p)
        assert p._batch is not None and len(p) == 30 * 9  # staged, not argument tuples
        assert p.execute() == expected
    finally:
        rp.close()


def test_command_stack_read_back_from_the_batch(client):
    p = client.pipeline(transaction=False)
    p.hset("h", "f", 1).get("k").zadd("z", {"m": 2})
    stack = p.command_stack
    assert len(p) == 3 and len(stack) == 3
    # hot commands: the name as queued, the arguments as the bytes sent; redis-py's as queued
    assert stack[0] == (("HSET", b"h", b"f", b"1"), ())
    assert stack[1] == (("GET", b"k"), ())
    assert stack[2][0] == ("ZADD", "z", 2, "m")
    assert p.execute() == [1, None, 1]


@pytest.mark.parametrize("transaction", [False, True])
def test_error_reply_in_the_middle_annotated_as_redis_py(client, redis_py, transaction):
    def queue(p):
        p.set("str", "text").hset("h", "f", 1).incr("str").lpush("str", 1).get("str")

    expected = {}
    for name, c in (("redis-py", redis_py), ("cpipe", client)):
        c.flushdb()
        p = c.pipeline(transaction=transaction)
        queue(p)
        with pytest.raises(redis.ResponseError) as raised:
            p.execute()
        expected[name] = (type(raised.value), str(raised.value))
        c.flushdb()
        p = c.pipeline(transaction=transaction)
        queue(p)
        in_place = p.execute(raise_on_error=False)
        expected[name] += (
            [type(r) if isinstance(r, Exception) else r for r in in_place],
            [str(r) for r in in_place if isinstance(r, Exception)],
        )
    assert expected["cpipe"] == expected["redis-py"]
    assert expected["cpipe"][1].startswith("Command # 3 (INCRBY str 1) of pipeline caused error")


@pytest.mark.parametrize("transaction", [False, True])
@pytest.mark.parametrize("bad", [None, object(), {"a": 1}], ids=["None", "object", "dict"])
def test_bad_argument_in_the_middle_raises_at_execute_and_sends_nothing(client, transaction, bad):
    client.flushdb()
    p = client.pipeline(transaction=transaction)
    for i in range(100):
        p.hset("h", i, i)
    p.set("bad", bad)
    p.zadd("z", {"m": 1})   # general, after the bad one
    p.get("k")              # hot, after the bad one
    assert len(p) == 103
    with pytest.raises(cpipe.DataError, match=r"^pipeline command 100: .*\(nothing was sent\)"):
        p.execute()
    assert client.call("DBSIZE") == 0
    assert len(p) == 0
    # the pipeline stages again after the error
    p.hset("h", "f", 1).get("k")
    assert p._batch is not None
    assert p.execute() == [1, None]


def test_bad_argument_through_a_general_command(client):
    client.flushdb()
    p = client.pipeline(transaction=False)
    p.set("a", 1).lpush("l", 1, None).set("b", 2)
    with pytest.raises(cpipe.DataError, match=r"^pipeline command 1: "):
        p.execute()
    assert client.call("DBSIZE") == 0


def test_transaction_of_staged_commands_is_multi_exec(client):
    client.flushdb()
    p = client.pipeline()  # transaction=True by default
    for i in range(1000):
        p.incr("n")
    p.get("n")
    replies = p.execute()
    assert replies == list(range(1, 1001)) + [b"1000"]
    # queueing error: EXECABORT, nothing ran
    p = client.pipeline()
    p.incr("n").execute_command("NOSUCHCOMMAND").incr("n")
    with pytest.raises(redis.ResponseError):
        p.execute()
    assert client.call("GET", "n") == b"1000"


def test_watch_then_multi_stages_on_the_dedicated_connection(server, make_client):
    a, b = make_client(server), make_client(server)
    a.call("SET", "w", 1)
    with a.pipeline() as p:
        p.watch("w")
        assert p.get("w") == b"1"  # immediate mode: not staged
        assert len(p) == 0
        p.multi()
        p.set("w", 2).incr("w").get("w")
        assert p._batch is not None and len(p) == 3
        assert p.execute() == [True, 3, b"3"]
    with a.pipeline() as p:
        p.watch("w")
        p.multi()
        p.set("w", 10)
        b.call("SET", "w", 99)  # the watched key changes
        with pytest.raises(redis.WatchError):
            p.execute()
    assert a.call("GET", "w") == b"99"


def test_pipeline_reused_after_execute_and_after_reset(client):
    client.flushdb()
    p = client.pipeline(transaction=False)
    p.set("a", 1).get("a")
    assert p.execute() == [True, b"1"]
    p.incr("a").get("a")
    assert p.execute() == [2, b"2"]
    p.set("never", 1).incr("a")
    p.reset()
    assert len(p) == 0 and p.command_stack == []
    assert p.execute() == []
    p.get("a")
    assert p.execute() == [b"2"]
    assert client.call("EXISTS", "never") == 0


def test_hundred_thousand_command_staged_pipeline(client):
    client.flushdb()
    n = 100_000
    p = client.pipeline(transaction=False)
    for i in range(n):
        p.hset("big", i, i)
    assert len(p) == n
    assert p.execute() == [1] * n
    p = client.pipeline(transaction=False)
    for i in range(0, n, 7):
        p.hget("big", i)
    assert p.execute() == [str(i).encode() for i in range(0, n, 7)]
    assert client.call("HLEN", "big") == n


def test_queued_commands_keep_no_garbage_collected_objects(client):
    # 10,000 queued argument tuples each were the collector's work (and
    # triggered full collections) while a pipeline was built
    p = client.pipeline(transaction=False)
    gc.collect()
    gc.disable()
    try:
        before = len(gc.get_objects())
        for i in range(10_000):
            p.hset("h", i, i)
        grown = len(gc.get_objects()) - before
    finally:
        gc.enable()
    assert grown < 100, grown
    assert len(p.execute()) == 10_000


def test_error_replies_with_resp3(server, make_client):
    c = make_client(server, protocol=3)
    c.call("SET", "str", "text")
    p = c.pipeline(transaction=False)
    p.hset("h3", "f", 1).hgetall("h3").incr("str").set("x", 1)
    replies = p.execute(raise_on_error=False)
    assert replies[:2] == [1, {b"f": b"1"}] and replies[3] is True
    assert isinstance(replies[2], redis.ResponseError)


def test_blocking_command_in_a_batch_waits_past_the_socket_timeout(server, make_client):
    # the batch records that BLPOP may wait on the server, as execute_many's classification did
    c = make_client(server, socket_timeout=0.3)
    c.call("DEL", "empty")
    p = c.pipeline(transaction=False)
    p.set("before", 1).blpop(["empty"], 1).get("before")
    assert p._batch is not None
    assert p.execute() == [True, None, b"1"]


def test_pool_pipeline_is_staged(server):
    pool = cpipe.Pool(host="127.0.0.1", port=server.port, size=2)
    try:
        pool.call("DEL", "ph")
        p = pool.pipeline(transaction=False)
        for i in range(1000):
            p.hset("ph", i, i)
        p.hget("ph", 7)
        assert p._batch is not None
        assert p.execute() == [1] * 1000 + [b"7"]
        with pool.pipeline() as t:
            assert t.incr("pn").incr("pn").execute() == [1, 2]
    finally:
        pool.close()


def test_plain_and_other_forms_of_the_c_hot_methods(client):
    client.flushdb()
    p = client.pipeline(transaction=False)
    assert p.hset("h", "a", 1) is p                       # the plain form, staged in C
    p.hset("h", key="b", value=2)                         # keywords: the Python method
    p.hset("h", mapping={"c": 3})                         # redis-py's form
    p.set("s", "v", ex=100).set("t", "w")
    p.delete("s", "t", "nope").exists("h", "nope")
    p.lpush("l", 1, 2, 3).rpush("l", 4).sadd("st", "x", "y", "x")
    p.get("missing").hget("h", "a").hgetall("h")
    assert p.execute() == [1, 1, 1, True, True, 2, 1, 3, 4, 2, None, b"1",
                           {b"a": b"1", b"b": b"2", b"c": b"3"}]


def test_a_dropped_pipeline_is_freed_at_once(client):
    # no reference cycle through the hot methods: a WATCH pipeline dropped
    # without reset() gives its connection back when the last reference goes
    import weakref

    p = client.pipeline()
    p.hset("h", "f", 1)
    ref = weakref.ref(p)
    gc.disable()
    try:
        del p
        assert ref() is None
    finally:
        gc.enable()
