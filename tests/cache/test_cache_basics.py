"""Client-side caching on the sync client: hits, invalidation, bounds, shapes."""
from __future__ import annotations

import pytest
from redis.cache import CacheConfig as RedisPyCacheConfig

import cpipe
from cpipe.cache import CacheConfig, ClientCache
from cpipe._options import InvalidOptionError

from .conftest import in_band, in_band_clients, redirect_clients, wait_until


def make(server, **kw):
    cfg = kw.pop("cache_config", None) or RedisPyCacheConfig(max_size=1000)
    return cpipe.Redis(host="127.0.0.1", port=server.port, socket_timeout=10, cache_config=cfg, **kw)


def test_redis_py_cache_config_is_accepted_and_hits_are_counted(own_server, writer):
    writer.set("k", "v1")
    with make(own_server) as r:
        cache = r.get_cache()
        assert isinstance(cache, ClientCache)
        assert r.get("k") == b"v1"
        assert (cache.stats.hits, cache.stats.misses) == (0, 1)
        assert r.get("k") == b"v1"
        assert r.get("k") == b"v1"
        assert (cache.stats.hits, cache.stats.misses) == (2, 1)
        assert cache.size == 1
        # redis-py's CacheInterface: get by argument tuple, delete by redis key
        assert cache.get(("GET", "k")) == b"v1"
        assert cache.delete_by_redis_keys([b"k"]) == [True]
        assert cache.size == 0


def test_another_clients_write_is_seen_once_its_invalidation_arrives(own_server, writer, proto):
    writer.set("k", "old")
    with make(own_server, **proto) as r:
        assert r.get("k") == b"old"
        assert r.get("k") == b"old"  # a hit
        # RESP3: in band, no invalidation connection; RESP2: REDIRECT to one.
        if in_band(proto):
            assert len(in_band_clients(writer)) == 1 and redirect_clients(writer) == []
        else:
            assert in_band_clients(writer) == [] and len(redirect_clients(writer)) == 1
        writer.set("k", "new")
        wait_until(lambda: r.get("k") == b"new", what="the invalidation")
        assert r.get_cache().stats.invalidations >= 1
        assert r.get("k") == b"new"
        assert r.get_cache().stats.hits >= 2


def test_a_client_reads_its_own_writes_at_once(own_server, proto):
    with make(own_server, **proto) as r:
        for i in range(200):
            r.set("mine", i)
            assert r.get("mine") == str(i).encode()  # no wait: the write dropped the entry
            assert r.get("mine") == str(i).encode()
        r.hset("h", "f", "1")
        assert r.hget("h", "f") == b"1"
        r.hincrby("h", "f", 5)
        assert r.hget("h", "f") == b"6"
        r.delete("mine")
        assert r.get("mine") is None


def test_mget_is_invalidated_by_any_of_its_keys(own_server, writer, proto):
    writer.mset({"a": "1", "b": "2", "c": "3"})
    with make(own_server, **proto) as r:
        assert r.mget("a", "b", "c") == [b"1", b"2", b"3"]
        assert r.mget("a", "b", "c") == [b"1", b"2", b"3"]
        hits = r.get_cache().stats.hits
        assert hits == 1
        writer.set("c", "33")
        wait_until(lambda: r.mget("a", "b", "c") == [b"1", b"2", b"33"], what="MGET's invalidation by its last key")
        writer.set("a", "11")
        wait_until(lambda: r.mget("a", "b", "c") == [b"11", b"2", b"33"], what="MGET's invalidation by its first key")


def test_a_cached_list_reply_is_the_callers_own(own_server, writer):
    writer.rpush("l", "x", "y")
    with make(own_server) as r:
        first = r.lrange("l", 0, -1)
        first.append(b"mutated")
        second = r.lrange("l", 0, -1)
        assert second == [b"x", b"y"]
        second.clear()
        assert r.lrange("l", 0, -1) == [b"x", b"y"]
        assert r.get_cache().stats.hits == 2


