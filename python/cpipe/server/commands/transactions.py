"""Transactions: MULTI EXEC DISCARD WATCH UNWATCH.

Queued commands run back to back in EXEC with blocking disabled (a blocking
pop that would wait answers like a timeout); clients waiting on keys are
served after EXEC as a whole, as in Redis. WATCH follows Redis 7.0: any
change to a watched key, or a watched key expiring, aborts EXEC with a null
array; a key already expired when watched counts as changed only if it is
then written.
"""
from __future__ import annotations

from ..resp import CommandError, OK, NULL_ARRAY
from .table import command, F_NOT_QUEUED

_TX = "noscript loading stale fast allow_busy"


@command("multi", 1, _TX, categories="@fast @transaction", flags=F_NOT_QUEUED)
def multi(c, argv):
    if c.multi is not None:
        raise CommandError(b"ERR MULTI calls can not be nested")
    c.multi = []
    c.multi_error = False
    c.fast = False
    return OK


def _end_multi(c) -> None:
    c.multi = None
    c.multi_error = False
    c.unwatch_all()
    c.refresh()


@command("discard", 1, _TX, categories="@fast @transaction", flags=F_NOT_QUEUED)
def discard(c, argv):
    if c.multi is None:
        raise CommandError(b"ERR DISCARD without MULTI")
    _end_multi(c)
    return OK


def _watched_key_expired(c) -> bool:
    dbs = c.state.dbs
    for (index, key), expired_at_watch in c.watched.items():
        if not expired_at_watch and dbs[index].is_expired(key):
            return True
    return False


@command("exec", 1, "noscript loading stale skip_slowlog", categories="@slow @transaction",
         flags=F_NOT_QUEUED)
def exec_(c, argv):
    if c.multi is None:
        raise CommandError(b"ERR EXEC without MULTI")
    if c.multi_error:
        _end_multi(c)
        raise CommandError(b"EXECABORT Transaction discarded because of previous errors.")
    if c.dirty_cas or (c.watched and _watched_key_expired(c)):
        _end_multi(c)
        return NULL_ARRAY if c.resp == 2 else b"_\r\n"
    queued = c.multi
    _end_multi(c)  # unwatch before running, as Redis does
    replies = []
    c.in_exec = True
    try:
        for func, qargv, cmd in queued:
            replies.append(c.call(func, cmd, qargv))
    finally:
        c.in_exec = False
    return b"*%d\r\n" % len(replies) + b"".join(replies)


@command("watch", -2, _TX, 1, -1, 1, "@fast @transaction", flags=F_NOT_QUEUED)
def watch(c, argv):
    if c.multi is not None:
        raise CommandError(b"ERR WATCH inside MULTI is not allowed")
    db = c.db
    if c.watched is None:
        c.watched = {}
    for key in argv[1:]:
        k = (db.index, key)
        if k in c.watched:
            continue
        c.watched[k] = db.is_expired(key)
        db.watched.setdefault(key, []).append(c)
    return OK


@command("unwatch", 1, _TX, categories="@fast @transaction")
def unwatch(c, argv):
    c.unwatch_all()
    return OK
