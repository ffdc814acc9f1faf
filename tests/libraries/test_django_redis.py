"""django-redis: the cache backend with REDIS_CLIENT_CLASS set to the client under test.

django-redis builds its clients itself, as REDIS_CLIENT_CLASS(connection_pool=
<a redis-py ConnectionPool from the LOCATION url>), which is how a Django
project switches client class: so cpipe must take its options from a
redis-py pool it is given (without ever connecting that pool).
"""
from __future__ import annotations

import django
from django.conf import settings

if not settings.configured:
    settings.configure()
    django.setup()

from django_redis.cache import RedisCache  # noqa: E402


def dotted(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def test_cache_round_trips_and_a_lock(make_client, real_server, admin):
    cache = RedisCache(
        f"redis://127.0.0.1:{real_server.port}/0",
        {"KEY_PREFIX": "dj", "OPTIONS": {"REDIS_CLIENT_CLASS": dotted(make_client.cls)}},
    )
    client = cache.client.get_client(write=True)
    assert type(client) is make_client.cls
    try:
        cache.set("greeting", {"text": "hello", "n": [1, 2]}, timeout=60)
        assert cache.get("greeting") == {"text": "hello", "n": [1, 2]}
        assert 55 <= cache.ttl("greeting") <= 60
        assert cache.add("greeting", "other") is False
        assert cache.get("missing", default="dflt") == "dflt"

        cache.set("hits", 10)
        assert cache.incr("hits", 5) == 15
        assert cache.decr("hits") == 14
        assert cache.get("hits") == 14

        cache.set_many({"a": 1, "b": "two", "c": b"\x00three"})
        assert cache.get_many(["a", "b", "c", "nope"]) == {"a": 1, "b": "two", "c": b"\x00three"}
        assert sorted(cache.keys("*")) == ["a", "b", "c", "greeting", "hits"]
        assert cache.delete_pattern("[ab]") == 2
        assert cache.delete("c") is True
        assert cache.delete("c") is False
        # The keys really are in Redis under Django's key format.
        assert sorted(admin.keys("*")) == [b"dj:1:greeting", b"dj:1:hits"]

        lock = cache.lock("resource", timeout=10)
        assert lock.acquire(blocking=False) is True
        assert cache.lock("resource", timeout=10).acquire(blocking=False) is False
        assert admin.exists("dj:1:resource") == 1
        lock.release()
        assert admin.exists("dj:1:resource") == 0
    finally:
        client.close()
