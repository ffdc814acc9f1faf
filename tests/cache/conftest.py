"""Fixtures for the client-side caching tests.

Each test gets a server of its own (redis-server 7.0 and the reference
server, which tracks keys as Redis 7.0 does), since the tests kill
connections and flush databases.
"""
from __future__ import annotations

import time
from typing import Any, Callable

import pytest

from tests._servers import start_real_server, start_reference_server


@pytest.fixture(params=["real", "reference"])
def own_server(request):
    """A server of our own (redis-server, then the reference server with its
    faults enabled), for tests that kill its clients or flush it."""
    if request.param == "real":
        srv = start_real_server()
    else:
        srv = start_reference_server("--enable-faults")
    yield srv
    srv.stop()


@pytest.fixture(params=[2, 3, None], ids=["resp2", "resp3", "protocol-default"])
def proto(request) -> dict:
    """The protocol= to open the cached client with (None: redis-py's default,
    RESP3 on redis-py 8.1): RESP2 tracks with REDIRECT to an invalidation
    connection, RESP3 in band (invalidation pushes on the tracked connection)."""
    return {} if request.param is None else {"protocol": request.param}


def in_band(proto: dict) -> bool:
    """Whether a client opened with proto tracks in band (RESP3) on these servers."""
    return proto.get("protocol", 3) == 3


@pytest.fixture
def real_own_server():
    """A redis-server of our own, for what the reference server lacks (ACLs, restart with a dir)."""
    srv = start_real_server()
    yield srv
    srv.stop()


@pytest.fixture
def writer(own_server):
    """Another client (redis-py): its writes reach us only as invalidations."""
    import redis

    w = redis.Redis(host="127.0.0.1", port=own_server.port, protocol=2)
    yield w
    w.close()


def wait_until(cond: Callable[[], Any], timeout: float = 5.0, what: str = "condition") -> Any:
    """Poll cond until it is truthy; fail after timeout seconds (bounded, never a duration assert)."""
    end = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > end:
            raise AssertionError(f"{what} did not happen within {timeout}s")
        time.sleep(0.002)


def tracking_clients(w: Any) -> list[dict]:
    """The server's clients that track keys (CLIENT TRACKING ON ... REDIRECT)."""
    return [c for c in w.client_list() if "t" in c.get("flags", "")]


def in_band_clients(w: Any) -> list[dict]:
    """The server's clients that track keys without REDIRECT (RESP3 pushes)."""
    return [c for c in tracking_clients(w) if int(c.get("redir", -1)) <= 0]  # Redis 7.0 lists 0


def redirect_clients(w: Any) -> list[dict]:
    """The server's clients subscribed to __redis__:invalidate (our invalidation connections)."""
    ids = {c["redir"] for c in tracking_clients(w) if int(c["redir"]) > 0}
    return [c for c in w.client_list() if c["id"] in ids]
