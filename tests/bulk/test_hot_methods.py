"""A bulk's hot methods: the plain form is one C call, every other form is
redis-py's method, and the signatures are redis-py's."""
from __future__ import annotations

import gc
import inspect
import weakref

import pytest
import redis

from cpipe.bulk import _FAST_METHODS


def test_plain_and_other_forms_queue_the_same_commands(r):
    with r.bulk(replies=True) as b:
        b.hset("h", "a", 1)                         # the C path
        b.hset("h", mapping={"b": 2, "c": 3})       # redis-py's form
        b.hset("h", "d", 4, items=["e", 5])
        b.set("s", "v")
        b.set("t", "v", ex=50)                      # options: redis-py's set
        b.rpush("l", 1, 2, 3)
        b.lpush("l", 0)
        b.sadd("z", "x", "y")
        b.delete("s", "nope")
        with pytest.raises(redis.DataError):
            b.hset("h", None, None)                 # redis-py: no key value pairs
        with pytest.raises(redis.DataError):
            b.set("bad", None)
    assert b.replies == [1, 2, 2, True, True, 3, 4, 2, 1]
    assert r.hgetall("h") == {b"a": b"1", b"b": b"2", b"c": b"3", b"d": b"4", b"e": b"5"}
    assert 0 < r.ttl("t") <= 50 and r.lrange("l", 0, -1) == [b"0", b"1", b"2", b"3"]


def _shape(sig):
    return [(p.name, p.kind, p.default) for p in sig.parameters.values() if p.name != "self"]


def test_signatures_are_redis_pys(r):
    with r.bulk() as b:
        for method, *_ in _FAST_METHODS:
            fast = getattr(b, method)
            assert type(fast).__name__ == "BulkCommand"
            assert _shape(inspect.signature(fast)) == _shape(inspect.signature(getattr(redis.Redis, method)))


def test_a_finished_bulk_is_freed(r):
    with r.bulk() as b:
        b.hset("h", "f", "v")
    ref = weakref.ref(b)
    del b
    gc.collect()
    assert ref() is None  # the C methods' reference cycle is collected
