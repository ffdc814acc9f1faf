"""examples/task_queue.py, run as a user would, against a real server.

The example checks itself; this test checks the server's keys again on its
own: every task committed exactly once with the right result, nothing left
pending, the crashed worker's and the stalled worker's entries reclaimed,
and every execution accounted for.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import redis

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
sys.path.insert(0, os.path.join(ROOT, "examples"))
import task_queue  # noqa: E402

TASKS = 300


@pytest.mark.parametrize("client_kind", ["cpipe", "redis-py"])
def test_every_task_is_committed_exactly_once(real_server, client_kind):
    prefix = f"tq-{client_kind}:"
    # The environment as it is: cpipe is whichever this test imports (the
    # installed package, or python/ on PYTHONPATH while developing).
    proc = subprocess.run(
        [sys.executable, os.path.join(ROOT, "examples", "task_queue.py"), "--port", str(real_server.port),
         "--tasks", str(TASKS), "--workers", "3", "--client", client_kind, "--prefix", prefix,
         "--timeout", "60", "--json"],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["problems"] == []
    assert summary["exit_codes"] == {"producer": 0, "worker-0": task_queue.CRASH_EXIT_CODE,
                                     "worker-1": 0, "worker-2": 0}

    r = redis.Redis(host="127.0.0.1", port=real_server.port, protocol=2)
    keys = task_queue.Keys(prefix)
    results = r.hgetall(keys.results)
    assert {int(k): int(v) for k, v in results.items()} == {
        i: task_queue.compute(task_queue.task_size(i)) for i in range(TASKS)}
    assert set(r.hvals(keys.effects)) == {b"1"} and r.hlen(keys.effects) == TASKS
    assert r.xpending(keys.stream, task_queue.GROUP)["pending"] == 0
    assert r.xlen(keys.stream) == TASKS
    # Worker 0 died holding the rest of its batch; worker 1 stalled past
    # CLAIM_IDLE_MS holding its batch: both were reclaimed, and worker 1's
    # late results were discarded.
    assert summary["reclaimed"] >= 2
    assert summary["discarded"] >= 1
    runs = {int(k): int(v) for k, v in r.hgetall(keys.runs).items()}
    assert sum(runs.values()) == TASKS + summary["discarded"] + 1  # + the crashed run
    assert sum(summary["by_worker"].values()) == TASKS
    r.close()
