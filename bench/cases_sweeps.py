"""Sweeps: one load at several sizes, for the plots (bench/plot.py draws them).

Each record's label is "CLIENT @ X" (X: pipeline size, fields per HSET,
threads or tasks), so plot.py can draw rate against X per client. Every
record is info: the sweeps have no targets; the ratios that matter are
in the cases of cases_core.py and cases_concurrency.py. Within one size
the clients take turns chunk by chunk (Context.interleaved), and
redis-benchmark runs half before and half after them, as in the core cases.
credis is measured when it is installed (`make bench` installs it).
"""
from __future__ import annotations

import asyncio
import importlib.util

from harness import Context, case, expect, run_threads

PIPELINE_SIZES = (1, 10, 100, 1_000, 10_000)
HASH_SIZES = (1, 10, 100, 1_000)
THREADS = (1, 2, 4, 8, 16)
TASKS = (1, 10, 50, 200)


def _have_credis() -> bool:
    return importlib.util.find_spec("credis") is not None



@case(
    "sweep_pipeline", "Sweep: pipelined HSET rate against pipeline size (1 to 10,000)", order=900,
    description=(
        "For each pipeline size P: HSET of distinct fields in pipelines of P (cpipe and redis-py "
        "`pipeline(transaction=False)`, credis `execute_pipeline`), the clients taking turns pipeline "
        "by pipeline; `redis-benchmark -c 1 -P P` on the same command. 20,000 commands per size and "
        "client (P = 1 and 10: 5,000). Plotted in bench/sweep_pipeline.png."),
)
def sweep_pipeline(ctx: Context) -> None:
    cp, r = ctx.cpipe_client(), ctx.redis_py()
    cr = ctx.credis() if _have_credis() else None
    ctx.flushall()
    for size in PIPELINE_SIZES:
        n = ctx.count(5_000 if size <= 10 else 20_000, minimum=size)
        n -= n % size

        def cpipe_load(a, b, size=size):
            for s in range(a, b, size):
                p = cp.pipeline(transaction=False)
                for i in range(s, min(b, s + size)):
                    p.hset(f"sw:p{size}:cpipe", i, i)
                p.execute()

        def redis_py_load(a, b, size=size):
            for s in range(a, b, size):
                p = r.pipeline(transaction=False)
                for i in range(s, min(b, s + size)):
                    p.hset(f"sw:p{size}:redis-py", i, i)
                p.execute()

        loads = [(f"cpipe @ {size}", cpipe_load), (f"redis-py @ {size}", redis_py_load)]
        if cr is not None:
            def credis_load(a, b, size=size):
                for s in range(a, b, size):
                    cr.execute_pipeline(*[("HSET", f"sw:p{size}:credis", i, i) for i in range(s, min(b, s + size))])
            loads.append((f"credis @ {size}", credis_load))
        acc = ctx.interleaved()
        chunk = max(size, 1_000)
        ctx.record_benchmark(f"redis-benchmark @ {size}", "-c", "1", "-P", str(size), "-r", "100000",
                             "HSET", "myhash", "__rand_int__", "__rand_int__", n=n, info=True,
                             around=lambda: (acc.run(loads, n, chunk), acc.record(info=[lb for lb, _ in loads])))
        with ctx.admin() as a:
            for label, _ in loads:
                client = label.split(" @ ")[0]
                expect(f"{label}: HLEN", a.hlen(f"sw:p{size}:{client}"), n)


