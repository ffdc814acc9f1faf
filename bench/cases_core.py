"""The core cases: sequential, pipelined, threaded, futures, and peak memory.

Every load runs against the run's one redis-server, with the database flushed
(untimed) before each client's load, and clients in an order rotated per
repetition. Each load checks its result (field counts, a reply) after the
clock stops, so a broken client cannot post a fast time.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

from harness import LOWER, Context, Target, case, run_threads

RB_KEYSPACE = 100_000  # redis-benchmark -r: __rand_int__ in 0..99,999


def _warm(load, *args) -> None:
    """Run a load once, untimed, at a small size, so first-use costs stay out of the timings."""
    load(*args)


def _expect(what: str, got, want) -> None:
    if got != want:
        raise AssertionError(f"{what}: expected {want!r}, got {got!r}")


# -- 1. sequential -------------------------------------------------------------


@case(
    "seq", "Sequential, one client: N HSET then N HGET (N = 20,000)", order=10,
    targets=[Target("cpipe hset/hget", "redis-py", at_least=2.5),
             Target("cpipe hset/hget", "credis", at_least=1.3)],
    description=(
        "One connection, one command at a time: `hset(key, i, i)` for i < N, then `hget(key, i)`. "
        "Rate = 2N / (time of both loops). cpipe through its command methods (`Client.hset`/`hget`, "
        "the target) and through the raw `call('HSET', ...)`; redis-py `Redis(protocol=2)` with "
        "hiredis; credis `Connection.execute`. redis-benchmark with one client and no pipelining is "
        "the floor of what the server and loopback allow (info)."),
)
def seq(ctx: Context) -> None:
    n = ctx.count(20_000)
    key = "bench:seq"
    cp, r, cr = ctx.cpipe_client(), ctx.redis_py(), ctx.credis()

    def loops(hset, hget):
        def run(count=n):
            for i in range(count):
                hset(key, i, i)
            for i in range(count):
                hget(key, i)
        return run

    def call_hset(k, f, v, call=cp.call):
        return call("HSET", k, f, v)

    def call_hget(k, f, call=cp.call):
        return call("HGET", k, f)

    def credis_hset(k, f, v, ex=cr.execute):
        return ex("HSET", k, f, v)

    def credis_hget(k, f, ex=cr.execute):
        return ex("HGET", k, f)

    # The raw paths get one Python function per command on top of the
    # primitive, as a caller would write them.
    loads = [
        ("cpipe hset/hget", loops(cp.hset, cp.hget)),
        ("cpipe call()", loops(call_hset, call_hget)),
        ("redis-py", loops(r.hset, r.hget)),
        ("credis", loops(credis_hset, credis_hget)),
    ]
    for label, run in loads:  # warm-up, untimed: first use of each client and code path
        _warm(run, min(n, 500))
    for label, run in ctx.rotate(loads):
        ctx.flushall()
        ctx.record_rate(label, 2 * n, run)
        with ctx.admin() as a:
            _expect(f"{label}: HLEN", a.hlen(key), n)
    ctx.flushall()
    ctx.record_benchmark("redis-benchmark -c 1 -P 1 HSET", "-c", "1", "-P", "1", "-r", str(RB_KEYSPACE),
                         "HSET", "myhash", "__rand_int__", "__rand_int__", n=2 * n, info=True)


# -- 2. pipelined HSET -----------------------------------------------------------


def _pipeline_loads(ctx: Context, n: int, batch: int, key: str, write: bool) -> list:
    """(label, load) for cpipe, redis-py and credis: n HSET (write) or HGET in pipelines of `batch`."""
    cp, r, cr = ctx.cpipe_client(), ctx.redis_py(), ctx.credis()

    def cpipe_load(n=n):
        for s in range(0, n, batch):
            p = cp.pipeline()
            if write:
                for i in range(s, min(n, s + batch)):
                    p.hset(key, i, i)
            else:
                for i in range(s, min(n, s + batch)):
                    p.hget(key, i)
            out = p.execute()
        return out

    def redis_py_load(n=n):
        for s in range(0, n, batch):
            p = r.pipeline(transaction=False)
            if write:
                for i in range(s, min(n, s + batch)):
                    p.hset(key, i, i)
            else:
                for i in range(s, min(n, s + batch)):
                    p.hget(key, i)
            out = p.execute()
        return out

    def credis_load(n=n):
        cmd = "HSET" if write else "HGET"
        for s in range(0, n, batch):
            if write:
                out = cr.execute_pipeline(*[(cmd, key, i, i) for i in range(s, min(n, s + batch))])
            else:
                out = cr.execute_pipeline(*[(cmd, key, i) for i in range(s, min(n, s + batch))])
        return out

    loads = [("cpipe pipeline", cpipe_load), ("redis-py pipeline", redis_py_load), ("credis pipeline", credis_load)]
    for _, load in loads:  # warm-up, untimed (1,000 commands each)
        _warm(load, min(n, 1_000))
    return loads


@case(
    "pipe_hset", "Pipelined HSET: 200,000 in pipelines of 10,000", order=20,
    targets=[Target("cpipe pipeline", "redis-py pipeline", at_least=5),
             Target("cpipe pipeline", "credis pipeline", at_least=2),
             Target("cpipe pipeline", "redis-benchmark -c 1 -P 1000", at_least=0.6)],
    description=(
        "200,000 distinct fields of one hash, `pipeline().hset(key, i, i)` ×10,000 then `execute()`, "
        "20 times; the time includes building each pipeline in Python. cpipe `client.pipeline()`; "
        "redis-py `pipeline(transaction=False)`; credis `execute_pipeline(*cmds)`. The anchor is "
        "redis-benchmark with ONE client pipelining 1,000 (`-c 1 -P 1000`), over random fields "
        "`-r 100000`; `-c 50 -P 1000` (50 connections) is shown for context."),
)
def pipe_hset(ctx: Context) -> None:
    n, batch, key = ctx.count(200_000), 10_000, "bench:pipe"
    batch = min(batch, n)
    for label, load in ctx.rotate(_pipeline_loads(ctx, n, batch, key, write=True)):
        ctx.flushall()
        ctx.record_rate(label, n, load)
        with ctx.admin() as a:
            _expect(f"{label}: HLEN", a.hlen(key), n)
    for clients, info in (("1", False), ("50", True)):
        ctx.flushall()
        ctx.record_benchmark(f"redis-benchmark -c {clients} -P 1000", "-c", clients, "-P", "1000",
                             "-r", str(RB_KEYSPACE), "HSET", "myhash", "__rand_int__", "__rand_int__", n=n, info=info)


# -- 3. pipelined HGET -----------------------------------------------------------


def _hget_setup(ctx: Context) -> dict:
    n = ctx.count(200_000)
    key = "bench:hget"
    ctx.flushall()
    with ctx.admin() as a:
        for s in range(0, n, 10_000):
            p = a.pipeline(transaction=False)
            for i in range(s, min(n, s + 10_000)):
                p.hset(key, i, i)
            p.execute()
        _expect("HLEN after setup", a.hlen(key), n)
    # Fields for redis-benchmark's HGET: the same __rand_int__ names it will ask for.
    ctx.redis_benchmark("-c", "1", "-P", "1000", "-r", str(RB_KEYSPACE), "HSET", "myhash", "__rand_int__",
                        "__rand_int__", n=4 * RB_KEYSPACE)
    return {"n": n, "key": key}


@case(
    "pipe_hget", "Pipelined HGET: 200,000 existing fields in pipelines of 10,000", order=30,
    setup=_hget_setup,
    targets=[Target("cpipe pipeline", "redis-py pipeline", at_least=5),
             Target("cpipe pipeline", "credis pipeline", at_least=1.5)],
    description=(
        "The hash is filled once (200,000 fields, untimed); each client then reads every field with "
        "`pipeline().hget(key, i)` in pipelines of 10,000 (credis: `execute_pipeline`). redis-benchmark "
        "`-c 1 -P 1000 HGET` over a hash it filled with its own random field names (~98% hits) is "
        "for context."),
)
def pipe_hget(ctx: Context) -> None:
    n, key = ctx.state["n"], ctx.state["key"]
    batch = min(10_000, n)
    for label, load in ctx.rotate(_pipeline_loads(ctx, n, batch, key, write=False)):
        replies = []
        ctx.record_rate(label, n, lambda: replies.append(load()))
        last = replies[0][-1]
        _expect(f"{label}: last reply", last if isinstance(last, bytes) else str(last).encode(), str(n - 1).encode())
    ctx.record_benchmark("redis-benchmark -c 1 -P 1000 HGET", "-c", "1", "-P", "1000", "-r", str(RB_KEYSPACE),
                         "HGET", "myhash", "__rand_int__", n=n, info=True)


# -- 4. threads, single commands -------------------------------------------------------


@case(
    "threads", "8 Python threads × 10,000 single HSETs through one pool of 8", order=40,
    targets=[Target("cpipe Pool(8)", "redis-py ConnectionPool(8)", at_least=8)],
    description=(
        "8 threads started together, each `hset(f'bench:thr:{k}', i, i)` for i < 10,000, one command "
        "at a time. cpipe: one `cpipe.Pool(size=8)` (autopipelined: concurrent commands share writes); "
        "redis-py: one `Redis(connection_pool=ConnectionPool(max_connections=8))` shared by the threads. "
        "redis-benchmark with 8 clients and no pipelining is for context."),
)
def threads(ctx: Context) -> None:
    nthreads, per = 8, ctx.count(10_000)
    pool = ctx.cpipe_pool(8)
    import redis

    r = redis.Redis(connection_pool=ctx.redis_py_pool(8))
    pool.ping(), r.ping()

    def loads():
        def cpipe_worker(k, count=per):
            hset, name = pool.hset, f"bench:thr:{k}"
            for i in range(count):
                hset(name, i, i)

        def redis_worker(k, count=per):
            hset, name = r.hset, f"bench:thr:{k}"
            for i in range(count):
                hset(name, i, i)

        return [("cpipe Pool(8)", cpipe_worker), ("redis-py ConnectionPool(8)", redis_worker)]

    for label, worker in loads():  # warm-up, untimed: every connection in use once
        run_threads(nthreads, lambda k, w=worker: w(k, min(per, 200)), ctx.remaining())
    for label, worker in ctx.rotate(loads()):
        ctx.flushall()
        with ctx.meter() as m:
            elapsed = run_threads(nthreads, worker, ctx.remaining())
        ctx.record(label, nthreads * per / elapsed, cpu=m.per_op(nthreads * per))
        with ctx.admin() as a:
            _expect(f"{label}: fields written", sum(a.hlen(f"bench:thr:{k}") for k in range(nthreads)), nthreads * per)
    ctx.flushall()
    ctx.record_benchmark("redis-benchmark -c 8 -P 1 HSET", "-c", "8", "-P", "1", "-r", str(RB_KEYSPACE),
                         "HSET", "myhash", "__rand_int__", "__rand_int__", n=nthreads * per, info=True)


# -- 5. futures ------------------------------------------------------------------------


@case(
    "phset", "200,000 phset futures through Pool(size=10), then flush()", order=50,
    targets=[Target("cpipe phset+flush", "credis pipeline", at_least=2),
             Target("cpipe phset+flush", "redis-benchmark -c 10 -P 100", at_least=0.6)],
    description=(
        "`[pool.phset(key, i, i) for i in range(200_000)]` then `pool.flush()` on a `cpipe.Pool(size=10)` "
        "opened beforehand; the futures are kept until the clock stops. Compared with credis pipelining "
        "the same 200,000 HSETs in batches of 10,000 (measured here, same repetition) and with "
        "redis-benchmark, 10 clients pipelining 100 each."),
)
def phset(ctx: Context) -> None:
    n, key = ctx.count(200_000), "bench:phset"
    pool = ctx.cpipe_pool(10)
    pool.ping()
    credis_load = dict(_pipeline_loads(ctx, n, min(10_000, n), key, write=True))["credis pipeline"]
    kept = []

    def cpipe_load(n=n):
        ph = pool.phset
        futs = [ph(key, i, i) for i in range(n)]
        if not pool.flush(ctx.remaining()):
            raise TimeoutError("flush() timed out")
        kept.append(futs)

    _warm(cpipe_load, min(n, 1_000))  # untimed: the completion thread and every connection started
    kept.clear()

    for label, load in ctx.rotate([("cpipe phset+flush", cpipe_load), ("credis pipeline", credis_load)]):
        ctx.flushall()
        ctx.record_rate(label, n, load)
        with ctx.admin() as a:
            _expect(f"{label}: HLEN", a.hlen(key), n)
    _expect("phset: fields added", sum(f.result() for f in kept[0]), n)
    kept.clear()
    ctx.flushall()
    ctx.record_benchmark("redis-benchmark -c 10 -P 100", "-c", "10", "-P", "100", "-r", str(RB_KEYSPACE),
                         "HSET", "myhash", "__rand_int__", "__rand_int__", n=n)


# -- 6. peak memory ------------------------------------------------------------------------

_RSS_SCRIPT = r"""
import json, resource, sys
which, host, port, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])

def rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB

if which == "cpipe":
    import cpipe
    c = cpipe.Client(host=host, port=port)
    c.ping()
    before = rss_mb()
    p = c.pipeline()
    for i in range(n):
        p.set("k", "v")
    replies = p.execute()
elif which == "redis-py":
    import redis
    c = redis.Redis(host=host, port=port, protocol=2)
    c.ping()
    before = rss_mb()
    p = c.pipeline(transaction=False)
    for i in range(n):
        p.set("k", "v")
    replies = p.execute()
elif which == "credis":
    import credis
    c = credis.Connection(host=host, port=port)
    c.execute("PING")
    before = rss_mb()
    replies = c.execute_pipeline(*[("SET", "k", "v") for i in range(n)])
else:
    raise SystemExit("unknown client " + which)
after = rss_mb()
assert len(replies) == n, len(replies)
print(json.dumps({"before": before, "after": after}))
"""


@case(
    "rss", "Peak RSS of one 1,000,000-command pipeline (SET k v), fresh process", order=60,
    description=(
        "A fresh `python -c` process per client connects and pings, reads `ru_maxrss` (before), builds "
        "one pipeline of 1,000,000 `SET k v`, executes it and reads `ru_maxrss` again (peak after). "
        "cpipe's figure includes the Go runtime's heap (the engine is in-process). Lower is better; no "
        "target, credis for context."),
)
def rss(ctx: Context) -> None:
    import cpipe

    n = ctx.count(1_000_000)
    env = dict(os.environ)
    cpipe_root = os.path.dirname(os.path.dirname(os.path.abspath(cpipe.__file__)))
    env["PYTHONPATH"] = os.pathsep.join([cpipe_root, *filter(None, [env.get("PYTHONPATH")])])
    for who, info in ctx.rotate([("cpipe", False), ("redis-py", False), ("credis", True)]):
        # Linux carries ru_maxrss across execve from the forking process (here
        # the harness, ~100 MB by now), so the client process is forked by a
        # small shell instead; the `; exit` keeps sh from exec'ing it directly.
        out = subprocess.run(["/bin/sh", "-c", '"$@"; exit $?', "sh",
                              sys.executable, "-c", _RSS_SCRIPT, who, ctx.host, str(ctx.port), str(n)],
                             capture_output=True, text=True, env=env, timeout=ctx.remaining())
        if out.returncode != 0:
            raise RuntimeError(f"{who} RSS run failed: {out.stderr.strip()[-400:]}")
        m = json.loads(out.stdout.strip().splitlines()[-1])
        ctx.record(f"{who} RSS before", m["before"], unit="MB", better=LOWER, info=True)
        ctx.record(f"{who} RSS peak after", m["after"], unit="MB", better=LOWER, info=info)
        ctx.record(f"{who} RSS growth", m["after"] - m["before"], unit="MB", better=LOWER, info=info)
    ctx.note(f"`python -c <script> CLIENT 127.0.0.1 PORT {n}` per client; the script is `_RSS_SCRIPT` "
             "in bench/cases_core.py")
