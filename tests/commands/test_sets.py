"""Set commands."""
from __future__ import annotations

from .differ import S


def test_add_remove_members(diff):
    diff.run(
        S("smembers", "missing"),
        S("sadd", "s", "a"),
        S("sadd", "s", "a", "b", 1, 2.5, b"\xff"),
        S("srem", "s", "a", "nothere"),
        S("srem", "missing", "a"),
        S("smembers", "s"),
        S("scard", "s"),
        S("scard", "missing"),
        S("sismember", "s", "b"),
        S("sismember", "s", "zz"),
        S("sismember", "missing", "zz"),
        S("smismember", "s", ["b", "zz", "1"]),
        S("smismember", "s", "b", "zz"),
        S("smismember", "s", "b"),
        S("sadd", "s"),
        S("set", "str", "v"),
        S("sadd", "str", "x"),
        S("smembers", "str"),
        S("sismember", "str", "x"),
    )


def test_pop_and_random(diff):
    diff.run(
        S("sadd", "one", "only"),
        S("srandmember", "one"),
        S("srandmember", "one", 3),
        S("srandmember", "one", -3),
        S("spop", "one"),
        S("spop", "one"),
        S("spop", "missing"),
        S("spop", "missing", 2),
        S("srandmember", "missing"),
        S("srandmember", "missing", 2),
        S("sadd", "many", *range(20)),
        S("srandmember", "many", 5, _norm=lambda v: (type(v), len(v), len(set(v)))),
        S("srandmember", "many", _norm=lambda v: type(v)),
        S("spop", "many", _norm=lambda v: type(v)),
        S("spop", "many", 30, _norm=lambda v: (type(v), len(v))),
        S("spop", "many", 0),
        S("exists", "many"),
    )


def test_smove(diff):
    diff.run(
        S("sadd", "a", "x", "y"),
        S("smove", "a", "b", "x"),
        S("smove", "a", "b", "nothere"),
        S("smove", "missing", "b", "x"),
        S("smembers", "b"),
        S("set", "str", "v"),
        S("smove", "a", "str", "y"),
    )


def test_algebra(diff):
    diff.run(
        S("sadd", "a", "1", "2", "3", "4"),
        S("sadd", "b", "3", "4", "5"),
        S("sadd", "c", "4", "6"),
        S("sinter", "a", "b"),
        S("sinter", ["a", "b", "c"]),
        S("sinter", ["a", "missing"]),
        S("sunion", "a", "b", "c"),
        S("sunion", ["missing"]),
        S("sdiff", ["a", "b"]),
        S("sdiff", "a", "b", "c"),
        S("sdiff", "missing", "a"),
        S("sinterstore", "d1", ["a", "b"]),
        S("sunionstore", "d2", "a", "c"),
        S("sdiffstore", "d3", ["a"], "b"),
        S("sinterstore", "d4", ["a", "missing"]),
        S("sintercard", 2, ["a", "b"]),
        S("sintercard", 3, ["a", "b", "c"], limit=1),
        S("smembers", "d2"),
        S("set", "str", "v"),
        S("sinter", "a", "str"),
        S("sunionstore", "d5", ["str"]),
    )


def test_sscan(diff):
    members = [f"m{i}" for i in range(300)]
    diff.run(
        S("sscan", "missing"),
        S("sadd", "small", "a", "b"),
        S("sscan", "small", _norm=lambda r: (r[0], sorted(r[1]))),
        S("sadd", "big", *members),
        S("sscan", "big"),
        S("sscan", "big", cursor=0, count=10),
        S("sscan", "big", 0, match="m1*", count=1000, _norm=lambda r: (r[0], sorted(r[1]))),
    )


def test_sscan_iter(rp, cmd_client, ctl):
    ctl.flushall()
    ctl.sadd("big", *[f"m{i}" for i in range(300)])
    ctl.sadd("ints", *range(10))  # intset encoding
    for name, kwargs in (("big", {}), ("big", {"count": 9}), ("big", {"match": "m2*"}),
                         ("ints", {}), ("missing", {})):
        expected = list(rp.sscan_iter(name, **kwargs))
        got = list(cmd_client.sscan_iter(name, **kwargs))
        assert sorted(set(expected)) == sorted(set(got))
        assert all(type(a) is type(expected[0]) for a in got)
