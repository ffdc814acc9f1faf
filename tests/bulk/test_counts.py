"""client.bulk(): counts, error replies with their index, replies=True, and
bad arguments refused before anything is sent (real server)."""
from __future__ import annotations

import pytest
import redis

import cpipe
from cpipe.bulk import Bulk


def test_counts_match_the_server(r):
    with r.bulk(batch=100) as b:
        for i in range(25_000):
            b.hset(f"h:{i}", "f", i)
    assert (b.queued, b.sent, b.acknowledged) == (25_000, 25_000, 25_000)
    assert b.errors == [] and b.error_count == 0
    assert r.dbsize() == 25_000
    assert r.hget("h:24999", "f") == b"24999"
    assert b.replies is None  # replies=False keeps none


def test_redis_py_methods_and_execute_command(r):
    with r.bulk() as b:
        b.set("a", "1", ex=100)          # redis-py's own method (options)
        b.zadd("z", {"m": 1.5})
        b.execute_command("RPUSH", "l", "x", "y")
        b.execute_command("CONFIG SET", "maxmemory-policy", "noeviction")  # a two-word name is split
        b.add_commands([("SADD", "s", 1), ("SADD", "s", 2)])
    assert b.acknowledged == 6
    assert 0 < r.ttl("a") <= 100
    assert r.zscore("z", "m") == 1.5 and r.lrange("l", 0, -1) == [b"x", b"y"] and r.scard("s") == 2


def test_error_replies_keep_their_index_and_args(r):
    r.set("str", "v")
    b = r.bulk(batch=3, raise_on_error=False)
    with b:
        for i in range(10):
            if i in (2, 7):
                b.lpush("str", f"x{i}")   # WRONGTYPE
            else:
                b.set(f"k{i}", i)
    assert b.acknowledged == 10 and b.error_count == 2
    assert [(i, args) for i, args, _ in b.errors] == [(2, (b"LPUSH", b"str", b"x2")), (7, (b"LPUSH", b"str", b"x7"))]
    exc = b.errors[0][2]
    assert isinstance(exc, redis.ResponseError) and "WRONGTYPE" in str(exc)
    assert str(exc).startswith("Command # 3 (LPUSH str x2) of bulk caused error: WRONGTYPE")
    assert r.dbsize() == 9  # the other eight ran, and str


def test_raise_on_error_raises_the_first_after_every_reply(r):
    r.set("str", "v")
    with pytest.raises(redis.ResponseError, match="Command # 2 .LPUSH str x. of bulk caused error: WRONGTYPE") as info:
        with r.bulk() as b:
            b.set("a", 1)
            b.lpush("str", "x")
            b.set("b", 2)
            b.lpush("str", "y")
    assert "WRONGTYPE" in str(info.value)
    assert b.acknowledged == 4 and len(b.errors) == 2
    assert r.get("b") == b"2"


def test_errors_are_bounded_by_max_errors(r):
    r.set("str", "v")
    with r.bulk(raise_on_error=False, max_errors=5) as b:
        for _ in range(50):
            b.lpush("str", "x")
    assert b.error_count == 50 and len(b.errors) == 5
    assert [i for i, _, _ in b.errors] == [0, 1, 2, 3, 4]


def test_replies_true_converts_like_the_client(r):
    with r.bulk(batch=2, replies=True, raise_on_error=False) as b:
        b.set("a", "1")
        b.incr("n")
        b.get("a")
        b.hset("h", "f", "v")
        b.lpush("a", "x")               # WRONGTYPE: in place
        b.hgetall("h")
        b.zadd("z", {"m": 2})
        b.zrange("z", 0, -1, withscores=True)
    rep = b.replies
    assert rep[:4] == [True, 1, b"1", 1]
    assert isinstance(rep[4], redis.ResponseError)
    assert rep[5:] == [{b"f": b"v"}, 1, [(b"m", 2.0)]]


def test_replies_respect_decode_responses(real_server):
    with cpipe.Redis(port=real_server.port, decode_responses=True) as c:
        c.delete("d")
        with c.bulk(replies=True) as b:
            b.set("d", "é")
            b.get("d")
            b.execute_command("ECHO", b"\xc3\xa9")
    assert b.replies == [True, "é", "é"]


def test_bad_arguments_raise_before_anything_is_sent(r):
    with r.bulk() as b:
        b.set("before", 1)
        with pytest.raises(redis.DataError):
            b.set("bad", None)               # refused by the encoder
        with pytest.raises(redis.DataError):
            b.execute_command("SET", "bad", {"a": 1})
        with pytest.raises(redis.DataError, match="blocking command"):
            b.blpop(["l"], 0)
        with pytest.raises(redis.DataError):
            b.execute_command("SUBSCRIBE", "ch")  # changes what the connection sends back
        b.set("after", 2)
    assert b.acknowledged == 2 and b.errors == []
    assert r.exists("bad") == 0 and r.mget("before", "after") == [b"1", b"2"]


@pytest.mark.parametrize("kwargs", [{"batch": 0}, {"batch": 10, "max_pending": 5}, {"max_pending_bytes": -1},
                                    {"max_errors": 0}, {"batch": True}])
def test_bad_options(r, kwargs):
    with pytest.raises(ValueError):
        r.bulk(**kwargs)


def test_an_exception_in_the_block_drops_the_unsent_rest(r):
    with pytest.raises(KeyError):
        with r.bulk(batch=1000) as b:
            for i in range(2500):
                b.set(f"k{i}", i)
            raise KeyError("boom")
    # Two batches were handed over and answered; the 500 in Python's buffer were never sent.
    assert b.acknowledged == b.sent == 2000 and r.dbsize() == 2000


def test_pool_bulk(real_server):
    pool = cpipe.Pool(host="127.0.0.1", port=real_server.port, size=2)
    try:
        pool.flushall()
        with pool.bulk(batch=500) as b:
            for i in range(10_000):
                b.hset(f"p:{i}", "f", "v")
        assert isinstance(b, Bulk) and b.acknowledged == 10_000
        assert pool.dbsize() == 10_000
    finally:
        pool.close()
