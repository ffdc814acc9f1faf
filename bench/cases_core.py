"""The core cases: sequential, pipelined, threaded, futures, and peak memory.

Every load runs against the run's one redis-server. Clients are warmed up
(untimed), then measured with Context.interleaved(): the load is cut in
chunks and the clients take turns chunk by chunk (each writing its own keys),
so bursts of outside load hit all of them alike; redis-benchmark runs half
before and half after. Each load checks its result (field counts, a reply)
after the clock stops, so a broken client cannot post a fast time.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

from harness import LOWER, Context, Target, case, expect, run_threads

RB_KEYSPACE = 100_000  # redis-benchmark -r: __rand_int__ in 0..99,999



# -- 1. sequential -------------------------------------------------------------


@case(
    "seq", "Sequential, one client: N HSET then N HGET (N = 20,000)", order=10,
    targets=[Target("cpipe hset/hget", "redis-py", at_least=2.5),
             Target("cpipe hset/hget", "credis", at_least=1.3),
             Target("cpipe hset/hget", "redis-benchmark -c 1 -P 1 HSET", at_least=0.9,
                    note="issue 11: no regression against the limit for a client that waits for each reply")],
    description=(
        "One connection, one command at a time: `hset(key, i, i)` for i < N, then `hget(key, i)` for "
        "i < N; rate = 2N / time. Each phase runs in chunks of 2,000 with the clients taking turns "
        "(paired measurement); each client has its own hash. cpipe through its command methods "
        "(`Client.hset`/`hget`, the target) and through the raw `call('HSET', ...)`; redis-py "
        "`Redis(protocol=2)` with hiredis; credis `Connection.execute`. redis-benchmark with one client "
        "and no pipelining (half before, half after the clients) is the ceiling for any client that "
        "waits for each reply (info)."),
)
def seq(ctx: Context) -> None:
    n, chunk = ctx.count(20_000), 2_000
    cp, r, cr = ctx.cpipe_client(), ctx.redis_py(), ctx.credis()
    call, ex = cp.call, cr.execute

    def call_hset(k, f, v):
        return call("HSET", k, f, v)

    def call_hget(k, f):
        return call("HGET", k, f)

    def credis_hset(k, f, v):
        return ex("HSET", k, f, v)

    def credis_hget(k, f):
        return ex("HGET", k, f)

    # The raw paths get one Python function per command on top of the
    # primitive, as a caller would write them.
    methods = [("cpipe hset/hget", cp.hset, cp.hget), ("cpipe call()", call_hset, call_hget),
               ("redis-py", r.hset, r.hget), ("credis", credis_hset, credis_hget)]

    def phase(write: bool, prefix: str) -> list:
        loads = []
        for label, hset, hget in methods:
            key = f"{prefix}{label}"
            if write:
                def load(a, b, hset=hset, key=key):
                    for i in range(a, b):
                        hset(key, i, i)
            else:
                def load(a, b, hget=hget, key=key):
                    for i in range(a, b):
                        hget(key, i)
            loads.append((label, load))
        return loads

    ctx.flushall()
    for write in (True, False):  # warm-up, untimed
        for _, load in phase(write, "bench:warm:"):
            load(0, min(n, 500))
    acc = ctx.interleaved()

    def clients():
        acc.run(phase(True, "bench:seq:"), n, chunk)
        acc.run(phase(False, "bench:seq:"), n, chunk)
        acc.record()

    ctx.record_benchmark("redis-benchmark -c 1 -P 1 HSET", "-c", "1", "-P", "1", "-r", str(RB_KEYSPACE),
                         "HSET", "myhash", "__rand_int__", "__rand_int__", n=2 * n, info=True, around=clients)
    with ctx.admin() as a:
        for label, _, _ in methods:
            expect(f"{label}: HLEN", a.hlen(f"bench:seq:{label}"), n)
            expect(f"{label}: last field", a.hget(f"bench:seq:{label}", n - 1), str(n - 1).encode())


# -- 2. and 3. pipelined HSET and HGET ---------------------------------------------------


def _pipeline_loads(ctx: Context, key, write: bool) -> list:
    """(label, load(start, stop)) for cpipe, redis-py and credis: one pipeline of HSET (write) or
    HGET fields start..stop-1 of key(label). Each load checks its last reply afterwards."""
    cp, r, cr = ctx.cpipe_client(), ctx.redis_py(), ctx.credis()

    def checked(label, last, stop):
        want = 1 if write else str(stop - 1).encode()

        def check():
            expect(f"{label}: last reply", last, want)
        return check

    def cpipe_load(a, b):
        k = key("cpipe pipeline")
        p = cp.pipeline(transaction=False)
        if write:
            for i in range(a, b):
                p.hset(k, i, i)
        else:
            for i in range(a, b):
                p.hget(k, i)
        return checked("cpipe", p.execute()[-1], b)

    def redis_py_load(a, b):
        k = key("redis-py pipeline")
        p = r.pipeline(transaction=False)
        if write:
            for i in range(a, b):
                p.hset(k, i, i)
        else:
            for i in range(a, b):
                p.hget(k, i)
        return checked("redis-py", p.execute()[-1], b)

    def credis_load(a, b):
        k = key("credis pipeline")
        if write:
            out = cr.execute_pipeline(*[("HSET", k, i, i) for i in range(a, b)])
        else:
            out = cr.execute_pipeline(*[("HGET", k, i) for i in range(a, b)])
        return checked("credis", out[-1], b)

    return [("cpipe pipeline", cpipe_load), ("redis-py pipeline", redis_py_load), ("credis pipeline", credis_load)]


@case(
    "pipe_hset", "Pipelined HSET: 200,000 in pipelines of 10,000", order=20,
    targets=[Target("cpipe pipeline", "redis-py pipeline", at_least=5),
             Target("cpipe pipeline", "credis pipeline", at_least=1.3, note="issue 11"),
             Target("cpipe pipeline", "redis-benchmark -c 1 -P 1000", at_least=0.7, note="issue 11")],
    description=(
        "200,000 distinct fields of a hash per client: `p = client.pipeline(transaction=False)`, `p.hset(key, i, i)` "
        "×10,000, `p.execute()`, 20 times, the clients taking turns pipeline by pipeline; the time "
        "includes building each pipeline in Python. cpipe and redis-py "
        "`pipeline(transaction=False)`; credis `execute_pipeline(*cmds)`. The anchor is redis-benchmark "
        "with ONE connection pipelining 1,000 (`-c 1 -P 1000`) over random fields (`-r 100000`), half "
        "run before and half after the clients; `-c 50 -P 1000` (50 connections) is for context."),
)
def pipe_hset(ctx: Context) -> None:
    n, batch = ctx.count(200_000), 10_000
    ctx.flushall()
    loads = _pipeline_loads(ctx, lambda label: f"bench:pipe:{label}", write=True)
    warm = _pipeline_loads(ctx, lambda label: f"bench:warm:{label}", write=True)
    for _, load in warm:  # warm-up, untimed
        load(0, min(n, 1_000))()
    acc = ctx.interleaved()
    ctx.record_benchmark("redis-benchmark -c 1 -P 1000", "-c", "1", "-P", "1000", "-r", str(RB_KEYSPACE),
                         "HSET", "myhash", "__rand_int__", "__rand_int__", n=n,
                         around=lambda: (acc.run(loads, n, batch), acc.record()))
    with ctx.admin() as a:
        for label, _ in loads:
            expect(f"{label}: HLEN", a.hlen(f"bench:pipe:{label}"), n)
    ctx.record_benchmark("redis-benchmark -c 50 -P 1000", "-c", "50", "-P", "1000", "-r", str(RB_KEYSPACE),
                         "HSET", "myhash", "__rand_int__", "__rand_int__", n=n, info=True)


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
        expect("HLEN after setup", a.hlen(key), n)
    # Fields for redis-benchmark's HGET: the same __rand_int__ names it will ask for.
    ctx.redis_benchmark("-c", "1", "-P", "1000", "-r", str(RB_KEYSPACE), "HSET", "myhash", "__rand_int__",
                        "__rand_int__", n=4 * RB_KEYSPACE)
    return {"n": n, "key": key}


@case(
    "pipe_hget", "Pipelined HGET: 200,000 existing fields in pipelines of 10,000", order=30,
    setup=_hget_setup,
    targets=[Target("cpipe pipeline", "redis-py pipeline", at_least=5),
             Target("cpipe pipeline", "credis pipeline", at_least=1.3, note="issue 11")],
    description=(
        "One hash is filled once (200,000 fields, untimed, by redis-py); each client then reads every "
        "field with `pipeline(transaction=False).hget(key, i)` in pipelines of 10,000 (credis: `execute_pipeline`), the "
        "clients taking turns pipeline by pipeline. redis-benchmark `-c 1 -P 1000 HGET` over a hash it "
        "filled first with its own random field names (~98% hits; the `-n 400000` HSET in the commands "
        "is that setup) is for context."),
)
def pipe_hget(ctx: Context) -> None:
    n, key = ctx.state["n"], ctx.state["key"]
    loads = _pipeline_loads(ctx, lambda label: key, write=False)
    for _, load in loads:  # warm-up, untimed
        load(0, min(n, 1_000))()
    acc = ctx.interleaved()
    ctx.record_benchmark("redis-benchmark -c 1 -P 1000 HGET", "-c", "1", "-P", "1000", "-r", str(RB_KEYSPACE),
                         "HGET", "myhash", "__rand_int__", n=n, info=True,
                         around=lambda: (acc.run(loads, n, 10_000), acc.record()))


# -- 4. threads, single commands -------------------------------------------------------


@case(
    "threads", "8 Python threads × 10,000 single HSETs through one pool of 8", order=40,
    targets=[Target("cpipe Pool(8)", "redis-py ConnectionPool(8)", at_least=8),
             Target("cpipe Pool(8)", "redis-benchmark -c 8 -P 1 HSET", at_least=0.8, note="issue 11")],
    description=(
        "8 threads started together, each `hset(f'bench:thr:{client}:{k}', i, i)` one command at a "
        "time, 10,000 per thread in 4 rounds of 2,500, the clients taking turns round by round. cpipe: "
        "one `cpipe.Pool(size=8)` (autopipelined: concurrent commands may share writes); redis-py: one "
        "`Redis(connection_pool=ConnectionPool(max_connections=8))` shared by the threads. "
        "redis-benchmark with 8 connections and no pipelining (bracketing the clients) is for context."),
)
def threads(ctx: Context) -> None:
    nthreads, per = 8, ctx.count(10_000)
    pool = ctx.cpipe_pool(8)
    import redis

    r = redis.Redis(connection_pool=ctx.redis_py_pool(8))
    pool.ping(), r.ping()

    def load(label, hset):
        def worker(k, a, b):
            name = f"bench:thr:{label}:{k}"
            for i in range(a, b):
                hset(name, i, i)

        def run(a, b):
            run_threads(nthreads, lambda k: worker(k, a, b), ctx.remaining())
        return label, run

    loads = [load("cpipe Pool(8)", pool.hset), load("redis-py ConnectionPool(8)", r.hset)]
    ctx.flushall()
    for _, run in loads:  # warm-up, untimed: every connection in use once
        run(0, min(per, 200))
    acc = ctx.interleaved()
    ctx.record_benchmark("redis-benchmark -c 8 -P 1 HSET", "-c", "8", "-P", "1", "-r", str(RB_KEYSPACE),
                         "HSET", "myhash", "__rand_int__", "__rand_int__", n=nthreads * per, info=True,
                         around=lambda: (acc.run(loads, per, max(1, per // 4), ops_per_item=nthreads),
                                         acc.record()))
    with ctx.admin() as a:
        for label, _ in loads:
            expect(f"{label}: fields written",
                    sum(a.hlen(f"bench:thr:{label}:{k}") for k in range(nthreads)), nthreads * per)


# -- 5. futures ------------------------------------------------------------------------


@case(
    "phset", "200,000 phset futures through Pool(size=10), then flush()", order=50,
    targets=[Target("cpipe phset+flush", "credis pipeline", at_least=2, note="issue 11"),
             Target("cpipe phset+flush", "redis-benchmark -c 10 -P 100", at_least=0.6, note="issue 11")],
    description=(
        "`futs = [pool.phset(key, i, i) for i in ...]` then `pool.flush()` on a `cpipe.Pool(size=10)`, "
        "in 4 rounds of 50,000, each on a pool opened (and pinged) before the clock starts and closed, "
        "with its futures checked, after it stops. Compared with credis pipelining the same HSETs in batches "
        "of 10,000, taking turns with cpipe round by round, and with redis-benchmark, 10 connections "
        "pipelining 100 each (half before, half after)."),
)
def phset(ctx: Context) -> None:
    n, key = ctx.count(200_000), "bench:phset"
    cr = ctx.credis()
    current = {}

    def open_pool():
        # A fresh pool per round, opened (and pinged) untimed, so every round starts alike
        # (see bench/README.md for why this began).
        import cpipe

        pool = current["pool"] = cpipe.Pool(host=ctx.host, port=ctx.port, size=10,
                                            socket_timeout=ctx.default_timeout)
        pool.ping()

    def cpipe_load(a, b, key=f"{key}:cpipe"):
        pool = current["pool"]
        ph = pool.phset
        futs = [ph(key, i, i) for i in range(a, b)]
        if not pool.flush(ctx.remaining()):
            raise TimeoutError("flush() timed out")

        def after():
            current.pop("pool").close()
            expect("phset: fields added", sum(f.result() for f in futs), b - a)
        return after

    def credis_load(a, b, key=f"{key}:credis"):
        for s in range(a, b, 10_000):
            out = cr.execute_pipeline(*[("HSET", key, i, i) for i in range(s, min(b, s + 10_000))])
        return lambda: expect("credis: last reply", out[-1], 1)

    def close_pool():
        if "pool" in current:
            current.pop("pool").close()

    ctx.on_close(close_pool)
    ctx.flushall()
    open_pool()  # warm-up, untimed
    cpipe_load(0, min(n, 1_000), "bench:warm:cpipe")()
    credis_load(0, min(n, 1_000), "bench:warm:credis")()
    loads = [("cpipe phset+flush", cpipe_load, open_pool), ("credis pipeline", credis_load)]
    acc = ctx.interleaved()
    ctx.record_benchmark("redis-benchmark -c 10 -P 100", "-c", "10", "-P", "100", "-r", str(RB_KEYSPACE),
                         "HSET", "myhash", "__rand_int__", "__rand_int__", n=n,
                         around=lambda: (acc.run(loads, n, max(1, n // 4)), acc.record()))
    with ctx.admin() as a:
        expect("cpipe: HLEN", a.hlen(f"{key}:cpipe"), n)
        expect("credis: HLEN", a.hlen(f"{key}:credis"), n)


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
    p = c.pipeline(transaction=False)
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
