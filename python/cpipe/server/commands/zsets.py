"""Sorted set commands: ZADD ZREM ZSCORE ZMSCORE ZINCRBY ZCARD ZCOUNT
ZLEXCOUNT ZRANK ZREVRANK ZRANGE ZREVRANGE ZRANGEBYSCORE ZREVRANGEBYSCORE
ZRANGEBYLEX ZREVRANGEBYLEX ZREMRANGEBYRANK ZREMRANGEBYSCORE ZPOPMIN ZPOPMAX
ZSCAN.

Scores are Python floats (IEEE doubles, as in Redis) and are printed the
way Redis 7.0 prints them in RESP2 ("%.17g").
"""
from __future__ import annotations

import math
import re

from .. import limits
from ..numbers import format_score, parse_float, rank_range
from ..parser import parse_ll
from ..pattern import compile_pattern
from ..resp import (CommandError, NULL, NULL_ARRAY, ZERO, EMPTY_ARRAY, SYNTAX, NOT_INTEGER,
                    MUST_BE_POSITIVE, integer, bulk, array)
from ..zset import ZSet
from .keys import parse_cursor, parse_scan_options, scan_page, scan_reply
from ..blocking import LEFT, RIGHT, Blocked, block, zpop_one
from .lists import parse_timeout
from .table import command

_NOT_FLOAT_RANGE = b"ERR min or max is not a float"
_NOT_LEX_RANGE = b"ERR min or max not valid string range item"


def _zset(c, key):
    return c.db.lookup_type(key, ZSet)


def _long(b: bytes) -> int:
    n = parse_ll(b)
    if n is None:
        raise CommandError(NOT_INTEGER)
    return n


def _score_reply(d: float) -> bytes:
    return bulk(format_score(d))


def _with_scores(pairs, withscores: bool) -> bytes:
    if not withscores:
        return array([m for _, m in pairs])
    flat = []
    for s, m in pairs:
        flat.append(m)
        flat.append(format_score(s))
    return array(flat)


# -- ZADD / ZINCRBY -----------------------------------------------------------

def _zadd(c, argv, incr_only: bool) -> bytes:
    nx = xx = gt = lt = ch = incr = False
    i = 2
    n = len(argv)
    if incr_only:
        incr = True
    else:
        while i < n:
            o = argv[i].lower()
            if o == b"nx":
                nx = True
            elif o == b"xx":
                xx = True
            elif o == b"ch":
                ch = True
            elif o == b"incr":
                incr = True
            elif o == b"gt":
                gt = True
            elif o == b"lt":
                lt = True
            else:
                break
            i += 1
    elements = n - i
    if elements % 2 or not elements:
        raise CommandError(SYNTAX)
    elements //= 2
    if nx and xx:
        raise CommandError(b"ERR XX and NX options at the same time are not compatible")
    if (gt and nx) or (lt and nx) or (gt and lt):
        raise CommandError(b"ERR GT, LT, and/or NX options at the same time are not compatible")
    if incr and elements > 1:
        raise CommandError(b"ERR INCR option supports a single increment-element pair")
    pairs = []
    for j in range(elements):
        s = parse_float(argv[i + 2 * j])
        if s is None:
            raise CommandError(b"ERR value is not a valid float")
        pairs.append((s, argv[i + 2 * j + 1]))
    db = c.db
    key = argv[1]
    z = db.lookup_type(key, ZSet)
    added = updated = processed = 0
    score = 0.0
    if z is None:
        if xx:
            return NULL if incr else ZERO
        z = ZSet(elements, len(pairs[0][1]))
        db.add(key, z)
    for s, member in pairs:
        cur = z.scores.get(member)
        if cur is not None:
            if nx:
                continue
            if incr:
                s = s + cur
                if math.isnan(s):
                    raise CommandError(b"ERR resulting score is not a number (NaN)")
            if (lt and s >= cur) or (gt and s <= cur):
                continue
            if s != cur:
                z.add(member, s)
                updated += 1
            processed += 1
            score = s
        elif not xx:
            z.add(member, s)
            added += 1
            processed += 1
            score = s
    if added or updated:
        db.touch(key)
    if incr:
        return _score_reply(score) if processed else NULL
    return integer(added + updated if ch else added)


