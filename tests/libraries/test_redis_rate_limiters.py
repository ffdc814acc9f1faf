"""redis-rate-limiters (limiters): a semaphore and a token bucket as Lua scripts on our client."""
from __future__ import annotations

import threading
import time

from limiters import SyncSemaphore, SyncTokenBucket


def test_semaphore_bounds_concurrency(make_client):
    r = make_client()
    inside, peak, lock = [0], [0], threading.Lock()

    def job() -> None:
        sem = SyncSemaphore(connection=r, name="cpipe-sem", capacity=2, max_sleep=20, expiry=30)
        assert sem.connection is r
        with sem:
            with lock:
                inside[0] += 1
                peak[0] = max(peak[0], inside[0])
            time.sleep(0.05)
            with lock:
                inside[0] -= 1

    threads = [threading.Thread(target=job) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert peak[0] == 2


def test_token_bucket_delays_past_capacity(make_client):
    r = make_client()
    bucket = SyncTokenBucket(connection=r, name="cpipe-bucket", capacity=2,
                             refill_frequency=0.2, refill_amount=1, max_sleep=5)
    slept = []
    start = time.monotonic()
    for _ in range(4):
        with bucket as sleep_time:
            slept.append(sleep_time)
    # Two tokens at once, then one per refill: each later entry waits ~0.2s.
    assert slept[:2] == [0, 0]
    assert all(0.1 < s <= 0.25 for s in slept[2:]), slept
    assert time.monotonic() - start >= 0.35
