"""Client-side caching against the reference server (python -m cpipe.server),
which tracks keys as Redis 7.0 does and can drop or hold invalidations:
the faults a real server cannot be made to produce on demand."""
from __future__ import annotations

import threading
import time

import pytest
import redis
from redis.cache import CacheConfig

import cpipe
from tests._servers import start_reference_server

from .conftest import in_band_clients, redirect_clients, tracking_clients, wait_until


@pytest.fixture
def ref_server():
    srv = start_reference_server("--enable-faults")
    yield srv
    srv.stop()


@pytest.fixture
def ref_writer(ref_server):
    w = redis.Redis(host="127.0.0.1", port=ref_server.port, protocol=2)
    yield w
    w.close()


def make(server, **kw):
    return cpipe.Redis(host="127.0.0.1", port=server.port, socket_timeout=10, cache_config=CacheConfig(), **kw)


def test_hits_invalidation_and_flushdb(ref_server, ref_writer, proto):
    ref_writer.mset({"a": "1", "b": "2"})
    with make(ref_server, **proto) as r:
        cache = r.get_cache()
        assert r.mget("a", "b") == [b"1", b"2"] and r.get("a") == b"1"
        assert r.mget("a", "b") == [b"1", b"2"] and r.get("a") == b"1"
        assert cache.stats.hits == 2
        ref_writer.set("b", "22")
        wait_until(lambda: r.mget("a", "b") == [b"1", b"22"], what="the reference server's invalidation")
        assert r.get("a") == b"1"  # not invalidated by b
        flushes = cache.stats.flushes
        ref_writer.flushdb()
        wait_until(lambda: cache.stats.flushes > flushes and cache.size == 0, what="the null invalidation")
        assert r.get("a") is None


def test_an_invalidation_lost_with_the_redirect_connection_flushes(ref_server, ref_writer):
    """CLOSE-BEFORE-INVALIDATE: the write happened, its invalidation is dropped with the
    invalidation connection. The loss flushes the cache; the new value is read.
    RESP2 only: over RESP3 there is no redirect (the in-band case is below)."""
    ref_writer.set("k", "old")
    with make(ref_server, protocol=2) as r:
        cache = r.get_cache()
        assert r.get("k") == b"old" and r.get("k") == b"old"
        (old_redirect,) = redirect_clients(ref_writer)
        flushes = cache.stats.flushes
        ref_writer.execute_command("CPIPE.FAULT", "CLOSE-BEFORE-INVALIDATE", "GLOBAL")
        try:
            ref_writer.set("k", "new")  # acknowledged; the message for our redirect is not sent
            wait_until(lambda: cache.stats.flushes > flushes, what="the flush after losing the redirect")
        finally:
            ref_writer.execute_command("CPIPE.FAULT", "CLEAR", "GLOBAL")
        assert r.get("k") == b"new"
        wait_until(lambda: redirect_clients(ref_writer) and redirect_clients(ref_writer)[0]["id"] != old_redirect["id"],
                   what="the new invalidation connection")
        wait_until(lambda: {c["redir"] for c in tracking_clients(ref_writer)} == {redirect_clients(ref_writer)[0]["id"]},
                   what="re-pointing")
        assert r.get("k") == b"new"
        ref_writer.set("k", "newer")
        wait_until(lambda: r.get("k") == b"newer", what="invalidation through the new redirect")


@pytest.mark.parametrize("protocol", [3, None], ids=["resp3", "protocol-default"])
def test_an_invalidation_lost_with_the_tracking_connection_flushes_in_band(ref_server, ref_writer, protocol):
    """CLOSE-BEFORE-INVALIDATE on our own RESP3 connection: the write happened, its
    invalidation push is dropped with the tracked connection. The loss flushes the cache
    (the connection is idle: the engine's watcher notices), the new value is read, and
    the reconnected connection tracks in band again."""
    ref_writer.set("k", "old")
    with make(ref_server, protocol=protocol) as r:
        cache = r.get_cache()
        assert r.get("k") == b"old" and r.get("k") == b"old"
        assert len(in_band_clients(ref_writer)) == 1 and redirect_clients(ref_writer) == []
        r.execute_command("CPIPE.FAULT", "CLOSE-BEFORE-INVALIDATE")  # on r's own (tracking) connection
        flushes = cache.stats.flushes
        ref_writer.set("k", "new")  # acknowledged; our push is not sent, our connection is reset
        wait_until(lambda: cache.stats.flushes > flushes and cache.size == 0, what="the flush after the loss")
        assert r.get("k") == b"new"
        assert r.get("k") == b"new"
        assert len(in_band_clients(ref_writer)) == 1 and redirect_clients(ref_writer) == []
        ref_writer.set("k", "newer")
        wait_until(lambda: r.get("k") == b"newer", what="in-band invalidation on the new connection")


