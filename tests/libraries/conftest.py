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

import signal
import threading
import time
import traceback
from typing import Any, Callable

import pytest
import redis
import redis.asyncio.connection
import redis.connection

CLIENT_KINDS = ["redis-py", "cpipe", "cpipe-pool"]
ASYNC_CLIENT_KINDS = ["redis-py", "cpipe"]


def _where() -> str:
    # Plain "file:line in function" lines: Python 3.11's traceback formatting
    # ast-parses source lines for its carets, and ast.parse in two threads at
    # once can fail with "SystemError: AST constructor recursion depth
    # mismatch" (gh-106905): connections are often opened on library threads.
    frames = traceback.extract_stack(limit=14)[:-2]
    return "\n".join(f"  {f.filename}:{f.lineno} in {f.name}" for f in frames)


class ConnectionRecorder:
    """Where redis-py opened TCP connections (a short stack for each).

    Not counted there: connections that cpipe's client itself opens through
    redis-py, from its `connection_pool` facade, for what its engine does not
    do yet (PubSub, MONITOR); `cpipe_own` counts those.
    """

    def __init__(self) -> None:
        self.opened: list[str] = []
        self.cpipe_own = 0

    def wrap(self, connect: Callable) -> Callable:
        recorder = self

        def recording_connect(conn: Any, *args: Any, **kwargs: Any) -> Any:
            if getattr(conn, "_made_by_cpipe", False):
                recorder.cpipe_own += 1
            else:
                recorder.opened.append(_where())
            return connect(conn, *args, **kwargs)

        return recording_connect

    def tag(self, make_connection: Callable) -> Callable:
        """Marks the connections cpipe's own pool facade makes (see opened)."""

        def tagging_make_connection(pool: Any, *args: Any, **kwargs: Any) -> Any:
            conn = make_connection(pool, *args, **kwargs)
            conn._made_by_cpipe = True
            return conn

        return tagging_make_connection

    def wrap_async(self, connect: Callable) -> Callable:
        recorder = self

        async def recording_connect(conn: Any, *args: Any, **kwargs: Any) -> Any:
            if getattr(conn, "_made_by_cpipe", False):
                recorder.cpipe_own += 1
            else:
                recorder.opened.append(_where())
            return await connect(conn, *args, **kwargs)

        return recording_connect


# Worker libraries (rq, huey, dramatiq) install handlers for these while a
# worker runs and do not always put Python's back.
_WORKER_SIGNALS = [signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1]


@pytest.fixture(autouse=True)
def signal_handlers_restored():
    """Put back the signal handlers a library's worker replaced, so later
    tests (Ctrl-C reaching a blocked call) see Python's own."""
    before = {s: signal.getsignal(s) for s in _WORKER_SIGNALS}
    yield
    for s, handler in before.items():
        if signal.getsignal(s) is not handler and handler is not None:
            signal.signal(s, handler)


@pytest.fixture(autouse=True)
def no_threads_left_behind():
    """Fail a test that leaves a non-daemon thread running (a worker, a consumer).

    Autouse, so set up first and torn down last, after the clients are closed.
    Daemon threads get the same few seconds to end but may outlive the test:
    some libraries leave one on purpose (rq's pubsub listener blocks for up to
    60 s after its worker stops).
    """
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + 5
    new = [t for t in threading.enumerate() if t not in before]
    for t in new:
        t.join(max(0.0, deadline - time.monotonic()))
    left = [t.name for t in new if t.is_alive() and not t.daemon]
    if left:
        pytest.fail(f"the test left threads running: {left}", pytrace=False)


@pytest.fixture
def admin(real_server):
    """A redis-py connection for setup and checks, opened before any recording."""
    r = redis.Redis(host="127.0.0.1", port=real_server.port, protocol=2)
    r.flushall()
    yield r
    r.close()


def _cpipe_pool_facades() -> list:
    """cpipe's `connection_pool` classes (sync, and asyncio once it has one)."""
    from cpipe._connection_pool import EngineConnectionPool

    facades = [EngineConnectionPool]
    try:
        from cpipe.asyncio._connection_pool import AsyncEngineConnectionPool
    except ImportError:  # an asyncio client without a pool facade of its own
        pass
    else:
        facades.append(AsyncEngineConnectionPool)
    return facades


@pytest.fixture
def redis_py_connections(admin, monkeypatch) -> ConnectionRecorder:
    recorder = ConnectionRecorder()
    # _connect is the socket-level step both redis-py 5 and 8 go through.
    monkeypatch.setattr(redis.connection.Connection, "_connect",
                        recorder.wrap(redis.connection.Connection._connect))
    monkeypatch.setattr(redis.asyncio.connection.Connection, "_connect",
                        recorder.wrap_async(redis.asyncio.connection.Connection._connect))
    for facade in _cpipe_pool_facades():
        monkeypatch.setattr(facade, "make_connection", recorder.tag(facade.make_connection))
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

    kind = request.param
    if kind == "redis-py":
        cls = redis.asyncio.Redis
    else:
        import cpipe.asyncio

        cls = cpipe.asyncio.Redis

    def factory(**options: Any) -> Any:
        return cls(host="127.0.0.1", port=real_server.port, **options)

    factory.kind = kind
    factory.cls = cls
    yield factory
    _fail_if_redis_py_connected(kind, redis_py_connections)
