"""1,000,000 commands through one bulk: every one acknowledged, the server
has them all, memory stayed bounded. Bounded in count and in time (a
watchdog ends the run after 300 s; no duration is asserted)."""
from __future__ import annotations

import faulthandler


def test_one_million_hset(r):
    faulthandler.dump_traceback_later(300, exit=True)
    try:
        with r.bulk(max_pending_bytes=4 << 20) as b:
            hset = b.hset
            for i in range(1_000_000):
                hset(f"m:{i % 1000}", i, i)
    finally:
        faulthandler.cancel_dump_traceback_later()
    assert (b.queued, b.sent, b.acknowledged, b.error_count) == (1_000_000, 1_000_000, 1_000_000, 0)
    assert b.peak_pending_bytes <= 4 << 20
    assert r.dbsize() == 1000
    assert sum(r.hlen(f"m:{k}") for k in range(1000)) == 1_000_000
    assert r.hget("m:999", 999_999) == b"999999"
