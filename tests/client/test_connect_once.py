"""EngineConfig.connect_once, the connection a WATCH pipeline runs on: once
it has been up, losing it (CLIENT KILL, a restart, the server's timeout)
fails every later command with ConnectionError instead of reconnecting,
because a new connection would not carry the WATCH and EXEC would then
succeed unconditionally. Exercised through the native module directly, as
the WATCH pipeline will use it."""
from __future__ import annotations

import time

import pytest
import redis

import cpipe
from cpipe import _engine
from cpipe._config import EngineConfig


def _connections_received(r: redis.Redis) -> int:
    return int(r.info("stats")["total_connections_received"])


@pytest.fixture
def native():
    return _engine.native()


@pytest.fixture
def opened(native):
    """opened(config) -> handle, closed after the test."""
    handles = []

    def open_(config: EngineConfig) -> int:
        handles.append(native.open(config))
        return handles[-1]

    yield open_
    for h in handles:
        native.close(h)


@pytest.mark.parametrize("dedicated", [True, False], ids=["dedicated", "shared"])
def test_killed_connection_is_not_replaced(real_server, native, opened, dedicated):
    config = EngineConfig(host="127.0.0.1", port=real_server.port, socket_timeout=10.0,
                          init_commands=(("CLIENT", "SETNAME", "cpipe-watcher"),))
    if dedicated:
        config = config.dedicated()
    h = opened(config)

    def call(*cmd):
        return native.execute(h, None, native.DEFAULT_MAX_BULK, *cmd)

    conn_id = call("CLIENT", "ID")
    r = redis.Redis(host="127.0.0.1", port=real_server.port, protocol=2)
    try:
        before = _connections_received(r)
        assert r.client_kill_filter(_id=conn_id) == 1
        time.sleep(0.05)  # idle past the engine's peek delay: the loss is seen before sending
        if not dedicated:
            # The contrast: an ordinary connection is replaced unnoticed.
            assert call("CLIENT", "GETNAME") == b"cpipe-watcher"
            assert _connections_received(r) == before + 1
            return
        for _ in range(3):  # every later command, not only the first
            with pytest.raises(redis.exceptions.ConnectionError, match="not replaced") as excinfo:
                call("PING")
            assert isinstance(excinfo.value, cpipe.ConnectionError)
        assert _connections_received(r) == before, "the engine dialled a new connection"
        names = [c.get("name") for c in r.client_list()]
        assert "cpipe-watcher" not in names, names
    finally:
        r.close()


def test_watch_holds_across_a_blocking_command(real_server, native, opened):
    """MULTI ... EXEC holding a blocking command (the bridge classifies the
    batch as blocking) runs on the dedicated connection, where the WATCH
    is: a key changed after WATCH aborts the EXEC. On a connection of its
    own the EXEC would run unwatched and succeed."""
    h = opened(EngineConfig(host="127.0.0.1", port=real_server.port, socket_timeout=10.0).dedicated())
    max_bulk = native.DEFAULT_MAX_BULK
    r = redis.Redis(host="127.0.0.1", port=real_server.port, protocol=2)
    try:
        r.delete("cpipe:once:watched", "cpipe:once:list")
        assert native.execute(h, None, max_bulk, "WATCH", "cpipe:once:watched") == b"OK"
        r.set("cpipe:once:watched", "changed")
        replies = native.execute_many(h, None, max_bulk, [
            ("MULTI",), ("BLPOP", "cpipe:once:list", 0.1), ("SET", "cpipe:once:watched", "mine"), ("EXEC",)])
        assert replies[-1] is None, replies  # the transaction was aborted
        assert r.get("cpipe:once:watched") == b"changed"
    finally:
        r.close()


def test_dedicated_keeps_the_clients_server_and_init_commands(real_server, native, opened):
    """A client's config, made dedicated, reaches the same database under the
    same name (its init commands), on one connection of its own."""
    c = cpipe.Client(host="127.0.0.1", port=real_server.port, db=3, client_name="cpipe-ded", socket_timeout=10)
    try:
        config = c._config.dedicated()
        assert (config.size, config.autopipeline, config.connect_once) == (1, False, True)
        assert (config.host, config.port, config.init_commands) == ("127.0.0.1", real_server.port,
                                                                    c._config.init_commands)
        h = opened(config)
        info = native.execute(h, "utf-8", native.DEFAULT_MAX_BULK, "CLIENT", "INFO")
        fields = dict(kv.split("=", 1) for kv in info.split())
        assert (fields["db"], fields["name"]) == ("3", "cpipe-ded")
        assert fields["id"] != str(c.execute_command("CLIENT", "ID"))
    finally:
        c.close()


def test_repr_hides_the_init_commands():
    config = EngineConfig(init_commands=(("AUTH", "user", "s3cret-pass"),))
    assert "s3cret-pass" not in repr(config)
    assert "s3cret-pass" not in repr(config.dedicated())
