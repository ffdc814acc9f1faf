"""Redis Cluster (issue 10): cluster pipelines, and 16 threads on one RedisCluster.

One local cluster of 6 redis-servers is started the first time a case needs
it (tests/cluster/_cluster.py: `redis-server --cluster-enabled yes` on free
loopback ports, joined by `redis-cli --cluster create ... --cluster-replicas 1
--cluster-yes`: 3 primaries with a replica each) and stopped when the run
ends (harness.at_run_end). The run's standalone server (same redis-server
binary) is the single-node comparison. The clients take turns chunk by chunk
(Interleaved), each on its own keys, and every load is checked after the
clock stops. Server CPU per operation on the cluster rows is all six
nodes' CPU: the primaries' and the replicas' (replication), which share the
same cores as everything else.
"""
from __future__ import annotations

import contextlib
from typing import Any, Iterator, Optional

from harness import Context, Meter, Target, _proc_cpu_seconds, at_run_end, case, expect, set_get_rounds

PIPE_N, PIPE_BATCH = 200_000, 10_000
HASHES = 3_000  # hashes per client in the pipeline case: ~2,700 slots, on all 3 primaries
RB_KEYSPACE = 100_000  # redis-benchmark -r
# redis-benchmark's own counts: in --cluster mode its rate includes a start-up
# and a tail (clients of different nodes finishing apart) that dominate short
# runs (set,get: 80k/s at 20,000 requests per test, 130-200k/s at 100,000-400,000;
# -P 1000 HSET: 395k/s at 100,000, 567k/s at 1,000,000), so it runs longer than the clients.
RB_PIPE_N, RB_THREADS_N = 1_000_000, 200_000
NTHREADS = 16

CL_CPIPE, CL_REDIS, CL_SINGLE = ("cpipe.RedisCluster pipeline", "redis-py ClusterPipeline",
                                 "cpipe.Redis pipeline (standalone server)")
RB_CL_PIPE, RB_SINGLE_PIPE = "redis-benchmark --cluster -c 3 -P 1000 HSET", "redis-benchmark -c 1 -P 1000 HSET (standalone)"
T_CPIPE, T_REDIS, T_SINGLE = "cpipe.RedisCluster", "redis-py RedisCluster", "cpipe.Redis (standalone server)"
RB_CL_THREADS = "redis-benchmark --cluster -c 16 -P 1"

_cluster: Any = None


def _the_cluster() -> Any:
    """The run's one cluster (started on first use, stopped when the run ends)."""
    global _cluster
    if _cluster is None:
        from tests.cluster._cluster import start_cluster

        _cluster = start_cluster(primaries=3, replicas=1)
        at_run_end(_cluster.stop)
    return _cluster


class _NodesMeter(Meter):
    """A Meter whose server CPU is the sum over the cluster's nodes."""

    def __init__(self, pids: list) -> None:
        super().__init__(None)
        self.pids = pids

    def _snap(self) -> tuple:
        wall, proc, children, _ = super()._snap()
        cpu = [_proc_cpu_seconds(p) for p in self.pids]
        return wall, proc, children, None if None in cpu else sum(cpu)


class _Where:
    """Switches what ctx measures against: the cluster (its primaries' CPU, redis-benchmark
    pointed at a cluster node) or the run's standalone server (ctx's own meter and port)."""

    def __init__(self, ctx: Context, cluster: Any) -> None:
        self.ctx, self.port = ctx, ctx.port
        self.cluster_port = cluster.addrs[0][1]
        self.pids = [n.proc.pid for n in cluster.nodes]  # primaries and replicas

    def on_cluster(self) -> None:
        self.ctx.meter = lambda: _NodesMeter(self.pids)  # type: ignore[method-assign]
        self.ctx.port = self.cluster_port

    def on_standalone(self) -> None:
        self.ctx.__dict__.pop("meter", None)  # the class's meter again
        self.ctx.port = self.port

    @contextlib.contextmanager
    def cluster(self) -> Iterator[None]:
        self.on_cluster()
        try:
            yield
        finally:
            self.on_standalone()


def _cluster_clients(ctx: Context, cluster: Any) -> tuple:
    import redis.cluster

    import cpipe

    host, port = cluster.addrs[0]
    ours = cpipe.RedisCluster(host=host, port=port, socket_timeout=ctx.default_timeout)
    theirs = redis.cluster.RedisCluster(host=host, port=port, protocol=2, socket_timeout=ctx.default_timeout)
    ctx.on_close(ours.close)
    ctx.on_close(theirs.close)
    ours.ping(), theirs.ping()
    return ours, theirs


