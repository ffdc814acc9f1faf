"""Differential: hashes, lists, sets and sorted sets."""
import pytest

from .difftools import PROTOS, SCANALL, U, assert_same, assert_same_redispy

BIG = str(2**63 - 1)

HASHES = {
    "hset_hget": [
        ("HSET", "h", "a", "1", "b", "2"), ("HSET", "h", "a", "x", "c", "3"), ("HGET", "h", "a"),
        ("HGET", "h", "zz"), ("HGET", "nope", "a"), ("HSET", "h", "a"), ("HSET", "h"),
        ("HSET", "h", "a", "1", "b"), ("HMSET", "h", "d", "4", "e", "5"), ("HMSET", "h", "d"),
        ("HMSET", "h", "d", "4", "e"), ("HSETNX", "h", "a", "y"), ("HSETNX", "h", "f", "6"),
        ("HSETNX", "h2", "f", "6"), ("HMGET", "h", "a", "zz", "f"), ("HMGET", "nope", "a", "b"),
        ("HGETALL", "h"), ("HKEYS", "h"), ("HVALS", "h"), ("HLEN", "h"), ("HLEN", "nope"),
        ("HGETALL", "nope"), ("HKEYS", "nope"), ("HVALS", "nope"), ("HSTRLEN", "h", "a"),
        ("HSTRLEN", "h", "zz"), ("HSTRLEN", "nope", "a"), ("HEXISTS", "h", "a"), ("HEXISTS", "h", "zz"),
        ("HEXISTS", "nope", "a"), ("HDEL", "h", "a", "zz", "b"), ("HDEL", "h", "a"), ("HGETALL", "h"),
        ("HDEL", "h2", "f"), ("EXISTS", "h2"), ("HDEL", "nope", "a"), ("HDEL", "h"),
        ("SET", "s", "v"), ("HSET", "s", "a", "1"), ("HGET", "s", "a"), ("HMGET", "s", "a"),
        ("HGETALL", "s"), ("HDEL", "s", "a"), ("HLEN", "s"), ("HEXISTS", "s", "a"),
        ("HSETNX", "s", "a", "1"), ("HKEYS", "s"), ("HVALS", "s"), ("HSTRLEN", "s", "a"),
        ("HGET", "h"), ("HGETALL", "h", "x"), ("HEXISTS", "h"),
    ],
    "hincr": [
        ("HINCRBY", "h", "n", "5"), ("HINCRBY", "h", "n", "-10"), ("HINCRBY", "h", "n", "x"),
        ("HINCRBY", "h", "n", "1.5"), ("HSET", "h", "s", "abc"), ("HINCRBY", "h", "s", "1"),
        ("HSET", "h", "big", BIG), ("HINCRBY", "h", "big", "1"), ("HINCRBY", "h", "big", "-1"),
        ("HINCRBYFLOAT", "h", "f", "0.1"), ("HINCRBYFLOAT", "h", "f", "0.2"),
        ("HINCRBYFLOAT", "h", "f", "abc"), ("HINCRBYFLOAT", "h", "s", "1"),
        ("HINCRBYFLOAT", "h", "f", "inf"), ("HINCRBYFLOAT", "h", "f", "nan"),
        ("HINCRBYFLOAT", "h", "n", "1.5"), ("HINCRBYFLOAT", "h", "g", "5.0e3"), ("HGETALL", "h"),
        ("SET", "str", "x"), ("HINCRBY", "str", "f", "1"), ("HINCRBYFLOAT", "str", "f", "1"),
        ("HINCRBY", "h", "n"), ("HINCRBYFLOAT", "h", "f"), ("HINCRBY", "new", "f", "x"),
        ("EXISTS", "new"), ("HINCRBYFLOAT", "new2", "f", "x"), ("EXISTS", "new2"),
    ],
    "hscan": [
        ("HSET", "h", *[f"f{i}" if j == 0 else f"v{i}" for i in range(20) for j in (0, 1)]),
        ("HSCAN", "h", "0"), ("HSCAN", "h", "0", "MATCH", "f1*"), ("HSCAN", "h", "0", "COUNT", "5"),
        ("HSCAN", "nope", "0"), ("HSCAN", "nope", "0", "BOGUS"), ("HSCAN", "h", "x"),
        ("HSCAN", "h", "0", "COUNT", "0"), ("HSCAN", "h", "0", "TYPE", "string"),
        ("HSCAN", "h", "0", "MATCH"), ("HSCAN", "h"), ("SET", "s", "v"), ("HSCAN", "s", "0"),
        ("HSET", "big", *[f"f{i}" if j == 0 else "v" for i in range(300) for j in (0, 1)]),
        SCANALL("HSCAN", "big", "0"), SCANALL("HSCAN", "big", "0", "COUNT", "17", "MATCH", "f2*"),
    ],
}

