"""Session-wide servers for the client tests.

`server` is parametrized over the real server (redis-server or valkey-server)
and the project's reference server (`python -m cpipe.server`), so every
client test runs against both; CPIPE_TEST_SERVERS=real (or =reference)
narrows that while developing. Tests that need a feature only the real server
has use `real_server` directly.
"""
from __future__ import annotations

import os

import pytest

from tests._servers import ServerProcess, start_real_server, start_reference_server

SERVER_KINDS = [k for k in os.environ.get("CPIPE_TEST_SERVERS", "real,reference").split(",") if k]


@pytest.fixture(scope="session")
def real_server():
    srv = start_real_server()
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def reference_server():
    srv = start_reference_server()
    yield srv
    srv.stop()


@pytest.fixture(scope="session", params=SERVER_KINDS)
def server(request) -> ServerProcess:
    return request.getfixturevalue(f"{request.param}_server")


@pytest.fixture
def client(server):
    import cpipe

    c = cpipe.Client(host="127.0.0.1", port=server.port, socket_timeout=10)
    c.flushall()
    yield c
    c.close()


@pytest.fixture
def redis_py(server):
    import redis

    r = redis.Redis(host="127.0.0.1", port=server.port, protocol=2)
    yield r
    r.close()
