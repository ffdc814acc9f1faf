"""List commands: LPUSH RPUSH LPUSHX RPUSHX LPOP RPOP LRANGE LLEN LINDEX
LSET LINSERT LREM LTRIM LMOVE RPOPLPUSH BLPOP BRPOP BLMOVE BRPOPLPUSH.

A list is a collections.deque (O(1) at both ends, which is what queues and
the benchmark use). Empty lists are deleted, as in Redis.
"""
from __future__ import annotations

import itertools
import math
from collections import deque

from .. import limits
from ..blocking import LEFT, RIGHT, Blocked, block, push_end
from ..db import now_ms
from ..numbers import parse_long_double, rank_range
from ..parser import parse_ll
from ..resp import (CommandError, OK, NULL, NULL_ARRAY, ZERO, EMPTY_ARRAY, SYNTAX,
                    NOT_INTEGER, NO_SUCH_KEY, OUT_OF_RANGE_INDEX, MUST_BE_POSITIVE,
                    integer, bulk, array)
from .table import command, arity_error

_INT64_MAX = 2**63 - 1


def _list(c, key):
    return c.db.lookup_type(key, deque)


def _long(b: bytes) -> int:
    n = parse_ll(b)
    if n is None:
        raise CommandError(NOT_INTEGER)
    return n


def _push(c, argv, left: bool, only_existing: bool) -> bytes:
    db = c.db
    key = argv[1]
    lst = db.lookup_type(key, deque)
    if lst is None:
        if only_existing:
            return ZERO
        lst = deque()
        if left:
            lst.extendleft(argv[2:])
        else:
            lst.extend(argv[2:])
        db.add(key, lst)
        return integer(len(lst))
    if left:
        lst.extendleft(argv[2:])
    else:
        lst.extend(argv[2:])
    if db.watched or db.tracking.on:
        db.touch(key)
    return integer(len(lst))


@command("lpush", -3, "write denyoom fast", 1, 1, 1, "@write @list @fast")
def lpush(c, argv):
    return _push(c, argv, True, False)


@command("rpush", -3, "write denyoom fast", 1, 1, 1, "@write @list @fast")
def rpush(c, argv):
    return _push(c, argv, False, False)


@command("lpushx", -3, "write denyoom fast", 1, 1, 1, "@write @list @fast")
def lpushx(c, argv):
    return _push(c, argv, True, True)


@command("rpushx", -3, "write denyoom fast", 1, 1, 1, "@write @list @fast")
def rpushx(c, argv):
    return _push(c, argv, False, True)


def _pop(c, argv, left: bool) -> bytes:
    if len(argv) > 3:
        raise arity_error(argv[0].lower())
    has_count = len(argv) == 3
    count = 0
    if has_count:
        count = parse_ll(argv[2])
        if count is None or count < 0:
            raise CommandError(MUST_BE_POSITIVE)
    db = c.db
    key = argv[1]
    lst = db.lookup_type(key, deque)
    if lst is None:
        return NULL_ARRAY if has_count else NULL
    if has_count and count == 0:
        return EMPTY_ARRAY
    pop = lst.popleft if left else lst.pop
    if not has_count:
        v = pop()
        db.remove_if_empty(key, lst)
        db.touch(key)
        return b"$%d\r\n%s\r\n" % (len(v), v)
    items = [pop() for _ in range(min(count, len(lst)))]
    db.remove_if_empty(key, lst)
    db.touch(key)
    return array(items)


@command("lpop", -2, "write fast", 1, 1, 1, "@write @list @fast")
def lpop(c, argv):
    return _pop(c, argv, True)


@command("rpop", -2, "write fast", 1, 1, 1, "@write @list @fast")
def rpop(c, argv):
    return _pop(c, argv, False)


@command("lrange", 4, "readonly", 1, 1, 1, "@read @list @slow")
def lrange(c, argv):
    start = _long(argv[2])
    end = _long(argv[3])
    lst = _list(c, argv[1])
    if lst is None:
        return EMPTY_ARRAY
    n = len(lst)
    r = rank_range(n, start, end)
    if r is None:
        return EMPTY_ARRAY
    start, end = r
    if start == 0 and end == n - 1:
        return array(lst)
    return array(list(itertools.islice(lst, start, end + 1)))


@command("llen", 2, "readonly fast", 1, 1, 1, "@read @list @fast")
def llen(c, argv):
    lst = _list(c, argv[1])
    return integer(len(lst) if lst else 0)


@command("lindex", 3, "readonly", 1, 1, 1, "@read @list @slow")
def lindex(c, argv):
    lst = _list(c, argv[1])
    if lst is None:
        return NULL
    i = _long(argv[2])
    n = len(lst)
    if i < 0:
        i += n
    if not 0 <= i < n:
        return NULL
    return bulk(lst[i])


@command("lset", 4, "write denyoom", 1, 1, 1, "@write @list @slow")
def lset(c, argv):
    lst = _list(c, argv[1])
    if lst is None:
        raise CommandError(NO_SUCH_KEY)
    i = _long(argv[2])
    n = len(lst)
    if i < 0:
        i += n
    if not 0 <= i < n:
        raise CommandError(OUT_OF_RANGE_INDEX)
    lst[i] = argv[3]
    c.db.touch(argv[1])
    return OK


@command("linsert", 5, "write denyoom", 1, 1, 1, "@write @list @slow")
def linsert(c, argv):
    where = argv[2].lower()
    if where not in (b"before", b"after"):
        raise CommandError(SYNTAX)
    lst = _list(c, argv[1])
    if lst is None:
        return ZERO
    try:
        i = lst.index(argv[3])
    except ValueError:
        return integer(-1)
    lst.insert(i if where == b"before" else i + 1, argv[4])
    c.db.touch(argv[1])
    return integer(len(lst))


