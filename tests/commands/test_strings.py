"""String commands: redis-py and the client under test give the same answers."""
from __future__ import annotations

import datetime

from .differ import S

FUTURE = datetime.datetime(2100, 1, 1, tzinfo=datetime.timezone.utc)
FUTURE_S = int(FUTURE.timestamp())


def test_get_set_basic(diff):
    diff.run(
        S("get", "missing"),
        S("set", "k", "v"),
        S("get", "k"),
        S("set", b"bin\x00key", b"\xff\x00\xfe"),
        S("get", b"bin\x00key"),
        S("set", "int", 42),
        S("set", "float", 3.25),
        S("set", "uni", "h\u00e9llo \u2603"),
        S("get", "int"),
        S("get", "float"),
        S("get", "uni"),
        S("set", "empty", ""),
        S("get", "empty"),
        S("set", "mv", memoryview(b"view")),
        S("get", "mv"),
    )


def test_set_options(diff):
    diff.run(
        S("set", "k", "v", nx=True),
        S("set", "k", "v2", nx=True),
        S("set", "k", "v3", xx=True),
        S("set", "nope", "v", xx=True),
        S("set", "k", "v4", get=True),
        S("set", "new", "v", get=True),
        S("set", "k", "v5", nx=True, get=True),
        S("set", "e1", "v", ex=100),
        S("set", "e2", "v", px=100000),
        S("set", "e3", "v", ex=datetime.timedelta(seconds=100)),
        S("set", "e4", "v", px=datetime.timedelta(seconds=100)),
        S("set", "e5", "v", exat=FUTURE_S),
        S("set", "e6", "v", pxat=FUTURE_S * 1000),
        S("set", "e7", "v", exat=FUTURE),
        S("set", "e8", "v", pxat=FUTURE),
        S("set", "e9", "v", ex="100"),
        S("ttl", "e1", _tol=1), S("ttl", "e3", _tol=1), S("ttl", "e9", _tol=1),
        S("set", "e1", "kept", keepttl=True),
        S("ttl", "e1", _tol=1),
        S("set", "e2", "x", xx=True, ex=50, get=True),
        S("ttl", "e2", _tol=1),
        S("get", "e2"),
    )


def test_set_data_errors(diff):
    diff.run(
        S("set", "a", "v", ex=1, px=1000),
        S("set", "a", "v", ex=1, keepttl=True),
        S("set", "a", "v", exat=FUTURE_S, pxat=FUTURE_S * 1000),
        S("set", "a", "v", nx=True, xx=True),
        S("set", "a", "v", ex=1.5),
        S("set", "a", "v", px=1.5),
        S("set", "a", "v", ex="soon"),
        S("set", "a", True),
        S("set", "a", None),
        S("exists", "a"),
    )


def test_set_server_errors(diff):
    diff.run(
        S("set", "a", "v", ex=0),
        S("set", "a", "v", ex=-1),
        S("rpush", "list", "x"),
        S("set", "list", "v", get=True),
        S("get", "list"),
    )


def test_mget_mset(diff):
    diff.run(
        S("mset", {"a": "1", "b": b"2", "c": 3, b"d": 4.5}),
        S("mget", ["a", "b", "c", "d", "missing"]),
        S("mget", "a", "b", "missing"),
        S("mget", ("a",)),
        S("mget", "a"),
        S("mget", []),
        S("msetnx", {"a": "x", "z": "y"}),
        S("msetnx", {"y": "x", "z": "y"}),
        S("mget", "y", "z", "a"),
        S("mset", {}),
    )


def test_setnx_setex_psetex(diff):
    diff.run(
        S("setnx", "k", "v"),
        S("setnx", "k", "w"),
        S("get", "k"),
        S("setex", "s", 100, "v"),
        S("setex", "s2", datetime.timedelta(seconds=100), "v"),
        S("psetex", "p", 100000, "v"),
        S("psetex", "p2", datetime.timedelta(seconds=100), "v"),
        S("ttl", "s", _tol=1), S("ttl", "s2", _tol=1), S("get", "p2"),
        S("setex", "bad", 0, "v"),
        S("psetex", "bad", -5, "v"),
    )


