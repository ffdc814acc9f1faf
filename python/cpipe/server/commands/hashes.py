"""Hash commands: HSET HSETNX HGET HMGET HMSET HGETALL HDEL HEXISTS HINCRBY
HINCRBYFLOAT HKEYS HVALS HLEN HSTRLEN HSCAN.

A hash is a dict; insertion order matches Redis's listpack order for the
small hashes tests use (HGETALL/HKEYS replies compare equal).
"""
from __future__ import annotations

from .. import limits
from ..numbers import add_long_double, format_long_double, parse_long_double
from ..parser import parse_ll
from ..pattern import compile_pattern
from ..resp import (CommandError, OK, NULL, ZERO, ONE, NOT_INTEGER, NOT_FLOAT, OVERFLOW,
                    NAN_OR_INF, integer, bulk, array, EMPTY_ARRAY)
from .keys import parse_cursor, parse_scan_options, scan_page, scan_reply
from .table import command, arity_error

_INT64_MAX = 2**63 - 1
_INT64_MIN = -(2**63)


def _hash(c, key):
    return c.db.lookup_type(key, dict)


def _hash_for_write(c, key):
    h = c.db.lookup_type(key, dict)
    if h is None:
        h = {}
        c.db.add(key, h)
    return h


@command("hset", -4, "write denyoom fast", 1, 1, 1, "@write @hash @fast")
def hset(c, argv):
    if len(argv) % 2:
        raise arity_error(b"hset")
    h = _hash_for_write(c, argv[1])
    n = len(h)
    for i in range(2, len(argv), 2):
        h[argv[i]] = argv[i + 1]
    c.db.touch(argv[1])
    return integer(len(h) - n)


@command("hmset", -4, "write denyoom fast", 1, 1, 1, "@write @hash @fast")
def hmset(c, argv):
    if len(argv) % 2:
        raise arity_error(b"hmset")
    hset(c, argv)
    return OK


@command("hsetnx", 4, "write denyoom fast", 1, 1, 1, "@write @hash @fast")
def hsetnx(c, argv):
    h = _hash_for_write(c, argv[1])
    if argv[2] in h:
        return ZERO
    h[argv[2]] = argv[3]
    c.db.touch(argv[1])
    return ONE


@command("hget", 3, "readonly fast", 1, 1, 1, "@read @hash @fast")
def hget(c, argv):
    h = _hash(c, argv[1])
    if h is None:
        return NULL
    v = h.get(argv[2])
    return NULL if v is None else bulk(v)


@command("hmget", -3, "readonly fast", 1, 1, 1, "@read @hash @fast")
def hmget(c, argv):
    h = _hash(c, argv[1]) or {}
    return array([h.get(f) for f in argv[2:]])


@command("hgetall", 2, "readonly", 1, 1, 1, "@read @hash @slow")
def hgetall(c, argv):
    h = _hash(c, argv[1])
    if not h:
        return EMPTY_ARRAY
    flat = []
    for k, v in h.items():
        flat.append(k)
        flat.append(v)
    return array(flat)


@command("hkeys", 2, "readonly", 1, 1, 1, "@read @hash @slow")
def hkeys(c, argv):
    h = _hash(c, argv[1])
    return array(list(h)) if h else EMPTY_ARRAY


@command("hvals", 2, "readonly", 1, 1, 1, "@read @hash @slow")
def hvals(c, argv):
    h = _hash(c, argv[1])
    return array(list(h.values())) if h else EMPTY_ARRAY


@command("hlen", 2, "readonly fast", 1, 1, 1, "@read @hash @fast")
def hlen(c, argv):
    h = _hash(c, argv[1])
    return integer(len(h) if h else 0)


@command("hstrlen", 3, "readonly fast", 1, 1, 1, "@read @hash @fast")
def hstrlen(c, argv):
    h = _hash(c, argv[1])
    v = h.get(argv[2]) if h else None
    return integer(0 if v is None else len(v))


@command("hdel", -3, "write fast", 1, 1, 1, "@write @hash @fast")
def hdel(c, argv):
    db = c.db
    h = _hash(c, argv[1])
    if h is None:
        return ZERO
    n = 0
    for f in argv[2:]:
        if h.pop(f, None) is not None:
            n += 1
    if n:
        db.remove_if_empty(argv[1], h)
        db.touch(argv[1])
    return integer(n)


@command("hexists", 3, "readonly fast", 1, 1, 1, "@read @hash @fast")
def hexists(c, argv):
    h = _hash(c, argv[1])
    return ONE if h and argv[2] in h else ZERO


@command("hincrby", 4, "write denyoom fast", 1, 1, 1, "@write @hash @fast")
def hincrby(c, argv):
    by = parse_ll(argv[3])
    if by is None:
        raise CommandError(NOT_INTEGER)
    h = _hash_for_write(c, argv[1])
    cur = h.get(argv[2])
    if cur is None:
        val = 0
    else:
        val = parse_ll(cur)
        if val is None:
            raise CommandError(b"ERR hash value is not an integer")
    new = val + by
    if new > _INT64_MAX or new < _INT64_MIN:
        raise CommandError(OVERFLOW)
    h[argv[2]] = b"%d" % new
    c.db.touch(argv[1])
    return integer(new)


@command("hincrbyfloat", 4, "write denyoom fast", 1, 1, 1, "@write @hash @fast")
def hincrbyfloat(c, argv):
    by = parse_long_double(argv[3])
    if by is None:
        raise CommandError(NOT_FLOAT)
    if by.inf:
        raise CommandError(b"ERR value is NaN or Infinity")
    h = _hash_for_write(c, argv[1])
    cur = h.get(argv[2])
    if cur is None:
        val = parse_long_double(b"0")
    else:
        val = parse_long_double(cur)
        if val is None:
            raise CommandError(b"ERR hash value is not a float")
    res = add_long_double(val, by)
    if res is None:
        raise CommandError(NAN_OR_INF)
    out = format_long_double(res)
    h[argv[2]] = out
    c.db.touch(argv[1])
    return bulk(out)


@command("hscan", -3, "readonly", 1, 1, 1, "@read @hash @slow")
def hscan(c, argv):
    cursor = parse_cursor(argv[2])
    h = _hash(c, argv[1])
    if h is None:
        return b"*2\r\n$1\r\n0\r\n*0\r\n"
    count, pat, _ = parse_scan_options(argv, 3, False)
    if len(h) <= limits.SCAN_SMALL_COLLECTION:
        new, names = 0, list(h)
    else:
        new, names = scan_page(c.state, cursor, lambda: list(h), count)
    m = compile_pattern(pat).fullmatch if pat is not None else None
    out = []
    for f in names:
        v = h.get(f)
        if v is None or (m is not None and m(f) is None):
            continue
        out.append(f)
        out.append(v)
    return scan_reply(new, out)
