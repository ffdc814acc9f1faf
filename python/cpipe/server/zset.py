"""Sorted set: member -> score dict plus a list kept sorted by (score, member).

Ranks need order, lookups need the dict. Insertion is O(n) (list insert),
which is fine for a test server and keeps the code short and obviously
right; Redis orders equal scores by member bytes, as tuples here do.
"""
from __future__ import annotations

from bisect import bisect_left, bisect_right, insort


#: Redis zset-max-listpack-entries / -value: below both a sorted set uses
#: the compact listpack encoding, whose only visible trait is that a score of
#: -0 is stored (and later read back) as 0.
LISTPACK_ENTRIES = 128
LISTPACK_VALUE = 64


class ZSet:
    __slots__ = ("scores", "order", "compact")

    def __init__(self, size_hint: int = 1, first_len: int = 0):
        self.scores = {}
        self.order = []  # sorted list of (score, member)
        # Redis zsetTypeCreate picks the encoding from these hints; once
        # converted to a skiplist it never goes back.
        self.compact = size_hint <= LISTPACK_ENTRIES and first_len <= LISTPACK_VALUE

    def __len__(self):
        return len(self.scores)

    def __bool__(self):
        return bool(self.scores)

    def add(self, member: bytes, score: float) -> None:
        old = self.scores.get(member)
        if self.compact:
            if (old is None and len(self.scores) + 1 > LISTPACK_ENTRIES) \
                    or len(member) > LISTPACK_VALUE:
                self.compact = False
            elif score == 0.0:
                score = 0.0  # listpack stores -0 as "0"
        if old is not None:
            if old == score:
                return
            del self.order[bisect_left(self.order, (old, member))]
        self.scores[member] = score
        insort(self.order, (score, member))

    def remove(self, member: bytes) -> bool:
        old = self.scores.pop(member, None)
        if old is None:
            return False
        del self.order[bisect_left(self.order, (old, member))]
        return True

    def rank(self, member: bytes):
        s = self.scores.get(member)
        if s is None:
            return None
        return bisect_left(self.order, (s, member))

    def score_range(self, lo: float, lo_excl: bool, hi: float, hi_excl: bool):
        """Index range [start, stop) of members with score within bounds."""
        order = self.order
        # (score,) sorts before every (score, member); (score, b'\xff'*...) is
        # not a safe upper sentinel, so compare on scores via a key list.
        start = _bisect_score(order, lo, not lo_excl)
        stop = _bisect_score(order, hi, hi_excl)
        return start, max(start, stop)

    def lex_range(self, lo, lo_incl, hi, hi_incl):
        """Index range for lexicographic bounds; lo/hi None mean -/+ inf."""
        order = self.order
        if lo is None:
            start = 0
        else:
            start = _bisect_member(order, lo, lo_incl)
        if hi is None:
            stop = len(order)
        else:
            stop = _bisect_member(order, hi, not hi_incl)
        return start, max(start, stop)

    def copy(self) -> "ZSet":
        z = ZSet()
        z.compact = self.compact
        z.scores = dict(self.scores)
        z.order = list(self.order)
        return z


def _bisect(order, value, field: int, left: bool) -> int:
    """First index whose entry's field (0: score, 1: member) is >= value
    (left) or > value (not left)."""
    lo, hi = 0, len(order)
    while lo < hi:
        mid = (lo + hi) // 2
        v = order[mid][field]
        if v < value or (not left and v == value):
            lo = mid + 1
        else:
            hi = mid
    return lo


def _bisect_score(order, score, left: bool) -> int:
    return _bisect(order, score, 0, left)


def _bisect_member(order, member, left: bool) -> int:
    """Only meaningful where the scores are equal."""
    return _bisect(order, member, 1, left)


__all__ = ["ZSet", "bisect_left", "bisect_right"]
