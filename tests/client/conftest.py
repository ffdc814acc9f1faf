"""Fixtures for the core client tests (tests/client).

`client`, `server`, `real_server` and `redis_py` come from tests/conftest.py.
Here: a function-scoped real server for tests that kill, restart or
reconfigure it, and a helper that always closes what it opened.
"""
from __future__ import annotations

import pytest

from tests._servers import ServerProcess, start_real_server


@pytest.fixture
def dedicated_server():
    """A real server of our own, for tests that kill or restart it."""
    srv = start_real_server()
    yield srv
    srv.stop()


@pytest.fixture
def make_client():
    """make_client(server, **options) -> cpipe.Client, closed after the test."""
    import cpipe

    opened = []

    def make(server: ServerProcess, cls=None, **options):
        options.setdefault("socket_timeout", 10)
        c = (cls or cpipe.Client)(host="127.0.0.1", port=server.port, **options)
        opened.append(c)
        return c

    yield make
    for c in opened:
        c.close()


@pytest.fixture
def pool(server, request):
    """A cpipe.Pool on the session's server, flushed, closed after the test;
    its size is the test module's POOL_SIZE (2 by default)."""
    import cpipe

    size = getattr(request.module, "POOL_SIZE", 2)
    p = cpipe.Pool(host="127.0.0.1", port=server.port, size=size, socket_timeout=10)
    p.call("FLUSHALL")
    yield p
    p.close()
