"""close(), context managers, and that clients do not leak connections."""
from __future__ import annotations

import gc
import threading
import time

import pytest

import cpipe


def _connected_clients(redis_py) -> int:
    return len(redis_py.client_list())


def _wait_for_clients(redis_py, expected: int) -> int:
    deadline = time.monotonic() + 5
    while _connected_clients(redis_py) != expected and time.monotonic() < deadline:
        time.sleep(0.02)
    return _connected_clients(redis_py)


def test_context_manager_closes_and_the_next_command_reconnects(server, redis_py):
    """As a redis.Redis: leaving `with` closes the connection, and the client
    stays usable (redis-py's own test fixtures flush after closing)."""
    before = _connected_clients(redis_py)
    with cpipe.Client(host="127.0.0.1", port=server.port) as c:
        assert isinstance(c, cpipe.Client)
        assert c.call("PING") == b"PONG"
        assert _connected_clients(redis_py) == before + 1
    assert _wait_for_clients(redis_py, before) == before
    assert c.set("after-close", 1) is True
    assert c.get("after-close") == b"1"
    assert _connected_clients(redis_py) == before + 1
    c.close()


def test_every_entry_point_after_close_connects_again(server):
    c = cpipe.Client(host="127.0.0.1", port=server.port)
    c.call("PING")
    pipe = c.pipeline(transaction=False)
    pipe.set("late", 1)
    c.close()
    assert c.call("PING") == b"PONG"
    c.close()
    assert c.execute_command("SET", "late", 2) is True
    c.close()
    assert c.get("late") == b"2"
    c.close()
    assert pipe.execute() == [True]
    c.close()
    assert c.pipeline(transaction=True).incr("late").execute() == [2]
    c.close()
    c.add_command("INCR", "late")
    assert c.execute() == [3]
    c.close()
    with c.pipeline() as p:  # WATCH: a dedicated connection
        p.watch("late")
        p.multi()
        p.incr("late")
        assert p.execute() == [4]
    c.close()
    c.close()  # idempotent
    assert c.call("GET", "late") == b"4"
    c.close()


def test_close_never_connected_client(server):
    c = cpipe.Client(host="127.0.0.1", port=server.port)
    c.close()
    assert c.call("PING") == b"PONG"
    c.close()


def test_close_releases_server_connections(server, redis_py):
    before = _connected_clients(redis_py)
    clients = [cpipe.Client(host="127.0.0.1", port=server.port) for _ in range(10)]
    for c in clients:
        c.call("PING")
    assert _connected_clients(redis_py) == before + 10
    for c in clients:
        c.close()
    deadline = time.monotonic() + 5
    while _connected_clients(redis_py) > before and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _connected_clients(redis_py) == before


def test_dropped_clients_do_not_leak_connections(server, redis_py):
    before = _connected_clients(redis_py)
    for _ in range(30):
        c = cpipe.Client(host="127.0.0.1", port=server.port)
        c.call("PING")
        del c
    gc.collect()
    deadline = time.monotonic() + 5
    while _connected_clients(redis_py) > before and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _connected_clients(redis_py) == before


def test_pool_close_releases_connections(server, redis_py):
    before = _connected_clients(redis_py)
    p = cpipe.Pool(host="127.0.0.1", port=server.port, size=4)
    futs = [p.submit("PING") for _ in range(1000)]
    assert all(f.result(10) == b"PONG" for f in futs)
    assert before < _connected_clients(redis_py) <= before + 4
    p.close()
    deadline = time.monotonic() + 5
    while _connected_clients(redis_py) > before and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _connected_clients(redis_py) == before


def test_close_while_another_thread_is_blocked(server):
    c = cpipe.Client(host="127.0.0.1", port=server.port, socket_timeout=30)
    c.call("PING")
    outcome = {}

    def blocked():
        try:
            outcome["result"] = c.call("BLPOP", "never-filled", 20)
        except BaseException as e:  # noqa: BLE001
            outcome["error"] = e

    t = threading.Thread(target=blocked, daemon=True)
    t.start()
    time.sleep(0.3)
    start = time.monotonic()
    c.close()
    t.join(10)
    assert not t.is_alive(), "a call blocked in the engine did not end on close()"
    assert isinstance(outcome.get("error"), cpipe.ConnectionError), outcome
    assert time.monotonic() - start < 10


def test_repr(server):
    with cpipe.Client(host="127.0.0.1", port=server.port, db=2) as c:
        assert repr(c) == f"<cpipe.client.Redis 127.0.0.1:{server.port} db=2>"
