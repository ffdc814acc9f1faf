"""cpipe.asyncio's bulk(): plain command methods, awaited flush and exit."""
from __future__ import annotations

import asyncio

import pytest
import redis

import cpipe
import cpipe.asyncio


def run(coro):
    return asyncio.run(coro)


def test_asyncio_bulk_counts_and_errors(real_server):
    async def main():
        c = cpipe.asyncio.Redis(port=real_server.port)
        await c.flushall()
        await c.set("str", "v")
        async with c.bulk(batch=200, raise_on_error=False) as b:
            for i in range(20_000):
                b.hset(f"a:{i}", "f", i)
                if i % 1000 == 0:
                    await b.flush()
            b.lpush("str", "x")
        assert b.acknowledged == 20_001 and await c.dbsize() == 20_001
        assert [(i, args) for i, args, _ in b.errors] == [(20_000, (b"LPUSH", b"str", b"x"))]
        with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
            async with c.bulk() as b2:
                b2.lpush("str", "y")
        await c.aclose()

    run(main())


def test_asyncio_bulk_replies_and_raw(real_server):
    async def main():
        c = cpipe.asyncio.Redis(port=real_server.port, decode_responses=True)
        await c.delete("x", "y")
        async with c.bulk(replies=True) as b:
            b.set("x", "1")
            assert await b.send_raw(b"SET y 2\r\nGET y\r\n") == 2
            b.get("x")
        assert b.replies == [True, "OK", "2", "1"]  # raw commands' replies are not converted
        await c.aclose()

    run(main())


def test_asyncio_buffer_full_raises_until_flushed(fault_server):
    async def main():
        c = cpipe.asyncio.Redis(port=fault_server.port)
        await c.flushall()
        refused = 0
        async with c.bulk(batch=100, max_pending=500) as b:
            b.execute_command("CPIPE.FAULT", "DELAY", 100)
            for i in range(3000):
                try:
                    b.set(f"k{i}", i)
                except BufferError:
                    refused += 1
                    await b.flush()   # waits for room in a worker thread; the loop keeps running
                    b.set(f"k{i}", i)
                assert b.buffered <= 500
        assert refused > 0
        assert b.acknowledged == 3001 and await c.dbsize() == 3000
        await c.aclose()

    run(main())


def test_sync_with_on_async_bulk_is_refused(real_server):
    async def main():
        c = cpipe.asyncio.Redis(port=real_server.port)
        with pytest.raises(TypeError, match="async with"):
            with c.bulk():
                pass
        await c.aclose()

    run(main())
