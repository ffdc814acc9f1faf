"""Set commands: SADD SREM SMEMBERS SISMEMBER SMISMEMBER SCARD SPOP
SRANDMEMBER SMOVE SINTER SUNION SDIFF SINTERSTORE SUNIONSTORE SDIFFSTORE
SSCAN.

Replies list members the way Redis does for its intset encoding when every
member is an integer (ascending numeric order), else in insertion order;
Redis's hashtable order is seeded randomly per process, so no client can
rely on it.
"""
from __future__ import annotations

import random

from .. import limits
from ..parser import parse_ll
from ..pattern import compile_pattern
from ..resp import (CommandError, NULL, ZERO, ONE, EMPTY_ARRAY, SYNTAX, MUST_BE_POSITIVE,
                    integer, bulk, array)
from .keys import parse_cursor, parse_scan_options, scan_page, scan_reply
from .table import command

_LONG_MAX = 2**63 - 1


def ordered(members) -> list:
    members = list(members)
    ints = []
    for m in members:
        n = parse_ll(m)
        if n is None:
            return members
        ints.append(n)
    return [m for _, m in sorted(zip(ints, members))]


def _set(c, key):
    return c.db.lookup_type(key, set)


@command("sadd", -3, "write denyoom fast", 1, 1, 1, "@write @set @fast")
def sadd(c, argv):
    db = c.db
    key = argv[1]
    s = db.lookup_type(key, set)
    if s is None:
        s = set(argv[2:])
        db.add(key, s)
        return integer(len(s))
    n = len(s)
    s.update(argv[2:])
    if len(s) != n:
        db.touch(key)
    return integer(len(s) - n)


@command("srem", -3, "write fast", 1, 1, 1, "@write @set @fast")
def srem(c, argv):
    db = c.db
    key = argv[1]
    s = _set(c, key)
    if s is None:
        return ZERO
    n = len(s)
    s.difference_update(argv[2:])
    removed = n - len(s)
    if removed:
        db.remove_if_empty(key, s)
        db.touch(key)
    return integer(removed)


@command("smembers", 2, "readonly", 1, 1, 1, "@read @set @slow")
def smembers(c, argv):
    s = _set(c, argv[1])
    return array(ordered(s)) if s else EMPTY_ARRAY


@command("sismember", 3, "readonly fast", 1, 1, 1, "@read @set @fast")
def sismember(c, argv):
    s = _set(c, argv[1])
    return ONE if s and argv[2] in s else ZERO


@command("smismember", -3, "readonly fast", 1, 1, 1, "@read @set @fast")
def smismember(c, argv):
    s = _set(c, argv[1]) or ()
    return b"*%d\r\n" % (len(argv) - 2) + b"".join(ONE if m in s else ZERO for m in argv[2:])


@command("scard", 2, "readonly fast", 1, 1, 1, "@read @set @fast")
def scard(c, argv):
    s = _set(c, argv[1])
    return integer(len(s) if s else 0)


@command("spop", -2, "write fast", 1, 1, 1, "@write @set @fast")
def spop(c, argv):
    db = c.db
    key = argv[1]
    if len(argv) > 3:
        raise CommandError(SYNTAX)
    if len(argv) == 3:
        count = parse_ll(argv[2])
        if count is None or count < 0:
            raise CommandError(MUST_BE_POSITIVE)
        s = _set(c, key)
        if s is None or count == 0:
            return EMPTY_ARRAY
        if count >= len(s):
            members = ordered(s)
            db.delete(key)
            return array(members)
        members = random.sample(list(s), count)
        s.difference_update(members)
        db.touch(key)
        return array(members)
    s = _set(c, key)
    if s is None:
        return NULL
    m = random.choice(list(s)) if len(s) > 1 else next(iter(s))
    s.discard(m)
    db.remove_if_empty(key, s)
    db.touch(key)
    return bulk(m)