def test_callbacks_apply_to_cached_replies(own_server, writer):
    writer.hset("h", mapping={"a": "1", "b": "2"})
    writer.zadd("z", {"m": 1.5})
    with make(own_server) as r:
        assert r.hgetall("h") == {b"a": b"1", b"b": b"2"}
        d = r.hgetall("h")
        assert d == {b"a": b"1", b"b": b"2"}
        d[b"c"] = b"3"
        assert r.hgetall("h") == {b"a": b"1", b"b": b"2"}
        assert r.zscore("z", "m") == 1.5
        assert r.zscore("z", "m") == 1.5
        assert r.zrange("z", 0, -1, withscores=True) == [(b"m", 1.5)]
        assert r.zrange("z", 0, -1, withscores=True) == [(b"m", 1.5)]
        assert r.exists("h", "z", "nope") == 2
        assert r.exists("h", "z", "nope") == 2
        assert r.get_cache().stats.hits >= 5


def test_decode_responses_and_bytes_or_str_keys(own_server, writer):
    writer.set("ключ", "значение")
    with make(own_server, decode_responses=True) as r:
        assert r.get("ключ") == "значение"
        assert r.get("ключ".encode()) == "значение"
        assert r.get("ключ") == "значение"
        assert r.get("ключ".encode()) == "значение"
        assert r.get_cache().stats.hits == 2
        writer.set("ключ", "новое")
        wait_until(lambda: r.get("ключ") == "новое" and r.get("ключ".encode()) == "новое",
                   what="invalidation of the str and the bytes spelling")


def test_int_and_str_arguments_are_not_confused(own_server, writer):
    writer.set("1", "one")
    writer.set("1.0", "float")
    with make(own_server) as r:
        assert r.get(1) == b"one"
        assert r.get(1) == b"one"
        assert r.get("1") == b"one"
        assert r.get(1.0) == b"float"  # float arguments are never served from another key's entry
        writer.set("1", "uno")
        wait_until(lambda: r.get(1) == b"uno" and r.get("1") == b"uno", what="invalidation of an int-spelled key")


def test_flushdb_by_another_client_flushes_the_whole_cache(own_server, writer, proto):
    writer.mset({f"k{i}": i for i in range(20)})
    with make(own_server, **proto) as r:
        for i in range(20):
            assert r.get(f"k{i}") == str(i).encode()
        cache = r.get_cache()
        assert cache.size == 20
        flushes = cache.stats.flushes
        writer.flushdb()
        wait_until(lambda: cache.size == 0 and cache.stats.flushes > flushes, what="the null invalidation")
        assert all(r.get(f"k{i}") is None for i in range(20))


def test_own_flushdb_flushes_at_once(own_server, writer, proto):
    writer.set("k", "v")
    with make(own_server, **proto) as r:
        assert r.get("k") == b"v"
        r.flushdb()
        assert r.get("k") is None


def test_entry_bound_evicts_least_recently_used(own_server, writer):
    writer.mset({f"k{i}": i for i in range(40)})
    with make(own_server, cache_config=RedisPyCacheConfig(max_size=10)) as r:
        cache = r.get_cache()
        for i in range(40):
            r.get(f"k{i}")
            r.get("k0")  # kept recent: never evicted
        assert cache.size == 10
        assert cache.stats.evictions == 40 - 10
        hits = cache.stats.hits
        assert r.get("k0") == b"0"
        assert r.get("k39") == b"39"
        assert cache.stats.hits == hits + 2
        assert r.get("k1") == b"1"  # evicted long ago: a miss
        assert cache.stats.hits == hits + 2


def test_byte_bound_evicts_and_refuses_an_oversized_reply(own_server, writer):
    writer.mset({f"k{i}": "x" * 300 for i in range(20)})
    writer.set("huge", "y" * 5000)
    with make(own_server, cache_config=CacheConfig(max_size=1000, max_bytes=2000)) as r:
        cache = r.get_cache()
        for i in range(20):
            assert r.get(f"k{i}") == b"x" * 300
        assert cache.bytes <= 2000
        assert 0 < cache.size < 20
        assert cache.stats.evictions == 20 - cache.size
        assert r.get("huge") == b"y" * 5000
        assert r.get("huge") == b"y" * 5000
        assert cache.stats.not_stored == 2
        assert cache.bytes <= 2000