LISTS = {
    "push_pop": [
        ("LPUSH", "l", "a", "b", "c"), ("RPUSH", "l", "d", "e"), ("LRANGE", "l", "0", "-1"),
        ("LPUSHX", "l", "z"), ("RPUSHX", "l", "y"), ("LPUSHX", "nope", "z"), ("RPUSHX", "nope", "z"),
        ("EXISTS", "nope"), ("LPOP", "l"), ("RPOP", "l"), ("LPOP", "l", "2"), ("RPOP", "l", "0"),
        ("LRANGE", "l", "0", "-1"), ("RPOP", "l", "10"), ("EXISTS", "l"), ("LPOP", "l"),
        ("LPOP", "l", "2"), ("RPOP", "nope", "0"), ("LPOP", "l", "-1"), ("LPOP", "l", "x"),
        ("RPUSH", "m", "1"), ("LPOP", "m", "-1"), ("LPOP", "m", "x"), ("LPOP", "m", "1", "2"),
        ("LPUSH", "l"), ("RPUSH",), ("LPOP",), ("SET", "s", "v"), ("LPUSH", "s", "x"),
        ("RPUSH", "s", "x"), ("LPUSHX", "s", "x"), ("LPOP", "s"), ("RPOP", "s", "2"),
        ("LLEN", "s"), ("LRANGE", "s", "0", "1"), ("LPOP", "s", "0"),
    ],
    "range_index_set": [
        ("RPUSH", "l", "a", "b", "c", "d", "e"), ("LRANGE", "l", "1", "3"), ("LRANGE", "l", "-2", "-1"),
        ("LRANGE", "l", "-100", "100"), ("LRANGE", "l", "3", "1"), ("LRANGE", "l", "5", "10"),
        ("LRANGE", "l", "0", "-6"), ("LRANGE", "l", "x", "1"), ("LRANGE", "nope", "0", "-1"),
        ("LRANGE", "nope", "x", "1"), ("LLEN", "l"), ("LLEN", "nope"), ("LINDEX", "l", "0"),
        ("LINDEX", "l", "-1"), ("LINDEX", "l", "5"), ("LINDEX", "l", "-6"), ("LINDEX", "l", "x"),
        ("LINDEX", "nope", "x"), ("LSET", "l", "0", "A"), ("LSET", "l", "-1", "E"), ("LSET", "l", "5", "x"),
        ("LSET", "l", "x", "y"), ("LSET", "nope", "0", "x"), ("LSET", "nope", "x", "y"),
        ("LRANGE", "l", "0", "-1"), ("LINSERT", "l", "BEFORE", "c", "X"), ("LINSERT", "l", "after", "c", "Y"),
        ("LINSERT", "l", "BEFORE", "zz", "X"), ("LINSERT", "l", "MIDDLE", "c", "X"),
        ("LINSERT", "nope", "BEFORE", "c", "X"), ("LINSERT", "nope", "bad", "c", "X"),
        ("LRANGE", "l", "0", "-1"), ("SET", "s", "v"), ("LINDEX", "s", "0"), ("LSET", "s", "0", "x"),
        ("LINSERT", "s", "BEFORE", "a", "b"), ("LINSERT", "s", "bad", "a", "b"), ("LRANGE", "l", "0"),
    ],
    "rem_trim": [
        ("RPUSH", "l", "a", "b", "a", "c", "a", "b"), ("LREM", "l", "2", "a"), ("LRANGE", "l", "0", "-1"),
        ("RPUSH", "l", "a", "b"), ("LREM", "l", "-1", "b"), ("LRANGE", "l", "0", "-1"),
        ("LREM", "l", "0", "a"), ("LRANGE", "l", "0", "-1"), ("LREM", "l", "0", "zz"),
        ("LREM", "l", "x", "a"), ("LREM", "nope", "1", "a"), ("LREM", "nope", "x", "a"),
        ("LREM", "l", "0", "b"), ("LREM", "l", "0", "c"), ("EXISTS", "l"),
        ("RPUSH", "t", "1", "2", "3", "4", "5", "6"), ("LTRIM", "t", "1", "-2"), ("LRANGE", "t", "0", "-1"),
        ("LTRIM", "t", "-2", "100"), ("LRANGE", "t", "0", "-1"), ("LTRIM", "t", "x", "1"),
        ("LTRIM", "nope", "0", "1"), ("LTRIM", "t", "5", "1"), ("EXISTS", "t"),
        ("SET", "s", "v"), ("LTRIM", "s", "0", "1"), ("LREM", "s", "0", "a"),
    ],
    "lmove": [
        ("RPUSH", "a", "1", "2", "3"), ("LMOVE", "a", "b", "LEFT", "RIGHT"), ("LMOVE", "a", "b", "RIGHT", "LEFT"),
        ("LRANGE", "a", "0", "-1"), ("LRANGE", "b", "0", "-1"), ("LMOVE", "a", "a", "LEFT", "RIGHT"),
        ("LRANGE", "a", "0", "-1"), ("LMOVE", "a", "b", "left", "left"), ("EXISTS", "a"),
        ("LMOVE", "a", "b", "LEFT", "LEFT"), ("LMOVE", "b", "c", "UP", "LEFT"), ("LMOVE", "b", "c", "LEFT", "UP"),
        ("RPOPLPUSH", "b", "c"), ("RPOPLPUSH", "nope", "c"), ("LRANGE", "c", "0", "-1"),
        ("SET", "s", "v"), ("LMOVE", "b", "s", "LEFT", "LEFT"), ("LRANGE", "b", "0", "-1"),
        ("LMOVE", "s", "b", "LEFT", "LEFT"), ("RPOPLPUSH", "s", "b"), ("RPOPLPUSH", "b", "s"),
        ("LMOVE", "nope", "s", "LEFT", "LEFT"), ("RPOPLPUSH", "a"), ("LMOVE", "a", "b", "LEFT"),
    ],
    "blocking_immediate": [
        ("RPUSH", "l", "a", "b"), ("BLPOP", "nope", "l", "0"), ("BRPOP", "l", "0"), ("EXISTS", "l"),
        ("RPUSH", "l", "c"), ("BLPOP", "l", "0.5"), ("BLPOP", "l", "x"), ("BLPOP", "l", "-1"),
        ("BLPOP", "l", "inf"), ("BLPOP", "l", "nan"), ("BLPOP", "l"), ("SET", "s", "v"),
        ("BLPOP", "s", "0"), ("RPUSH", "l2", "x"), ("BLPOP", "l2", "s", "0"), ("RPUSH", "l2", "y"),
        ("BLMOVE", "l2", "d", "LEFT", "RIGHT", "0"), ("BLMOVE", "l2", "d", "BAD", "RIGHT", "0"),
        ("BLMOVE", "l2", "d", "LEFT", "RIGHT", "x"), ("BLMOVE", "s", "d", "LEFT", "RIGHT", "0"),
        ("RPUSH", "l3", "q"), ("BLMOVE", "l3", "s", "LEFT", "RIGHT", "0"), ("BRPOPLPUSH", "d", "e", "0"),
        ("BRPOPLPUSH", "d", "e", "-1"), ("LRANGE", "e", "0", "-1"), ("BLPOP", "l", "9223372036854775807"),
        ("BLPOP", "l", "1e30"),
    ],
}

