"""A multi-process task queue on a Redis stream and a consumer group, with cpipe.

    python examples/task_queue.py                    # starts its own server
    python examples/task_queue.py --port 6379 --tasks 1000 --workers 4

How it works (the keys are under --prefix, "tq:" by default):

* The producer process XADDs one entry per task, {"task": i, "n": n}, to the
  stream tq:tasks, then sets tq:total to the number of tasks.
* Each worker process opens its own client (after the spawn: a Go engine
  does not survive fork) and loops: first XAUTOCLAIM, taking over entries that
  another consumer read but has not acknowledged for CLAIM_IDLE_MS (it
  crashed, or is too slow); if there are none, XREADGROUP ... BLOCK for new
  entries, which the group hands to one consumer each.
* A task's result is committed by a small Lua script that XACKs the entry and,
  only if that XACK acknowledged it (returned 1), stores the result and counts
  the commit in tq:effects. The first consumer to commit wins; a consumer that
  finishes a task someone else already committed (it was slow, its entry was
  reclaimed and done again) has its result discarded. So every task's effect
  happens exactly once, while its execution is at-least-once (tq:runs counts
  executions).
* Workers stop once tq:results holds every task; each has a deadline too.

To show reclaiming, worker 0 "crashes" (os._exit, no acknowledgement) in the
middle of its --crash-after'th task, leaving the rest of its batch pending,
and worker 1 stalls once, in its SLOW_AT'th task, for 3 x CLAIM_IDLE_MS
(unless --no-slow), so its entries are reclaimed while it still works on them.

The main process checks the outcome (every task committed exactly once with
the right result, nothing left pending) and exits 1 if anything is off;
--json prints the summary as one JSON line.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import time
from typing import Any

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")

GROUP = "workers"
BATCH = 5            # entries per XREADGROUP / XAUTOCLAIM
BLOCK_MS = 200       # how long XREADGROUP waits for new entries
CLAIM_IDLE_MS = 500  # a pending entry idle this long is taken over
CRASH_EXIT_CODE = 3
SLOW_AT = 3          # worker 1 stalls in its third task

# KEYS: stream, results, effects; ARGV: group, entry id, task, result.
COMMIT = """
if redis.call('XACK', KEYS[1], ARGV[1], ARGV[2]) == 1 then
    redis.call('HSET', KEYS[2], ARGV[3], ARGV[4])
    redis.call('HINCRBY', KEYS[3], ARGV[3], 1)
    return 1
end
return 0
"""


def task_size(i: int) -> int:
    return 1000 + (i * 37) % 5000


def compute(n: int) -> int:
    """The work: a sum of squares, big enough to take a little CPU."""
    return sum(k * k for k in range(n)) % 1_000_000_007


def connect(client_kind: str, port: int) -> Any:
    if client_kind == "redis-py":  # the same code on redis-py, for comparison
        import redis

        return redis.Redis(host="127.0.0.1", port=port)
    import cpipe

    return cpipe.Redis(host="127.0.0.1", port=port, socket_timeout=10)


class Keys:
    def __init__(self, prefix: str) -> None:
        self.stream = prefix + "tasks"
        self.total = prefix + "total"
        self.results = prefix + "results"
        self.effects = prefix + "effects"      # task -> commits (must be 1)
        self.runs = prefix + "runs"            # task -> executions (>= 1)
        self.by_worker = prefix + "by-worker"  # consumer -> tasks committed
        self.stats = prefix + "stats"          # reclaimed, discarded


def produce(client_kind: str, port: int, prefix: str, tasks: int, ready: Any, deadline: float) -> None:
    keys = Keys(prefix)
    r = connect(client_kind, port)
    ready.wait(max(0.0, deadline - time.time()))  # every worker is up: each gets a share
    with r.pipeline(transaction=False) as p:
        for i in range(tasks):
            p.xadd(keys.stream, {"task": i, "n": task_size(i)})
            if i % 100 == 99:
                p.execute()
        p.set(keys.total, tasks)
        p.execute()
    r.close()


def work(client_kind: str, port: int, prefix: str, index: int, crash_after: int,
         slow_once: bool, ready: Any, deadline: float) -> None:
    keys = Keys(prefix)
    me = f"worker-{index}"
    r = connect(client_kind, port)
    commit = r.register_script(COMMIT)
    r.ping()
    ready.wait(max(0.0, deadline - time.time()))
    done = 0
    while time.time() < deadline:
        total = r.get(keys.total)
        if total is not None and r.hlen(keys.results) >= int(total):
            break
        # Entries abandoned by a crashed or stalled consumer come first.
        reply = r.xautoclaim(keys.stream, GROUP, me, min_idle_time=CLAIM_IDLE_MS,
                             start_id="0-0", count=BATCH)
        entries = reply[1]
        if entries:
            r.hincrby(keys.stats, "reclaimed", len(entries))
        else:
            streams = r.xreadgroup(GROUP, me, {keys.stream: ">"}, count=BATCH, block=BLOCK_MS)
            entries = streams[0][1] if streams else []
        for entry_id, fields in entries:
            task, n = int(fields[b"task"]), int(fields[b"n"])
            r.hincrby(keys.runs, task, 1)
            result = compute(n)
            if crash_after and done + 1 == crash_after:
                os._exit(CRASH_EXIT_CODE)  # mid-task: this batch stays pending
            if slow_once and done + 1 == SLOW_AT:
                slow_once = False
                time.sleep(3 * CLAIM_IDLE_MS / 1000)
            if commit(keys=[keys.stream, keys.results, keys.effects],
                      args=[GROUP, entry_id, task, result]):
                r.hincrby(keys.by_worker, me, 1)
            else:
                r.hincrby(keys.stats, "discarded", 1)
            done += 1
    r.close()


def check(r: Any, prefix: str, tasks: int) -> dict:
    """What happened, from the server's keys, and what is wrong with it."""
    keys = Keys(prefix)
    results = {int(k): int(v) for k, v in r.hgetall(keys.results).items()}
    effects = {int(k): int(v) for k, v in r.hgetall(keys.effects).items()}
    runs = {int(k): int(v) for k, v in r.hgetall(keys.runs).items()}
    stats = {k.decode(): int(v) for k, v in r.hgetall(keys.stats).items()}
    problems = []
    wrong = [i for i in range(tasks) if results.get(i) != compute(task_size(i))]
    if wrong:
        problems.append(f"{len(wrong)} tasks missing or wrong, e.g. {wrong[:5]}")
    not_once = {i: c for i, c in effects.items() if c != 1}
    if not_once or len(effects) != tasks:
        problems.append(f"tasks not committed exactly once: {dict(list(not_once.items())[:5])}")
    pending = r.xpending(keys.stream, GROUP)["pending"]
    if pending:
        problems.append(f"{pending} entries still pending")
    return {
        "tasks": tasks,
        "committed": len(effects),
        "executions": sum(runs.values()),
        "re_executed": sorted(i for i, c in runs.items() if c > 1),
        "reclaimed": stats.get("reclaimed", 0),
        "discarded": stats.get("discarded", 0),
        "by_worker": {k.decode(): int(v) for k, v in sorted(r.hgetall(keys.by_worker).items())},
        "pending": pending,
        "problems": problems,
    }


