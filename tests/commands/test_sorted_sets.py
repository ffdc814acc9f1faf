"""Sorted-set commands: scores as floats, (member, score) tuples, options."""
from __future__ import annotations

from .differ import S

SCORES = {"a": 1, "b": 2.5, "c": 3, "d": -4, "e": 1e20, "f": float("inf")}


def test_zadd(diff):
    diff.run(
        S("zadd", "z", {"a": 1}),
        S("zadd", "z", {"a": 2, "b": 3, b"c": 0.5}),
        S("zadd", "z", {"a": 5}, nx=True),
        S("zadd", "z", {"new": 5}, xx=True),
        S("zadd", "z", {"a": 7, "b": 1}, ch=True),
        S("zadd", "z", {"a": 10}, gt=True, ch=True),
        S("zadd", "z", {"a": 1}, lt=True, ch=True),
        S("zadd", "z", {"a": 1}, xx=True, gt=True),
        S("zadd", "z", {"a": 2.5}, incr=True),
        S("zadd", "z", {"zz": 4}, incr=True),
        S("zadd", "z", {"a": 1}, incr=True, nx=True),
        S("zadd", "z", {"a": -100}, incr=True, gt=True),
        S("zadd", "z", {"x": 1}, incr=True, xx=True),
        S("zadd", "z", {}),
        S("zadd", "z", {"a": 1}, nx=True, xx=True),
        S("zadd", "z", {"a": 1}, gt=True, lt=True),
        S("zadd", "z", {"a": 1, "b": 2}, incr=True),
        S("zadd", "z", {"a": 1}, nx=True, gt=True),
        S("zadd", "z", {"a": "notanumber"}),
        S("zadd", "z", {"a": float("nan")}),
        S("set", "str", "v"),
        S("zadd", "str", {"a": 1}),
        S("zrange", "z", 0, -1, withscores=True),
    )


def test_scores_and_counts(diff):
    diff.run(
        S("zadd", "z", SCORES),
        S("zscore", "z", "b"),
        S("zscore", "z", "e"),
        S("zscore", "z", "f"),
        S("zscore", "z", "nothere"),
        S("zscore", "missing", "a"),
        S("zmscore", "z", ["a", "nothere", "f", "d"]),
        S("zmscore", "missing", ["a"]),
        S("zmscore", "z", []),
        S("zincrby", "z", 2, "a"),
        S("zincrby", "z", -0.5, "new"),
        S("zincrby", "z", 1, "f"),
        S("zcard", "z"),
        S("zcard", "missing"),
        S("zcount", "z", "-inf", "+inf"),
        S("zcount", "z", 1, 3),
        S("zcount", "z", "(1", 3),
        S("zcount", "z", "nan", 3),
        S("zrank", "z", "a"),
        S("zrank", "z", "nothere"),
        S("zrevrank", "z", "a"),
        S("zrevrank", "missing", "a"),
        S("zrem", "z", "a", "nothere"),
        S("zrem", "missing", "a"),
        S("set", "str", "v"),
        S("zscore", "str", "a"),
        S("zincrby", "z", float("-inf"), "f"),
    )


def test_zrange_variants(diff):
    diff.run(
        S("zadd", "z", SCORES),
        S("zrange", "z", 0, -1),
        S("zrange", "z", 0, -1, withscores=True),
        S("zrange", "z", 1, 2, withscores=True, score_cast_func=int),
        S("zrange", "z", 0, 3, withscores=True, score_cast_func=str),
        S("zrange", "z", 0, -1, desc=True),
        S("zrange", "z", 0, 1, desc=True, withscores=True),
        S("zrange", "z", 1, 3, byscore=True),
        S("zrange", "z", "(1", "+inf", byscore=True, withscores=True),
        S("zrange", "z", "+inf", 1, byscore=True, desc=True, withscores=True),
        S("zrange", "z", 0, 10, byscore=True, offset=1, num=1),
        S("zrange", "z", 0, -1, offset=0, num=2),
        S("zrange", "z", "[a", "[c", bylex=True),
        S("zrange", "z", "[c", "-", bylex=True, desc=True, offset=0, num=2),
        S("zrange", "missing", 0, -1, withscores=True),
        S("zrange", "z", 0, -1, byscore=True, bylex=True),
        S("zrange", "z", 0, -1, offset=1),
        S("zrange", "z", 0, -1, num=1),
        S("zrange", "z", "-", "+", bylex=True, withscores=True),
        S("zrevrange", "z", 0, -1),
        S("zrevrange", "z", 0, 2, withscores=True),
        S("zrevrange", "z", 0, 2, True, int),
        S("zrevrange", "missing", 0, -1, withscores=True),
        S("zrangebyscore", "z", 1, 3),
        S("zrangebyscore", "z", "-inf", "+inf", withscores=True),
        S("zrangebyscore", "z", "-inf", "+inf", 1, 2, withscores=True, score_cast_func=int),
        S("zrangebyscore", "z", 0, 1, start=1),
        S("zrevrangebyscore", "z", 3, 1),
        S("zrevrangebyscore", "z", "+inf", "-inf", 0, 3, True),
        S("zrevrangebyscore", "z", 3, 1, num=2),
        S("zrangebyscore", "z", "x", "y"),
        S("zrange", "z", 0, -1, withscores=True, score_cast_func=lambda s: ("cast", s)),
    )


