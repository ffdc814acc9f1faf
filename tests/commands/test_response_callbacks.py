"""RESPONSE_CALLBACKS: execute_command('HGETALL', 'h') and friends convert
replies as redis-py's execute_command does."""
from __future__ import annotations

import warnings

import pytest

from cpipe.commands import RESPONSE_CALLBACKS

SETUP = [
    ("SET", "s", "v"),
    ("HSET", "h", "a", "1", "b", "2"),
    ("SADD", "set", "x", "y"),
    ("SADD", "set2", "y"),
    ("ZADD", "z", "1", "a", "2.5", "b"),
    ("RPUSH", "l", "1", "2"),
    ("GEOADD", "geo", "13.361389", "38.115556", "Palermo", "15.087269", "37.502669", "Catania"),
    ("RPUSH", "sortme", "2", "1"),
    ("MSET", "w_1", "one", "w_2", "two", "n_1", "uno", "n_2", "dos"),
    ("PFADD", "hll1", "a", "b"),
    ("PFADD", "hll2", "c"),
]

CASES = [
    (("SET", "k", "v"), {}),
    (("SET", "k", "v", "NX"), {}),
    (("SET", "k", "w", "GET"), {"get": True}),
    (("GET", "k"), {}),
    (("HGETALL", "h"), {}),
    (("HGETALL", "nothere"), {}),
    (("SMEMBERS", "set"), {}),
    (("SINTER", "set", "set2"), {}),
    (("SUNION", "set", "set2"), {}),
    (("SDIFF", "set", "set2"), {}),
    (("SISMEMBER", "set", "x"), {}),
    (("ZRANGE", "z", 0, -1), {}),
    (("ZRANGE", "z", 0, -1, "WITHSCORES"), {"withscores": True}),
    (("ZRANGE", "z", 0, -1, "WITHSCORES"), {"withscores": True, "score_cast_func": int}),
    (("ZREVRANGE", "z", 0, -1, "WITHSCORES"), {"withscores": True}),
    (("ZRANGEBYSCORE", "z", 0, 9, "WITHSCORES"), {"withscores": True}),
    (("ZREVRANGEBYSCORE", "z", 9, 0, "WITHSCORES"), {"withscores": True}),
    (("ZSCORE", "z", "b"), {}),
    (("ZSCORE", "z", "q"), {}),
    (("ZMSCORE", "z", "a", "q"), {}),
    (("ZINCRBY", "z", 1, "a"), {}),
    (("ZADD", "z", "3", "c"), {}),
    (("ZADD", "z", "INCR", "3", "c"), {"as_score": True}),
    (("ZRANK", "z", "a"), {}),
    (("ZPOPMAX", "z"), {}),
    (("ZPOPMIN", "z", 5), {}),
    (("ZSCAN", "z", 0), {}),
    (("ZSCAN", "z", 0), {"score_cast_func": int}),
    (("HSCAN", "h", 0), {}),
    (("SSCAN", "set", 0, "COUNT", 100), {}),
    (("SCAN", 0, "COUNT", 1000), {}),
    (("EXPIRE", "s", 100), {}),
    (("PERSIST", "s"), {}),
    (("SETNX", "s", "x"), {}),
    (("SETEX", "t", 100, "x"), {}),
    (("INCRBYFLOAT", "f", 1.5), {}),
    (("HINCRBYFLOAT", "h", "c", 2), {}),
    (("HEXISTS", "h", "a"), {}),
    (("RENAME", "t", "t2"), {}),
    (("RENAMENX", "t2", "s"), {}),
    (("MSET", "m1", 1, "m2", 2), {}),
    (("MSETNX", "m1", 1), {}),
    (("LSET", "l", 0, "x"), {}),
    (("LTRIM", "l", 0, 0), {}),
    (("BLPOP", "l", 1), {}),
    (("BLPOP", "l", 0.01), {}),
    (("PING",), {}),
    (("TIME",), {}),
    (("CONFIG GET", "maxmemory"), {}),
    (("CONFIG SET", "maxmemory-samples", 5), {}),
    (("CLIENT SETNAME", "x"), {}),
    (("CLIENT GETNAME",), {}),
    (("INFO", "server"), {}),
    (("LASTSAVE",), {}),
    (("SCRIPT LOAD", "return 1"), {}),
    (("SCRIPT EXISTS", "e0e1f9fabfc9d4800c877a703b823ac0578ff8db", "0" * 40), {}),
    (("GEOPOS", "geo", "Palermo", "Nowhere"), {}),
    (("GEODIST", "geo", "Palermo", "Catania"), {}),
    (("GEODIST", "geo", "Palermo", "Nowhere"), {}),
    (("GEOHASH", "geo", "Palermo", "Catania"), {}),
    (("SORT", "sortme", "GET", "w_*", "GET", "n_*"), {"groups": 2}),
    (("SORT", "sortme"), {}),
    (("ACL WHOAMI",), {}),
    (("ACL CAT",), {}),
    (("ACL USERS",), {}),
    (("COMMAND GETKEYS", "MSET", "a", "1", "b", "2"), {}),
    (("CLIENT KILL", "ID", 999999999), {}),
    (("PFMERGE", "hll3", "hll1", "hll2"), {}),
    (("FLUSHDB",), {}),
]


def _norm(args, value):
    if args[0] == "TIME":
        return type(value), [type(x) for x in value]
    if args[0] == "INFO":
        return type(value), value["redis_version"]
    return value


@pytest.fixture(params=["adapter", "client"])
def executor(request, raw_client, cmd_client):
    """The test adapter (checks RESPONSE_CALLBACKS itself) and the client under
    test (checks the client applies them the same way)."""
    return raw_client if request.param == "adapter" else cmd_client


def test_execute_command_matches_redis_py(rp, executor, ctl):
    from .differ import same

    for target in (rp, executor):
        ctl.flushall()
        for args in SETUP:
            ctl.execute_command(*args)
        results = []
        for args, options in CASES:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                results.append(_norm(args, target.execute_command(*args, **options)))
        if target is rp:
            expected = results
    wrong = [f"execute_command{args} {options}: redis-py {e!r}, cpipe {g!r}"
             for (args, options), e, g in zip(CASES, expected, results) if not same(e, g)]
    assert wrong == [], "\n".join(wrong)


def test_callbacks_accept_options():
    """Every entry takes (reply, **options); unknown options are ignored."""
    import inspect

    for name, callback in RESPONSE_CALLBACKS.items():
        assert name == name.upper(), name
        params = inspect.signature(callback).parameters.values()
        assert any(p.kind is p.VAR_KEYWORD for p in params), name


def test_callback_names_are_known_to_redis_py():
    """Our table's names and redis-py's RESP2 table agree on what gets converted."""
    from redis._parsers.response_callbacks import get_response_callbacks

    theirs = get_response_callbacks(2, True)
    missing = sorted(set(RESPONSE_CALLBACKS) - set(theirs))
    assert missing == [], missing