def run(port: int, tasks: int, workers: int, client_kind: str = "cpipe", prefix: str = "tq:",
        crash_after: int = 3, slow_once: bool = True, timeout: float = 60.0) -> dict:
    """Producer and workers as spawned processes; returns check()'s summary."""
    r = connect(client_kind, port)
    r.delete(*[getattr(Keys(prefix), k) for k in vars(Keys(prefix))])
    r.xgroup_create(Keys(prefix).stream, GROUP, id="0", mkstream=True)
    ctx = multiprocessing.get_context("spawn")
    deadline = time.time() + timeout
    started = time.perf_counter()
    # Tasks start once every process is up: on a busy machine a worker that
    # spawned late could otherwise find the queue already drained.
    ready = ctx.Barrier(workers + 1)
    procs = [ctx.Process(target=produce, args=(client_kind, port, prefix, tasks, ready, deadline),
                         name="producer")]
    for i in range(workers):
        procs.append(ctx.Process(
            target=work, name=f"worker-{i}",
            args=(client_kind, port, prefix, i, crash_after if i == 0 else 0,
                  slow_once and i == 1 and workers > 2, ready, deadline)))
    for p in procs:
        p.start()
    for p in procs:
        p.join(max(1.0, deadline - time.time() + 5))
    exits = {}
    for p in procs:
        if p.is_alive():
            p.kill()
            p.join()
        exits[p.name] = p.exitcode
    summary = check(r, prefix, tasks)
    r.close()
    summary["seconds"] = round(time.perf_counter() - started, 2)
    summary["exit_codes"] = exits
    expected = {name: 0 for name in exits}
    if crash_after:
        expected["worker-0"] = CRASH_EXIT_CODE
    if exits != expected:
        summary["problems"].append(f"exit codes {exits}, expected {expected}")
    # Every execution ended in a commit, a discarded result or the crash.
    accounted = tasks + summary["discarded"] + (1 if crash_after else 0)
    if summary["executions"] != accounted:
        summary["problems"].append(f"{summary['executions']} executions, expected {accounted}")
    return summary


def main(argv: list | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, help="a server on 127.0.0.1 (default: start one)")
    ap.add_argument("--tasks", type=int, default=500)
    ap.add_argument("--workers", type=int, default=3, help="worker processes (>= 2)")
    ap.add_argument("--client", choices=["cpipe", "redis-py"], default="cpipe")
    ap.add_argument("--prefix", default="tq:")
    ap.add_argument("--crash-after", type=int, default=3,
                    help="worker 0 dies during its Nth task (0: never)")
    ap.add_argument("--no-slow", action="store_true", help="worker 1 does not stall")
    ap.add_argument("--timeout", type=float, default=60.0)
    ap.add_argument("--json", action="store_true", help="print the summary as one JSON line")
    args = ap.parse_args(argv)
    if args.workers < 2:
        ap.error("--workers must be at least 2: someone has to reclaim worker 0's tasks")
    if args.tasks < 1:
        ap.error("--tasks must be at least 1")

    server = None
    port = args.port
    if port is None:
        sys.path.insert(0, ROOT)
        from tests._servers import start_real_server

        server = start_real_server()
        port = server.port
    try:
        summary = run(port, args.tasks, args.workers, args.client, args.prefix,
                      args.crash_after, not args.no_slow, args.timeout)
    finally:
        if server:
            server.stop()
    if args.json:
        print(json.dumps(summary))
    else:
        for key, value in summary.items():
            print(f"{key:>12}: {value}")
    return 1 if summary["problems"] else 0


if __name__ == "__main__":
    sys.exit(main())
