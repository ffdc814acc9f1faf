"""Differential: string commands, byte for byte against redis-server."""
import pytest

from .difftools import PROTOS, APPROX, assert_same, assert_same_redispy

BIG = str(2**63 - 1)
SMALL = str(-(2**63))

SCRIPTS = {
    # payloads that look like RESP nulls must reach RESP3 clients untouched
    "null_lookalike_payloads": [
        ("SET", "k", "$-1\r\n"), ("GET", "k"), ("RPUSH", "l", "*-1\r\n", "$-1\r\n", ""),
        ("LRANGE", "l", "0", "-1"), ("HSET", "h", "$-1\r\n", "*-1\r\n"), ("HGETALL", "h"),
        ("MGET", "k", "nope", "k"), ("SADD", "s", "$-1\r\n"), ("SMEMBERS", "s"),
        ("ZADD", "z", "1", "*-1\r\n", "2", "$-1\r\n"), ("ZRANGE", "z", "0", "-1", "WITHSCORES"),
        ("ZSCORE", "z", "$-1\r\n"), ("ZMSCORE", "z", "*-1\r\n", "nope"), ("LPOP", "l", "2"),
        ("ZPOPMIN", "z"), ("ZPOPMAX", "z", "5"), ("SPOP", "s", "3"), ("ECHO", "_\r\n"),
    ],
    "get_set_basic": [
        ("GET", "k"), ("SET", "k", "v"), ("GET", "k"), ("SET", "k", ""), ("GET", "k"),
        ("SET", "k", "x" * 1000), ("GET", "k"), ("SET", "k", b"\x00\r\n\xff"), ("GET", "k"),
        ("GET",), ("GET", "a", "b"), ("SET", "k"), ("set", "k", "v", "bogus"),
        ("LPUSH", "l", "x"), ("GET", "l"), ("SET", "l", "now-a-string"), ("TYPE", "l"),
    ],
    "set_options": [
        ("SET", "k", "v", "NX"), ("SET", "k", "w", "NX"), ("GET", "k"),
        ("SET", "k", "w", "XX"), ("GET", "k"), ("SET", "n", "v", "XX"), ("EXISTS", "n"),
        ("SET", "k", "v", "NX", "XX"), ("SET", "k", "v", "XX", "NX"), ("SET", "k", "v", "nx", "nx"),
        ("SET", "k", "v2", "GET"), ("SET", "k", "v3", "GET", "XX"), ("SET", "new", "v", "GET"),
        ("SET", "new2", "v", "NX", "GET"), ("SET", "new2", "w", "NX", "GET"), ("GET", "new2"),
        ("LPUSH", "l", "a"), ("SET", "l", "v", "GET"), ("TYPE", "l"),
        ("SET", "k", "v", "EX", "100"), APPROX(1, "TTL", "k"), ("SET", "k", "v", "PX", "100000"),
        APPROX(1, "TTL", "k"), ("SET", "k", "v", "EX", "0"), ("SET", "k", "v", "EX", "-5"),
        ("SET", "k", "v", "PX", "0"), ("SET", "k", "v", "EX", "abc"), ("SET", "k", "v", "EX"),
        ("SET", "k", "v", "EX", "10", "PX", "100"), ("SET", "k", "v", "EX", "10", "EX", "20"),
        APPROX(1, "TTL", "k"), ("SET", "k", "v", "KEEPTTL"), APPROX(1, "TTL", "k"),
        ("SET", "k", "v"), ("TTL", "k"), ("SET", "k", "v", "KEEPTTL", "EX", "10"),
        ("SET", "k", "v", "EX", "10", "KEEPTTL"), ("SET", "k", "v", "EXAT", "99999999999"),
        ("EXPIRETIME", "k"), ("SET", "k", "v", "PXAT", "99999999999999"), ("PEXPIRETIME", "k"),
        ("SET", "k", "v", "EXAT", "1"), ("GET", "k"), ("EXISTS", "k"),
        ("SET", "k", "v", "EX", "9223372036854775807"), ("SET", "k", "v", "EX", "9223372036854776"),
        ("SET", "k", "v", "PX", "9223372036854775807"), ("SET", "k", "v", "PERSIST"),
        ("SET", "k", "v", "ex", "10", "get"), ("SET", "k", "v", "Px", "5000", "nX"),
        ("SET", "k", "v", "GET", "GET"),
    ],
    "setnx_setex_psetex": [
        ("SETNX", "k", "v"), ("SETNX", "k", "w"), ("GET", "k"), ("SETNX", "k"),
        ("SETEX", "k", "100", "v"), APPROX(1, "TTL", "k"), ("SETEX", "k", "0", "v"),
        ("SETEX", "k", "-1", "v"), ("SETEX", "k", "x", "v"), ("SETEX", "k", "10"),
        ("PSETEX", "k", "100000", "v"), APPROX(1, "TTL", "k"), ("PSETEX", "k", "0", "v"),
        ("PSETEX", "k", "1.5", "v"), ("GET", "k"),
    ],
    "mget_mset": [
        ("MSET", "a", "1", "b", "2"), ("MGET", "a", "b", "c"), ("MSET", "a"), ("MSET", "a", "1", "b"),
        ("MSETNX", "c", "3", "d", "4"), ("MSETNX", "d", "x", "e", "5"), ("MGET", "c", "d", "e"),
        ("MSETNX", "a"), ("MSETNX", "x", "1", "y"), ("LPUSH", "l", "x"), ("MGET", "a", "l", "zz"),
        ("MGET",), ("MSET", "a", "1", "a", "2"), ("GET", "a"),
    ],
    "getset_getdel_getex": [
        ("GETSET", "k", "v"), ("GETSET", "k", "w"), ("GET", "k"), ("SET", "t", "v", "EX", "100"),
        ("GETSET", "t", "x"), ("TTL", "t"), ("LPUSH", "l", "a"), ("GETSET", "l", "x"),
        ("GETDEL", "k"), ("GETDEL", "k"), ("EXISTS", "k"), ("GETDEL", "l"), ("GETDEL", "a", "b"),
        ("SET", "k", "v"), ("GETEX", "k"), ("TTL", "k"), ("GETEX", "k", "EX", "100"),
        APPROX(1, "TTL", "k"), ("GETEX", "k", "PX", "200000"), APPROX(1, "TTL", "k"),
        ("GETEX", "k", "PERSIST"), ("TTL", "k"), ("GETEX", "k", "EXAT", "99999999999"),
        ("EXPIRETIME", "k"), ("GETEX", "k", "PXAT", "99999999999999"), ("PEXPIRETIME", "k"),
        ("GETEX", "k", "EX", "0"), ("GETEX", "k", "EX", "-1"), ("GETEX", "k", "EX", "x"),
        ("GETEX", "k", "EX"), ("GETEX", "k", "PERSIST", "EX", "10"), ("GETEX", "k", "EX", "10", "PERSIST"),
        ("GETEX", "k", "KEEPTTL"), ("GETEX", "k", "NX"), ("GETEX", "k", "bogus"),
        ("GETEX", "missing", "EX", "10"), ("GETEX", "missing", "EX", "bad"), ("GETEX", "l"),
        ("GETEX", "l", "EX", "bad"), ("GETEX", "k", "EXAT", "1"), ("EXISTS", "k"),
    ],
    "incr_decr": [
        ("INCR", "n"), ("INCR", "n"), ("DECR", "n"), ("DECR", "n"), ("DECR", "n"),
        ("INCRBY", "n", "10"), ("INCRBY", "n", "-20"), ("DECRBY", "n", "5"), ("DECRBY", "n", "-5"),
        ("GET", "n"), ("INCRBY", "n", "abc"), ("INCRBY", "n", "1.5"), ("INCRBY", "n", " 1"),
        ("INCRBY", "n", "+1"), ("INCRBY", "n", "01"), ("INCRBY", "n", ""), ("DECRBY", "n", SMALL),
        ("SET", "n", BIG), ("INCR", "n"), ("INCRBY", "n", "0"), ("SET", "n", SMALL), ("DECR", "n"),
        ("INCRBY", "n", "-1"), ("SET", "s", "abc"), ("INCR", "s"), ("SET", "s", " 1"), ("INCR", "s"),
        ("SET", "s", "1.0"), ("INCR", "s"), ("SET", "s", "007"), ("INCR", "s"),
        ("SET", "s", "-0"), ("INCR", "s"), ("SET", "s", ""), ("INCR", "s"), ("SET", "s", "0"),
        ("INCR", "s"), ("SET", "s", "9223372036854775808"), ("INCR", "s"), ("LPUSH", "l", "x"),
        ("INCR", "l"), ("INCR",), ("INCRBY", "n"), ("DECR", "a", "b"),
        ("SET", "t", "5", "EX", "100"), ("INCR", "t"), APPROX(1, "TTL", "t"),
    ],
    "incrbyfloat": [
        ("INCRBYFLOAT", "f", "0.1"), ("INCRBYFLOAT", "f", "0.2"), ("GET", "f"),
        ("INCRBYFLOAT", "f", "-0.3"), ("GET", "f"), ("SET", "f", "10.50"), ("INCRBYFLOAT", "f", "0.1"),
        ("INCRBYFLOAT", "f", "-5"), ("SET", "f", "5.0e3"), ("INCRBYFLOAT", "f", "2.0e2"),
        ("INCRBYFLOAT", "f", "abc"), ("INCRBYFLOAT", "f", ""), ("INCRBYFLOAT", "f", " 1"),
        ("INCRBYFLOAT", "f", "nan"), ("INCRBYFLOAT", "f", "inf"), ("INCRBYFLOAT", "f", "-inf"),
        ("INCRBYFLOAT", "f", "1e400"), ("GET", "f"), ("SET", "f", "abc"), ("INCRBYFLOAT", "f", "1"),
        ("SET", "f", "1"), ("INCRBYFLOAT", "f", "3"), ("INCRBYFLOAT", "f", "1.5e-3"),
        ("INCRBYFLOAT", "f", "123456789.123456789"), ("INCRBYFLOAT", "f", "0x10"),
        ("INCRBYFLOAT", "g", "1e-20"), ("INCRBYFLOAT", "h", "3.0"), ("INCRBYFLOAT", "i", "-0.0"),
        ("INCRBYFLOAT", "j", "1.7976931348623157e308"), ("INCRBYFLOAT", "j", "1.7976931348623157e308"),
        ("LPUSH", "l", "x"), ("INCRBYFLOAT", "l", "1"), ("INCRBYFLOAT", "f"),
    ],
    "append_strlen_ranges": [
        ("APPEND", "k", "hello"), ("APPEND", "k", " world"), ("GET", "k"), ("STRLEN", "k"),
        ("STRLEN", "missing"), ("GETRANGE", "k", "0", "4"), ("GETRANGE", "k", "-5", "-1"),
        ("GETRANGE", "k", "0", "-1"), ("GETRANGE", "k", "5", "3"), ("GETRANGE", "k", "-1", "-5"),
        ("GETRANGE", "k", "-100", "100"), ("GETRANGE", "k", "100", "200"), ("GETRANGE", "k", "x", "1"),
        ("GETRANGE", "missing", "0", "1"), ("GETRANGE", "missing", "a", "1"), ("SUBSTR", "k", "0", "2"),
        ("SETRANGE", "k", "6", "Redis"), ("GET", "k"), ("SETRANGE", "k", "20", "!"), ("GET", "k"),
        ("SETRANGE", "n", "3", "abc"), ("GET", "n"), ("SETRANGE", "e", "5", ""), ("EXISTS", "e"),
        ("SETRANGE", "k", "0", ""), ("SETRANGE", "k", "-1", "x"), ("SETRANGE", "k", "x", "y"),
        ("SETRANGE", "k", "536870912", "x"), ("SETRANGE", "k", "9223372036854775807", "x"),
        ("LPUSH", "l", "x"), ("APPEND", "l", "x"), ("STRLEN", "l"), ("GETRANGE", "l", "0", "1"),
        ("SETRANGE", "l", "0", "x"), ("SETRANGE", "l", "0", ""), ("APPEND", "k"),
        ("SET", "t", "v", "EX", "100"), ("APPEND", "t", "x"), APPROX(1, "TTL", "t"),
        ("SETRANGE", "t", "0", "y"), APPROX(1, "TTL", "t"), ("GET", "t"),
        ("SET", "num", "12345"), ("GETRANGE", "num", "1", "2"), ("APPEND", "num", "6"),
        ("GETRANGE", "k", "0", "9223372036854775807"), ("GETRANGE", "k", "-9223372036854775808", "2"),
    ],
}


@pytest.mark.parametrize("name", sorted(SCRIPTS))
@pytest.mark.parametrize("proto", PROTOS)
def test_strings(real_server, ref_server, name, proto):
    assert_same(real_server.port, ref_server.port, SCRIPTS[name], "strings:" + name, proto)


@pytest.mark.parametrize("name", sorted(SCRIPTS))
@pytest.mark.parametrize("proto", PROTOS)
def test_strings_redispy(real_server, ref_server, name, proto):
    assert_same_redispy(real_server.port, ref_server.port, SCRIPTS[name], "strings:" + name, proto)
