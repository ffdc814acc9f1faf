"""pyrate-limiter: a RedisBucket (a Lua script on our client) enforcing a rate."""
from __future__ import annotations

import asyncio

from pyrate_limiter import Duration, Limiter, Rate, RedisBucket
from pyrate_limiter.limiter import SingleBucketFactory


def test_rate_is_enforced_per_name(make_client, admin):
    r = make_client()
    bucket = RedisBucket.init([Rate(3, Duration.MINUTE)], r, "cpipe-test-bucket")
    assert bucket.redis is r
    # No leak thread: it sleeps 10 s between rounds, outliving the test
    # (and its client); the test does not need old items leaked.
    limiter = Limiter(SingleBucketFactory(bucket, schedule_leak=False))
    try:
        assert [limiter.try_acquire("user-1", blocking=False) for _ in range(4)] == [True, True, True, False]
        assert bucket.count() == 3
        assert admin.zcard("cpipe-test-bucket") == 3
        # A heavier item does not fit into what is left either.
        assert limiter.try_acquire("user-1", weight=2, blocking=False) is False
        bucket.flush()
        assert admin.exists("cpipe-test-bucket") == 0
        assert limiter.try_acquire("user-1", blocking=False) is True
    finally:
        limiter.close()


def test_async_bucket_on_an_asyncio_client(make_async_client, admin):
    async def scenario():
        r = make_async_client()
        try:
            bucket = await RedisBucket.init([Rate(2, Duration.MINUTE)], r, "cpipe-async-bucket")
            assert bucket.redis is r
            limiter = Limiter(bucket)
            got = [await limiter.try_acquire_async("user-2", blocking=False) for _ in range(3)]
            assert got == [True, True, False]
            assert await bucket.count() == 2
            # Stops the leak task before its client goes.
            assert limiter.dispose(bucket) is True
            limiter.close()
        finally:
            await r.aclose()

    asyncio.run(asyncio.wait_for(scenario(), 30))
    assert admin.zcard("cpipe-async-bucket") == 2
