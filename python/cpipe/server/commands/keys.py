"""Keyspace commands: DEL UNLINK EXISTS TYPE KEYS SCAN RENAME RENAMENX
EXPIRE PEXPIRE EXPIREAT PEXPIREAT TTL PTTL EXPIRETIME PEXPIRETIME PERSIST
DBSIZE FLUSHDB FLUSHALL RANDOMKEY TOUCH."""
from __future__ import annotations

from .. import limits
from ..db import TYPE_NAMES, now_ms
from ..parser import parse_ll
from ..pattern import compile_pattern
from ..resp import (CommandError, OK, NULL, ZERO, ONE, MINUS_ONE, MINUS_TWO, SYNTAX,
                    NO_SUCH_KEY, integer, bulk, array, simple)
from .table import command

_INT64_MAX = 2**63 - 1
_INT64_MIN = -(2**63)


@command("del", -2, "write", 1, -1, 1, "@keyspace @write @slow")
def del_(c, argv):
    db = c.db
    n = 0
    for key in argv[1:]:
        if db.delete(key):
            n += 1
    return integer(n)


@command("unlink", -2, "write fast", 1, -1, 1, "@keyspace @write @fast")
def unlink(c, argv):
    return del_(c, argv)


@command("exists", -2, "readonly fast", 1, -1, 1, "@keyspace @read @fast")
def exists(c, argv):
    lookup = c.db.lookup
    return integer(sum(1 for key in argv[1:] if lookup(key) is not None))


@command("touch", -2, "readonly fast", 1, -1, 1, "@keyspace @read @fast")
def touch(c, argv):
    return exists(c, argv)


@command("type", 2, "readonly fast", 1, 1, 1, "@keyspace @read @fast")
def type_(c, argv):
    v = c.db.lookup(argv[1])
    if v is None:
        return b"+none\r\n"
    return simple(TYPE_NAMES[v.__class__])


@command("keys", 2, "readonly", 0, 0, 0, "@keyspace @read @slow @dangerous")
def keys(c, argv):
    db = c.db
    pat = argv[1]
    now = now_ms()
    exp = db.expires
    if pat == b"*":
        found = [k for k in db.data if not (k in exp and now > exp[k])]
    else:
        m = compile_pattern(pat).fullmatch
        found = [k for k in db.data if m(k) is not None and not (k in exp and now > exp[k])]
    return array(found)


def parse_cursor(b: bytes) -> int:
    """strtoul as Redis uses it: optional sign, digits, no spaces."""
    s = b
    if s[:1] in (b"+", b"-"):
        s = s[1:]
    if not s or not s.isdigit():
        raise CommandError(b"ERR invalid cursor")
    n = int(s)
    if n > 2**64 - 1:
        raise CommandError(b"ERR invalid cursor")
    if b[:1] == b"-":
        n = (-n) % 2**64
    return n


def parse_scan_options(argv, i: int, allow_type: bool):
    """Redis scanGenericCommand option parsing; returns (count, match, type)."""
    count, pat, typ = 10, None, None
    n = len(argv)
    while i < n:
        opt = argv[i].lower()
        left = n - i
        if opt == b"count" and left >= 2:
            cnt = parse_ll(argv[i + 1])
            if cnt is None:
                raise CommandError(b"ERR value is not an integer or out of range")
            if cnt < 1:
                raise CommandError(SYNTAX)
            count = cnt
            i += 2
        elif opt == b"match" and left >= 2:
            pat = argv[i + 1]
            if pat == b"*":
                pat = None
            i += 2
        elif opt == b"type" and allow_type and left >= 2:
            typ = argv[i + 1].lower()
            i += 2
        else:
            raise CommandError(SYNTAX)
    return count, pat, typ


def scan_reply(cursor: int, items: list) -> bytes:
    cur = b"%d" % cursor
    return b"*2\r\n" + bulk(cur) + array(items)


def scan_page(state, cursor: int, snapshot_fn, count: int):
    """Page through a snapshot of names; the cursor id maps to (names, pos).

    Cursor 0 starts a new snapshot. Names present for the whole iteration
    are returned exactly once; unknown or forgotten cursors end it.
    """
    cursors = state.scan_cursors
    if cursor == 0:
        names, pos = snapshot_fn(), 0
    else:
        entry = cursors.get(cursor)
        if entry is None:
            return 0, []
        names, pos = entry
    page = names[pos:pos + count]
    pos += count
    if pos >= len(names):
        return 0, page
    new = state.next_cursor_id()
    cursors[new] = (names, pos)
    while len(cursors) > limits.SCAN_CURSORS_MAX:
        cursors.pop(next(iter(cursors)))
    return new, page


@command("scan", -2, "readonly", 0, 0, 0, "@keyspace @read @slow")
def scan(c, argv):
    cursor = parse_cursor(argv[1])
    count, pat, typ = parse_scan_options(argv, 2, True)
    db = c.db
    new, page = scan_page(c.state, cursor, lambda: list(db.data), count)
    m = compile_pattern(pat).fullmatch if pat is not None else None
    out = []
    for k in page:
        v = db.lookup(k)
        if v is None:
            continue
        if m is not None and m(k) is None:
            continue
        if typ is not None and TYPE_NAMES[v.__class__] != typ:
            continue
        out.append(k)
    return scan_reply(new, out)


