"""cachelib: RedisCache(host=<a client object>) round trips."""
from __future__ import annotations

from cachelib.redis import RedisCache


def test_cache_round_trips(make_client, admin):
    r = make_client()
    cache = RedisCache(host=r, key_prefix="cl:", default_timeout=60, check_connection=True)
    assert cache._write_client is r and cache._read_client is r

    assert cache.set("page", {"html": "<p>hi</p>", "size": 9}) is True
    assert cache.get("page") == {"html": "<p>hi</p>", "size": 9}
    assert cache.add("page", "other") is False
    assert cache.has("page") is True
    assert 55 <= admin.ttl("cl:page") <= 60

    assert cache.set_many({"a": 1, "b": 2.5}, timeout=0) == ["a", "b"]
    assert admin.ttl("cl:a") == -1  # timeout 0: kept forever
    assert cache.get_many("a", "b", "c") == [1, 2.5, None]
    assert cache.inc("counter", 3) == 3 and cache.dec("counter") == 2
    assert cache.get("counter") == 2
    assert cache.delete_many("a", "b") == ["a", "b"]
    assert cache.delete("page") is True
    assert sorted(admin.keys("*")) == [b"cl:counter"]
    assert cache.clear() is True
    assert admin.dbsize() == 0
