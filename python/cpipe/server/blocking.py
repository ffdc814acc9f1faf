"""Blocking pops: lists (BLPOP, BRPOP, BLMOVE, BRPOPLPUSH) and sorted sets
(BZPOPMIN, BZPOPMAX).

A client that finds every key empty is queued on each key (db.blocked,
FIFO: the longest-waiting client is served first) and stops running its
pipelined requests until it is served, times out, or disconnects.

Keys become "ready" when a list is stored under a key someone waits on
(Db.add/Db.set call ServerState.signal_ready). After every top-level command
- after EXEC for a transaction - `serve_ready` hands elements to waiters in
order, exactly as Redis's handleClientsBlockedOnKeys does, so pipelines see
the same interleaving as with Redis. A served BLMOVE pushes to its
destination, which may make that key ready in turn; the loop continues
until no key is ready.
"""
from __future__ import annotations

import time
from collections import deque

from .numbers import format_score
from .resp import NULL_ARRAY, WRONGTYPE, bulk, error
from .zset import ZSet

LEFT, RIGHT = 0, 1


class Blocked:
    """Why and where a client waits."""

    __slots__ = ("db", "keys", "where", "dest", "dest_where", "timer", "move", "zpop")

    def __init__(self, db, keys, where, dest=None, dest_where=LEFT, move=False, zpop=False):
        self.db = db
        self.keys = keys
        self.where = where  # end to pop from
        self.dest = dest  # BLMOVE destination key
        self.dest_where = dest_where
        self.move = move
        self.zpop = zpop  # a sorted-set pop: where LEFT is the minimum, RIGHT the maximum
        self.timer = None


def block(client, info: Blocked, timeout_ms: int) -> bytes:
    """Park the client; returns b'' (no reply yet)."""
    db = info.db
    for key in info.keys:
        q = db.blocked.get(key)
        if q is None:
            q = db.blocked[key] = deque()
        if client not in q:
            q.append(client)
    if timeout_ms > 0:
        deadline = time.monotonic() + timeout_ms / 1000.0
        info.timer = client.state.loop.call_later(timeout_ms / 1000.0, _timed_out, client, deadline)
    client.set_blocked(info)
    return b""


def _timed_out(client, deadline: float) -> None:
    info = client.blocked
    if info is None:
        return
    left = deadline - time.monotonic()
    if left > 0:
        # uvloop runs timers off a loop time it caches once per iteration, so
        # one can fire up to a millisecond early: never time a client out early.
        info.timer = client.state.loop.call_later(left, _timed_out, client, deadline)
        return
    unblock(client)
    client.unblocked(NULL_ARRAY)


def unblock(client) -> None:
    """Remove the client from every wait queue (served, timed out, gone)."""
    info = client.blocked
    if info is None:
        return
    if info.timer is not None:
        info.timer.cancel()
    db = info.db
    for key in info.keys:
        q = db.blocked.get(key)
        if q is not None:
            try:
                q.remove(client)
            except ValueError:
                pass
            if not q:
                del db.blocked[key]
    client.blocked = None


def zpop_one(db, key: bytes, z: ZSet, from_max: bool) -> bytes:
    """Pop one member of a non-empty sorted set: the BZPOPMIN/BZPOPMAX reply."""
    score, member = z.order.pop() if from_max else z.order.pop(0)
    del z.scores[member]
    db.remove_if_empty(key, z)
    db.touch(key)
    return b"*3\r\n" + bulk(key) + bulk(member) + bulk(format_score(score))


def push_end(lst: deque, where: int, value: bytes) -> None:
    if where == LEFT:
        lst.appendleft(value)
    else:
        lst.append(value)


def serve_ready(state) -> None:
    ready = state.ready_keys
    while ready:
        db, key = ready.pop(0)
        state.ready_set.discard((db.index, key))
        waiters = db.blocked.get(key)
        while waiters:
            lst = db.lookup(key)
            client = waiters[0]
            info = client.blocked
            if info.zpop:
                if lst is None or lst.__class__ is not ZSet:
                    break
                unblock(client)
                client.unblocked(zpop_one(db, key, lst, info.where == RIGHT))
                continue
            if lst is None or lst.__class__ is not deque:
                break  # wrong type or gone: waiters stay blocked (as Redis)
            value = lst.popleft() if info.where == LEFT else lst.pop()
            if info.move:
                dst = db.lookup(info.dest)
                if dst is not None and dst.__class__ is not deque:
                    push_end(lst, info.where, value)  # undo, as Redis does
                    unblock(client)
                    client.unblocked(error(WRONGTYPE))
                    continue
                if dst is lst:  # rotation on the same key
                    push_end(lst, info.dest_where, value)
                    db.touch(key)
                    unblock(client)
                    client.unblocked(bulk(value))
                    continue
                if not lst:
                    db.remove_if_empty(key, lst)
                db.touch(key)
                if dst is None:
                    dst = deque()
                    push_end(dst, info.dest_where, value)
                    db.add(info.dest, dst)
                else:
                    push_end(dst, info.dest_where, value)
                    db.touch(info.dest)
                reply = bulk(value)
            else:
                if not lst:
                    db.remove_if_empty(key, lst)
                db.touch(key)
                reply = b"*2\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(key), key, len(value), value)
            unblock(client)
            client.unblocked(reply)
