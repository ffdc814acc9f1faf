"""Client-side caching when connections drop and when invalidations race replies."""
from __future__ import annotations

import threading
import time
from functools import partial

import pytest
import redis
from redis.cache import CacheConfig

import cpipe
from tests._servers import start_real_server

from .conftest import in_band_clients, redirect_clients, tracking_clients, wait_until


def make(server, **kw):
    return cpipe.Redis(host="127.0.0.1", port=server.port, socket_timeout=10,
                       cache_config=CacheConfig(max_size=1000), **kw)


def test_killing_the_tracking_connection_flushes_the_cache(own_server, writer, proto):
    writer.set("k", "v1")
    with make(own_server, **proto) as r:
        cache = r.get_cache()
        assert r.get("k") == b"v1" and r.get("k") == b"v1"
        flushes = cache.stats.flushes
        (tracked,) = tracking_clients(writer)
        writer.client_kill_filter(_id=tracked["id"])
        # The connection is idle: the engine's probe notices the loss and
        # the cache is flushed before any command is sent on it.
        wait_until(lambda: cache.size == 0 and cache.stats.flushes > flushes, what="the flush after CLIENT KILL")
        writer.set("k", "v2")  # the server no longer tracks our read: no invalidation will come
        assert r.get("k") == b"v2"
        assert r.get("k") == b"v2"
        writer.set("k", "v3")  # the new connection tracks again
        wait_until(lambda: r.get("k") == b"v3", what="invalidation on the new tracking connection")


def test_killing_the_redirect_connection_flushes_and_tracking_recovers(own_server, writer):
    """RESP2 only: over RESP3 there is no redirect connection (in band)."""
    writer.set("k", "v1")
    with make(own_server, protocol=2) as r:
        cache = r.get_cache()
        assert r.get("k") == b"v1" and r.get("k") == b"v1"
        (old,) = redirect_clients(writer)
        flushes = cache.stats.flushes
        writer.client_kill_filter(_id=old["id"])
        wait_until(lambda: cache.size == 0 and cache.stats.flushes > flushes, what="the flush after the redirect was killed")
        # The shared connection is re-pointed at the new invalidation connection.
        wait_until(lambda: [c["redir"] for c in tracking_clients(writer)] == [c["id"] for c in redirect_clients(writer)]
                   and redirect_clients(writer)[0]["id"] != old["id"], what="re-pointing at the new redirect")
        writer.set("k", "v2")
        wait_until(lambda: r.get("k") == b"v2", what="reading the write made while re-pointing")
        assert r.get("k") == b"v2"
        hits = cache.stats.hits
        assert r.get("k") == b"v2"
        assert cache.stats.hits == hits + 1  # caching again
        writer.set("k", "v3")
        wait_until(lambda: r.get("k") == b"v3", what="invalidation through the new redirect")


def test_server_restart_flushes_and_caching_resumes(own_server, writer, proto):
    writer.set("k", "v1")
    with make(own_server, **proto) as r:
        cache = r.get_cache()
        assert r.get("k") == b"v1" and r.get("k") == b"v1"
        own_server.restart()  # no persistence: the key is gone
        wait_until(lambda: cache.size == 0, what="the flush after the restart")
        wait_until(lambda: _get_or_none(r, "k") is None and _get_or_none(r, "k") is None, what="reconnecting")
        writer.set("k", "v2")
        wait_until(lambda: _get_or_none(r, "k") == b"v2", what="invalidation after the restart")


def _get_or_none(r, key):
    try:
        return r.get(key)
    except cpipe.ConnectionError:
        return "error"


def test_a_reply_in_flight_when_its_key_is_invalidated_is_not_stored(own_server, writer, proto):
    writer.set("k", "old")
    with make(own_server, **proto) as r:
        cache = r.get_cache()
        assert r.get("k") == b"old"  # cached; the server now tracks k for us
        r.get_cache().delete_by_redis_keys(["k"])
        real = partial(r._native.execute, r._h, None, r._max_bulk)  # the tracked shared connection, uncached

        def read_then_lose_the_race(*args):
            reply = real(*args)  # the server answered "old" and tracks the read
            before = cache._events()
            writer.set("k", "new")  # acknowledged: its invalidation is on its way
            wait_until(lambda: cache._events() != before, what="the engine receiving the invalidation")
            return reply  # only now does the read "complete"

        not_stored = cache.stats.not_stored
        assert cache._read_through(read_then_lose_the_race, ("GET", "k"), ("GET", "k")) == b"old"
        assert cache.stats.not_stored == not_stored + 1
        assert ("GET", "k") not in cache.collection
        assert r.get("k") == b"new"


def test_a_flush_while_a_read_is_in_flight_keeps_it_out(own_server, writer, proto):
    writer.set("k", "v")
    with make(own_server, **proto) as r:
        cache = r.get_cache()
        real = partial(r._native.execute, r._h, None, r._max_bulk)

        def read_during_flushdb(*args):
            reply = real(*args)
            before = cache._events()
            writer.flushdb()
            wait_until(lambda: cache._events() != before, what="the null invalidation")
            return reply

        assert cache._read_through(read_during_flushdb, ("GET", "k"), ("GET", "k")) == b"v"
        assert cache.size == 0
        assert r.get("k") is None