def _fields_written(cluster: Any, prefix: str) -> int:
    """HLEN summed over the hashes named prefix*, asked of each primary directly."""
    import redis

    total = 0
    for port in cluster.primaries():
        with redis.Redis(host="127.0.0.1", port=port, protocol=2) as r:
            keys = list(r.scan_iter(match=f"{prefix}*", count=1000))
            p = r.pipeline(transaction=False)
            for k in keys:
                p.hlen(k)
            total += sum(p.execute())
    return total



@case(
    "cluster_pipe", "Cluster pipeline: 200,000 HSET over 3 primaries, pipelines of 10,000 (issue 10)", order=1200,
    targets=[Target(CL_CPIPE, CL_REDIS, at_least=5), Target(CL_CPIPE, CL_SINGLE, at_least=1.5)],
    description=(
        "Each client HSETs 200,000 distinct fields into 3,000 hashes of its own (`hset(f'...:{i % 3000}', i, i)`: "
        "~2,700 slots, on all 3 primaries of a local 6-node cluster, 3 primaries + 3 replicas), in pipelines of "
        "10,000 (`p = client.pipeline()`, 10,000 × `p.hset`, `p.execute()`), the clients taking turns pipeline "
        "by pipeline; the time includes building each pipeline in Python. cpipe.RedisCluster's pipeline (split "
        "by node in the engine, the nodes written and read in parallel) against redis-py's `redis.cluster."
        "RedisCluster` ClusterPipeline (hiredis, `protocol=2`), and cpipe.Redis's `pipeline(transaction=False)` "
        "of the same 10,000 against the run's standalone redis-server (same binary, same 3,000 hashes). "
        "redis-benchmark (info): `--cluster -c 3 -P 1000 -t hset` (one connection per primary) and "
        "`-c 1 -P 1000 -t hset` on the standalone server, 1,000,000 requests each (its --cluster rate needs long "
        "runs), half before and half after the clients: the C tool's "
        "cluster/standalone ratio is what this machine allows the 1.5× target. Every reply is checked (1 per new "
        "field), and the fields written are counted on the servers after the case."),
)
def cluster_pipe(ctx: Context) -> None:
    n = ctx.count(PIPE_N)
    cluster = _the_cluster()
    cluster.flushall()
    ctx.flushall()
    where = _Where(ctx, cluster)
    ours, theirs = _cluster_clients(ctx, cluster)
    single = ctx.cpipe_client()
    prefixes = {CL_CPIPE: "bench:cl:cpipe:", CL_REDIS: "bench:cl:redis-py:", CL_SINGLE: "bench:cl:single:"}

    def load(label: str, make_pipe: Any, warm: bool = False) -> Any:
        names = [f"{prefixes[label]}{'warm:' if warm else ''}{k}" for k in range(HASHES)]

        def run(a: int, b: int) -> Any:
            p = make_pipe()
            hset = p.hset
            for i in range(a, b):
                hset(names[i % HASHES], i, i)
            replies = p.execute()
            return lambda: expect(f"{label}: replies", replies, [1] * (b - a))
        return run

    pipes = [(CL_CPIPE, ours.pipeline, where.on_cluster), (CL_REDIS, theirs.pipeline, where.on_cluster),
             (CL_SINGLE, lambda: single.pipeline(transaction=False), where.on_standalone)]
    for label, make, _ in pipes:  # warm-up (connections, slot maps), untimed
        load(label, make, warm=True)(0, min(n, 1_000))()
    acc = ctx.interleaved()

    def clients() -> None:
        try:
            acc.run([(label, load(label, make), before) for label, make, before in pipes], n, PIPE_BATCH)
        finally:
            where.on_cluster()  # redis-benchmark's second half runs on the cluster
        acc.record()

    def on_cluster() -> None:
        with where.cluster():
            ctx.record_benchmark(RB_CL_PIPE, "--cluster", "-c", "3", *rb, n=rb_n, info=True, around=clients)

    # In time: standalone, cluster, the clients, cluster, standalone.
    rb = ("-P", "1000", "-r", str(RB_KEYSPACE), "-t", "hset")
    rb_n = ctx.count(RB_PIPE_N)
    ctx.record_benchmark(RB_SINGLE_PIPE, "-c", "1", *rb, n=rb_n, info=True, around=on_cluster)
    for label in (CL_CPIPE, CL_REDIS):
        expect(f"{label}: fields written", _fields_written(cluster, prefixes[label]) -
                _fields_written(cluster, prefixes[label] + "warm:"), n)
    with ctx.admin() as a:
        p = a.pipeline(transaction=False)
        for k in range(HASHES):
            p.hlen(f"{prefixes[CL_SINGLE]}{k}")
        expect(f"{CL_SINGLE}: fields written", sum(p.execute()), n)
    cluster.flushall()
    ctx.flushall()


