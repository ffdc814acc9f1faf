"""String commands: GET SET MGET MSET MSETNX SETNX SETEX PSETEX GETSET
GETDEL GETEX INCR INCRBY INCRBYFLOAT DECR DECRBY APPEND STRLEN GETRANGE
SUBSTR SETRANGE.

GET and SET are the benchmark's hot path: they touch the db dicts directly
instead of going through Db helpers.
"""
from __future__ import annotations

from ..db import now_ms
from ..numbers import (add_long_double, format_long_double, parse_long_double)
from ..parser import parse_ll
from ..resp import (CommandError, OK, NULL, ZERO, ONE, SYNTAX, WRONGTYPE, NOT_INTEGER,
                    NOT_FLOAT, OVERFLOW, NAN_OR_INF, integer, bulk)
from .table import command, arity_error

_INT64_MAX = 2**63 - 1
_INT64_MIN = -(2**63)
_EMPTY_BULK = b"$0\r\n\r\n"

# SET/GETEX option flags (Redis OBJ_SET_*)
_NX, _XX, _GET, _KEEPTTL, _PERSIST, _EX, _PX, _EXAT, _PXAT = (1 << i for i in range(9))
_EXPIRES = _EX | _PX | _EXAT | _PXAT


def _get_string(db, key):
    """String value, None if absent, WRONGTYPE otherwise (lazy expiry)."""
    v = db.data.get(key)
    if v is None:
        return None
    if db.expires and key in db.expires and now_ms() > db.expires[key]:
        db.expire_now(key)
        return None
    if v.__class__ is not bytes:
        raise CommandError(WRONGTYPE)
    return v


@command("get", 2, "readonly fast", 1, 1, 1, "@read @string @fast")
def get(c, argv):
    db = c.db
    key = argv[1]
    v = db.data.get(key)
    if v is None:
        return NULL
    if db.expires and key in db.expires and now_ms() > db.expires[key]:
        db.expire_now(key)
        return NULL
    if v.__class__ is bytes:
        return b"$%d\r\n%s\r\n" % (len(v), v)
    raise CommandError(WRONGTYPE)


def _parse_ext(argv, start: int, for_set: bool):
    """Redis parseExtendedStringArgumentsOrReply."""
    flags = 0
    expire = None
    n = len(argv)
    j = start
    while j < n:
        opt = argv[j].lower()
        has_next = j < n - 1
        if opt == b"nx" and not flags & _XX and for_set:
            flags |= _NX
        elif opt == b"xx" and not flags & _NX and for_set:
            flags |= _XX
        elif opt == b"get" and for_set:
            flags |= _GET
        elif opt == b"keepttl" and not flags & (_PERSIST | _EXPIRES) and for_set:
            flags |= _KEEPTTL
        elif opt == b"persist" and not for_set and not flags & (_EXPIRES | _KEEPTTL):
            flags |= _PERSIST
        elif opt == b"ex" and not flags & (_KEEPTTL | _PERSIST | _EXAT | _PX | _PXAT) and has_next:
            flags |= _EX
            expire = argv[j + 1]
            j += 1
        elif opt == b"px" and not flags & (_KEEPTTL | _PERSIST | _EX | _EXAT | _PXAT) and has_next:
            flags |= _PX
            expire = argv[j + 1]
            j += 1
        elif opt == b"exat" and not flags & (_KEEPTTL | _PERSIST | _EX | _PX | _PXAT) and has_next:
            flags |= _EXAT
            expire = argv[j + 1]
            j += 1
        elif opt == b"pxat" and not flags & (_KEEPTTL | _PERSIST | _EX | _EXAT | _PX) and has_next:
            flags |= _PXAT
            expire = argv[j + 1]
            j += 1
        else:
            raise CommandError(SYNTAX)
        j += 1
    return flags, expire


