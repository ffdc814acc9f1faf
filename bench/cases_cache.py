"""Client-side caching (python/cpipe/cache.py, docs/caching.md).

`cache_get`: a hit never leaves Python, so a cached GET is compared with the
same client's uncached GET (one round trip), taking turns chunk by chunk;
redis-py 8's own cache runs beside them when the server accepts it (redis-py
refuses servers older than Redis 7.4, and says so in the notes).
`cache_invalidation`: how long another client's write takes to reach the
cache: from just before the writer's SET to the first read that returns the
new value (and, separately, from the SET's acknowledgement).
"""
from __future__ import annotations

import time

from harness import Context, Target, case

_KEYS = 1000


def _cached_client(ctx: Context, **kw):
    from redis.cache import CacheConfig

    return ctx.cpipe_client(cache_config=CacheConfig(max_size=10_000), **kw)


def _redis_py_cached(ctx: Context):
    """redis-py 8's cache (RESP3), or None with a note when it refuses the server."""
    import redis
    from redis.cache import CacheConfig

    try:
        r = redis.Redis(host=ctx.host, port=ctx.port, protocol=3, cache_config=CacheConfig(max_size=10_000),
                        socket_timeout=ctx.default_timeout)
        r.get("bench:cache:0")
    except Exception as exc:  # noqa: BLE001 - the reason goes in the report
        version = ctx.admin().info("server").get("redis_version")
        note = f"redis-py {redis.__version__}'s cache refused redis-server {version}: {exc}"
        ctx.note(note)
        if ctx.verbose:
            print(f"    note: {note}", flush=True)
        return None
    ctx.on_close(r.close)
    return r


@case(
    "cache_get", "Cached GET of 1,000 hot keys (100% hits) vs uncached GET", order=1100,
    targets=[Target("cpipe cached get", "cpipe get (no cache)", at_least=50.0,
                    note="a hit is a dict lookup in Python, a miss a round trip")],
    description=(
        "1,000 keys of 16 bytes read once into a cpipe.Redis(cache_config=CacheConfig()) (warm-up, "
        "untimed), then `c.get(key)` over them round robin: every read a hit. Beside it the same "
        "reads on a cpipe.Redis without a cache (one round trip each), and on redis-py 8 with "
        "protocol=3 and its CacheConfig when the server accepts it, taking turns in chunks of 10,000."),
)
def cache_get(ctx: Context) -> None:
    n = ctx.count(100_000)
    ctx.flushall()
    admin = ctx.admin()
    keys = [f"bench:cache:{i}" for i in range(_KEYS)]
    admin.mset({k: f"value-{i:010d}" for i, k in enumerate(keys)})
    cached = _cached_client(ctx)
    plain = ctx.cpipe_client()
    for k in keys:
        cached.get(k)
    stats = cached.get_cache().stats
    clients = [("cpipe cached get", cached), ("cpipe get (no cache)", plain)]
    rp = _redis_py_cached(ctx)
    if rp is not None:
        for k in keys:
            rp.get(k)
        clients.append(("redis-py 8 cached get", rp))

    def load_for(c):
        get = c.get

        def load(a, b):
            out = None
            for i in range(a, b):
                out = get(keys[i % _KEYS])
            want = f"value-{(b - 1) % _KEYS:010d}".encode()

            def check():
                if out != want:
                    raise AssertionError(f"last reply {out!r}, expected {want!r}")
            return check
        return load

    hits, misses = stats.hits, stats.misses
    acc = ctx.interleaved()
    acc.run([(label, load_for(c)) for label, c in clients], n, 10_000)
    if stats.misses != misses or stats.hits - hits != n:
        raise AssertionError(f"expected {n} hits and no miss, got {stats.hits - hits} hits, "
                             f"{stats.misses - misses} misses")
    acc.record(info=["redis-py 8 cached get"])


@case(
    "cache_invalidation", "Invalidation latency: another client's SET until the cache returns it",
    order=1101,
    description=(
        "A redis-py client SETs a key that a cpipe.Redis(cache_config=...) has cached (and read "
        "back as a hit); the cpipe client then reads it in a loop until it returns the new value. "
        "'write to new value' is from just before the SET to that read; 'ack to new value' from "
        "the SET's reply. 2,000 samples, microseconds."),
)
def cache_invalidation(ctx: Context) -> None:
    n = ctx.count(2_000)
    ctx.flushall()
    writer = ctx.redis_py()
    cached = _cached_client(ctx)
    key = "bench:cache:inval"
    writer.set(key, -1)
    from_write, from_ack = [], []
    deadline = time.monotonic() + ctx.remaining()
    for i in range(n):
        want = str(i).encode()
        cached.get(key)
        cached.get(key)  # a hit: the old value is cached and tracked
        t0 = time.perf_counter_ns()
        writer.set(key, i)
        t1 = time.perf_counter_ns()
        while cached.get(key) != want:
            if time.monotonic() > deadline:
                raise AssertionError("the invalidation never arrived")
        t2 = time.perf_counter_ns()
        from_write.append(t2 - t0)
        from_ack.append(t2 - t1)
    ctx.record_latency("write to new value", from_write)
    ctx.record_latency("ack to new value", from_ack)