def test_pipeline_reads_are_not_cached_and_pipeline_writes_invalidate(own_server, writer, proto):
    writer.set("k", "v1")
    with make(own_server, **proto) as r:
        cache = r.get_cache()
        with r.pipeline(transaction=False) as p:
            p.get("k").get("k")
            assert p.execute() == [b"v1", b"v1"]
        assert cache.size == 0 and cache.stats.misses == 0
        assert r.get("k") == b"v1"
        assert r.get("k") == b"v1"
        for transaction in (True, False):
            with r.pipeline(transaction=transaction) as p:
                p.set("k", f"t{transaction}").get("k")
                p.execute()
            assert r.get("k") == f"t{transaction}".encode()


def test_uncacheable_commands_are_not_cached(own_server, writer):
    writer.set("k", "v")
    with make(own_server) as r:
        r.ttl("k")
        r.ttl("k")
        r.randomkey()
        assert r.get_cache().size == 0
        assert r.get_cache().stats.hits == 0


def test_bcast_mode_with_prefixes(own_server, writer, proto):
    writer.mset({"user:1": "a", "other": "b"})
    cfg = CacheConfig(max_size=100, tracking_mode="bcast", prefixes=["user:"])
    with make(own_server, cache_config=cfg, **proto) as r:
        assert r.get("user:1") == b"a"
        assert r.get("user:1") == b"a"
        assert r.get("other") == b"b"
        assert r.get("other") == b"b"
        assert r.get_cache().stats.hits == 1  # "other" is not under a prefix: never cached
        writer.set("user:1", "aa")
        wait_until(lambda: r.get("user:1") == b"aa", what="a broadcast invalidation")
        tracked = [c for c in writer.client_list() if "t" in c["flags"]]
        assert tracked and all("B" in c["flags"] for c in tracked)


@pytest.mark.parametrize("cfg, message", [
    ("big", "cache_config must be a redis.cache.CacheConfig"),
    (CacheConfig(max_size=0), "max_size"),
    (CacheConfig(max_bytes=0), "max_bytes"),
    (CacheConfig(tracking_mode="optin"), "tracking_mode"),
    (CacheConfig(prefixes=["a"]), "bcast"),
    (CacheConfig(tracking_mode="bcast", prefixes=[""]), "prefixes"),
])
def test_bad_cache_config_is_refused_before_connecting(cfg, message):
    with pytest.raises(InvalidOptionError, match=message):
        cpipe.Redis(port=1, cache_config=cfg)


def test_a_redis_py_cache_object_is_refused():
    from redis.cache import CacheFactory

    with pytest.raises(InvalidOptionError, match="cache_config"):
        cpipe.Redis(port=1, cache=CacheFactory().get_cache())


def test_pool_shares_one_cache(own_server, writer, proto):
    writer.set("k", "v1")
    with cpipe.Pool(host="127.0.0.1", port=own_server.port, size=4, cache_config=RedisPyCacheConfig(), **proto) as p:
        assert [p.get("k") for _ in range(10)] == [b"v1"] * 10
        assert p.get_cache().stats.hits == 9
        assert len([c for c in writer.client_list() if "t" in c["flags"]]) >= 1
        writer.set("k", "v2")
        wait_until(lambda: p.get("k") == b"v2", what="the pool's invalidation")


def test_close_then_reuse_connects_and_caches_again(own_server, writer):
    writer.set("k", "v1")
    r = make(own_server)
    assert r.get("k") == b"v1"
    r.close()
    assert r.get("k") == b"v1"
    assert r.get("k") == b"v1"
    writer.set("k", "v2")
    wait_until(lambda: r.get("k") == b"v2", what="invalidation after reopening")
    r.close()


def test_never_decode_reads_are_cached_apart(real_own_server):
    """NEVER_DECODE reads on a decoding client are cached apart from decoded ones (the same
    GET answers bytes there, str here); DUMP, not in the allow list, is never cached."""
    import redis

    w = redis.Redis(host="127.0.0.1", port=real_own_server.port)
    w.set("raw", b"\xff\xfe")
    w.set("txt", "t")
    with make(real_own_server, decode_responses=True) as r:
        dumped = r.dump("raw")
        assert isinstance(dumped, bytes) and r.dump("raw") == dumped
        assert r.get("txt") == "t" and r.execute_command("GET", "txt", NEVER_DECODE=True) == b"t"
        assert r.get("txt") == "t" and r.execute_command("GET", "txt", NEVER_DECODE=True) == b"t"
        stats = r.get_cache().stats
        assert (stats.hits, stats.misses) == (2, 2)
    w.close()