@case(
    "sweep_hash", "Sweep: HSET rate in fields/s against fields per HSET (1 to 1,000)", order=910,
    description=(
        "For each hash size F: `HSET key f1 v1 ... fF vF` (cpipe and redis-py `hset(key, mapping=...)`, "
        "credis `execute`), one command at a time, a new key each time; `redis-benchmark -c 1 -P 1` on "
        "the same command. The rate counts fields written per second. Plotted in bench/sweep_hash.png."),
)
def sweep_hash(ctx: Context) -> None:
    cp, r = ctx.cpipe_client(), ctx.redis_py()
    cr = ctx.credis() if _have_credis() else None
    ctx.flushall()
    for fields in HASH_SIZES:
        n = ctx.count(max(200, 20_000 // fields))
        mapping = {f"f{j}": f"v{j}" for j in range(fields)}
        flat = [x for kv in mapping.items() for x in kv]

        def cpipe_load(a, b, fields=fields, mapping=mapping):
            for i in range(a, b):
                cp.hset(f"sw:h{fields}:cpipe:{i}", mapping=mapping)

        def redis_py_load(a, b, fields=fields, mapping=mapping):
            for i in range(a, b):
                r.hset(f"sw:h{fields}:redis-py:{i}", mapping=mapping)

        loads = [(f"cpipe @ {fields}", cpipe_load), (f"redis-py @ {fields}", redis_py_load)]
        if cr is not None:
            def credis_load(a, b, fields=fields, flat=flat):
                for i in range(a, b):
                    cr.execute("HSET", f"sw:h{fields}:credis:{i}", *flat)
            loads.append((f"credis @ {fields}", credis_load))
        acc = ctx.interleaved()
        ctx.record_benchmark(f"redis-benchmark @ {fields}", "-c", "1", "-P", "1", "-r", "100000",
                             "HSET", "myhash:__rand_int__", *flat, n=n, info=True,
                             around=lambda: (acc.run(loads, n, max(1, n // 4), ops_per_item=fields),
                                             acc.record(info=[lb for lb, _ in loads])))
        # redis-benchmark's rate is commands/s: in fields/s like the clients'.
        rec = ctx.records[f"redis-benchmark @ {fields}"]
        rec.values[-1] *= fields
        for cpu in (rec.client_cpu, rec.server_cpu):
            if cpu:
                cpu[-1] /= fields
        with ctx.admin() as a:
            for label, _ in loads:
                client = label.split(" @ ")[0]
                expect(f"{label}: HLEN", a.hlen(f"sw:h{fields}:{client}:{n - 1}"), fields)


@case(
    "sweep_threads", "Sweep: single SETs from T threads through one pool (1 to 16 threads)", order=920,
    description=(
        "For each thread count T: T threads, each doing single `set(key, i)` calls, through one cpipe "
        "Pool(size=T) and one redis-py ConnectionPool(max_connections=T) (a Redis on it per thread); "
        "`redis-benchmark -c T -P 1 SET`; credis with a connection per thread. 4,000 commands per thread count and client. Plotted in "
        "bench/sweep_threads.png."),
)
def sweep_threads(ctx: Context) -> None:
    ctx.flushall()
    for nthreads in THREADS:
        n = ctx.count(4_000, minimum=nthreads)
        per = n // nthreads
        n = per * nthreads
        pool = ctx.cpipe_pool(nthreads)
        rpool = ctx.redis_py_pool(nthreads)

        def cpipe_load(a, b, pool=pool, nthreads=nthreads, per=per):
            run_threads(nthreads, lambda k: [pool.set(f"sw:t:cpipe:{k}", i) for i in range(per)])

        def redis_py_load(a, b, rpool=rpool, nthreads=nthreads, per=per):
            import redis

            clients = [redis.Redis(connection_pool=rpool) for _ in range(nthreads)]
            run_threads(nthreads, lambda k: [clients[k].set(f"sw:t:redis-py:{k}", i) for i in range(per)])

        loads = [(f"cpipe Pool @ {nthreads}", cpipe_load), (f"redis-py @ {nthreads}", redis_py_load)]
        if _have_credis():
            conns = [ctx.credis() for _ in range(nthreads)]  # credis has no pool: a connection per thread

            def credis_load(a, b, conns=conns, nthreads=nthreads, per=per):
                run_threads(nthreads, lambda k: [conns[k].execute("SET", f"sw:t:credis:{k}", i) for i in range(per)])
            loads.append((f"credis (a connection per thread) @ {nthreads}", credis_load))
        acc = ctx.interleaved()
        # One chunk: the loads run all their threads' commands at once.
        ctx.record_benchmark(f"redis-benchmark @ {nthreads}", "-c", str(nthreads), "-P", "1", "-t", "set", n=n,
                             info=True, around=lambda: (acc.run(loads, n, n), acc.record(info=[lb for lb, _ in loads])))
        with ctx.admin() as a:
            expect("last SET", a.get(f"sw:t:cpipe:{nthreads - 1}"), str(per - 1).encode())


@case(
    "sweep_tasks", "Sweep: single HSETs from N asyncio tasks on one client (1 to 200 tasks)", order=930,
    description=(
        "For each task count N: N tasks on one event loop, each awaiting single `hset(key, i, i)` calls, "
        "on one cpipe.asyncio.Client and on one redis.asyncio.Redis (its pool grows to N connections); "
        "`redis-benchmark -c N -P 1` on HSET for the same concurrency (credis has no asyncio). 5,000 commands per count and "
        "client. Plotted in bench/sweep_tasks.png."),
)
def sweep_tasks(ctx: Context) -> None:
    import redis.asyncio

    import cpipe.asyncio

    ctx.flushall()
    for ntasks in TASKS:
        n = ctx.count(5_000, minimum=ntasks)
        per = n // ntasks
        n = per * ntasks

        async def tasks(client, label, ntasks=ntasks, per=per):
            async def one(k):
                for i in range(per):
                    await client.hset(f"sw:a{ntasks}:{label}:{k}", i, i)
            await asyncio.gather(*(one(k) for k in range(ntasks)))

        async def with_client(make, label):
            client = make()
            try:
                await client.ping()
                await tasks(client, label)
            finally:
                await client.aclose()

        def cpipe_load(a, b):
            ctx.run_async(with_client(lambda: cpipe.asyncio.Client(host=ctx.host, port=ctx.port), "cpipe"))

        def redis_py_load(a, b):
            def make():
                pool = redis.asyncio.ConnectionPool(host=ctx.host, port=ctx.port, protocol=2,
                                                    max_connections=ntasks + 1)
                return redis.asyncio.Redis.from_pool(pool)  # closes the pool with the client
            ctx.run_async(with_client(make, "redis-py"))

        loads = [(f"cpipe.asyncio @ {ntasks}", cpipe_load), (f"redis.asyncio @ {ntasks}", redis_py_load)]
        acc = ctx.interleaved()
        ctx.record_benchmark(f"redis-benchmark @ {ntasks}", "-c", str(ntasks), "-P", "1", "-r", "100000",
                             "HSET", "myhash", "__rand_int__", "__rand_int__", n=n, info=True,
                             around=lambda: (acc.run(loads, n, n), acc.record(info=[lb for lb, _ in loads])))
        with ctx.admin() as a:
            expect("HLEN", a.hlen(f"sw:a{ntasks}:cpipe:{ntasks - 1}"), per)
