"""Client-side caching on cpipe.asyncio.Redis and Pool."""
from __future__ import annotations

import asyncio

import pytest
from redis.cache import CacheConfig

import cpipe.asyncio
from tests.asyncio_client._run import LOOP_KINDS, run

from .conftest import tracking_clients


@pytest.mark.parametrize("loop_kind", LOOP_KINDS)
@pytest.mark.parametrize("kind", ["Redis", "Pool"])
def test_async_hits_invalidation_and_own_writes(own_server, writer, loop_kind, kind, proto):
    writer.set("k", "v1")
    writer.hset("h", mapping={"a": "1"})

    async def main():
        cls = getattr(cpipe.asyncio, kind)
        r = cls(host="127.0.0.1", port=own_server.port, socket_timeout=10, cache_config=CacheConfig(max_size=100), **proto)
        try:
            cache = r.get_cache()
            assert await r.get("k") == b"v1"
            assert await r.get("k") == b"v1"
            assert await r.execute_command("GET", "k") == b"v1"
            assert await r.hgetall("h") == {b"a": b"1"}
            assert await r.hgetall("h") == {b"a": b"1"}
            assert cache.stats.hits == 3 and cache.stats.misses == 2
            writer.set("k", "v2")
            for _ in range(2500):
                if await r.get("k") == b"v2":
                    break
                await asyncio.sleep(0.002)
            assert await r.get("k") == b"v2"
            await r.set("k", "mine")
            assert await r.get("k") == b"mine"
            async with r.pipeline(transaction=True) as p:
                p.set("k", "piped").get("k")
                await p.execute()
            assert await r.get("k") == b"piped"
            # concurrent reads of one key: one or more misses, the rest hits, all equal
            assert set(await asyncio.gather(*(r.get("k") for _ in range(50)))) == {b"piped"}
            assert tracking_clients(writer)
        finally:
            await r.aclose()

    run(loop_kind, main())


def test_async_flush_when_the_tracking_connection_is_killed(own_server, writer, proto):
    writer.set("k", "v1")

    async def main():
        r = cpipe.asyncio.Redis(host="127.0.0.1", port=own_server.port, socket_timeout=10,
                                cache_config=CacheConfig(max_size=100), **proto)
        try:
            cache = r.get_cache()
            assert await r.get("k") == b"v1" and await r.get("k") == b"v1"
            flushes = cache.stats.flushes
            (tracked,) = tracking_clients(writer)
            writer.client_kill_filter(_id=tracked["id"])
            for _ in range(2500):
                if cache.size == 0 and cache.stats.flushes > flushes:
                    break
                await asyncio.sleep(0.002)
            assert cache.size == 0
            writer.set("k", "v2")
            assert await r.get("k") == b"v2"
        finally:
            await r.aclose()

    run("asyncio", main())
