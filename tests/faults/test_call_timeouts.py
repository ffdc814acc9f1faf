"""Issue 7, item 6: socket_timeout bounds each call on a shared client.

8 threads against a server that accepts and reads but never answers: every
call raises TimeoutError within socket_timeout (plus scheduling slack) of
its own start, however many calls are queued ahead of it. Before the fix,
on a Client the timeouts came one after another: 0.5, 1.0, ... 4 s.
"""
from __future__ import annotations

import threading
import time

import pytest

import cpipe
from tests.client._fake import FakeServer

TIMEOUT = 0.5
SLACK = 0.4  # scheduling on a loaded 2-core machine; the defect was +0.5 s per caller


def _silent(index, conn):
    conn.wait_eof()  # reads every request, answers none


@pytest.mark.parametrize("kind", ["client", "autopipelined", "pool"])
def test_every_queued_call_times_out_on_its_own_time(kind):
    with FakeServer(_silent) as srv:
        opts = dict(host="127.0.0.1", port=srv.port, socket_timeout=TIMEOUT)
        c = cpipe.Pool(size=2, **opts) if kind == "pool" else cpipe.Client(autopipeline=(kind == "autopipelined"), **opts)
        results: list = []
        lock = threading.Lock()

        def call(i: int) -> None:
            start = time.monotonic()
            try:
                c.call("GET", f"k{i}")
                outcome = "reply"
            except cpipe.TimeoutError:
                outcome = "timeout"
            except Exception as e:  # noqa: BLE001 - reported below
                outcome = repr(e)
            with lock:
                results.append((outcome, time.monotonic() - start))

        threads = [threading.Thread(target=call, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        c.close()
        assert [o for o, _ in results] == ["timeout"] * 8, results
        slowest = max(d for _, d in results)
        assert slowest < TIMEOUT + SLACK, f"slowest call timed out after {slowest:.2f}s: {results}"