def test_lex_ranges(diff):
    diff.run(
        S("zadd", "lex", {m: 0 for m in "abcdefg"}),
        S("zrangebylex", "lex", "-", "+"),
        S("zrangebylex", "lex", "[b", "(e"),
        S("zrangebylex", "lex", "-", "+", 2, 2),
        S("zrangebylex", "lex", "-", "+", start=2),
        S("zrevrangebylex", "lex", "+", "-"),
        S("zrevrangebylex", "lex", "(e", "[b", 0, 1),
        S("zrevrangebylex", "lex", "+", "-", num=1),
        S("zlexcount", "lex", "-", "+"),
        S("zlexcount", "lex", "[b", "[d"),
        S("zrangebylex", "lex", "b", "d"),
        S("zremrangebylex", "lex", "[f", "+"),
        S("zrangestore", "dst", "lex", 0, 1),
        S("zrangestore", "dst2", "lex", "[b", "[d", bylex=True, desc=False),
        S("zrangestore", "dst3", "lex", "+", "-", bylex=True, desc=True, offset=0, num=2),
        S("zrangestore", "dst4", "lex", 0, 10, byscore=True),
        S("zrangestore", "dst5", "lex", 0, 1, offset=1),
        S("zrange", "dst3", 0, -1),
    )


def test_removals_and_pops(diff):
    diff.run(
        S("zadd", "z", SCORES),
        S("zremrangebyrank", "z", 0, 0),
        S("zremrangebyscore", "z", "(2.5", 3),
        S("zremrangebyscore", "missing", 0, 1),
        S("zremrangebyrank", "z", 10, 20),
        S("zpopmin", "z"),
        S("zpopmax", "z"),
        S("zadd", "z", {"x": 1, "y": 2, "w": 3}),
        S("zpopmin", "z", 2),
        S("zpopmax", "z", 5),
        S("zpopmin", "z"),
        S("zpopmin", "missing"),
        S("zpopmax", "missing", 3),
        S("zadd", "b1", {"m": 5, "n": 6}),
        S("bzpopmin", ["empty", "b1"], 1),
        S("bzpopmax", "b1", 1),
        S("bzpopmin", "empty", 0.05),
        S("bzpopmax", ["empty"], timeout=0.05),
        S("set", "str", "v"),
        S("zpopmin", "str"),
    )


def test_random_and_aggregates(diff):
    diff.run(
        S("zadd", "one", {"only": 7}),
        S("zrandmember", "one"),
        S("zrandmember", "one", 2),
        S("zrandmember", "one", 1, withscores=True),
        S("zrandmember", "missing"),
        S("zadd", "a", {"x": 1, "y": 2, "z": 3}),
        S("zadd", "b", {"y": 10, "z": 20, "w": 30}),
        S("zunionstore", "u", ["a", "b"]),
        S("zunionstore", "u2", {"a": 2, "b": 0.5}, aggregate="MAX"),
        S("zinterstore", "i", ["a", "b"], aggregate="min"),
        S("zinterstore", "i2", {"a": 1, "b": 1}),
        S("zunionstore", "bad", ["a"], aggregate="avg"),
        S("zunion", ["a", "b"]),
        S("zunion", ["a", "b"], withscores=True),
        S("zunion", {"a": 1, "b": 2}, aggregate="sum", withscores=True, score_cast_func=int),
        S("zinter", ["a", "b"], withscores=True),
        S("zinter", ["a", "b"], aggregate="max"),
        S("zrange", "u2", 0, -1, withscores=True),
        S("zrange", "i", 0, -1, withscores=True),
    )


def test_zscan(diff):
    big = {f"m{i}": i * 0.5 for i in range(300)}
    diff.run(
        S("zscan", "missing"),
        S("zadd", "small", {"a": 1, "b": 2.5}),
        S("zscan", "small"),
        S("zscan", "small", score_cast_func=int),
        S("zadd", "big", big),
        S("zscan", "big"),
        S("zscan", "big", cursor=0, count=10),
        S("zscan", "big", 0, match="m1*", count=1000),
        S("set", "str", "v"),
        S("zscan", "str"),
    )


def test_zscan_iter(rp, cmd_client, ctl):
    ctl.flushall()
    ctl.zadd("big", {f"m{i}": i for i in range(300)})
    ctl.zadd("small", {"a": 1.5})
    for name, kwargs in (("big", {}), ("big", {"count": 11}), ("big", {"match": "m2*"}),
                         ("big", {"score_cast_func": int}), ("small", {}), ("missing", {})):
        expected = list(rp.zscan_iter(name, **kwargs))
        got = list(cmd_client.zscan_iter(name, **kwargs))
        assert sorted(set(expected)) == sorted(set(got))
        assert all(type(p) is tuple and type(p[1]) is type(expected[0][1]) for p in got)
