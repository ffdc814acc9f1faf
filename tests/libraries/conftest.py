"""Fixtures for the third-party library tests: one scenario, several clients.

`make_client` is parametrized over the client kinds a user could hand to a
library: redis-py's own `redis.Redis` (the control: if a scenario fails with
it, the scenario is wrong, not cpipe), `cpipe.Redis` and `cpipe.Pool`.
`make_async_client` does the same for asyncio libraries.

A library that does not accept our object (an isinstance test, a missing
attribute it probes for) may quietly build its own redis-py client from our
options instead, and the scenario would still pass. So for the cpipe kinds
every redis-py TCP connection opened during the test is recorded, and the
test fails at teardown if there was one: cpipe itself never opens one (its
redis-py fallback is only for forked children, which these tests do not
run). Each test also checks that the library kept our very object.
"""
from __future__ import annotations

import traceback
from typing import Any, Callable

import pytest
import redis
import redis.asyncio.connection
import redis.connection

CLIENT_KINDS = ["redis-py", "cpipe", "cpipe-pool"]
ASYNC_CLIENT_KINDS = ["redis-py", "cpipe"]


class ConnectionRecorder:
    """Where redis-py opened TCP connections (a short stack for each)."""

    def __init__(self) -> None:
        self.opened: list[str] = []

    def wrap(self, connect: Callable) -> Callable:
        recorder = self

        def recording_connect(conn: Any, *args: Any, **kwargs: Any) -> Any:
            recorder.opened.append("".join(traceback.format_stack(limit=12)[:-1]))
            return connect(conn, *args, **kwargs)

        return recording_connect

    def wrap_async(self, connect: Callable) -> Callable:
        recorder = self

        async def recording_connect(conn: Any, *args: Any, **kwargs: Any) -> Any:
            recorder.opened.append("".join(traceback.format_stack(limit=12)[:-1]))
            return await connect(conn, *args, **kwargs)

        return recording_connect


@pytest.fixture
def admin(real_server):
    """A redis-py connection for setup and checks, opened before any recording."""
    r = redis.Redis(host="127.0.0.1", port=real_server.port, protocol=2)
    r.flushall()
    yield r
    r.close()


@pytest.fixture
def redis_py_connections(admin, monkeypatch) -> ConnectionRecorder:
    recorder = ConnectionRecorder()
    # _connect is the socket-level step both redis-py 5 and 8 go through.
    monkeypatch.setattr(redis.connection.Connection, "_connect",
                        recorder.wrap(redis.connection.Connection._connect))
    monkeypatch.setattr(redis.asyncio.connection.Connection, "_connect",
                        recorder.wrap_async(redis.asyncio.connection.Connection._connect))
    return recorder


def _fail_if_redis_py_connected(kind: str, recorder: ConnectionRecorder) -> None:
    if kind != "redis-py" and recorder.opened:
        pytest.fail(
            f"with a {kind} client the library still opened {len(recorder.opened)} redis-py "
            f"connection(s) of its own; the first was opened at:\n{recorder.opened[0]}",
            pytrace=False,
        )


@pytest.fixture(params=CLIENT_KINDS)
def make_client(request, real_server, redis_py_connections):
    """make_client(**options) -> a new client of this test's kind on the real server.

    `make_client.kind` names the kind; `make_client.cls` is the class.
    """
    import cpipe

    kind = request.param
    made: list = []

    def factory(**options: Any) -> Any:
        if kind == "redis-py":
            c = redis.Redis(host="127.0.0.1", port=real_server.port, **options)
        elif kind == "cpipe":
            c = cpipe.Redis(host="127.0.0.1", port=real_server.port, **options)
        else:
            c = cpipe.Pool(host="127.0.0.1", port=real_server.port, size=4, **options)
        made.append(c)
        return c

    factory.kind = kind
    factory.cls = {"redis-py": redis.Redis, "cpipe": cpipe.Redis, "cpipe-pool": cpipe.Pool}[kind]
    yield factory
    for c in made:
        c.close()
    _fail_if_redis_py_connected(kind, redis_py_connections)


@pytest.fixture(params=ASYNC_CLIENT_KINDS)
def make_async_client(request, real_server, redis_py_connections):
    """The asyncio twin of make_client: redis.asyncio.Redis or cpipe.asyncio.Redis.

    The caller closes what it makes (aclose needs the test's event loop).
    """
    import redis.asyncio

    import cpipe.asyncio

    kind = request.param

    def factory(**options: Any) -> Any:
        cls = redis.asyncio.Redis if kind == "redis-py" else cpipe.asyncio.Redis
        return cls(host="127.0.0.1", port=real_server.port, **options)

    factory.kind = kind
    factory.cls = redis.asyncio.Redis if kind == "redis-py" else cpipe.asyncio.Redis
    yield factory
    _fail_if_redis_py_connected(kind, redis_py_connections)
