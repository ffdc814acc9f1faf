"""gopipe style: client.add_command/execute, and the module-level API
(cpipe.Connect, hset, hget, add_command, execute, ConnectPool, phset, phget),
which must return real replies, not the prototype's 0."""
from __future__ import annotations

import time
from concurrent.futures import Future

import pytest

import cpipe
from cpipe import compat


@pytest.fixture
def fresh_compat(monkeypatch):
    """Module-level defaults reset for the test, and closed after it."""
    monkeypatch.setattr(compat, "_client", None)
    monkeypatch.setattr(compat, "_pool", None)
    yield
    for obj in (compat._client, compat._pool):
        if obj is not None:
            obj.close()


def test_client_add_command_execute(client):
    client.add_command("SET", "a", "1")
    client.add_command("INCR", "a")
    client.add_command("HSET", "h", "f", "v")
    client.add_command("HGETALL", "h")  # raw reply: no callback in gopipe style
    client.add_command("GET", "missing")
    replies = client.execute()
    # The wire's shape: a RESP3 map (protocol None on redis-py 8 speaks
    # RESP3) or, from a server without RESP3, a RESP2 array.
    pairs = {b"f": b"v"} if client._native.protocol(client._h) == 3 else [b"f", b"v"]
    assert replies == [b"OK", 2, 1, pairs, None]
    assert client.execute() == []  # the queue was consumed


def test_client_execute_errors_in_place_or_raised(client):
    client.call("SET", "str", "x")
    client.add_command("INCR", "str")
    client.add_command("SET", "b", "1")
    replies = client.execute()
    assert isinstance(replies[0], cpipe.ResponseError) and replies[1] == b"OK"
    client.add_command("SET", "c", "1")
    client.add_command("INCR", "str")
    client.add_command("SET", "d", "1")
    with pytest.raises(cpipe.ResponseError, match="not an integer"):
        client.execute(raise_on_error=True)
    # the whole batch was sent and read
    assert client.call("MGET", "c", "d") == [b"1", b"1"]
    assert client.execute() == []
    with pytest.raises(cpipe.DataError):
        client.add_command()


def test_client_execute_large_batch(client):
    for i in range(20000):
        client.add_command("HSET", "big", f"f{i}", i)
    replies = client.execute()
    assert replies == [1] * 20000
    assert client.call("HLEN", "big") == 20000


def test_module_api_before_connect(fresh_compat):
    with pytest.raises(cpipe.ConnectionError, match="Connect"):
        cpipe.hget("h", "f")
    with pytest.raises(cpipe.ConnectionError, match="ConnectPool"):
        cpipe.phget("h", "f")


def test_module_connect_hset_hget(server, fresh_compat):
    c = cpipe.Connect("127.0.0.1", server.port)
    assert isinstance(c, cpipe.Client)
    c.call("DEL", "gh")
    assert cpipe.hset("gh", "f", "v") == 1
    assert cpipe.hset("gh", "f", "v2") == 0
    assert cpipe.hget("gh", "f") == b"v2"
    assert cpipe.hget("gh", "missing") is None
    assert cpipe.hget("missing", "f") is None


def test_module_add_command_execute(server, fresh_compat):
    cpipe.Connect(host="127.0.0.1", port=server.port)
    cpipe.add_command("DEL", "gq")
    for i in range(1000):
        cpipe.add_command("HSET", "gq", f"k{i}", f"v{i}")
    cpipe.add_command("HGET", "gq", "k999")
    cpipe.add_command("HLEN", "gq")
    replies = cpipe.execute()
    assert len(replies) == 1003
    assert replies[1:1001] == [1] * 1000
    assert replies[-2:] == [b"v999", 1000]
    assert cpipe.execute() == []


def test_module_connect_replaces_and_closes_previous(server, fresh_compat, redis_py):
    before = len(redis_py.client_list())
    first = cpipe.Connect("127.0.0.1", server.port)
    first.call("PING")
    assert len(redis_py.client_list()) == before + 1
    second = cpipe.Connect("127.0.0.1", server.port)  # connects on its first command
    assert first is not second
    # The first one's connection is closed (a closed client connects again
    # if used, as a redis.Redis does).
    deadline = time.monotonic() + 5
    while len(redis_py.client_list()) > before and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(redis_py.client_list()) == before
    assert cpipe.hset("gr", "f", "1") in (0, 1)
    assert cpipe.hget("gr", "f") == b"1"


def test_module_connect_pool_phset_phget(server, fresh_compat):
    pool = cpipe.ConnectPool(host="127.0.0.1", port=server.port, pool=4)
    assert isinstance(pool, cpipe.Pool) and pool.size == 4
    pool.call("DEL", "gp")
    sets = [cpipe.phset("gp", f"f{i}", f"v{i}") for i in range(5000)]
    assert all(isinstance(f, Future) for f in sets)
    assert pool.flush(60)
    assert [f.result(0) for f in sets] == [1] * 5000
    gets = [cpipe.phget("gp", f"f{i}") for i in range(5000)]
    assert [f.result(30) for f in gets] == [f"v{i}".encode() for i in range(5000)]
    assert cpipe.phget("gp", "nope").result(10) is None


def test_module_connect_pool_replaces_previous(server, fresh_compat):
    first = cpipe.ConnectPool(host="127.0.0.1", port=server.port, pool=2)
    second = cpipe.ConnectPool(host="127.0.0.1", port=server.port, pool=2)
    assert first is not second
    with pytest.raises(cpipe.ConnectionError):
        first.call("PING")
    assert cpipe.phset("gs", "f", "1").result(10) in (0, 1)
    assert cpipe.phget("gs", "f").result(10) == b"1"


def test_module_connect_options(server, fresh_compat):
    cpipe.Connect("127.0.0.1", server.port, decode_responses=True)
    cpipe.hset("gd", "ä", "ö")
    assert cpipe.hget("gd", "ä") == "ö"