def _expire_ms(expire: bytes, flags: int, name: bytes) -> int:
    """Redis getExpireMillisecondsOrReply: absolute ms, or an error."""
    ms = parse_ll(expire)
    if ms is None:
        raise CommandError(NOT_INTEGER)
    seconds = flags & (_EX | _EXAT)
    if ms <= 0 or (seconds and ms > _INT64_MAX // 1000):
        raise CommandError(b"ERR invalid expire time in '%s' command" % name)
    if seconds:
        ms *= 1000
    if flags & (_EX | _PX):
        ms += now_ms()
    if ms <= 0 or ms > _INT64_MAX:
        raise CommandError(b"ERR invalid expire time in '%s' command" % name)
    return ms


def _set_generic(c, key, value, flags, expire, name, ok_reply=OK, abort_reply=NULL):
    when = _expire_ms(expire, flags, name) if expire is not None else None
    db = c.db
    old = None
    if flags & _GET:
        old = _get_string(db, key)
    found = db.lookup(key) is not None
    if (flags & _NX and found) or (flags & _XX and not found):
        if flags & _GET:
            return NULL if old is None else bulk(old)
        return abort_reply
    db.set(key, value, keep_ttl=bool(flags & _KEEPTTL))
    if when is not None:
        db.expires[key] = when
    if flags & _GET:
        return NULL if old is None else bulk(old)
    return ok_reply


@command("set", -3, "write denyoom", 1, 1, 1, "@write @string @slow")
def set_(c, argv):
    if len(argv) == 3:  # fast path: plain SET
        db = c.db
        key = argv[1]
        db.data[key] = argv[2]
        if db.expires:
            db.expires.pop(key, None)
        if db.watched or db.blocked or db.tracking.on:
            db.set(key, argv[2])
        return OK
    flags, expire = _parse_ext(argv, 3, True)
    return _set_generic(c, argv[1], argv[2], flags, expire, b"set")


@command("setnx", 3, "write denyoom fast", 1, 1, 1, "@write @string @fast")
def setnx(c, argv):
    return _set_generic(c, argv[1], argv[2], _NX, None, b"setnx", ONE, ZERO)


@command("setex", 4, "write denyoom", 1, 1, 1, "@write @string @slow")
def setex(c, argv):
    return _set_generic(c, argv[1], argv[3], _EX, argv[2], b"setex")


@command("psetex", 4, "write denyoom", 1, 1, 1, "@write @string @slow")
def psetex(c, argv):
    return _set_generic(c, argv[1], argv[3], _PX, argv[2], b"psetex")


@command("getset", 3, "write denyoom fast", 1, 1, 1, "@write @string @fast")
def getset(c, argv):
    db = c.db
    old = _get_string(db, argv[1])
    db.set(argv[1], argv[2])
    return NULL if old is None else bulk(old)


@command("getdel", 2, "write fast", 1, 1, 1, "@write @string @fast")
def getdel(c, argv):
    db = c.db
    old = _get_string(db, argv[1])
    if old is None:
        return NULL
    db.delete(argv[1])
    return bulk(old)


@command("getex", -2, "write fast", 1, 1, 1, "@write @string @fast")
def getex(c, argv):
    flags, expire = _parse_ext(argv, 2, False)
    db = c.db
    key = argv[1]
    v = _get_string(db, key)
    if v is None:
        return NULL
    when = _expire_ms(expire, flags, b"getex") if expire is not None else None
    reply = bulk(v)
    if flags & (_EXAT | _PXAT) and when <= now_ms():
        db.delete(key)
    elif when is not None:
        db.expires[key] = when
        db.touch(key)
    elif flags & _PERSIST and key in db.expires:
        del db.expires[key]
        db.touch(key)
    return reply


@command("mget", -2, "readonly fast", 1, -1, 1, "@read @string @fast")
def mget(c, argv):
    db = c.db
    parts = [b"*%d\r\n" % (len(argv) - 1)]
    for key in argv[1:]:
        v = db.lookup(key)
        if v is None or v.__class__ is not bytes:
            parts.append(NULL)
        else:
            parts.append(b"$%d\r\n%s\r\n" % (len(v), v))
    return b"".join(parts)


@command("mset", -3, "write denyoom", 1, -1, 2, "@write @string @slow")
def mset(c, argv):
    if len(argv) % 2 == 0:
        raise arity_error(b"mset")
    db = c.db
    for i in range(1, len(argv), 2):
        db.set(argv[i], argv[i + 1])
    return OK


@command("msetnx", -3, "write denyoom", 1, -1, 2, "@write @string @slow")
def msetnx(c, argv):
    if len(argv) % 2 == 0:
        raise arity_error(b"msetnx")
    db = c.db
    for i in range(1, len(argv), 2):
        if db.lookup(argv[i]) is not None:
            return ZERO
    for i in range(1, len(argv), 2):
        db.set(argv[i], argv[i + 1])
    return ONE


def _incr(c, key, by: int) -> bytes:
    db = c.db
    v = _get_string(db, key)
    if v is None:
        cur = 0
    else:
        cur = parse_ll(v)
        if cur is None:
            raise CommandError(NOT_INTEGER)
    new = cur + by
    if new > _INT64_MAX or new < _INT64_MIN:
        raise CommandError(OVERFLOW)
    db.set(key, b"%d" % new, keep_ttl=True)
    return b":%d\r\n" % new


def _int_arg(b: bytes) -> int:
    n = parse_ll(b)
    if n is None:
        raise CommandError(NOT_INTEGER)
    return n


@command("incr", 2, "write denyoom fast", 1, 1, 1, "@write @string @fast")
def incr(c, argv):
    return _incr(c, argv[1], 1)


@command("decr", 2, "write denyoom fast", 1, 1, 1, "@write @string @fast")
def decr(c, argv):
    return _incr(c, argv[1], -1)


@command("incrby", 3, "write denyoom fast", 1, 1, 1, "@write @string @fast")
def incrby(c, argv):
    return _incr(c, argv[1], _int_arg(argv[2]))


@command("decrby", 3, "write denyoom fast", 1, 1, 1, "@write @string @fast")
def decrby(c, argv):
    by = _int_arg(argv[2])
    if by == _INT64_MIN:
        raise CommandError(b"ERR decrement would overflow")
    return _incr(c, argv[1], -by)


@command("incrbyfloat", 3, "write denyoom fast", 1, 1, 1, "@write @string @fast")
def incrbyfloat(c, argv):
    db = c.db
    key = argv[1]
    v = _get_string(db, key)
    cur = parse_long_double(v) if v is not None else parse_long_double(b"0")
    incr_ = parse_long_double(argv[2])
    if cur is None or incr_ is None:
        raise CommandError(NOT_FLOAT)
    res = add_long_double(cur, incr_)
    if res is None:
        raise CommandError(NAN_OR_INF)
    out = format_long_double(res)
    db.set(key, out, keep_ttl=True)
    return bulk(out)


def _check_length(c, total: int) -> None:
    if total > c.state.config.proto_max_bulk_len:
        raise CommandError(b"ERR string exceeds maximum allowed size (proto-max-bulk-len)")


@command("append", 3, "write denyoom fast", 1, 1, 1, "@write @string @fast")
def append(c, argv):
    db = c.db
    key = argv[1]
    v = _get_string(db, key)
    if v is None:
        db.set(key, argv[2])
        return integer(len(argv[2]))
    _check_length(c, len(v) + len(argv[2]))
    nv = v + argv[2]
    db.set(key, nv, keep_ttl=True)
    return integer(len(nv))


@command("strlen", 2, "readonly fast", 1, 1, 1, "@read @string @fast")
def strlen(c, argv):
    v = _get_string(c.db, argv[1])
    return integer(0 if v is None else len(v))


def _getrange(c, argv):
    start = _int_arg(argv[2])
    end = _int_arg(argv[3])
    v = _get_string(c.db, argv[1])
    if v is None:
        return _EMPTY_BULK
    n = len(v)
    if start < 0 and end < 0 and start > end:
        return _EMPTY_BULK
    if start < 0:
        start = n + start
    if end < 0:
        end = n + end
    if start < 0:
        start = 0
    if end < 0:
        end = 0
    if end >= n:
        end = n - 1
    if start > end or n == 0:
        return _EMPTY_BULK
    return bulk(v[start:end + 1])


@command("getrange", 4, "readonly", 1, 1, 1, "@read @string @slow")
def getrange(c, argv):
    return _getrange(c, argv)


@command("substr", 4, "readonly", 1, 1, 1, "@read @string @slow")
def substr(c, argv):
    return _getrange(c, argv)


@command("setrange", 4, "write denyoom", 1, 1, 1, "@write @string @slow")
def setrange(c, argv):
    offset = _int_arg(argv[2])
    if offset < 0:
        raise CommandError(b"ERR offset is out of range")
    db = c.db
    key = argv[1]
    value = argv[3]
    v = _get_string(db, key)
    if v is None:
        if not value:
            return ZERO
        _check_length(c, offset + len(value))
        nv = b"\0" * offset + value
        db.set(key, nv)
        return integer(len(nv))
    if not value:
        return integer(len(v))
    _check_length(c, offset + len(value))
    if len(v) < offset:
        v = v + b"\0" * (offset - len(v))
    nv = v[:offset] + value + v[offset + len(value):]
    db.set(key, nv, keep_ttl=True)
    return integer(len(nv))
