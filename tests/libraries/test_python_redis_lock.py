"""python-redis-lock (redis_lock): a lock taken, contended, renewed and released."""
from __future__ import annotations

import threading

import pytest
import redis_lock


def test_lock_contention_expiry_and_release(make_client, admin):
    r = make_client()
    # strict=True (the default) requires an instance of redis.StrictRedis.
    lock = redis_lock.Lock(r, "resource", expire=30)
    assert lock._client is r
    assert lock.acquire(blocking=False) is True
    assert lock.locked() is True
    assert admin.get("lock:resource") == lock.id.encode()
    assert 25 < admin.ttl("lock:resource") <= 30

    rival = redis_lock.Lock(r, "resource", expire=30)
    assert rival.acquire(blocking=False) is False
    lock.extend(expire=60)
    assert 55 < admin.ttl("lock:resource") <= 60

    # A waiter blocks (BLPOP on the signal list) until the holder releases.
    got: list = []
    waiter = threading.Thread(target=lambda: got.append(rival.acquire(blocking=True, timeout=10)))
    waiter.start()
    waiter.join(0.3)
    assert waiter.is_alive(), "the rival took a lock that is held"
    lock.release()
    waiter.join(10)
    assert got == [True]
    assert admin.get("lock:resource") == rival.id.encode()
    with pytest.raises(redis_lock.NotAcquired):
        lock.release()
    rival.release()
    assert admin.exists("lock:resource") == 0
