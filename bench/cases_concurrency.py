"""Concurrency cases: 16 threads on one pool, 50 asyncio tasks on one client, asyncio
pipelines, and per-command latency (p50/p99) sequential, threaded and asyncio.

As in cases_core: one redis-server for the whole run, warm-up untimed, loads
interleaved chunk by chunk between the clients (each on its own keys), checks
after the clock stops, redis-benchmark half before and half after the clients.

asyncio loads run on event loops that live for the whole repetition (a plain
asyncio loop, and a uvloop one for the uvloop rows): the clients are opened and
warmed on them untimed, and each chunk is `loop.run_until_complete(...)`.
"""
from __future__ import annotations

import asyncio
from typing import Any, Callable, Optional, Sequence

from harness import Context, Target, async_latency_samples, case, expect, latency_samples, run_threads, set_get_rounds

NTHREADS = 16
NTASKS = 50



# -- helpers -------------------------------------------------------------------------------


class _Loop:
    """An event loop kept for the repetition; run(coro) runs one load on it, bounded in time.

    Clients opened on it are closed on it (ctx.close_all runs closers last-in first-out,
    so the loop, registered first, is closed after them).
    """

    def __init__(self, ctx: Context, kind: str = "asyncio") -> None:
        self.ctx = ctx
        if kind == "uvloop":
            import uvloop

            self.loop = uvloop.new_event_loop()
        else:
            self.loop = asyncio.new_event_loop()
        ctx.on_close(self.loop.close)

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(asyncio.wait_for(coro, self.ctx.remaining()))

    def call(self, fn: Callable[[], Any]) -> Any:
        """run() for an awaitable that must be created on the running loop (cpipe.asyncio's
        methods return futures of the running loop)."""

        async def inside() -> Any:
            return await fn()

        return self.run(inside())

    def closing(self, aclose: Callable[[], Any]) -> None:
        self.ctx.on_close(lambda: self.call(aclose))

    def cpipe(self, size: int = 0) -> Any:
        """A cpipe.asyncio Client (size 0) or Pool(size), bound to this loop and pinged."""
        import cpipe.asyncio

        kw = dict(host=self.ctx.host, port=self.ctx.port, socket_timeout=self.ctx.default_timeout)
        c = cpipe.asyncio.Pool(size=size, **kw) if size else cpipe.asyncio.Client(**kw)
        self.closing(c.aclose)
        self.call(c.ping)
        return c

    def redis_asyncio(self, max_connections: int) -> Any:
        import redis.asyncio

        r = redis.asyncio.Redis(host=self.ctx.host, port=self.ctx.port, protocol=2,
                                socket_timeout=self.ctx.default_timeout, max_connections=max_connections)
        self.closing(lambda: r.aclose(close_connection_pool=True))
        self.call(r.ping)
        return r

    def coredis(self, max_connections: int) -> Any:
        """A coredis.Redis held open (coredis >= 6 must be used as an async context manager,
        entered and left in one task: a holder task keeps it entered for the repetition)."""
        import coredis

        c = coredis.Redis(host=self.ctx.host, port=self.ctx.port, max_connections=max_connections,
                          stream_timeout=self.ctx.default_timeout)
        entered, leave = asyncio.Event(), asyncio.Event()

        async def hold() -> None:
            async with c:
                entered.set()
                await leave.wait()

        async def start() -> Any:
            task = asyncio.ensure_future(hold())
            waiter = asyncio.ensure_future(entered.wait())
            await asyncio.wait([task, waiter], return_when=asyncio.FIRST_COMPLETED)
            if task.done():
                waiter.cancel()
                task.result()  # raises what made entering fail
            return task

        holder = self.run(start())

        async def stop() -> None:
            leave.set()
            await holder

        self.closing(stop)
        self.call(c.ping)
        return c


def _uvloop(ctx: Context) -> Optional[_Loop]:
    """A uvloop _Loop, or None (with a note) when uvloop is not installed."""
    try:
        import uvloop  # noqa: F401
    except ImportError:
        ctx.note("uvloop is not installed (`pip install uvloop`): the uvloop rows are left out")
        return None
    return _Loop(ctx, "uvloop")


