"""Streamed bulk writes (issue 11): 1,000,000 HSET through `client.bulk()`.

The load is cut in chunks of 100,000 and the clients take turns chunk by
chunk (Context.interleaved); redis-benchmark runs half before and half after.
Every client writes its own hash, field i % 100,000 for command i (as
redis-benchmark's `-r 100000` fields: the server does the same work per
command), and each chunk's result is checked after the clock stops.
"""
from __future__ import annotations

from harness import Context, Target, case, expect

RB_KEYSPACE = 100_000  # redis-benchmark -r: __rand_int__ in 0..99,999
CHUNK = 100_000



def _loads(ctx: Context, prefix: str) -> list:
    """(label, load(start, stop)) for bulk(), cpipe pipeline(), credis pipelines and bulk's raw path."""
    cp, cr = ctx.cpipe_client(), ctx.credis()
    native = __import__("cpipe._engine", fromlist=["native"]).native()

    def bulk_load(a, b):
        k = f"{prefix}:bulk"
        with cp.bulk(batch=1000) as bk:
            hset = bk.hset
            for i in range(a, b):
                hset(k, i % RB_KEYSPACE, i)

        def check():
            expect("bulk acknowledged", (bk.acknowledged, bk.error_count), (b - a, 0))
        return check

    def pipeline_load(a, b):
        k = f"{prefix}:pipeline"
        last = None
        for s in range(a, b, 1000):
            p = cp.pipeline(transaction=False)
            for i in range(s, min(b, s + 1000)):
                p.hset(k, i % RB_KEYSPACE, i)
            last = p.execute()[-1]
        return lambda: expect("cpipe pipeline last reply", last in (0, 1), True)

    def credis_load(a, b):
        k = f"{prefix}:credis"
        last = None
        for s in range(a, b, 1000):
            last = cr.execute_pipeline(*[("HSET", k, i % RB_KEYSPACE, i) for i in range(s, min(b, s + 1000))])[-1]
        return lambda: expect("credis last reply", last in (0, 1), True)

    # The raw path's input, encoded untimed (as a loader reads it from a file).
    raw = {}

    def raw_load(a, b):
        data = raw.pop((a, b))
        with cp.bulk() as bk:
            for off in range(0, len(data), 1 << 20):
                bk.send_raw(data[off:off + (1 << 20)])
        return lambda: expect("raw acknowledged", bk.acknowledged, b - a)

    def prepare_raw(n):
        k = f"{prefix}:raw"
        for s in range(0, n, CHUNK):
            e = min(n, s + CHUNK)
            raw[(s, e)] = b"".join(native.encode("HSET", k, i % RB_KEYSPACE, i) for i in range(s, e))

    return [("cpipe bulk()", bulk_load), ("cpipe pipeline", pipeline_load), ("credis pipeline", credis_load),
            ("cpipe bulk send_raw", raw_load)], prepare_raw


@case(
    "bulk", "Bulk writes: 1,000,000 HSET through bulk() (issue 11)", order=25,
    targets=[Target("cpipe bulk()", "redis-benchmark -c 1 -P 1000", at_least=0.85),
             Target("cpipe bulk()", "credis pipeline", at_least=2),
             Target("cpipe bulk()", "cpipe pipeline", at_least=1)],
    description=(
        "1,000,000 HSET of one hash per client (field i % 100,000, as redis-benchmark's `-r 100000`), the "
        "clients taking turns 100,000 commands at a time: `with client.bulk(batch=1000) as b: "
        "b.hset(key, i % 100000, i)` (the time includes every reply and "
        "closing); cpipe `pipeline(transaction=False)` of 1,000 `hset` then `execute()`; credis "
        "`execute_pipeline(*cmds)` of 1,000. `bulk send_raw` (info) sends the same commands pre-encoded "
        "(encoded untimed) in 1 MiB chunks: the loader's path. The anchor is "
        "`redis-benchmark -c 1 -P 1000 HSET myhash __rand_int__ __rand_int__ -r 100000`, half before "
        "and half after the clients."),
)
def bulk(ctx: Context) -> None:
    n = ctx.count(1_000_000)
    ctx.flushall()
    loads, prepare_raw = _loads(ctx, "bench:bulk")
    warm, prepare_warm = _loads(ctx, "bench:bulkwarm")
    prepare_warm(min(n, 20_000))
    for _, load in warm:  # warm-up, untimed
        after = load(0, min(n, 20_000))
        if callable(after):
            after()
    ctx.flushall()
    prepare_raw(n)
    acc = ctx.interleaved()
    ctx.record_benchmark("redis-benchmark -c 1 -P 1000", "-c", "1", "-P", "1000", "-r", str(RB_KEYSPACE),
                         "HSET", "myhash", "__rand_int__", "__rand_int__", n=n,
                         around=lambda: (acc.run(loads, n, CHUNK), acc.record(info=["cpipe bulk send_raw"])))
    with ctx.admin() as a:
        for suffix in ("bulk", "pipeline", "credis", "raw"):
            expect(f"{suffix}: HLEN", a.hlen(f"bench:bulk:{suffix}"), min(n, RB_KEYSPACE))
    ctx.flushall()
