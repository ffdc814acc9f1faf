"""saq (pins redis<8): RedisQueue(<asyncio client>), jobs applied to a running worker."""
from __future__ import annotations

import asyncio

import pytest
from saq import Worker
from saq.job import Status
from saq.queue.base import JobError
from saq.queue.redis import RedisQueue


async def double(ctx, *, n):
    return n * 2


async def explode(ctx):
    raise RuntimeError("kaboom")


def test_apply_jobs_on_a_running_worker(make_async_client, admin):
    async def scenario():
        r = make_async_client()
        queue = RedisQueue(r, name="cpipe-test")
        assert queue.redis is r
        worker = Worker(queue, functions=[double, explode], concurrency=4)
        running = asyncio.create_task(worker.start())
        try:
            # The worker's startup sweep aborts "active" jobs not yet marked
            # active, which races with its first dequeues: enqueue after it
            # (it holds its lock key for 60 s, so it does not run again).
            while not await r.exists(queue.namespace("sweep")):
                await asyncio.sleep(0.01)
            # apply() enqueues and waits for the job's completion message (pubsub).
            got = await asyncio.gather(*(queue.apply("double", n=i, timeout=10) for i in range(10)))
            assert got == [2 * i for i in range(10)]
            with pytest.raises(JobError, match="kaboom"):
                await queue.apply("explode", retries=0)
            job = await queue.enqueue("double", n=21)
            await job.refresh(until_complete=10)
            assert job.status == Status.COMPLETE and job.result == 42
            assert (await queue.info())["queued"] == 0
        finally:
            await worker.stop()
            await asyncio.gather(running, return_exceptions=True)
            await queue.disconnect()  # closes r too

    asyncio.run(asyncio.wait_for(scenario(), 60))
    assert admin.keys("saq:cpipe-test:*")