def _benchmark_set_get(ctx: Context, label: str, args: tuple, n: int, around: Any) -> None:
    """redis-benchmark `-t set,get`, n requests per test, half before and half after around();
    records '<label> SET+GET' as (N_set + N_get) / (t_set + t_get), with its CPU per request."""
    secs = {"SET": 0.0, "GET": 0.0}
    client, server = 0.0, 0.0
    for k, part in enumerate([n // 2, n - n // 2]):
        if k:
            around()
        with ctx.meter() as m:
            rates = ctx.redis_benchmark_tests(*args, "-t", "set,get", n=part, note_suffix=(
                f" (twice: before and after the clients, {n:,} requests per test in all)"))
        for t in secs:
            if t not in rates:
                raise RuntimeError(f"redis-benchmark gave no {t} line: {rates}")
            secs[t] += part / rates[t]
        client += m.client
        server = None if server is None or m.server is None else server + m.server
    total = 2 * n
    ctx.record(f"{label} SET+GET", total / sum(secs.values()),
               cpu=(client / total * 1e6, None if server is None else server / total * 1e6))


@case(
    "cluster_threads16", "16 threads × (2,500 SET then 2,500 GET), one RedisCluster (issue 10)", order=1210,
    targets=[Target(T_CPIPE, T_REDIS, at_least=4)],
    description=(
        "16 Python threads started together share ONE cluster client; thread k does `set(key, i)` for its own "
        "2,500 keys (spread over all slots of the local 6-node cluster), then `get(key)` for each, one command "
        "at a time, in 4 rounds, the clients taking turns round by round. cpipe.RedisCluster (one shared, "
        "auto-pipelined connection per node) against redis-py's `redis.cluster.RedisCluster` (hiredis, "
        "`protocol=2`, a connection pool per node: a connection per thread); cpipe.Redis(autopipeline=True) on "
        "the standalone server with the same 16 threads (info: one shared connection, as each node gets). The anchor is `redis-benchmark --cluster "
        "-c 16 -P 1 -t set,get` (16 connections spread over the primaries, one request in flight each; 200,000 "
        "requests per test, as its --cluster rate needs long runs), half before and half after the clients, SET and GET combined as (N_set + N_get) / (t_set + t_get). Every "
        "GET reply is checked against its own key's value, and every key (MGET) after the case."),
)
def cluster_threads16(ctx: Context) -> None:
    import cpipe

    per = ctx.count(2_500, minimum=4)
    cluster = _the_cluster()
    cluster.flushall()
    ctx.flushall()
    where = _Where(ctx, cluster)
    ours, theirs = _cluster_clients(ctx, cluster)
    # Auto-pipelined, as RedisCluster's connection to each node is.
    single = cpipe.Redis(host=ctx.host, port=ctx.port, socket_timeout=ctx.default_timeout, autopipeline=True)
    ctx.on_close(single.close)
    clients = {T_CPIPE: (ours, where.on_cluster), T_REDIS: (theirs, where.on_cluster),
               T_SINGLE: (single, where.on_standalone)}
    keys = {label: [[f"bench:ct16:{label}:{k}:{i}" for i in range(per)] for k in range(NTHREADS)]
            for label in clients}
    want = [str(i).encode() for i in range(per)]

    def load(label: str, client: Any, ks: Optional[list] = None) -> Any:
        return set_get_rounds(label, client, ks or keys[label], want, ctx.remaining)

    for label, (c, _) in clients.items():  # warm-up, untimed: every node connected, pools filled
        warm = [[f"bench:ct16:warm:{label}:{k}:{i}" for i in range(per)] for k in range(NTHREADS)]
        load(label, c, warm)(0, min(per, 200))()
    acc = ctx.interleaved()

    def run_clients() -> None:
        try:
            acc.run([(label, load(label, c), before) for label, (c, before) in clients.items()],
                    per, max(1, per // 4), ops_per_item=2 * NTHREADS)
        finally:
            where.on_cluster()  # redis-benchmark's second half runs on the cluster
        acc.record(info=[T_SINGLE])

    with where.cluster():
        _benchmark_set_get(ctx, RB_CL_THREADS, ("--cluster", "-c", "16", "-P", "1"), ctx.count(RB_THREADS_N),
                           around=run_clients)
    for label in (T_CPIPE, T_REDIS):
        got = theirs.mget_nonatomic([k for ks in keys[label] for k in ks])
        expect(f"{label}: values of every key", got, want * NTHREADS)
    with ctx.admin() as a:
        expect(f"{T_SINGLE}: values of every key", [v for ks in keys[T_SINGLE] for v in a.mget(ks)],
                want * NTHREADS)
    cluster.flushall()
    ctx.flushall()
