"""client.monitor(): redis-py's Monitor on an engine connection of its own."""
from __future__ import annotations

import asyncio
import threading

import pytest
import redis
import redis.asyncio

import cpipe
import cpipe.asyncio
from cpipe.monitor import Monitor

from ._util import wait_until


def _watch(monitor_cm, port, commands):
    """Enter the monitor, run commands from another client, return what it saw."""
    seen = []
    with monitor_cm as m:
        def send():
            r = redis.Redis(port=port, protocol=2)
            for c in commands:
                r.execute_command(*c)
            r.close()
        t = threading.Thread(target=send)
        t.start()
        for _ in range(len(commands)):
            seen.append(m.next_command())
        t.join(5)
    return seen


def test_monitor_matches_redis_py(real_server):
    commands = [("SET", "mon:k", 'va"l'), ("GET", "mon:k"), ("SELECT", "0")]
    theirs = _watch(redis.Redis(port=real_server.port, protocol=2).monitor(), real_server.port, commands)
    cm = cpipe.Redis(port=real_server.port).monitor()
    assert isinstance(cm, Monitor) and isinstance(cm, redis.client.Monitor)
    ours = _watch(cm, real_server.port, commands)
    def shape(d):
        return {k: d[k] for k in ("db", "client_address", "client_type", "command")}
    assert [shape(d) for d in ours] == [shape(d) for d in theirs]
    assert ours[0]["command"] == 'SET mon:k va"l' and isinstance(ours[0]["time"], float)


def test_monitor_listen_and_close(real_server):
    c = cpipe.Redis(port=real_server.port, db=0)
    c.ping()  # connected first: the connect's own HELLO 3 is not what this test watches for
    m = c.monitor()
    with m:
        c.set("mon:a", "1")
        it = m.listen()
        assert next(it)["command"] == "SET mon:a 1"
    admin = redis.Redis(port=real_server.port, protocol=2)
    wait_until(lambda: not [cl for cl in admin.client_list() if cl["cmd"] == "monitor"], what="the close")


def test_monitor_connection_loss_raises(real_server):
    admin = redis.Redis(port=real_server.port, protocol=2)
    with cpipe.Redis(port=real_server.port).monitor() as m:
        victims = [cl for cl in admin.client_list() if cl["cmd"] == "monitor"]
        assert len(victims) == 1
        admin.client_kill_filter(_id=victims[0]["id"])
        with pytest.raises(cpipe.ConnectionError, match="MONITOR connection"):
            for _ in range(100):
                m.next_command()


def test_async_monitor(real_server):
    async def main():
        c = cpipe.asyncio.Redis(port=real_server.port)
        await c.ping()  # connected first (its HELLO 3 would be the first command seen)
        async with c.monitor() as m:
            await c.set("amon:k", "v")
            cmd = await m.next_command()
        await c.aclose()
        return cmd

    cmd = asyncio.run(asyncio.wait_for(main(), 30))
    assert cmd["command"] == "SET amon:k v" and cmd["client_type"] == "tcp"