def _benchmark_tests(ctx: Context, label: str, args: Sequence[str], tests: Sequence[str], n: int,
                     around: Callable[[], Any]) -> None:
    """redis-benchmark running several tests (`-t set,get`), n requests per test, half before
    and half after around(). Records '<label> <TEST>' (info) per test, and '<label> <T1>+<T2>'
    (all tests' requests / all tests' time), with the CPU of the whole run per request."""
    secs = {t: 0.0 for t in tests}
    client, server = 0.0, 0.0
    for k, part in enumerate([n // 2, n - n // 2]):
        if k:
            around()
        with ctx.meter() as m:
            rates = ctx.redis_benchmark_tests(*args, n=part, note_suffix=(
                f" (twice: before and after the clients, {n:,} requests per test in all)"))
        for t in tests:
            if t not in rates:
                raise RuntimeError(f"redis-benchmark gave no {t} line: {rates}")
            secs[t] += part / rates[t]
        client += m.client
        server = None if server is None or m.server is None else server + m.server
    total = n * len(tests)
    for t in tests:
        ctx.record(f"{label} {t}", n / secs[t], info=True)
    ctx.record(f"{label} {'+'.join(tests)}", total / sum(secs.values()),
               cpu=(client / total * 1e6, None if server is None else server / total * 1e6))


# -- 1. 16 threads, SET then GET ------------------------------------------------------------

T16_POOL4, T16_POOL16, T16_REDIS = "cpipe Pool(4)", "cpipe Pool(16)", "redis-py ConnectionPool(16)"
T16_RB = "redis-benchmark -c 16 -P 1"


@case(
    "threads16", "16 Python threads × (5,000 SET then 5,000 GET), one command at a time, one pool",
    order=110,
    targets=[Target(T16_POOL16, T16_REDIS, at_least=10),
             Target(T16_POOL16, f"{T16_RB} SET+GET", at_least=0.6)],
    description=(
        "16 threads started together; each does `set(key_i, i)` for its own 5,000 keys, then `get(key_i)` "
        "for the same keys, one command at a time, in 4 rounds of 1,250 + 1,250 (a round is one batch of "
        "16 threads; the clients take turns round by round). Rate = all SETs and GETs / time. cpipe: one "
        "`cpipe.Pool(size=16)` (the headline: it measured ~10% above size=4 in every trial run) and one "
        "`cpipe.Pool(size=4)` (info), autopipelined (commands issued at the same moment by different "
        "threads share writes). redis-py: one `Redis("
        "connection_pool=ConnectionPool(max_connections=16))` shared by the 16 threads. The anchor is "
        "`redis-benchmark -c 16 -P 1 -t set,get` (16 connections, one request in flight each, its fixed "
        "key), half before and half after the clients; its SET and GET rates are combined as "
        "(N_set + N_get) / (t_set + t_get). Every GET reply's value is checked, and every key (MGET) after "
        "the case."),
)
def threads16(ctx: Context) -> None:
    import redis

    per = ctx.count(5_000, minimum=4)
    clients = {T16_POOL16: ctx.cpipe_pool(16), T16_POOL4: ctx.cpipe_pool(4),
               T16_REDIS: redis.Redis(connection_pool=ctx.redis_py_pool(NTHREADS))}
    for c in clients.values():
        c.ping()
    # Keys built untimed: the loop below spends its time in the clients, not in f-strings.
    keys = {label: [[f"bench:t16:{label}:{k}:{i}" for i in range(per)] for k in range(NTHREADS)]
            for label in clients}
    want = [str(i).encode() for i in range(per)]

    def load(label: str, client: Any, warm: bool = False):
        ks = keys[label] if not warm else [[f"bench:warm:{label}:{k}:{i}" for i in range(per)]
                                           for k in range(NTHREADS)]
        return label, set_get_rounds(label, client, ks, want, ctx.remaining)

    ctx.flushall()
    for label, c in clients.items():  # warm-up, untimed: every connection in use
        load(label, c, warm=True)[1](0, min(per, 200))()
    loads = [load(label, c) for label, c in clients.items()]
    acc = ctx.interleaved()
    _benchmark_tests(ctx, T16_RB, ["-c", "16", "-P", "1", "-t", "set,get"], ["SET", "GET"], NTHREADS * per,
                     around=lambda: (acc.run(loads, per, max(1, per // 4), ops_per_item=2 * NTHREADS),
                                     acc.record(info=[T16_POOL4])))
    with ctx.admin() as a:
        for label in clients:
            got = [v for k in range(NTHREADS) for v in a.mget(keys[label][k])]
            expect(f"{label}: values of every key", got, want * NTHREADS)


# -- 2. 50 asyncio tasks, single HSET ---------------------------------------------------------

A50_CPIPE, A50_POOL, A50_UV = "cpipe.asyncio Client", "cpipe.asyncio Pool(4)", "cpipe.asyncio Client (uvloop)"
A50_REDIS, A50_CORE = "redis.asyncio (pool of 50)", "coredis (pool of 50, RESP3)"


async def _tasks_hset(hset: Callable, prefix: str, a: int, b: int) -> list:
    """NTASKS tasks, task k doing hset(prefix+k, i, i) for i in a..b-1; their last replies."""

    async def task(key: str) -> Any:
        last = None
        for i in range(a, b):
            last = await hset(key, i, i)
        return last

    return await asyncio.gather(*[task(f"{prefix}{k}") for k in range(NTASKS)])


@case(
    "asyncio_hset50", "50 asyncio tasks × 1,000 single HSETs on one client", order=120,
    targets=[Target(A50_CPIPE, A50_REDIS, at_least=5), Target(A50_CPIPE, A50_CORE, at_least=5)],
    description=(
        "50 tasks on one event loop (`asyncio.gather`), each `await client.hset(key_k, i, i)` for 1,000 "
        "fields of its own hash, one command at a time, in 4 rounds of 250 per task (the clients take "
        "turns round by round; each runs on an event loop opened for the repetition, the clients "
        "connected and warmed on it untimed). cpipe: one `cpipe.asyncio.Client` (one connection, "
        "commands issued in the same loop iteration share a write); `cpipe.asyncio.Pool(size=4)` and the "
        "same Client on a uvloop loop for context. redis.asyncio: `Redis(protocol=2, "
        "max_connections=50)` (a connection per task). coredis 6: `Redis(max_connections=50)` held open "
        "with `async with`; coredis 6 has no RESP2 (`protocol_version` was removed), so it speaks RESP3. "
        "Each task's last reply is checked, and every hash's length after the case."),
)
def asyncio_hset50(ctx: Context) -> None:
    per = ctx.count(1_000, minimum=4)
    aio, uv = _Loop(ctx), _uvloop(ctx)
    clients = [(A50_CPIPE, aio, aio.cpipe()), (A50_POOL, aio, aio.cpipe(4)),
               *([(A50_UV, uv, uv.cpipe())] if uv else []),
               (A50_REDIS, aio, aio.redis_asyncio(NTASKS)), (A50_CORE, aio, aio.coredis(NTASKS))]

    def load(label: str, lp: _Loop, client: Any, prefix: str):
        hset = client.hset
        if label == A50_CORE:  # coredis: hset(key, {field: value})
            def hset(k: str, f: int, v: int, _hset=client.hset) -> Any:
                return _hset(k, {f: v})

        def run(a: int, b: int):
            last = lp.run(_tasks_hset(hset, prefix, a, b))
            return lambda: expect(f"{label}: last replies", last, [1] * NTASKS)
        return label, run

    ctx.flushall()
    for label, lp, c in clients:  # warm-up, untimed: every connection in use
        load(label, lp, c, f"bench:warm:{label}:")[1](0, min(per, 50))()
    loads = [load(label, lp, c, f"bench:a50:{label}:") for label, lp, c in clients]
    acc = ctx.interleaved()
    acc.run(loads, per, max(1, per // 4), ops_per_item=NTASKS)
    acc.record(info=[A50_POOL, A50_UV])
    with ctx.admin() as a:
        for label, _, _ in clients:
            expect(f"{label}: fields written", [a.hlen(f"bench:a50:{label}:{k}") for k in range(NTASKS)],
                    [per] * NTASKS)


# -- 3. asyncio pipelines -------------------------------------------------------------------

AP_CPIPE, AP_UV, AP_REDIS = "cpipe.asyncio pipeline", "cpipe.asyncio pipeline (uvloop)", "redis.asyncio pipeline"


@case(
    "asyncio_pipe", "asyncio pipelines: 200,000 HSET in pipelines of 10,000", order=130,
    targets=[Target(AP_CPIPE, AP_REDIS, at_least=5)],
    description=(
        "One task: `async with client.pipeline() as p:` `p.hset(key, i, i)` ×10,000, `await p.execute()`, "
        "20 times, the clients taking turns pipeline by pipeline (time includes building each pipeline). "
        "cpipe: `cpipe.asyncio.Client` (and the same on uvloop, info); redis.asyncio: `Redis(protocol=2)`, "
        "`pipeline(transaction=False)`. Each pipeline's last reply and every hash's length are checked."),
)
def asyncio_pipe(ctx: Context) -> None:
    n, batch = ctx.count(200_000), 10_000
    aio, uv = _Loop(ctx), _uvloop(ctx)
    clients = [(AP_CPIPE, aio, aio.cpipe(), {"transaction": False}),
               *([(AP_UV, uv, uv.cpipe(), {"transaction": False})] if uv else []),
               (AP_REDIS, aio, aio.redis_asyncio(1), {"transaction": False})]

    def load(label: str, lp: _Loop, client: Any, kw: dict, key: str):
        async def pipe(a: int, b: int) -> list:
            async with client.pipeline(**kw) as p:
                for i in range(a, b):
                    p.hset(key, i, i)
                return await p.execute()

        def run(a: int, b: int):
            out = lp.run(pipe(a, b))
            return lambda: (expect(f"{label}: replies", len(out), b - a), expect(f"{label}: last reply", out[-1], 1))
        return label, run

    ctx.flushall()
    for label, lp, c, kw in clients:  # warm-up, untimed
        load(label, lp, c, kw, f"bench:warm:{label}")[1](0, min(n, 1_000))()
    loads = [load(label, lp, c, kw, f"bench:apipe:{label}") for label, lp, c, kw in clients]
    acc = ctx.interleaved()
    acc.run(loads, n, batch)
    acc.record(info=[AP_UV])
    with ctx.admin() as a:
        for label, _, _, _ in clients:
            expect(f"{label}: HLEN", a.hlen(f"bench:apipe:{label}"), n)


# -- 4. latency ---------------------------------------------------------------------------------

L1_OFF, L1_ON = "1 thread SET: cpipe Client(autopipeline=False)", "1 thread SET: cpipe Client(autopipeline=True)"
L1_REDIS, L1_CREDIS = "1 thread SET: redis-py", "1 thread SET: credis"
L16_POOL16, L16_POOL4, L16_REDIS = ("16 threads SET: cpipe Pool(16)", "16 threads SET: cpipe Pool(4)",
                                    "16 threads SET: redis-py ConnectionPool(16)")
L50_CPIPE, L50_REDIS = "50 tasks HSET: cpipe.asyncio Client", "50 tasks HSET: redis.asyncio (pool of 50)"


def _interleaved_latency(ctx: Context, loads: Sequence[tuple], n: int, chunk: int) -> dict:
    """Per-command latency samples for paired loads, chunk by chunk with the order rotated (as
    Interleaved does for rates). load(start, stop) returns a list of ns samples."""
    samples: dict = {label: [] for label, _ in loads}
    import gc

    for k, start in enumerate(range(0, n, chunk)):
        stop = min(n, start + chunk)
        shift = (k + ctx.repetition) % len(loads)
        for label, load in [*loads[shift:], *loads[:shift]]:
            gc.collect()
            samples[label].extend(load(start, stop))
    return samples


@case(
    "latency", "Per-command latency p50/p99: 1 thread, 16 threads, 50 asyncio tasks", order=140,
    targets=[Target(f"{L1_ON} p50", f"{L1_OFF} p50", at_most=1.10,
                    note="autopipelining must not tax a lone sequential caller")],
    description=(
        "Each command timed alone with `time.perf_counter_ns()` around the call (`latency_samples`); "
        "p50 and p99 (nearest rank) over all commands of a repetition, in µs, median of the repetitions. "
        "Lower is better. **1 thread**: 20,000 sequential `set(key_i, i)` per client on one connection, "
        "in chunks of 2,000 with the clients taking turns: cpipe `Client(autopipeline=False)` and "
        "`Client(autopipeline=True)`, redis-py `Redis(protocol=2)`, credis `execute('SET', ...)`. "
        "**16 threads**: 16 threads × 2,000 `set` each, every call timed inside its thread, one shared "
        "`cpipe.Pool(16)` / `cpipe.Pool(4)` (info) / redis-py `ConnectionPool(max_connections=16)`, rounds of "
        "500. **50 tasks**: 50 asyncio tasks × 400 `await hset(key_k, i, i)`, each call timed inside its "
        "task, `cpipe.asyncio.Client` vs `redis.asyncio.Redis(protocol=2, max_connections=50)`, rounds of "
        "100. The threaded and asyncio figures include waiting for the GIL / the event loop: the time a "
        "caller sees."),
)
def latency(ctx: Context) -> None:
    import redis

    ctx.flushall()
    # 1 thread, sequential SET
    n1 = ctx.count(20_000, minimum=10)
    off, on = ctx.cpipe_client(autopipeline=False), ctx.cpipe_client(autopipeline=True)
    r, cr = ctx.redis_py(), ctx.credis()

    def credis_set(k: str, v: int) -> Any:
        return cr.execute("SET", k, v)

    singles = [(L1_OFF, off.set), (L1_ON, on.set), (L1_REDIS, r.set), (L1_CREDIS, credis_set)]

    def seq_load(label: str, call: Callable, prefix: str):
        args = [(f"{prefix}{i}", i) for i in range(n1)]

        def run(a: int, b: int) -> list:
            return latency_samples(call, args[a:b])
        return label, run

    for label, call in singles:  # warm-up, untimed
        seq_load(label, call, f"bench:warm:{label}:")[1](0, min(n1, 500))
    got = _interleaved_latency(ctx, [seq_load(label, call, f"bench:lat1:{label}:")
                                               for label, call in singles], n1, 2_000)
    for label, _ in singles:
        ctx.record_latency(label, got[label])

    # 16 threads, SET
    per = ctx.count(2_000, minimum=4)
    threaded = [(L16_POOL16, ctx.cpipe_pool(16)), (L16_POOL4, ctx.cpipe_pool(4)),
                (L16_REDIS, redis.Redis(connection_pool=ctx.redis_py_pool(NTHREADS)))]

    def thr_load(label: str, client: Any, prefix: str):
        keys = [[(f"{prefix}{k}:{i}", i) for i in range(per)] for k in range(NTHREADS)]

        def run(a: int, b: int) -> list:
            out: list = [None] * NTHREADS

            def worker(k: int) -> None:
                out[k] = latency_samples(client.set, keys[k][a:b])

            run_threads(NTHREADS, worker, ctx.remaining())
            return [x for s in out for x in s]
        return label, run

    for label, c in threaded:  # warm-up, untimed
        thr_load(label, c, f"bench:warm:{label}:")[1](0, min(per, 100))
    got = _interleaved_latency(ctx, [thr_load(label, c, f"bench:lat16:{label}:")
                                               for label, c in threaded], per, max(1, per // 4))
    for label, _ in threaded:
        ctx.record_latency(label, got[label], info=label == L16_POOL4)

    # 50 asyncio tasks, HSET
    per50 = ctx.count(400, minimum=4)
    aio = _Loop(ctx)
    tasked = [(L50_CPIPE, aio.cpipe()), (L50_REDIS, aio.redis_asyncio(NTASKS))]

    def task_load(label: str, client: Any, prefix: str):
        async def all_tasks(a: int, b: int) -> list:
            parts = await asyncio.gather(*[async_latency_samples(client.hset, [(f"{prefix}{k}", i, i)
                                                                              for i in range(a, b)])
                                           for k in range(NTASKS)])
            return [x for s in parts for x in s]

        def run(a: int, b: int) -> list:
            return aio.run(all_tasks(a, b))
        return label, run

    for label, c in tasked:  # warm-up, untimed
        task_load(label, c, f"bench:warm:{label}:")[1](0, min(per50, 50))
    got = _interleaved_latency(ctx, [task_load(label, c, f"bench:lat50:{label}:")
                                               for label, c in tasked], per50, max(1, per50 // 4))
    for label, _ in tasked:
        ctx.record_latency(label, got[label])

    with ctx.admin() as a:
        for label, _ in singles:
            expect(f"{label}: last value", a.get(f"bench:lat1:{label}:{n1 - 1}"), str(n1 - 1).encode())
        for label, _ in threaded:
            expect(f"{label}: last values", [a.get(f"bench:lat16:{label}:{k}:{per - 1}") for k in range(NTHREADS)],
                    [str(per - 1).encode()] * NTHREADS)
        for label, _ in tasked:
            expect(f"{label}: fields", [a.hlen(f"bench:lat50:{label}:{k}") for k in range(NTASKS)],
                    [per50] * NTASKS)