SETS = {
    "basic": [
        ("SADD", "s", "a", "b", "c", "a"), ("SADD", "s", "d"), U("SMEMBERS", "s"), ("SCARD", "s"),
        ("SISMEMBER", "s", "a"), ("SISMEMBER", "s", "z"), ("SISMEMBER", "nope", "a"),
        ("SMISMEMBER", "s", "a", "z", "b"), ("SMISMEMBER", "nope", "a"), ("SREM", "s", "a", "z"),
        ("SREM", "nope", "a"), ("SCARD", "nope"), ("SMEMBERS", "nope"), ("SREM", "s", "b", "c", "d"),
        ("EXISTS", "s"), ("SADD", "i", "3", "1", "2", "10", "-5"), ("SMEMBERS", "i"),
        ("SET", "str", "v"), ("SADD", "str", "a"), ("SREM", "str", "a"), ("SMEMBERS", "str"),
        ("SISMEMBER", "str", "a"), ("SMISMEMBER", "str", "a"), ("SCARD", "str"), ("SADD", "s"),
        ("SMISMEMBER", "s"), ("SISMEMBER", "s"),
    ],
    "pop_rand": [
        ("SADD", "s", "only"), ("SPOP", "s"), ("SPOP", "s"), ("EXISTS", "s"), ("SADD", "s", "1", "2", "3"),
        ("SPOP", "s", "0"), ("SPOP", "s", "-1"), ("SPOP", "s", "x"), ("SPOP", "s", "1", "2"),
        ("SPOP", "s", "3"), ("EXISTS", "s"), ("SPOP", "nope", "2"), ("SPOP", "nope"),
        ("SADD", "r", "1", "2", "3"), ("SRANDMEMBER", "r", "3"), ("SRANDMEMBER", "r", "10"),
        ("SRANDMEMBER", "r", "0"), ("SRANDMEMBER", "r", "x"), ("SRANDMEMBER", "nope"),
        ("SRANDMEMBER", "nope", "5"), ("SRANDMEMBER", "nope", "-5"), ("SRANDMEMBER", "r", "1", "2"),
        ("SRANDMEMBER", "r", "-9223372036854775808"), ("SADD", "one", "x"), ("SRANDMEMBER", "one"),
        ("SRANDMEMBER", "one", "-3"), ("SET", "str", "v"), ("SPOP", "str"), ("SRANDMEMBER", "str"),
        ("SPOP", "str", "1"), ("SRANDMEMBER", "str", "1"), ("SADD", "w", "a", "b"), U("SPOP", "w", "5"),
    ],
    "algebra": [
        ("SADD", "a", "1", "2", "3", "4"), ("SADD", "b", "3", "4", "5"), ("SADD", "c", "x", "y", "3"),
        ("SINTER", "a", "b"), ("SINTER", "a", "b", "c"), ("SINTER", "a", "nope"), ("SUNION", "a", "b"),
        U("SUNION", "a", "c"), ("SDIFF", "a", "b"), ("SDIFF", "a", "nope"), ("SDIFF", "nope", "a"),
        U("SINTER", "c"), ("SINTERSTORE", "d", "a", "b"), ("SMEMBERS", "d"), ("SUNIONSTORE", "d", "a", "b"),
        ("SMEMBERS", "d"), ("SDIFFSTORE", "d", "a", "b"), ("SMEMBERS", "d"), ("SINTERSTORE", "d", "a", "nope"),
        ("EXISTS", "d"), ("SET", "str", "v"), ("SINTER", "a", "str"), ("SINTER", "nope", "str"),
        ("SUNION", "a", "str"), ("SDIFF", "a", "str"), ("SDIFF", "nope", "str"),
        ("SINTERSTORE", "str", "a", "b"), ("TYPE", "str"), ("SET", "str2", "v"),
        ("SUNIONSTORE", "str2", "nope"), ("EXISTS", "str2"), ("SDIFFSTORE", "x", "a", "a"),
        ("EXISTS", "x"), ("SINTER",), ("SINTERSTORE", "d"), ("SET", "t", "v", "EX", "100"),
        ("SUNIONSTORE", "t", "a"), ("TTL", "t"),
    ],
    "smove_sscan": [
        ("SADD", "a", "1", "2"), ("SMOVE", "a", "b", "1"), ("SMOVE", "a", "b", "9"), ("SMOVE", "nope", "b", "1"),
        ("SMEMBERS", "a"), ("SMEMBERS", "b"), ("SMOVE", "a", "a", "2"), ("SMOVE", "a", "a", "9"),
        ("SMOVE", "a", "b", "2"), ("EXISTS", "a"), ("SET", "str", "v"), ("SMOVE", "b", "str", "1"),
        ("SMOVE", "str", "b", "1"), ("SMOVE", "nope", "str", "1"), ("SMOVE", "b", "c"),
        ("SADD", "s", *[str(i) for i in range(20)]), ("SSCAN", "s", "0"), ("SSCAN", "s", "0", "MATCH", "1*"),
        ("SSCAN", "nope", "0"), ("SSCAN", "s", "x"), ("SSCAN", "str", "0"), ("SSCAN", "s", "0", "COUNT", "0"),
        ("SADD", "big", *[f"m{i}" for i in range(600)]), SCANALL("SSCAN", "big", "0"),
        SCANALL("SSCAN", "big", "0", "MATCH", "m1?", "COUNT", "3"),
    ],
}

