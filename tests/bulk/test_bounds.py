"""The memory bound: unanswered commands and bytes never pass the limits;
the caller waits for replies instead (replies held back by the reference
server's DELAY fault, so the bound is surely reached)."""
from __future__ import annotations

import faulthandler

import cpipe


def _load(port, n, value, **options):
    c = cpipe.Redis(port=port, socket_timeout=30)
    c.flushall()
    most_unanswered = 0
    with c.bulk(**options) as b:
        b.execute_command("CPIPE.FAULT", "DELAY", 50)   # every reply of this connection held 50 ms
        for i in range(n):
            b.set(f"k{i}", value)
            if i % 50 == 0:
                most_unanswered = max(most_unanswered, b.queued - b.buffered - b.acknowledged)
                assert b.pending_bytes <= b.max_pending_bytes
    assert b.acknowledged == n + 1 and c.dbsize() == n
    c.close()
    return b, most_unanswered


def test_pending_commands_bounded(fault_server):
    faulthandler.dump_traceback_later(120, exit=True)  # a bounded load test
    try:
        b, most = _load(fault_server.port, 6000, "v", batch=100, max_pending=1000)
    finally:
        faulthandler.cancel_dump_traceback_later()
    assert most <= 1000          # never more unanswered than max_pending
    assert most >= 900           # ... and the bound was reached: the caller waited there


def test_pending_bytes_bounded(fault_server):
    faulthandler.dump_traceback_later(120, exit=True)
    try:
        b, _ = _load(fault_server.port, 3000, "x" * 1000, batch=1000, max_pending_bytes=64 << 10)
    finally:
        faulthandler.cancel_dump_traceback_later()
    # A batch is handed over at a quarter of the bound (batch_bytes), so up to four fit.
    assert b.batch_bytes == 16 << 10
    assert 48 << 10 < b.peak_pending_bytes <= 64 << 10