def _rename(c, argv, nx: bool) -> bytes:
    db = c.db
    src, dst = argv[1], argv[2]
    v = db.lookup(src)
    if v is None:
        raise CommandError(NO_SUCH_KEY)
    if src == dst:
        return ZERO if nx else OK
    expire = db.expires.get(src)
    if db.lookup(dst) is not None:
        if nx:
            return ZERO
        db.delete(dst)
    del db.data[src]
    if expire is not None:
        del db.expires[src]
    db.touch(src)
    db.set(dst, v)
    if expire is not None:
        db.expires[dst] = expire
    return ONE if nx else OK


@command("rename", 3, "write", 1, 2, 1, "@keyspace @write @slow")
def rename(c, argv):
    return _rename(c, argv, False)


@command("renamenx", 3, "write fast", 1, 2, 1, "@keyspace @write @fast")
def renamenx(c, argv):
    return _rename(c, argv, True)


def _expire_generic(c, argv, basetime: int, unit_seconds: bool) -> bytes:
    nx = xx = gt = lt = False
    for opt in argv[3:]:
        o = opt.lower()
        if o == b"nx":
            nx = True
        elif o == b"xx":
            xx = True
        elif o == b"gt":
            gt = True
        elif o == b"lt":
            lt = True
        else:
            raise CommandError(b"ERR Unsupported option %s" % opt)
    if nx and (xx or gt or lt):
        raise CommandError(b"ERR NX and XX, GT or LT options at the same time are not compatible")
    if gt and lt:
        raise CommandError(b"ERR GT and LT options at the same time are not compatible")
    when = parse_ll(argv[2])
    if when is None:
        raise CommandError(b"ERR value is not an integer or out of range")
    name = argv[0].lower()
    if unit_seconds:
        if when > _INT64_MAX // 1000 or when < -(_INT64_MAX // 1000):
            raise CommandError(b"ERR invalid expire time in '%s' command" % name)
        when *= 1000
    if when > _INT64_MAX - basetime:
        raise CommandError(b"ERR invalid expire time in '%s' command" % name)
    when += basetime
    db = c.db
    key = argv[1]
    if db.lookup(key) is None:
        return ZERO
    cur = db.expires.get(key, -1)
    if nx and cur != -1:
        return ZERO
    if xx and cur == -1:
        return ZERO
    if gt and (cur == -1 or when <= cur):
        return ZERO
    if lt and cur != -1 and when >= cur:
        return ZERO
    if when <= now_ms():
        db.delete(key)
        return ONE
    db.expires[key] = when
    db.touch(key)
    return ONE


@command("expire", -3, "write fast", 1, 1, 1, "@keyspace @write @fast")
def expire(c, argv):
    return _expire_generic(c, argv, now_ms(), True)


@command("pexpire", -3, "write fast", 1, 1, 1, "@keyspace @write @fast")
def pexpire(c, argv):
    return _expire_generic(c, argv, now_ms(), False)


@command("expireat", -3, "write fast", 1, 1, 1, "@keyspace @write @fast")
def expireat(c, argv):
    return _expire_generic(c, argv, 0, True)


@command("pexpireat", -3, "write fast", 1, 1, 1, "@keyspace @write @fast")
def pexpireat(c, argv):
    return _expire_generic(c, argv, 0, False)


def _ttl(c, key, ms: bool, absolute: bool) -> bytes:
    db = c.db
    if db.lookup(key) is None:
        return MINUS_TWO
    when = db.expires.get(key)
    if when is None:
        return MINUS_ONE
    ttl = when if absolute else when - now_ms()
    if ttl < 0:
        ttl = 0
    return integer(ttl if ms else (ttl + 500) // 1000)


@command("ttl", 2, "readonly fast", 1, 1, 1, "@keyspace @read @fast")
def ttl(c, argv):
    return _ttl(c, argv[1], False, False)


@command("pttl", 2, "readonly fast", 1, 1, 1, "@keyspace @read @fast")
def pttl(c, argv):
    return _ttl(c, argv[1], True, False)


@command("expiretime", 2, "readonly fast", 1, 1, 1, "@keyspace @read @fast")
def expiretime(c, argv):
    return _ttl(c, argv[1], False, True)


@command("pexpiretime", 2, "readonly fast", 1, 1, 1, "@keyspace @read @fast")
def pexpiretime(c, argv):
    return _ttl(c, argv[1], True, True)


@command("persist", 2, "write fast", 1, 1, 1, "@keyspace @write @fast")
def persist(c, argv):
    db = c.db
    key = argv[1]
    if db.lookup(key) is None or key not in db.expires:
        return ZERO
    del db.expires[key]
    db.touch(key)
    return ONE


@command("dbsize", 1, "readonly fast", 0, 0, 0, "@keyspace @read @fast")
def dbsize(c, argv):
    return integer(len(c.db.data))


def _flush_args(argv) -> None:
    if len(argv) == 2 and argv[1].lower() in (b"sync", b"async"):
        return
    if len(argv) != 1:
        raise CommandError(SYNTAX)


@command("flushdb", -1, "write", 0, 0, 0, "@keyspace @write @slow @dangerous")
def flushdb(c, argv):
    _flush_args(argv)
    c.db.flush()
    c.state.tracking.flush(c)
    return OK


@command("flushall", -1, "write", 0, 0, 0, "@keyspace @write @slow @dangerous")
def flushall(c, argv):
    _flush_args(argv)
    for db in c.state.dbs:
        db.flush()
    c.state.tracking.flush(c)
    return OK


@command("randomkey", 1, "readonly", 0, 0, 0, "@keyspace @read @slow")
def randomkey(c, argv):
    k = c.db.random_key()
    return NULL if k is None else bulk(k)
