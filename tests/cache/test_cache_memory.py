"""The cache's C paths (bridge_cache.c) do not leak: hits, misses, invalidation
drains and the typed and unhashable fallbacks, many times over, with RSS flat."""
from __future__ import annotations

import gc

from redis.cache import CacheConfig

import cpipe
from tests.test_bridge_memory import rss_kib

ROUNDS = 4
PER_ROUND = 20_000


def exercise(r: cpipe.Redis, writer: cpipe.Redis, n: int) -> None:
    for i in range(n):
        r.get("m:k")  # hits (C)
        r.hgetall("m:h")  # a hit with a callback
        r.lrange("m:l", 0, -1)  # a list hit: copied
        r.get(7)  # a typed entry
        r.execute_command("GET", "m:k")  # _exec's C path
        if i % 50 == 0:
            writer.set("m:k", i)  # an invalidation to drain, a miss after it
            r.get(bytearray(b"m:k"))  # unhashable: the Python path


def test_cache_paths_do_not_leak(own_server):
    r = cpipe.Redis(host="127.0.0.1", port=own_server.port, cache_config=CacheConfig(max_size=100))
    writer = cpipe.Redis(host="127.0.0.1", port=own_server.port)
    try:
        writer.hset("m:h", mapping={"a": "1"})
        writer.rpush("m:l", "x", "y")
        writer.set(7, "seven")
        exercise(r, writer, PER_ROUND)  # warm-up: caches, buffers, arenas
        gc.collect()
        base = rss_kib()
        for _ in range(ROUNDS):
            exercise(r, writer, PER_ROUND)
        gc.collect()
        grown = rss_kib() - base
        stats = r.get_cache().stats
        assert stats.hits > ROUNDS * PER_ROUND * 4
        # ~500,000 hits: a leak of one small object per hit would be > 20 MiB.
        assert grown < 8 * 1024, f"RSS grew by {grown} KiB"
    finally:
        r.close()
        writer.close()
