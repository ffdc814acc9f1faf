"""arq (pins redis<6): jobs enqueued and run by a burst worker, on cpipe's asyncio client.

arq's pool is ArqRedis, a subclass of redis.asyncio.Redis that adds
enqueue_job; so the way to put arq on cpipe is the same subclass over
cpipe.asyncio.Redis, which comes before redis.asyncio.Redis in its MRO.
"""
from __future__ import annotations

import asyncio

import pytest
from arq.connections import ArqRedis
from arq.jobs import JobStatus
from arq.worker import Worker

# arq calls redis-py 5's deprecated close() itself.
pytestmark = pytest.mark.filterwarnings("ignore:Call to deprecated close:DeprecationWarning")


async def add(ctx, a, b):
    await ctx["redis"].incr("arq:calls")
    return a + b


async def explode(ctx):
    raise RuntimeError("kaboom")


def pool_class(make_async_client) -> type:
    if make_async_client.kind == "redis-py":
        return ArqRedis
    return type("CpipeArqRedis", (ArqRedis, make_async_client.cls), {})


def test_enqueue_and_run_jobs_with_a_burst_worker(make_async_client, real_server, admin):
    cls = pool_class(make_async_client)

    async def scenario():
        pool = cls(host="127.0.0.1", port=real_server.port)
        assert isinstance(pool, make_async_client.cls)
        worker = Worker(functions=[add, explode], redis_pool=pool, burst=True, poll_delay=0.05,
                        max_tries=1, handle_signals=False)
        try:
            jobs = [await pool.enqueue_job("add", i, 100) for i in range(10)]
            bad = await pool.enqueue_job("explode")
            assert await jobs[0].status() == JobStatus.queued
            await worker.main()
            assert worker.jobs_complete == 10 and worker.jobs_failed == 1
            assert [await j.result(timeout=5) for j in jobs] == [i + 100 for i in range(10)]
            with pytest.raises(RuntimeError, match="kaboom"):
                await bad.result(timeout=5)
            assert await jobs[0].status() == JobStatus.complete
        finally:
            await worker.close()

    asyncio.run(asyncio.wait_for(scenario(), 60))
    assert admin.get("arq:calls") == b"10"
