"""Generic key commands."""
from __future__ import annotations

import datetime

from .differ import S

FUTURE = datetime.datetime(2100, 1, 1, tzinfo=datetime.timezone.utc)
FUTURE_S = int(FUTURE.timestamp())


def _setup():
    return (
        S("set", "a", "1"),
        S("set", "b", "2"),
        S("rpush", "l", "x"),
        S("hset", "h", "f", "v"),
        S("sadd", "s", "m"),
        S("zadd", "z", {"m": 1}),
    )


def test_delete_exists_unlink_touch(diff):
    diff.run(
        *_setup(),
        S("exists", "a"),
        S("exists", "a", "b", "a", "missing"),
        S("exists", "missing"),
        S("touch", "a", "b", "missing"),
        S("delete", "a", "missing"),
        S("delete", "missing"),
        S("unlink", "b", "l"),
        S("exists", "a", "b", "l", "h"),
        S("delete"),
    )


def test_type(diff):
    diff.run(
        *_setup(),
        S("type", "a"), S("type", "l"), S("type", "h"), S("type", "s"),
        S("type", "z"), S("type", "missing"),
    )


def test_expire_family(diff):
    diff.run(
        *_setup(),
        S("expire", "a", 100),
        S("expire", "missing", 100),
        S("expire", "b", datetime.timedelta(seconds=100)),
        S("ttl", "a", _tol=1), S("ttl", "b", _tol=1), S("ttl", "l", _tol=1), S("ttl", "missing", _tol=1),
        S("expire", "a", 50, nx=True),
        S("expire", "l", 50, nx=True),
        S("expire", "h", 50, xx=True),
        S("expire", "a", 200, gt=True),
        S("expire", "a", 300, lt=True),
        S("expire", "a", 10, lt=True),
        S("expire", "a", 10, nx=True, xx=True),
        S("expire", "a", 10, gt=True, lt=True),
        S("ttl", "a", _tol=1),
        S("pexpire", "b", 100000),
        S("pexpire", "h", datetime.timedelta(seconds=100), nx=True),
        S("pexpire", "h", 5000, gt=True),
        S("pexpire", "s", 5000, xx=True),
        S("expireat", "s", FUTURE_S),
        S("expireat", "z", FUTURE, nx=True),
        S("expireat", "z", FUTURE_S + 10, gt=True),
        S("expireat", "z", FUTURE_S + 5, lt=True),
        S("expireat", "z", FUTURE_S + 5, xx=True),
        S("expiretime", "z"),
        S("expiretime", "missing"),
        S("set", "p", "v"),
        S("expiretime", "p"),
        S("pexpireat", "p", FUTURE_S * 1000),
        S("pexpireat", "p", FUTURE, xx=True),
        S("pexpireat", "p", FUTURE_S * 1000 + 1, gt=True),
        S("pexpireat", "p", FUTURE_S * 1000, lt=True),
        S("pexpireat", "missing", FUTURE_S * 1000, nx=True),
        S("pexpiretime", "p"),
        S("pexpiretime", "missing"),
        S("pttl", "missing"),
        S("pttl", "l", _tol=1000),
        S("pttl", "b", _tol=1000),
        S("persist", "b"),
        S("persist", "b"),
        S("persist", "missing"),
        S("ttl", "b", _tol=1),
        S("expire", "a", "soon"),
        S("expire", "a", -1),
        S("exists", "a"),
    )


def test_rename(diff):
    diff.run(
        *_setup(),
        S("rename", "a", "a2"),
        S("get", "a2"),
        S("rename", "missing", "x"),
        S("renamenx", "b", "a2"),
        S("renamenx", "b", "b2"),
        S("get", "b2"),
        S("renamenx", "missing", "y"),
    )


def test_copy_move(diff):
    diff.run(
        *_setup(),
        S("copy", "a", "a2"),
        S("copy", "a", "a2"),
        S("copy", "b", "a2", replace=True),
        S("get", "a2"),
        S("copy", "a", "a", destination_db=1),
        S("copy", "missing", "x"),
        S("move", "l", 1),
        S("move", "l", 1),
        S("move", "h", 99),
        S("exists", "l"),
    )


def test_keys_randomkey_scan(diff):
    keys = [S("set", f"key:{i}", i) for i in range(40)] + [S("rpush", f"list:{i}", i) for i in range(5)]
    sort = sorted
    diff.run(
        S("keys"),
        S("randomkey"),
        *keys,
        S("keys", _norm=sort),
        S("keys", "key:1*", _norm=sort),
        S("keys", b"list:*", _norm=sort),
        S("keys", "nomatch*"),
        S("delete", *[f"key:{i}" for i in range(1, 40)]),
        S("delete", *[f"list:{i}" for i in range(5)]),
        S("randomkey"),
    )


def _scan_all(client, **kwargs):
    """Every key from a full SCAN cycle, checking each reply's shape."""
    cursor, seen = 0, []
    while True:
        cursor, page = client.scan(cursor, **kwargs)
        assert type(cursor) is int and type(page) is list
        seen.extend(page)
        if cursor == 0:
            return seen


def test_scan(diff):
    # SCAN order is the server's hash order; the same keys inserted the same
    # way after FLUSHALL come back in the same order, so compare exactly.
    keys = [S("set", f"key:{i}", i) for i in range(60)] + [S("sadd", f"set:{i}", i) for i in range(5)]
    diff.run(
        S("scan"),
        *keys,
        S("scan"),
        S("scan", 0, count=1000, _norm=sorted_page),
        S("scan", 0, match="set:*", count=1000, _norm=sorted_page),
        S("scan", 0, count=1000, _type="set", _norm=sorted_page),
        S("scan", cursor=0, match=b"key:1?", count=5),
        S("scan", 0, count=1000, _type="nosuchtype"),
        S("scan", "notacursor"),
    )


def sorted_page(reply):
    cursor, page = reply
    return cursor, sorted(page)


def test_scan_iter(rp, cmd_client, ctl):
    ctl.flushall()
    for i in range(120):
        ctl.set(f"key:{i}", i)
    for i in range(7):
        ctl.hset(f"hash:{i}", "f", i)
    for kwargs in ({}, {"count": 3}, {"match": "hash:*"}, {"match": "key:1*", "count": 7},
                   {"_type": "hash"}, {"_type": "string", "count": 50}):
        expected = list(rp.scan_iter(**kwargs))
        got = list(cmd_client.scan_iter(**kwargs))
        assert sorted(set(expected)) == sorted(set(got)), kwargs
        assert all(type(k) is type(expected[0]) for k in got)
    assert sorted(set(cmd_client.scan_iter())) == sorted(set(_scan_all(rp)))
    assert list(cmd_client.scan_iter(match="nothing*")) == []


def test_dbsize_flushdb_flushall(diff):
    diff.run(
        S("dbsize"),
        *_setup(),
        S("dbsize"),
        S("copy", "a", "a", destination_db=1),
        S("flushdb"),
        S("dbsize"),
        S("set", "x", "1"),
        S("flushdb", asynchronous=True),
        S("dbsize"),
        S("set", "x", "1"),
        S("flushall"),
        S("set", "y", "1"),
        S("copy", "y", "y", destination_db=1),
        S("flushall", asynchronous=True),
        S("dbsize"),
    )
