"""Hash commands."""
from __future__ import annotations

from .differ import S


def test_hset_forms(diff):
    diff.run(
        S("hset", "h", "f", "v"),
        S("hset", "h", "f", "v2"),
        S("hset", "h", b"bin", b"\x00\xff"),
        S("hset", "h", 1, 2.5),
        S("hset", "h", mapping={"a": 1, "b": "2", b"c": b"3"}),
        S("hset", "h", items=["i1", "v1", "i2", "v2"]),
        S("hset", "h", "k", "v", mapping={"m": 1}, items=["i", 0]),
        S("hset", "h", "f"),
        S("hset", "h", key="only", value="kw"),
        S("hgetall", "h"),
        S("hset", "h"),
        S("hset", "h", mapping={}),
        S("hset", "h", items=[]),
        S("hset", "h", items=["odd"]),
        S("hset", "h", "x", True),
        S("hlen", "h"),
    )


def test_hash_reads(diff):
    diff.run(
        S("hgetall", "missing"),
        S("hset", "h", mapping={"a": "1", "b": "22", "c": "333"}),
        S("hget", "h", "a"),
        S("hget", "h", "zz"),
        S("hget", "missing", "a"),
        S("hmget", "h", ["a", "zz", "c"]),
        S("hmget", "h", "a", "b"),
        S("hmget", "h", "a"),
        S("hmget", "h", ("c",), "a"),
        S("hmget", "missing", ["a"]),
        S("hgetall", "h"),
        S("hkeys", "h"),
        S("hvals", "h"),
        S("hlen", "h"),
        S("hlen", "missing"),
        S("hkeys", "missing"),
        S("hstrlen", "h", "c"),
        S("hstrlen", "h", "zz"),
        S("hexists", "h", "a"),
        S("hexists", "h", "zz"),
        S("hexists", "missing", "a"),
        S("hrandfield", "h", 5, _norm=sorted),
        S("hrandfield", "h", 3, withvalues=True, _norm=lambda v: sorted(zip(v[::2], v[1::2]))),
        S("hrandfield", "missing"),
    )


def test_hash_writes(diff):
    diff.run(
        S("hsetnx", "h", "f", "v"),
        S("hsetnx", "h", "f", "w"),
        S("hmset", "h", {"a": 1, "b": 2}),
        S("hmset", "h", {}),
        S("hdel", "h", "a", "zz"),
        S("hdel", "h", "zz"),
        S("hdel", "missing", "a"),
        S("hincrby", "h", "n"),
        S("hincrby", "h", "n", 10),
        S("hincrby", "h", "n", -3),
        S("hincrby", "h", "f", 1),
        S("hincrbyfloat", "h", "x"),
        S("hincrbyfloat", "h", "x", 1.5),
        S("hincrbyfloat", "h", "x", -0.125),
        S("hincrbyfloat", "h", "f", 1.0),
        S("hgetall", "h"),
    )


def test_hash_wrongtype(diff):
    diff.run(
        S("set", "s", "v"),
        S("hset", "s", "f", "v"),
        S("hget", "s", "f"),
        S("hgetall", "s"),
        S("hmget", "s", ["f"]),
        S("hincrby", "s", "f"),
        S("hscan", "s"),
        S("hmset", "s", {"a": 1}),
    )


def test_hscan(diff):
    big = {f"f{i}": i for i in range(300)}  # hashtable encoding: real cursors
    diff.run(
        S("hscan", "missing"),
        S("hset", "small", mapping={"a": 1, "b": 2}),
        S("hscan", "small"),
        S("hscan", "small", 0, match="a"),
        S("hset", "big", mapping=big),
        S("hscan", "big"),
        S("hscan", "big", cursor=0, count=10),
        S("hscan", "big", 0, match="f1*", count=1000),
    )


def test_hscan_iter(rp, cmd_client, ctl):
    ctl.flushall()
    ctl.hset("big", mapping={f"f{i}": i for i in range(300)})
    ctl.hset("small", mapping={"a": 1})
    for name, kwargs in (("big", {}), ("big", {"count": 7}), ("big", {"match": "f2*"}),
                         ("small", {}), ("missing", {})):
        expected = list(rp.hscan_iter(name, **kwargs))
        got = list(cmd_client.hscan_iter(name, **kwargs))
        assert dict(expected) == dict(got)
        assert all(type(p) is tuple for p in got)
        assert all(type(a) is type(b) for p, q in zip(expected, got) for a, b in zip(p, q))
