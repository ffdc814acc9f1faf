"""Fixtures for the pub/sub and MONITOR tests.

`cp(**kw)` makes a cpipe.Redis and `rp(**kw)` a redis.Redis (RESP2, as
cpipe's engine speaks) on the same server, closed at the end; `publisher`
is a redis-py client for publishing. `dedicated_server` is a real server of
the test's own, for tests that change its configuration or kill clients.
"""
from __future__ import annotations

import pytest

from tests._servers import start_real_server


@pytest.fixture
def dedicated_server():
    srv = start_real_server()
    yield srv
    srv.stop()


def _factory(port, make):
    made = []

    def new(**kw):
        c = make(port, **kw)
        made.append(c)
        return c

    return new, made


@pytest.fixture
def cp(server):
    import cpipe

    new, made = _factory(server.port, lambda port, **kw: cpipe.Redis(host="127.0.0.1", port=port, socket_timeout=10, **kw))
    yield new
    for c in made:
        c.close()


@pytest.fixture
def rp(server):
    import redis

    new, made = _factory(server.port, lambda port, **kw: redis.Redis(host="127.0.0.1", port=port, protocol=2, **kw))
    yield new
    for c in made:
        c.close()


@pytest.fixture
def publisher(server):
    import redis

    r = redis.Redis(host="127.0.0.1", port=server.port, protocol=2)
    yield r
    r.close()