@command("zadd", -4, "write denyoom fast", 1, 1, 1, "@write @sortedset @fast")
def zadd(c, argv):
    return _zadd(c, argv, False)


@command("zincrby", 4, "write denyoom fast", 1, 1, 1, "@write @sortedset @fast")
def zincrby(c, argv):
    return _zadd(c, argv, True)


@command("zrem", -3, "write fast", 1, 1, 1, "@write @sortedset @fast")
def zrem(c, argv):
    db = c.db
    z = _zset(c, argv[1])
    if z is None:
        return ZERO
    n = sum(1 for m in argv[2:] if z.remove(m))
    if n:
        db.remove_if_empty(argv[1], z)
        db.touch(argv[1])
    return integer(n)


@command("zscore", 3, "readonly fast", 1, 1, 1, "@read @sortedset @fast")
def zscore(c, argv):
    z = _zset(c, argv[1])
    s = z.scores.get(argv[2]) if z is not None else None
    return NULL if s is None else _score_reply(s)


@command("zmscore", -3, "readonly fast", 1, 1, 1, "@read @sortedset @fast")
def zmscore(c, argv):
    z = _zset(c, argv[1])
    scores = z.scores if z is not None else {}
    out = []
    for m in argv[2:]:
        s = scores.get(m)
        out.append(None if s is None else format_score(s))
    return array(out)


@command("zcard", 2, "readonly fast", 1, 1, 1, "@read @sortedset @fast")
def zcard(c, argv):
    z = _zset(c, argv[1])
    return integer(len(z) if z is not None else 0)


# -- ranges ------------------------------------------------------------------