ZSETS = {
    "zadd": [
        ("ZADD", "z", "1", "a", "2", "b"), ("ZADD", "z", "3", "a"), ("ZADD", "z", "CH", "4", "a", "5", "c"),
        ("ZADD", "z", "NX", "9", "a", "6", "d"), ("ZADD", "z", "XX", "9", "a", "6", "e"),
        ("ZADD", "z", "GT", "1", "a"), ("ZADD", "z", "GT", "CH", "10", "a"), ("ZADD", "z", "LT", "CH", "2", "a"),
        ("ZADD", "z", "XX", "GT", "CH", "20", "a"), ("ZRANGE", "z", "0", "-1", "WITHSCORES"),
        ("ZADD", "z", "NX", "XX", "1", "a"), ("ZADD", "z", "NX", "GT", "1", "a"), ("ZADD", "z", "GT", "LT", "1", "a"),
        ("ZADD", "z", "INCR", "1", "a", "2", "b"), ("ZADD", "z", "INCR", "5", "a"), ("ZADD", "z", "INCR", "NX", "5", "a"),
        ("ZADD", "z", "INCR", "XX", "5", "new"), ("ZADD", "z", "INCR", "GT", "-100", "a"),
        ("ZADD", "z", "1"), ("ZADD", "z", "1", "a", "2"), ("ZADD", "z", "x", "a"), ("ZADD", "z", "nan", "a"),
        ("ZADD", "z", "inf", "a"), ("ZADD", "z", "INCR", "-inf", "a"), ("ZSCORE", "z", "a"),
        ("ZADD", "z", "-inf", "m"), ("ZADD", "z", "1e400", "q"), ("ZADD", "z", " 1", "q"),
        ("ZADD", "z", "0x10", "h"), ("ZADD", "z", "1.5", "f", "0.1", "g", "-0", "n"),
        ("ZRANGE", "z", "0", "-1", "WITHSCORES"), ("ZADD", "z", "NX"), ("ZADD", "nope", "XX", "1", "a"),
        ("EXISTS", "nope"), ("ZADD", "nope", "XX", "INCR", "1", "a"), ("SET", "s", "v"), ("ZADD", "s", "1", "a"),
        ("ZADD", "s", "x", "a"), ("ZINCRBY", "z", "1.5", "f"), ("ZINCRBY", "z", "x", "f"),
        ("ZINCRBY", "z2", "3", "m"), ("ZINCRBY", "z", "-inf", "a"), ("ZINCRBY", "s", "1", "a"),
        ("ZADD", "z3", "1.0", "a", "1", "b", "1.00000000000000001", "c"), ("ZRANGE", "z3", "0", "-1", "WITHSCORES"),
        ("ZADD", "z", "0.1", "g"), ("ZADD", "z", "CH", "0.1", "g"), ("ZINCRBY", "z", "1", "x", "y"),
    ],
    "read": [
        ("ZADD", "z", "1", "a", "2", "b", "3", "c", "3", "d", "5", "e"), ("ZSCORE", "z", "c"),
        ("ZSCORE", "z", "zz"), ("ZSCORE", "nope", "a"), ("ZMSCORE", "z", "a", "zz", "e"), ("ZMSCORE", "nope", "a"),
        ("ZCARD", "z"), ("ZCARD", "nope"), ("ZCOUNT", "z", "2", "3"), ("ZCOUNT", "z", "(2", "3"),
        ("ZCOUNT", "z", "-inf", "+inf"), ("ZCOUNT", "z", "(3", "(3"), ("ZCOUNT", "z", "3", "3"),
        ("ZCOUNT", "z", "5", "1"), ("ZCOUNT", "z", "x", "1"), ("ZCOUNT", "z", "", ""), ("ZCOUNT", "z", " 1", "3"),
        ("ZCOUNT", "z", "(", "3"), ("ZCOUNT", "z", "1e400", "1e500"), ("ZCOUNT", "z", "nan", "1"),
        ("ZCOUNT", "nope", "0", "1"), ("ZCOUNT", "nope", "x", "1"), ("ZRANK", "z", "c"), ("ZRANK", "z", "zz"),
        ("ZREVRANK", "z", "a"), ("ZREVRANK", "nope", "a"), ("ZRANK", "z", "a", "WITHSCORE"),
        ("SET", "s", "v"), ("ZSCORE", "s", "a"), ("ZMSCORE", "s", "a"), ("ZCARD", "s"), ("ZCOUNT", "s", "0", "1"),
        ("ZRANK", "s", "a"), ("ZMSCORE", "z"),
    ],
    "ranges": [
        ("ZADD", "z", "1", "a", "2", "b", "3", "c", "3", "d", "5", "e"),
        ("ZRANGE", "z", "0", "-1"), ("ZRANGE", "z", "1", "2", "WITHSCORES"), ("ZRANGE", "z", "-2", "-1"),
        ("ZRANGE", "z", "3", "1"), ("ZRANGE", "z", "0", "100"), ("ZRANGE", "z", "x", "1"),
        ("ZRANGE", "z", "0", "-1", "REV"), ("ZRANGE", "z", "0", "1", "REV", "WITHSCORES"),
        ("ZRANGE", "z", "2", "3", "BYSCORE"), ("ZRANGE", "z", "(1", "3", "BYSCORE", "WITHSCORES"),
        ("ZRANGE", "z", "3", "2", "BYSCORE", "REV"), ("ZRANGE", "z", "-inf", "+inf", "BYSCORE", "LIMIT", "1", "2"),
        ("ZRANGE", "z", "-inf", "+inf", "BYSCORE", "LIMIT", "1", "-1"), ("ZRANGE", "z", "-inf", "+inf", "BYSCORE", "LIMIT", "-1", "2"),
        ("ZRANGE", "z", "-inf", "+inf", "BYSCORE", "LIMIT", "10", "2"), ("ZRANGE", "z", "-inf", "+inf", "BYSCORE", "LIMIT", "0", "0"),
        ("ZRANGE", "z", "-inf", "+inf", "BYSCORE", "LIMIT", "0", "-5"),
        ("ZRANGE", "z", "0", "-1", "LIMIT", "0", "1"), ("ZRANGE", "z", "0", "-1", "LIMIT", "0", "-1"),
        ("ZRANGE", "z", "0", "-1", "BYLEX"), ("ZRANGE", "z", "-", "+", "BYLEX", "WITHSCORES"),
        ("ZRANGE", "z", "x", "y", "BYSCORE"), ("ZRANGE", "z", "0", "-1", "BOGUS"), ("ZRANGE", "z", "0", "-1", "REV", "REV"),
        ("ZRANGE", "z", "0", "-1", "BYSCORE", "BYLEX"), ("ZRANGE", "z", "0", "-1", "LIMIT", "1"),
        ("ZRANGE", "nope", "0", "-1"), ("ZRANGE", "nope", "x", "1"), ("ZREVRANGE", "z", "0", "1"),
        ("ZREVRANGE", "z", "0", "-1", "WITHSCORES"), ("ZREVRANGE", "z", "0", "-1", "REV"),
        ("ZRANGEBYSCORE", "z", "2", "3"), ("ZRANGEBYSCORE", "z", "-inf", "+inf", "WITHSCORES", "LIMIT", "1", "2"),
        ("ZRANGEBYSCORE", "z", "(1", "(5"), ("ZRANGEBYSCORE", "z", "1", "x"), ("ZRANGEBYSCORE", "z", "1", "5", "BYSCORE"),
        ("ZRANGEBYSCORE", "z", "1", "5", "REV"), ("ZREVRANGEBYSCORE", "z", "3", "1"),
        ("ZREVRANGEBYSCORE", "z", "+inf", "-inf", "WITHSCORES", "LIMIT", "0", "2"), ("ZREVRANGEBYSCORE", "z", "1", "3"),
        ("ZRANGEBYSCORE", "nope", "0", "1"), ("SET", "s", "v"), ("ZRANGE", "s", "0", "1"),
        ("ZRANGEBYSCORE", "s", "0", "1"), ("ZRANGEBYSCORE", "s", "x", "1"),
        ("ZADD", "lex", "0", "a", "0", "b", "0", "c", "0", "d", "0", "e"), ("ZRANGEBYLEX", "lex", "-", "+"),
        ("ZRANGEBYLEX", "lex", "[b", "(d"), ("ZRANGEBYLEX", "lex", "(a", "[c", "LIMIT", "1", "1"),
        ("ZREVRANGEBYLEX", "lex", "+", "-"), ("ZREVRANGEBYLEX", "lex", "[d", "(a"), ("ZRANGEBYLEX", "lex", "a", "c"),
        ("ZRANGEBYLEX", "lex", "+", "-"), ("ZRANGEBYLEX", "lex", "[c", "[b"), ("ZLEXCOUNT", "lex", "[b", "[d"),
        ("ZLEXCOUNT", "lex", "-", "+"), ("ZLEXCOUNT", "lex", "x", "+"), ("ZLEXCOUNT", "nope", "-", "+"),
        ("ZRANGE", "lex", "[b", "[c", "BYLEX", "REV"), ("ZRANGE", "lex", "[c", "[b", "BYLEX", "REV"),
        ("ZRANGE", "z", "(3", "(3", "BYSCORE"), ("ZRANGE", "z", "0", "-1", "WITHSCORES", "WITHSCORES"),
    ],
    "remove_pop": [
        ("ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d", "5", "e"), ("ZREM", "z", "a", "zz"),
        ("ZREM", "nope", "a"), ("ZREMRANGEBYRANK", "z", "0", "0"), ("ZRANGE", "z", "0", "-1"),
        ("ZREMRANGEBYRANK", "z", "-1", "-1"), ("ZREMRANGEBYRANK", "z", "5", "10"), ("ZREMRANGEBYRANK", "z", "x", "1"),
        ("ZREMRANGEBYRANK", "nope", "0", "1"), ("ZREMRANGEBYRANK", "nope", "x", "1"), ("ZRANGE", "z", "0", "-1"),
        ("ZADD", "z", "1", "a", "2", "b", "5", "e"), ("ZREMRANGEBYSCORE", "z", "(1", "3"),
        ("ZREMRANGEBYSCORE", "z", "x", "1"), ("ZREMRANGEBYSCORE", "nope", "0", "1"),
        ("ZRANGE", "z", "0", "-1", "WITHSCORES"), ("ZPOPMIN", "z"), ("ZPOPMAX", "z"), ("ZPOPMIN", "z", "5"),
        ("EXISTS", "z"), ("ZPOPMIN", "z"), ("ZPOPMIN", "z", "0"), ("ZPOPMAX", "nope", "2"),
        ("ZADD", "z", "1", "a", "2", "b", "3", "c"), ("ZPOPMAX", "z", "2"), ("ZPOPMIN", "z", "0"),
        ("ZPOPMIN", "z", "-1"), ("ZPOPMIN", "z", "x"), ("ZPOPMIN", "z", "1", "2"), ("ZREM", "z", "a"),
        ("EXISTS", "z"), ("SET", "s", "v"), ("ZREM", "s", "a"), ("ZPOPMIN", "s"), ("ZPOPMAX", "s", "0"),
        ("ZREMRANGEBYSCORE", "s", "0", "1"), ("ZREMRANGEBYRANK", "s", "0", "1"), ("ZREM", "z"),
        ("ZADD", "w", "1", "a", "2", "b", "3", "c"), ("ZREMRANGEBYRANK", "w", "0", "-1"), ("EXISTS", "w"),
    ],
    "zscan": [
        ("ZADD", "z", "1", "a", "2.5", "b", "0.1", "c"), ("ZSCAN", "z", "0"), ("ZSCAN", "z", "0", "MATCH", "a*"),
        ("ZSCAN", "nope", "0"), ("ZSCAN", "z", "x"), ("ZSCAN", "z", "0", "COUNT", "0"),
        ("SET", "s", "v"), ("ZSCAN", "s", "0"),
        ("ZADD", "big", *[x for i in range(300) for x in (str(i / 7), f"m{i}")]),
        SCANALL("ZSCAN", "big", "0"), SCANALL("ZSCAN", "big", "0", "MATCH", "m2*", "COUNT", "9"),
    ],
}


def _cases():
    for group in (HASHES, LISTS, SETS, ZSETS):
        for name, steps in group.items():
            yield name, steps


CASES = dict(_cases())


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("proto", PROTOS)
def test_collections(real_server, ref_server, name, proto):
    assert_same(real_server.port, ref_server.port, CASES[name], "collections:" + name, proto)


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("proto", PROTOS)
def test_collections_redispy(real_server, ref_server, name, proto):
    assert_same_redispy(real_server.port, ref_server.port, CASES[name], "collections:" + name, proto)