def test_no_read_returns_a_value_older_than_an_acknowledged_and_processed_write(own_server, writer, proto):
    """A writer thread (another client) and reader threads on one cached client, bounded in count.

    Invariant: once a write is acknowledged and the engine has received its
    invalidation, every later read returns it (or a later value). (Before
    that, one thread may still hit a value another thread read just before
    the write and stored just before its invalidation arrived: reads are not
    monotonic across threads until the invalidation is in, as with redis-py.)
    """
    writes = 300
    writer.set("n", 0)
    with make(own_server, **proto) as r:
        cache = r.get_cache()
        r.get("n")
        errors: list = []
        stop = threading.Event()
        floor = [0]  # the last value acknowledged and processed

        def reader():
            while not stop.is_set():
                must_see = floor[0]
                v = int(r.get("n"))
                if v < must_see:
                    errors.append(f"read {v} after {must_see} was acknowledged and processed")

        threads = [threading.Thread(target=reader) for _ in range(2)]
        for t in threads:
            t.start()
        try:
            deadline = time.monotonic() + 60
            for i in range(1, writes + 1):
                before = cache._events()
                writer.set("n", i)  # acknowledged
                # processed: the engine has the invalidation (or the key was not tracked,
                # in which case the next read fetches it anyway)
                end = time.monotonic() + 0.5
                while cache._events() == before and time.monotonic() < end:
                    time.sleep(0.0002)
                floor[0] = i
                if int(r.get("n")) != i:
                    errors.append(f"write {i} not seen after it was processed")
                assert time.monotonic() < deadline, "the test ran out of time"
        finally:
            stop.set()
            for t in threads:
                t.join(10)
        assert errors == []
        assert cache.stats.hits > 0 and cache.stats.invalidations > 0


@pytest.fixture
def no_hello_server():
    """redis-server 7.0 with HELLO renamed away: 'unknown command', as an old server answers."""
    srv = start_real_server("--rename-command", "HELLO", "")
    yield srv
    srv.stop()


@pytest.mark.parametrize("protocol", [None, 3], ids=["protocol-default", "resp3"])
def test_resp3_asked_of_a_server_without_hello_tracks_with_redirect(no_hello_server, protocol):
    """HELLO 3 falls back to RESP2 after the in-band CLIENT TRACKING was in the
    same connect: that connection would hear no invalidation. It is connected
    again with REDIRECT, and invalidations arrive."""
    w = redis.Redis(host="127.0.0.1", port=no_hello_server.port, protocol=2)
    try:
        w.set("k", "v1")
        with make(no_hello_server, protocol=protocol) as r:
            cache = r.get_cache()
            assert r.get("k") == b"v1"  # read while the fallback flushed: not stored
            assert cache.stats.flushes >= 1  # the in-band attempt was dropped with the cache
            assert r.get("k") == b"v1" and r.get("k") == b"v1"
            assert cache.stats.hits >= 1
            (tracked,) = tracking_clients(w)
            assert len(redirect_clients(w)) == 1 and in_band_clients(w) == []
            w.set("k", "v2")
            wait_until(lambda: r.get("k") == b"v2", what="the invalidation through REDIRECT")
            assert r.get("k") == b"v2"
            hits = cache.stats.hits
            assert r.get("k") == b"v2" and cache.stats.hits == hits + 1
            # A reconnect speaks RESP2 at once (the fallback is remembered): REDIRECT again.
            w.client_kill_filter(_id=tracked["id"])
            wait_until(lambda: cache.size == 0, what="the flush after CLIENT KILL")
            assert r.get("k") == b"v2"
            w.set("k", "v3")
            wait_until(lambda: r.get("k") == b"v3", what="invalidation after the reconnect")
            assert in_band_clients(w) == []
    finally:
        w.close()


@pytest.mark.parametrize("protocol, error, message", [
    (2, cpipe.ConnectionError, "client-side caching: opening the invalidation connection: CLIENT ID: NOPERM"),
    (3, redis.exceptions.NoPermissionError, r"client\|tracking.*\(reply to CLIENT TRACKING ON, sent while connecting\)"),
], ids=["resp2", "resp3"])
def test_a_server_refusing_tracking_fails_commands_with_a_clear_error(real_own_server, protocol, error, message):
    """A user without the CLIENT command: caching cannot work, and the error says why
    (RESP2: opening the invalidation connection; RESP3: the in-band CLIENT TRACKING)."""

    own_server = real_own_server
    writer = redis.Redis(host="127.0.0.1", port=own_server.port)
    writer.acl_setuser("nocl", enabled=True, passwords=["+pw"], keys="*", channels="*",
                       commands=["+@all", "-client"])
    r = cpipe.Redis(host="127.0.0.1", port=own_server.port, username="nocl", password="pw",
                    socket_timeout=5, cache_config=CacheConfig(), protocol=protocol)
    try:
        with pytest.raises(error, match=message):
            r.get("k")
    finally:
        r.close()
    plain = cpipe.Redis(host="127.0.0.1", port=own_server.port, username="nocl", password="pw")
    try:
        assert plain.get("k") is None  # the same user without a cache works
    finally:
        plain.close()
