"""A memory loop over the bulk bridge paths (BulkWriter, its C hot methods,
errors, kept replies, send_raw, refused arguments): RSS must stay flat."""
from __future__ import annotations

import gc

import cpipe
from cpipe import _engine


def rss_kib() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def exercise(c: cpipe.Redis, rounds: int) -> None:
    raw = _engine.native().encode("SET", "mem:raw", "x" * 50) * 20
    for _ in range(rounds):
        with c.bulk(batch=50, raise_on_error=False) as b:
            for i in range(200):
                b.hset("mem:h", i, "v" * 30)
                b.lpush("mem:str", i)          # WRONGTYPE: kept with its args
            b.send_raw(raw)
            try:
                b.set("mem:k", None)
            except cpipe.DataError:
                pass
        assert b.error_count == 200
        with c.bulk(replies=True) as b:
            for i in range(100):
                b.get("mem:str")
                b.hgetall("mem:small")
        assert len(b.replies) == 200


def test_bulk_bridge_does_not_leak(r):
    r.set("mem:str", "v")
    r.hset("mem:small", mapping={"a": 1, "b": 2})
    exercise(r, 50)  # warm-up
    gc.collect()
    before = rss_kib()
    exercise(r, 1000)
    gc.collect()
    grown = rss_kib() - before
    # 1,000 rounds of ~1,000 commands, 200 errors and 200 replies each: a leak
    # of a buffer or an object per bulk, error or reply shows as megabytes.
    assert grown < 4 * 1024, f"RSS grew by {grown} KiB"