def test_counters(diff):
    diff.run(
        S("incr", "n"),
        S("incr", "n", 5),
        S("incrby", "n"),
        S("incrby", "n", -3),
        S("decr", "n"),
        S("decr", "n", 10),
        S("decrby", "n"),
        S("decrby", "n", 2),
        S("incrbyfloat", "f"),
        S("incrbyfloat", "f", 2.5),
        S("incrbyfloat", "f", -0.25),
        S("incrbyfloat", "n", 1),
        S("get", "f"),
        S("set", "s", "abc"),
        S("incr", "s"),
        S("incrbyfloat", "s", 1.0),
        S("incr", "n", 1.5),
        S("set", "big", 2 ** 63 - 1),
        S("incr", "big"),
        S("incrbyfloat", "e", 1e300),
        S("incrbyfloat", "e", 1e300),
    )


def test_append_strlen_ranges(diff):
    diff.run(
        S("append", "k", "hello"),
        S("append", "k", b" world"),
        S("strlen", "k"),
        S("strlen", "missing"),
        S("getrange", "k", 0, 4),
        S("getrange", "k", -5, -1),
        S("getrange", "missing", 0, 10),
        S("setrange", "k", 6, "WORLD"),
        S("setrange", "pad", 3, "x"),
        S("get", "pad"),
        S("get", "k"),
        S("setrange", "k", -1, "x"),
        S("lpush", "l", 1),
        S("append", "l", "x"),
        S("strlen", "l"),
    )


def test_getdel_getex_getset(diff):
    diff.run(
        S("set", "k", "v"),
        S("getdel", "k"),
        S("getdel", "k"),
        S("set", "k", "v"),
        S("getex", "k"),
        S("getex", "k", ex=100),
        S("ttl", "k", _tol=1),
        S("getex", "k", persist=True),
        S("ttl", "k", _tol=1),
        S("getex", "k", px=100000),
        S("getex", "k", exat=FUTURE_S),
        S("getex", "k", pxat=FUTURE),
        S("getex", "k", ex=datetime.timedelta(seconds=50)),
        S("getex", "missing", ex=10),
        S("getex", "k", ex=1, px=1),
        S("getex", "k", ex=1, persist=True),
        S("getset", "k", "new"),
        S("getset", "fresh", "x"),
        S("get", "k"),
        S("hset", "h", "f", "v"),
        S("getdel", "h"),
        S("getex", "h"),
        S("getset", "h", "x"),
    )


def test_bits_and_lcs(diff):
    diff.run(
        S("setbit", "b", 7, 1),
        S("setbit", "b", 7, True),
        S("setbit", "b", 0, 0),
        S("setbit", "b", 9, 5),
        S("getbit", "b", 7),
        S("getbit", "b", 100),
        S("bitcount", "b"),
        S("bitcount", "b", 0, 0),
        S("bitcount", "b", 0, 15, "BIT"),
        S("bitcount", "b", 0),
        S("set", "s1", "ohmytext"),
        S("set", "s2", "mynewtext"),
        S("lcs", "s1", "s2"),
        S("lcs", "s1", "s2", len=True),
        S("lcs", "s1", "s2", idx=True, minmatchlen=4, withmatchlen=True),
    )


def test_mapping_access(diff):
    diff.run(
        S("__setitem__", "k", "v"),
        S("__getitem__", "k"),
        S("__getitem__", "missing"),
        S("__contains__", "k"),
        S("__delitem__", "k"),
        S("__contains__", "k"),
    )


def test_wrongtype_message(diff, ctl, cmd_client):
    from cpipe.errors import ResponseError

    ctl.flushall()
    ctl.rpush("l", "x")
    try:
        cmd_client.get("l")
    except ResponseError as e:
        assert "WRONGTYPE Operation against a key holding the wrong kind of value" in str(e)
    else:
        raise AssertionError("GET on a list did not raise ResponseError")
