"""A caching client's pipelines keep argument tuples (not a pre-encoded
batch): the cache must see each write a pipeline sends, to drop what it
changes. Here rather than in tests/client because redis-py 5.0, which the
redis-5 suite runs tests/client with, has no client-side caching."""
from __future__ import annotations

from redis.cache import CacheConfig

import cpipe


def test_client_side_cache_pipeline_uses_argument_tuples(own_server):
    c = cpipe.Redis(host="127.0.0.1", port=own_server.port, socket_timeout=10, protocol=3,
                    cache_config=CacheConfig())
    try:
        c.execute_command("SET", "cached", "old")
        assert c.get("cached") == b"old"  # now in the cache
        p = c.pipeline(transaction=False)
        assert p._batch is None
        p.set("cached", "new").get("cached")
        assert p.execute() == [True, b"new"]
        assert c.get("cached") == b"new"
    finally:
        c.close()