@command("lrem", 4, "write", 1, 1, 1, "@write @list @slow")
def lrem(c, argv):
    count = _long(argv[2])
    key = argv[1]
    lst = _list(c, key)
    if lst is None:
        return ZERO
    elem = argv[3]
    items = list(lst)
    removed = 0
    if count >= 0:
        keep = []
        for x in items:
            if x == elem and (count == 0 or removed < count):
                removed += 1
            else:
                keep.append(x)
    else:
        keep = []
        for x in reversed(items):
            if x == elem and removed < -count:
                removed += 1
            else:
                keep.append(x)
        keep.reverse()
    if removed:
        lst.clear()
        lst.extend(keep)
        c.db.remove_if_empty(key, lst)
        c.db.touch(key)
    return integer(removed)


@command("ltrim", 4, "write", 1, 1, 1, "@write @list @slow")
def ltrim(c, argv):
    start = _long(argv[2])
    end = _long(argv[3])
    key = argv[1]
    lst = _list(c, key)
    if lst is None:
        return OK
    n = len(lst)
    r = rank_range(n, start, end)
    ltrim_, rtrim = (n, 0) if r is None else (r[0], n - r[1] - 1)
    for _ in range(ltrim_):
        lst.popleft()
    for _ in range(rtrim):
        lst.pop()
    c.db.remove_if_empty(key, lst)
    c.db.touch(key)
    return OK


def _where(b: bytes) -> int:
    w = b.lower()
    if w == b"left":
        return LEFT
    if w == b"right":
        return RIGHT
    raise CommandError(SYNTAX)


def _lmove(c, src_key, dst_key, wherefrom: int, whereto: int) -> bytes:
    db = c.db
    src = db.lookup_type(src_key, deque)
    if src is None:
        return NULL
    dst = db.lookup_type(dst_key, deque)
    value = src.popleft() if wherefrom == LEFT else src.pop()
    if dst is src:
        push_end(src, whereto, value)
        db.touch(src_key)
        return bulk(value)
    if dst is None:
        dst = deque([value])
        db.add(dst_key, dst)
    else:
        push_end(dst, whereto, value)
        db.touch(dst_key)
    db.remove_if_empty(src_key, src)
    db.touch(src_key)
    return bulk(value)


@command("lmove", 5, "write denyoom", 1, 2, 1, "@write @list @slow")
def lmove(c, argv):
    return _lmove(c, argv[1], argv[2], _where(argv[3]), _where(argv[4]))


@command("rpoplpush", 3, "write denyoom", 1, 2, 1, "@write @list @slow")
def rpoplpush(c, argv):
    return _lmove(c, argv[1], argv[2], RIGHT, LEFT)


def parse_timeout(b: bytes) -> int:
    """Redis getTimeoutFromObjectOrReply (seconds as a long double) -> ms;
    0 means forever."""
    ld = parse_long_double(b)
    if ld is None:
        raise CommandError(b"ERR timeout is not a float or out of range")
    if ld.inf:
        # (long long)(inf * 1000) is LLONG_MIN on x86-64, hence "negative".
        raise CommandError(b"ERR timeout is negative")
    ms = math.trunc(ld.v * 1000)
    if ms > _INT64_MAX or ms < -(2**63):
        raise CommandError(b"ERR timeout is negative")
    if ms < 0:
        raise CommandError(b"ERR timeout is negative")
    if ms > 0 and ms > _INT64_MAX - now_ms():
        raise CommandError(b"ERR timeout is out of range")
    if ms > limits.BLOCK_TIMEOUT_MAX * 1000:
        ms = limits.BLOCK_TIMEOUT_MAX * 1000  # far enough to be "forever"
    return ms


def _bpop(c, argv, where: int) -> bytes:
    timeout = parse_timeout(argv[-1])
    db = c.db
    keys = argv[1:-1]
    for key in keys:
        lst = db.lookup_type(key, deque)
        if not lst:
            continue
        v = lst.popleft() if where == LEFT else lst.pop()
        db.remove_if_empty(key, lst)
        db.touch(key)
        return b"*2\r\n" + bulk(key) + bulk(v)
    if c.in_exec:
        return NULL_ARRAY  # no blocking inside MULTI: behaves as a timeout
    return block(c, Blocked(db, list(dict.fromkeys(keys)), where), timeout)


@command("blpop", -3, "write noscript blocking", 1, -2, 1, "@write @list @slow @blocking")
def blpop(c, argv):
    return _bpop(c, argv, LEFT)


@command("brpop", -3, "write noscript blocking", 1, -2, 1, "@write @list @slow @blocking")
def brpop(c, argv):
    return _bpop(c, argv, RIGHT)


def _blmove(c, src, dst, wherefrom, whereto, timeout_arg) -> bytes:
    timeout = parse_timeout(timeout_arg)
    db = c.db
    lst = db.lookup_type(src, deque)
    if lst is None:
        if c.in_exec:
            return NULL
        return block(c, Blocked(db, [src], wherefrom, dst, whereto, move=True), timeout)
    return _lmove(c, src, dst, wherefrom, whereto)


@command("blmove", 6, "write denyoom noscript blocking", 1, 2, 1, "@write @list @slow @blocking")
def blmove(c, argv):
    wherefrom = _where(argv[3])
    whereto = _where(argv[4])
    return _blmove(c, argv[1], argv[2], wherefrom, whereto, argv[5])


@command("brpoplpush", 4, "write denyoom noscript blocking", 1, 2, 1,
         "@write @list @slow @blocking")
def brpoplpush(c, argv):
    return _blmove(c, argv[1], argv[2], RIGHT, LEFT, argv[3])
