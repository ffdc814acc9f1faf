"""Differential: keyspace commands and expiry."""
import pytest

from .difftools import PROTOS, APPROX, SCANALL, SLEEP, U, assert_same, assert_same_redispy

SCRIPTS = {
    "del_exists_type": [
        ("MSET", "a", "1", "b", "2", "c", "3"), ("DEL", "a", "b", "zz"), ("DEL", "a"),
        ("EXISTS", "a", "c", "c", "zz"), ("UNLINK", "c", "c"), ("EXISTS", "c"), ("DEL",),
        ("EXISTS",), ("UNLINK",), ("SET", "s", "v"), ("LPUSH", "l", "x"), ("HSET", "h", "f", "v"),
        ("SADD", "st", "m"), ("ZADD", "z", "1", "m"), ("TYPE", "s"), ("TYPE", "l"), ("TYPE", "h"),
        ("TYPE", "st"), ("TYPE", "z"), ("TYPE", "none"), ("TYPE",), ("TYPE", "a", "b"),
        ("TOUCH", "s", "l", "nope"), ("TOUCH",), ("DBSIZE",), ("DBSIZE", "x"),
    ],
    "keys_patterns": [
        ("MSET", "hello", "1", "hallo", "2", "hxllo", "3", "hllo", "4", "heeeello", "5",
         "a*b", "6", "a[b", "7", "a\\b", "8", "key:1", "9", "key:22", "10"),
        U("KEYS", "*"), U("KEYS", "h?llo"), U("KEYS", "h*llo"), U("KEYS", "h[ae]llo"),
        U("KEYS", "h[^e]llo"), U("KEYS", "h[a-b]llo"), U("KEYS", "h[b-a]llo"), U("KEYS", "a\\*b"),
        U("KEYS", "a[[]b"), U("KEYS", "a\\\\b"), U("KEYS", "key:?"), U("KEYS", "key:*"),
        U("KEYS", "nomatch*"), U("KEYS", "[h"), U("KEYS", "h[^]llo"), U("KEYS", "*[0-9]"),
        ("KEYS",), ("KEYS", "a", "b"),
    ],
    "scan": [
        ("MSET", *[f"k{i}" for i in range(60) for _ in (0, 1)]),
        ("LPUSH", "list1", "x"), ("SADD", "set1", "x"),
        SCANALL("SCAN", "0"), SCANALL("SCAN", "0", "COUNT", "7"), SCANALL("SCAN", "0", "MATCH", "k1*"),
        SCANALL("SCAN", "0", "MATCH", "k1*", "COUNT", "1000"), SCANALL("SCAN", "0", "TYPE", "list"),
        SCANALL("SCAN", "0", "TYPE", "string", "MATCH", "k5?"), SCANALL("SCAN", "0", "TYPE", "nosuch"),
        ("SCAN", "abc"), ("SCAN", "-1x"), ("SCAN", " 1"), ("SCAN", "0", "COUNT", "0"),
        ("SCAN", "0", "COUNT", "-1"), ("SCAN", "0", "COUNT", "x"), ("SCAN", "0", "MATCH"),
        ("SCAN", "0", "BOGUS", "1"), ("SCAN", "0", "COUNT"), ("SCAN",),
        ("SCAN", "18446744073709551616"),
    ],
    "rename": [
        ("SET", "a", "1"), ("RENAME", "a", "b"), ("GET", "a"), ("GET", "b"), ("RENAME", "a", "c"),
        ("RENAME", "b", "b"), ("RENAMENX", "b", "b"), ("RENAMENX", "nope", "nope"),
        ("SET", "c", "3"), ("RENAMENX", "b", "c"), ("RENAMENX", "b", "d"), ("GET", "d"),
        ("LPUSH", "l", "x"), ("RENAME", "d", "l"), ("TYPE", "l"), ("GET", "l"),
        ("SET", "t", "v", "EX", "100"), ("RENAME", "t", "t2"), APPROX(1, "TTL", "t2"),
        ("SET", "t3", "v"), ("EXPIRE", "t3", "50"), ("SET", "t4", "x"), ("RENAME", "t4", "t3"),
        ("TTL", "t3"), ("RENAME", "a"), ("RENAMENX", "a", "b", "c"),
    ],
    "expire_family": [
        ("SET", "k", "v"), ("EXPIRE", "k", "100"), APPROX(1, "TTL", "k"), APPROX(1000, "PTTL", "k"),
        ("EXPIRE", "nope", "100"), ("EXPIRE", "k", "abc"), ("EXPIRE", "k", "1.5"), ("EXPIRE", "k"),
        ("PEXPIRE", "k", "100000"), APPROX(1, "TTL", "k"), ("EXPIREAT", "k", "99999999999"),
        ("EXPIRETIME", "k"), ("EXPIRETIME", "k"), ("PEXPIRETIME", "k"),
        ("PEXPIREAT", "k", "99999999999000"), ("PEXPIRETIME", "k"), ("EXPIRETIME", "nope"),
        ("SET", "p", "v"), ("EXPIRETIME", "p"), ("PEXPIRETIME", "p"), ("TTL", "p"), ("PTTL", "p"),
        ("TTL", "nope"), ("PTTL", "nope"), ("PERSIST", "k"), ("PERSIST", "k"), ("TTL", "k"),
        ("PERSIST", "nope"), ("EXPIRE", "k", "100", "NX"), ("EXPIRE", "k", "200", "NX"),
        APPROX(1, "TTL", "k"), ("EXPIRE", "k", "50", "XX"), APPROX(1, "TTL", "k"),
        ("EXPIRE", "k", "10", "GT"), ("EXPIRE", "k", "500", "GT"), APPROX(1, "TTL", "k"),
        ("EXPIRE", "k", "900", "LT"), ("EXPIRE", "k", "20", "LT"), APPROX(1, "TTL", "k"),
        ("EXPIRE", "p", "10", "XX"), ("EXPIRE", "p", "10", "GT"), ("EXPIRE", "p", "10", "LT"),
        ("TTL", "p"), ("EXPIRE", "k", "10", "NX", "XX"), ("EXPIRE", "k", "10", "GT", "LT"),
        ("EXPIRE", "k", "10", "NX", "GT"), ("EXPIRE", "k", "10", "XX", "GT"), ("EXPIRE", "k", "10", "FOO"),
        ("EXPIRE", "k", "9223372036854775807"), ("EXPIRE", "k", "9223372036854775"),
        ("PEXPIRE", "k", "9223372036854775807"), ("EXPIREAT", "k", "-9223372036854775808"),
        ("EXPIRE", "k", "-9223372036854775"), ("EXISTS", "k"),
        ("SET", "k", "v"), ("EXPIRE", "k", "-1"), ("EXISTS", "k"), ("SET", "k", "v"),
        ("EXPIRE", "k", "0"), ("GET", "k"), ("SET", "k", "v"), ("PEXPIREAT", "k", "1"), ("GET", "k"),
        ("SET", "k", "v"), ("EXPIREAT", "k", "1", "NX"), ("EXISTS", "k"),
        ("TTL",), ("PTTL", "a", "b"), ("PERSIST",), ("EXPIRETIME",),
    ],
    "expiry_timing": [
        ("SET", "a", "1", "PX", "120"), ("SET", "b", "2", "EX", "100"), ("PEXPIRE", "b", "150"),
        ("HSET", "h", "f", "v"), ("PEXPIRE", "h", "120"), ("RPUSH", "l", "x"), ("PEXPIRE", "l", "120"),
        ("GET", "a"), ("EXISTS", "h", "l"), SLEEP(0.06), ("GET", "a"), ("HGET", "h", "f"),
        SLEEP(0.1), ("GET", "a"), ("HGET", "h", "f"), ("LLEN", "l"), ("TTL", "a"), ("TYPE", "h"),
        ("EXISTS", "a", "h", "l"), SLEEP(0.05), ("GET", "b"), ("EXISTS", "b"), U("KEYS", "*"),
        ("SET", "c", "v", "PX", "50"), ("RPUSH", "l2", "a"), ("PEXPIRE", "l2", "50"), SLEEP(0.25),
        ("DBSIZE",), ("RPUSH", "l2", "b"), ("LRANGE", "l2", "0", "-1"), ("TTL", "l2"),
    ],
    "flush_select_randomkey": [
        ("SET", "a", "1"), ("SELECT", "1"), ("GET", "a"), ("SET", "a", "db1"), ("SELECT", "9"),
        ("GET", "a"), ("SELECT", "16"), ("SELECT", "-1"), ("SELECT", "x"), ("SELECT", "0x1"),
        ("SELECT", "1"), ("FLUSHDB",), ("GET", "a"), ("SELECT", "9"), ("GET", "a"),
        ("RANDOMKEY",), ("FLUSHDB", "ASYNC"), ("RANDOMKEY",), ("DBSIZE",), ("SET", "x", "1"),
        ("FLUSHDB", "SYNC"), ("FLUSHDB", "bogus"), ("FLUSHDB", "a", "b"), ("FLUSHALL", "x"),
        ("SET", "x", "1"), ("SELECT", "2"), ("SET", "y", "2"), ("FLUSHALL",), ("DBSIZE",),
        ("SELECT", "9"), ("DBSIZE",), ("FLUSHALL", "ASYNC"), ("RANDOMKEY", "x"),
    ],
}


@pytest.mark.parametrize("name", sorted(SCRIPTS))
@pytest.mark.parametrize("proto", PROTOS)
def test_keys(real_server, ref_server, name, proto):
    assert_same(real_server.port, ref_server.port, SCRIPTS[name], "keys:" + name, proto)


@pytest.mark.parametrize("name", sorted(k for k in SCRIPTS if k != "expiry_timing"))
@pytest.mark.parametrize("proto", PROTOS)
def test_keys_redispy(real_server, ref_server, name, proto):
    assert_same_redispy(real_server.port, ref_server.port, SCRIPTS[name], "keys:" + name, proto)
