"""The new-user case: redis-py 8 with its defaults (it sends HELLO 3) and
with protocol=3 against `python -m cpipe.server` started as a subprocess,
beside a real redis-server 7.0 running the same steps: both must give the
same results. Plus redis-py's client-side cache (cache_config), which
redis-py allows only for a server that says it is Redis 7.4 or later."""
import time

import pytest
import redis
from redis.cache import CacheConfig

from tests._servers import start_reference_server


@pytest.fixture(scope="module")
def ref_default():
    srv = start_reference_server()
    yield srv
    srv.stop()


@pytest.fixture(params=["ref", "real"])
def any_server(request, ref_default, real_server):
    return ref_default if request.param == "ref" else real_server


def _wait_message(p, kind, timeout=2.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = p.get_message(timeout=0.1)
        if m is not None and m["type"] == kind:
            return m
    raise AssertionError(f"no {kind} message within {timeout}s")


@pytest.mark.parametrize("kwargs", [{}, {"protocol": 3}], ids=["defaults", "protocol3"])
def test_redispy_defaults_and_resp3(any_server, kwargs):
    r = redis.Redis(port=any_server.port, db=7, **kwargs)
    try:
        assert r.ping() is True
        r.flushdb()
        assert r.execute_command("HELLO", 3)[b"proto"] == 3
        assert r.set("k", "v") is True
        assert r.get("k") == b"v"
        assert r.get("missing") is None
        assert r.hset("h", mapping={"a": "1", "b": "2"}) == 2
        assert r.hgetall("h") == {b"a": b"1", b"b": b"2"}
        assert r.hgetall("nope") == {}
        assert r.sadd("s", "x", "y") == 2
        assert r.smembers("s") == {b"x", b"y"}
        assert r.zadd("z", {"m": 1.5, "n": 2}) == 2
        assert r.zscore("z", "m") == 1.5
        assert r.zincrby("z", 1, "m") == 2.5
        # tuples with the defaults (redis-py's legacy reply shapes), lists with protocol=3
        assert [tuple(x) for x in r.zrange("z", 0, -1, withscores=True)] == [(b"n", 2.0),
                                                                              (b"m", 2.5)]
        assert r.incrbyfloat("f", "0.1") == 0.1
        assert r.config_get("databases") == {"databases": "16"}
        assert r.lpop("nolist") is None
        assert "redis_version" in r.info("server")
        assert r.client_info()["resp"] == "3"
        with r.pipeline() as pipe:
            pipe.set("p", "1").incr("p").hgetall("h").zscore("z", "n")
            assert pipe.execute() == [True, 2, {b"a": b"1", b"b": b"2"}, 2.0]

        p = r.pubsub()
        p.subscribe("ch")
        assert _wait_message(p, "subscribe")["channel"] == b"ch"
        p.psubscribe("c*")
        assert _wait_message(p, "psubscribe")["pattern"] is None
        assert r.publish("ch", "hi") == 2
        m = _wait_message(p, "message")
        assert (m["channel"], m["data"]) == (b"ch", b"hi")
        m = _wait_message(p, "pmessage")
        assert (m["pattern"], m["data"]) == (b"c*", b"hi")
        p.ping()  # RESP3: a plain PONG on a subscribed connection
        _wait_message(p, "pong")
        p.unsubscribe("ch")
        assert _wait_message(p, "unsubscribe")["channel"] == b"ch"
        p.close()
    finally:
        r.close()


def test_redispy_cache_refused_as_redis70(any_server):
    """redis-py checks the HELLO reply: Redis 7.0 (and this server, which
    reports 7.0.0) is refused before any command."""
    r = redis.Redis(port=any_server.port, protocol=3, cache_config=CacheConfig())
    try:
        with pytest.raises(redis.ConnectionError, match="7.4 or later"):
            r.ping()
    finally:
        r.close()


@pytest.fixture(scope="module")
def ref_74():
    srv = start_reference_server("--redis-version", "7.4.0")
    yield srv
    srv.stop()


def test_redispy_cache_with_reported_74(ref_74):
    """With `--redis-version 7.4.0` redis-py's cache runs on our tracking:
    a hit is served locally, a write from another client invalidates it."""
    r = redis.Redis(port=ref_74.port, protocol=3, cache_config=CacheConfig())
    other = redis.Redis(port=ref_74.port, protocol=2)
    try:
        r.flushall()
        assert r.set("k", "v1") is True
        assert r.get("k") == b"v1"
        cache = r.get_cache()
        assert cache.size == 1
        info = r.execute_command("CLIENT", "TRACKINGINFO")
        assert list(info[b"flags"]) == [b"on"] and info[b"redirect"] == 0
        assert r.get("k") == b"v1"  # from the cache
        assert other.set("k", "v2") is True
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            if r.get("k") == b"v2":
                break
            time.sleep(0.02)
        assert r.get("k") == b"v2"
        assert other.flushall() is True
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline and r.get("k") is not None:
            time.sleep(0.02)
        assert r.get("k") is None
    finally:
        r.close()
        other.close()