@command("srandmember", -2, "readonly", 1, 1, 1, "@read @set @slow")
def srandmember(c, argv):
    if len(argv) > 3:
        raise CommandError(SYNTAX)
    if len(argv) == 3:
        count = parse_ll(argv[2])
        if count is None:
            raise CommandError(b"ERR value is not an integer or out of range")
        if count < -_LONG_MAX:
            raise CommandError(b"ERR value is out of range, value must between "
                               b"-9223372036854775807 and 9223372036854775807")
        s = _set(c, argv[1])
        if s is None or count == 0:
            return EMPTY_ARRAY
        members = list(s)
        if count < 0:
            return array([random.choice(members) for _ in range(-count)])
        if count >= len(members):
            return array(ordered(members))
        return array(random.sample(members, count))
    s = _set(c, argv[1])
    if s is None:
        return NULL
    return bulk(random.choice(list(s)))


@command("smove", 4, "write fast", 1, 2, 1, "@write @set @fast")
def smove(c, argv):
    db = c.db
    src = db.lookup(argv[1])
    dst = db.lookup(argv[2])
    member = argv[3]
    if src is None:
        return ZERO
    if src.__class__ is not set or (dst is not None and dst.__class__ is not set):
        from ..resp import WRONGTYPE
        raise CommandError(WRONGTYPE)
    if src is dst:
        return ONE if member in src else ZERO
    if member not in src:
        return ZERO
    src.discard(member)
    db.remove_if_empty(argv[1], src)
    db.touch(argv[1])
    if dst is None:
        db.add(argv[2], {member})
    else:
        dst.add(member)
        db.touch(argv[2])
    return ONE


def _load_sets(c, keys):
    """Look up every key (type-checking all of them first, as Redis does)."""
    return [_set(c, k) for k in keys]


def _store(c, dst, result: set) -> bytes:
    db = c.db
    if result:
        db.set(dst, result)
    else:
        db.delete(dst)
    return integer(len(result))


def _inter(sets):
    if any(s is None for s in sets):
        return set()
    sets = sorted(sets, key=len)
    out = set(sets[0])
    for s in sets[1:]:
        out &= s
    return out


def _union(sets):
    out = set()
    for s in sets:
        if s:
            out |= s
    return out


def _diff(sets):
    if sets[0] is None:
        return set()
    out = set(sets[0])
    for s in sets[1:]:
        if s:
            out -= s
    return out


@command("sinter", -2, "readonly", 1, -1, 1, "@read @set @slow")
def sinter(c, argv):
    return array(ordered(_inter(_load_sets(c, argv[1:]))))


@command("sunion", -2, "readonly", 1, -1, 1, "@read @set @slow")
def sunion(c, argv):
    return array(ordered(_union(_load_sets(c, argv[1:]))))


@command("sdiff", -2, "readonly", 1, -1, 1, "@read @set @slow")
def sdiff(c, argv):
    return array(ordered(_diff(_load_sets(c, argv[1:]))))


@command("sinterstore", -3, "write denyoom", 1, -1, 1, "@write @set @slow")
def sinterstore(c, argv):
    return _store(c, argv[1], _inter(_load_sets(c, argv[2:])))


@command("sunionstore", -3, "write denyoom", 1, -1, 1, "@write @set @slow")
def sunionstore(c, argv):
    return _store(c, argv[1], _union(_load_sets(c, argv[2:])))


@command("sdiffstore", -3, "write denyoom", 1, -1, 1, "@write @set @slow")
def sdiffstore(c, argv):
    return _store(c, argv[1], _diff(_load_sets(c, argv[2:])))


@command("sscan", -3, "readonly", 1, 1, 1, "@read @set @slow")
def sscan(c, argv):
    cursor = parse_cursor(argv[2])
    s = _set(c, argv[1])
    if s is None:
        return b"*2\r\n$1\r\n0\r\n*0\r\n"
    count, pat, _ = parse_scan_options(argv, 3, False)
    if len(s) <= limits.SCAN_SMALL_COLLECTION:
        new, names = 0, ordered(s)
    else:
        new, names = scan_page(c.state, cursor, lambda: list(s), count)
    m = compile_pattern(pat).fullmatch if pat is not None else None
    out = [x for x in names if x in s and (m is None or m(x) is not None)]
    return scan_reply(new, out)
