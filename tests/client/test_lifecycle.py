"""close(), context managers, and that clients do not leak connections."""
from __future__ import annotations

import gc
import threading
import time

import pytest

import cpipe


def _connected_clients(redis_py) -> int:
    return len(redis_py.client_list())


def test_context_manager_closes(server):
    with cpipe.Client(host="127.0.0.1", port=server.port) as c:
        assert isinstance(c, cpipe.Client)
        assert c.call("PING") == b"PONG"
    with pytest.raises(cpipe.ConnectionError, match="closed"):
        c.call("PING")


def test_every_entry_point_after_close(server):
    c = cpipe.Client(host="127.0.0.1", port=server.port)
    c.call("PING")
    pipe = c.pipeline(transaction=False)
    pipe.set("late", 1)
    c.close()
    with pytest.raises(cpipe.ConnectionError):
        c.call("PING")
    with pytest.raises(cpipe.ConnectionError):
        c.execute_command("SET", "late", 1)
    with pytest.raises(cpipe.ConnectionError):
        c.get("late")
    with pytest.raises(cpipe.ConnectionError):
        pipe.execute()
    with pytest.raises(cpipe.ConnectionError):
        c.pipeline(transaction=True).set("late", 1).execute()
    c.add_command("SET", "late", 1)
    with pytest.raises(cpipe.ConnectionError):
        c.execute()
    c.close()  # idempotent
    c.close()


def test_close_never_connected_client(server):
    c = cpipe.Client(host="127.0.0.1", port=server.port)
    c.close()
    with pytest.raises(cpipe.ConnectionError):
        c.call("PING")


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