_C_SPACE = b" \t\n\v\f\r"
_DEC_PREFIX = re.compile(rb"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def _strtod_whole(b: bytes):
    """Plain strtod that must consume the whole string (zslParseRange): leading
    spaces allowed, empty string is 0, overflow is +-inf, NaN rejected."""
    if not b:
        return 0.0  # strtod("") converts nothing and stops at the end: 0
    s = b.lstrip(_C_SPACE)
    if not s:
        return None
    v = parse_float(s)
    if v is not None:
        return v
    if _DEC_PREFIX.fullmatch(s):  # over/underflow: strtod saturates
        f = float(s)
        return f
    return None


def parse_score_bound(b: bytes):
    """'(' prefix means exclusive; returns (value, exclusive)."""
    if b[:1] == b"(":
        v = _strtod_whole(b[1:])
        excl = True
    else:
        v = _strtod_whole(b)
        excl = False
    if v is None or (isinstance(v, float) and math.isnan(v)):
        raise CommandError(_NOT_FLOAT_RANGE)
    return v, excl


def parse_lex_bound(b: bytes):
    """Returns (value, inclusive) with value None for -inf and b'+' sentinel."""
    if b == b"+":
        return "+", False
    if b == b"-":
        return "-", False
    if b[:1] == b"(":
        return b[1:], False
    if b[:1] == b"[":
        return b[1:], True
    raise CommandError(_NOT_LEX_RANGE)


def _score_slice(z: ZSet, lo, hi):
    (mn, mnx), (mx, mxx) = lo, hi
    if mn > mx or (mn == mx and (mnx or mxx)):
        return 0, 0
    return z.score_range(mn, mnx, mx, mxx)


def _lex_slice(z: ZSet, lo, hi):
    (mn, mn_incl), (mx, mx_incl) = lo, hi
    if mn == "+" or mx == "-":
        return 0, 0
    a = None if mn == "-" else mn
    b = None if mx == "+" else mx
    if a is not None and b is not None and (a > b or (a == b and not (mn_incl and mx_incl))):
        return 0, 0
    return z.lex_range(a, mn_incl, b, mx_incl)


def _zrange_generic(c, argv, rangetype, reverse):
    """Redis zrangeGenericCommand: rangetype None (auto), 'rank', 'score', 'lex'."""
    withscores = False
    offset, limit = 0, -1
    has_limit = False
    n = len(argv)
    j = 4
    while j < n:
        o = argv[j].lower()
        left = n - j - 1
        if o == b"withscores":
            withscores = True
        elif o == b"limit" and left >= 2:
            offset = _long(argv[j + 1])
            limit = _long(argv[j + 2])
            has_limit = True
            j += 2
        elif reverse is None and o == b"rev":
            reverse = True
        elif rangetype is None and o == b"bylex":
            rangetype = "lex"
        elif rangetype is None and o == b"byscore":
            rangetype = "score"
        else:
            raise CommandError(SYNTAX)
        j += 1
    reverse = bool(reverse)
    rangetype = rangetype or "rank"
    if has_limit and limit != -1 and rangetype == "rank":
        raise CommandError(b"ERR syntax error, LIMIT is only supported in combination "
                           b"with either BYSCORE or BYLEX")
    if withscores and rangetype == "lex":
        raise CommandError(b"ERR syntax error, WITHSCORES not supported in combination with BYLEX")
    a, b = argv[2], argv[3]
    if reverse and rangetype != "rank":
        a, b = b, a
    if rangetype == "rank":
        start, end = _long(a), _long(b)
    elif rangetype == "score":
        lo, hi = parse_score_bound(a), parse_score_bound(b)
    else:
        lo, hi = parse_lex_bound(a), parse_lex_bound(b)
    z = _zset(c, argv[1])
    if z is None:
        return EMPTY_ARRAY
    order = z.order
    if rangetype == "rank":
        r = rank_range(len(order), start, end)
        if r is None:
            return EMPTY_ARRAY
        s, e = r
        if reverse:
            n = len(order)
            pairs = order[n - 1 - e:n - s][::-1]
        else:
            pairs = order[s:e + 1]
        return _with_scores(pairs, withscores)
    if offset > 0 and offset >= len(z):
        return EMPTY_ARRAY
    s, e = _score_slice(z, lo, hi) if rangetype == "score" else _lex_slice(z, lo, hi)
    pairs = order[s:e]
    if reverse:
        pairs = pairs[::-1]
    if offset < 0:
        return EMPTY_ARRAY  # Redis skips "offset--" times: everything
    pairs = pairs[offset:]
    if limit >= 0:
        pairs = pairs[:limit]
    return _with_scores(pairs, withscores)


@command("zrange", -4, "readonly", 1, 1, 1, "@read @sortedset @slow")
def zrange(c, argv):
    return _zrange_generic(c, argv, None, None)


@command("zrevrange", -4, "readonly", 1, 1, 1, "@read @sortedset @slow")
def zrevrange(c, argv):
    return _zrange_generic(c, argv, "rank", True)


@command("zrangebyscore", -4, "readonly", 1, 1, 1, "@read @sortedset @slow")
def zrangebyscore(c, argv):
    return _zrange_generic(c, argv, "score", False)


@command("zrevrangebyscore", -4, "readonly", 1, 1, 1, "@read @sortedset @slow")
def zrevrangebyscore(c, argv):
    return _zrange_generic(c, argv, "score", True)


@command("zrangebylex", -4, "readonly", 1, 1, 1, "@read @sortedset @slow")
def zrangebylex(c, argv):
    return _zrange_generic(c, argv, "lex", False)


@command("zrevrangebylex", -4, "readonly", 1, 1, 1, "@read @sortedset @slow")
def zrevrangebylex(c, argv):
    return _zrange_generic(c, argv, "lex", True)


@command("zcount", 4, "readonly fast", 1, 1, 1, "@read @sortedset @fast")
def zcount(c, argv):
    lo, hi = parse_score_bound(argv[2]), parse_score_bound(argv[3])
    z = _zset(c, argv[1])
    if z is None:
        return ZERO
    s, e = _score_slice(z, lo, hi)
    return integer(e - s)


@command("zlexcount", 4, "readonly fast", 1, 1, 1, "@read @sortedset @fast")
def zlexcount(c, argv):
    lo, hi = parse_lex_bound(argv[2]), parse_lex_bound(argv[3])
    z = _zset(c, argv[1])
    if z is None:
        return ZERO
    s, e = _lex_slice(z, lo, hi)
    return integer(e - s)


def _rank(c, argv, reverse: bool) -> bytes:
    z = _zset(c, argv[1])
    if z is None:
        return NULL
    r = z.rank(argv[2])
    if r is None:
        return NULL
    return integer(len(z) - 1 - r if reverse else r)


@command("zrank", 3, "readonly fast", 1, 1, 1, "@read @sortedset @fast")
def zrank(c, argv):
    return _rank(c, argv, False)


@command("zrevrank", 3, "readonly fast", 1, 1, 1, "@read @sortedset @fast")
def zrevrank(c, argv):
    return _rank(c, argv, True)


def _remove_slice(c, key, z: ZSet, s: int, e: int) -> bytes:
    if e <= s:
        return ZERO
    victims = z.order[s:e]
    del z.order[s:e]
    for _, m in victims:
        del z.scores[m]
    c.db.remove_if_empty(key, z)
    c.db.touch(key)
    return integer(len(victims))


@command("zremrangebyrank", 4, "write", 1, 1, 1, "@write @sortedset @slow")
def zremrangebyrank(c, argv):
    start, end = _long(argv[2]), _long(argv[3])
    z = _zset(c, argv[1])
    if z is None:
        return ZERO
    r = rank_range(len(z), start, end)
    if r is None:
        return ZERO
    return _remove_slice(c, argv[1], z, r[0], r[1] + 1)


@command("zremrangebyscore", 4, "write", 1, 1, 1, "@write @sortedset @slow")
def zremrangebyscore(c, argv):
    lo, hi = parse_score_bound(argv[2]), parse_score_bound(argv[3])
    z = _zset(c, argv[1])
    if z is None:
        return ZERO
    s, e = _score_slice(z, lo, hi)
    return _remove_slice(c, argv[1], z, s, e)


def _zpop(c, argv, from_max: bool) -> bytes:
    if len(argv) > 3:
        raise CommandError(SYNTAX)
    count = -1
    if len(argv) == 3:
        count = parse_ll(argv[2])
        if count is None or count < 0:
            raise CommandError(MUST_BE_POSITIVE)
    z = _zset(c, argv[1])
    if z is None or count == 0:
        return EMPTY_ARRAY
    if count == -1:
        count = 1
    count = min(count, len(z))
    order = z.order
    if from_max:
        victims = order[len(order) - count:][::-1]
        del order[len(order) - count:]
    else:
        victims = order[:count]
        del order[:count]
    for _, m in victims:
        del z.scores[m]
    c.db.remove_if_empty(argv[1], z)
    c.db.touch(argv[1])
    return _with_scores(victims, True)


@command("zpopmin", -2, "write fast", 1, 1, 1, "@write @sortedset @fast")
def zpopmin(c, argv):
    return _zpop(c, argv, False)


@command("zpopmax", -2, "write fast", 1, 1, 1, "@write @sortedset @fast")
def zpopmax(c, argv):
    return _zpop(c, argv, True)


def _bzpop(c, argv, from_max: bool) -> bytes:
    timeout = parse_timeout(argv[-1])
    db = c.db
    keys = argv[1:-1]
    for key in keys:
        z = _zset(c, key)
        if z:
            return zpop_one(db, key, z, from_max)
    if c.in_exec:
        return NULL_ARRAY  # no blocking inside MULTI: behaves as a timeout
    return block(c, Blocked(db, list(dict.fromkeys(keys)), RIGHT if from_max else LEFT, zpop=True), timeout)


@command("bzpopmin", -3, "write noscript blocking fast", 1, -2, 1, "@write @sortedset @fast @blocking")
def bzpopmin(c, argv):
    return _bzpop(c, argv, False)


@command("bzpopmax", -3, "write noscript blocking fast", 1, -2, 1, "@write @sortedset @fast @blocking")
def bzpopmax(c, argv):
    return _bzpop(c, argv, True)


@command("zscan", -3, "readonly", 1, 1, 1, "@read @sortedset @slow")
def zscan(c, argv):
    cursor = parse_cursor(argv[2])
    z = _zset(c, argv[1])
    if z is None:
        return b"*2\r\n$1\r\n0\r\n*0\r\n"
    count, pat, _ = parse_scan_options(argv, 3, False)
    if len(z) <= limits.SCAN_SMALL_COLLECTION:
        new, names = 0, [m for _, m in z.order]
    else:
        new, names = scan_page(c.state, cursor, lambda: [m for _, m in z.order], count)
    m = compile_pattern(pat).fullmatch if pat is not None else None
    out = []
    for member in names:
        s = z.scores.get(member)
        if s is None or (m is not None and m(member) is None):
            continue
        out.append(member)
        out.append(format_score(s))
    return scan_reply(new, out)