def test_a_reply_delayed_past_its_invalidation_is_not_cached(ref_server, ref_writer):
    """DELAY on our tracking connection: GET runs at once on the server (old value, tracked)
    but its reply is held; another client's SET is acknowledged and its invalidation
    reaches the engine while the GET is in flight. The old reply is returned, not stored.
    RESP2 (REDIRECT): the invalidation comes on another connection, so it can overtake
    the held reply. Over RESP3 it cannot (next test)."""
    ref_writer.set("k", "old")
    with make(ref_server, protocol=2) as r:
        cache = r.get_cache()
        assert r.get("k") == b"old"
        cache.delete_by_redis_keys(["k"])
        r.execute_command("CPIPE.FAULT", "DELAY", "400")  # on r's own (tracking) connection
        got = []
        t = threading.Thread(target=lambda: got.append(r.get("k")))
        events = cache._events()
        t.start()
        time.sleep(0.15)  # the GET has run on the server; its reply is held
        ref_writer.set("k", "new")
        wait_until(lambda: cache._events() != events, what="the invalidation reaching the engine")
        t.join(10)
        r.execute_command("CPIPE.FAULT", "CLEAR")
        assert got == [b"old"]  # what the server answered when the GET ran
        assert ("GET", "k") not in cache.collection
        assert cache.stats.not_stored >= 1
        assert r.get("k") == b"new"


@pytest.mark.parametrize("protocol", [3, None], ids=["resp3", "protocol-default"])
def test_in_band_a_held_reply_is_followed_by_its_invalidation(ref_server, ref_writer, protocol):
    """DELAY on our RESP3 tracking connection: GET runs at once (old value), its reply is
    held; another client's SET is acknowledged meanwhile. The invalidation push is sent
    on the same connection after the held reply, so the engine reads it right after that
    reply: once it is in, the old value is never served again."""
    ref_writer.set("k", "old")
    with make(ref_server, protocol=protocol) as r:
        cache = r.get_cache()
        assert r.get("k") == b"old"
        cache.delete_by_redis_keys(["k"])
        r.execute_command("CPIPE.FAULT", "DELAY", "400")  # on r's own (tracking) connection
        got = []
        t = threading.Thread(target=lambda: got.append(r.get("k")))
        events = cache._events()
        t.start()
        time.sleep(0.15)  # the GET has run on the server; its reply is held
        ref_writer.set("k", "new")  # acknowledged
        t.join(10)
        assert got == [b"old"]  # what the server answered when the GET ran
        wait_until(lambda: cache._events() != events, what="the invalidation behind the held reply")
        r.execute_command("CPIPE.FAULT", "CLEAR")
        assert r.get("k") == b"new"
        assert r.get("k") == b"new"
        assert cache.stats.hits >= 1


def test_a_delayed_invalidation_keeps_the_old_value_until_it_arrives(ref_server, ref_writer, proto):
    """DELAY-INVALIDATE on the invalidation connection (RESP2) or on the tracked connection
    itself (RESP3): until the message arrives a hit returns the old value (the documented
    window); once it arrives, never again."""
    ref_writer.set("k", "old")
    with make(ref_server, **proto) as r:
        cache = r.get_cache()
        assert r.get("k") == b"old" and r.get("k") == b"old"
        ref_writer.execute_command("CPIPE.FAULT", "DELAY-INVALIDATE", "1500", "GLOBAL")
        try:
            events = cache._events()
            ref_writer.set("k", "new")
            assert r.get("k") == b"old"  # a hit: the message is held for 1.5 s
            wait_until(lambda: cache._events() != events, what="the delayed invalidation")
            assert r.get("k") == b"new"
            assert r.get("k") == b"new"
        finally:
            ref_writer.execute_command("CPIPE.FAULT", "CLEAR", "GLOBAL")
