"""pottery: Redlock on one master, and the RedisDict / RedisList containers."""
from __future__ import annotations

import pytest
from pottery import InefficientAccessWarning, RedisDict, RedisList, Redlock

# Initialising and listing a container is O(n); pottery says so each time.
pytestmark = pytest.mark.filterwarnings("ignore", category=InefficientAccessWarning)


def test_redlock_acquire_contend_release(make_client, admin):
    r = make_client()
    lock = Redlock(key="printer", masters={r}, auto_release_time=20)
    assert lock.masters == {r}
    assert lock.acquire(blocking=False) is True
    assert lock.locked() > 0  # milliseconds left
    assert admin.exists("redlock:printer") == 1
    rival = Redlock(key="printer", masters={r}, auto_release_time=20)
    assert rival.acquire(blocking=False) is False
    lock.extend()
    lock.release()
    assert admin.exists("redlock:printer") == 0
    with rival:
        assert rival.locked() > 0
    assert admin.exists("redlock:printer") == 0


def test_redis_dict_and_list_round_trip(make_client, admin):
    r = make_client()
    d = RedisDict({"a": 1, "b": [1, 2]}, redis=r, key="pottery:dict")
    assert d.redis is r
    d["c"] = {"x": "y"}
    assert d["b"] == [1, 2] and d["c"] == {"x": "y"}
    assert sorted(d) == ["a", "b", "c"]
    del d["a"]
    assert len(d) == 2 and admin.hlen("pottery:dict") == 2

    items = RedisList([1, "two"], redis=r, key="pottery:list")
    items.append(3.5)
    items.insert(0, None)
    assert list(items) == [None, 1, "two", 3.5]
    assert items.pop() == 3.5
    assert admin.llen("pottery:list") == 3
