"""Fixtures for the client-side caching tests.

CLIENT TRACKING is a real server's feature (Redis >= 6.0, valkey): these
tests run against redis-server (the reference server does not track keys
yet). Each test gets a server of its own when it kills connections.
"""
from __future__ import annotations

import time
from typing import Any, Callable

import pytest

from tests._servers import start_real_server


@pytest.fixture
def own_server():
    """A real server of our own, for tests that kill its clients or flush it."""
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


def redirect_clients(w: Any) -> list[dict]:
    """The server's clients subscribed to __redis__:invalidate (our invalidation connections)."""
    ids = {c["redir"] for c in tracking_clients(w)}
    return [c for c in w.client_list() if c["id"] in ids]
