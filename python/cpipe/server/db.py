"""One logical database: keys, values, expiry times, and change signals.

Values are plain Python objects and their class is the Redis type:
bytes = string, dict = hash, deque = list, set = set, ZSet = sorted set.
No wrapper object per key keeps GET/SET cheap.

Expiry: `expires` maps key -> absolute unix time in ms. A key is expired
when now > expire time (Redis keyIsExpired). Every read goes through
`lookup`, which deletes an expired key before answering (lazy expiry); the
server also sweeps periodically (`sweep`), so nobody ever sees a key past
its time, to the millisecond.
"""
from __future__ import annotations

import random
import time
from collections import deque

from .resp import CommandError, WRONGTYPE
from .zset import ZSet

TYPE_NAMES = {bytes: b"string", dict: b"hash", deque: b"list", set: b"set", ZSet: b"zset"}


def now_ms() -> int:
    return int(time.time() * 1000)


class Db:
    __slots__ = ("index", "data", "expires", "watched", "blocked", "state", "tracking")

    def __init__(self, index: int, state):
        self.index = index
        self.data = {}
        self.expires = {}
        # key -> list of clients WATCHing it (see transactions)
        self.watched = {}
        # key -> deque of clients blocked on it (see blocking)
        self.blocked = {}
        self.state = state
        # the server's TrackingTable: a change to a key may invalidate
        # client-side caches (its `on` is False while nobody tracks)
        self.tracking = state.tracking

    # -- reading --------------------------------------------------------
    def lookup(self, key):
        """Value of key or None, expiring it first if its time has passed."""
        v = self.data.get(key)
        if v is not None and self.expires and key in self.expires:
            if now_ms() > self.expires[key]:
                self.expire_now(key)
                return None
        return v

    def lookup_type(self, key, cls):
        """Value if it is of class cls, None if missing, else WRONGTYPE."""
        v = self.data.get(key)
        if v is None:
            return None
        if self.expires and key in self.expires and now_ms() > self.expires[key]:
            self.expire_now(key)
            return None
        if v.__class__ is not cls:
            raise CommandError(WRONGTYPE)
        return v

    def exists(self, key) -> bool:
        return self.lookup(key) is not None

    def is_expired(self, key) -> bool:
        """Logically expired but still stored (WATCH needs this distinction)."""
        t = self.expires.get(key)
        return t is not None and key in self.data and now_ms() > t

    def expire_now(self, key) -> None:
        del self.data[key]
        del self.expires[key]
        self.touch(key, expiry=True)

    # -- writing --------------------------------------------------------
    def set(self, key, value, keep_ttl: bool = False) -> None:
        """Store a value, dropping any TTL unless keep_ttl."""
        self.data[key] = value
        if not keep_ttl and self.expires:
            self.expires.pop(key, None)
        if self.watched or self.tracking.on:
            self.touch(key)
        if self.blocked and key in self.blocked:
            self.state.signal_ready(self, key)

    def add(self, key, value) -> None:
        """Store a new value for a key known to be absent (no TTL to drop)."""
        self.data[key] = value
        if self.watched or self.tracking.on:
            self.touch(key)
        if self.blocked and key in self.blocked:
            self.state.signal_ready(self, key)

    def delete(self, key) -> bool:
        """Remove key if present (not expired); True if it was removed."""
        if self.lookup(key) is None:
            return False
        del self.data[key]
        if self.expires:
            self.expires.pop(key, None)
        self.touch(key)
        return True

    def remove_if_empty(self, key, value) -> None:
        """Aggregates disappear when their last element goes, as in Redis."""
        if not value:
            del self.data[key]
            if self.expires:
                self.expires.pop(key, None)

    def touch(self, key, expiry: bool = False) -> None:
        """Tell WATCHers and client-side caches that key changed (Redis
        signalModifiedKey)."""
        if self.watched:
            clients = self.watched.get(key)
            if clients:
                for c in list(clients):
                    c.watch_touched(self, key)
        tracking = self.tracking
        if tracking.on:
            tracking.invalidate(key, self.state.current_client, expiry)

    def set_expire(self, key, when_ms: int) -> None:
        self.expires[key] = when_ms

    def flush(self) -> None:
        # WATCHers of keys that existed see a change (touchAllWatchedKeysInDb).
        # Caches hear of a flush once, from the FLUSHDB/FLUSHALL command.
        for key in list(self.watched):
            if key in self.data:
                for c in list(self.watched.get(key, ())):
                    c.watch_touched(self, key)
        self.data.clear()
        self.expires.clear()

    # -- misc -----------------------------------------------------------
    def random_key(self):
        while self.data:
            key = random.choice(list(self.data))
            if self.lookup(key) is not None:
                return key
        return None

    def sweep(self, sample: int) -> tuple:
        """Delete expired keys among a sample; returns (sampled, expired)."""
        exp = self.expires
        if not exp:
            return 0, 0
        keys = list(exp) if len(exp) <= sample else random.sample(list(exp), sample)
        now = now_ms()
        n = 0
        for k in keys:
            t = exp.get(k)
            if t is not None and now > t:
                self.expire_now(k)
                n += 1
        return len(keys), n
