"""The reference server with faults enabled, and one way to send a command
through each kind of cpipe client, for tests that watch every client kind
meet the same server fault.

Faults are armed GLOBAL from a control connection of their own (so a Pool's
connections are all armed, whichever one carries the command) and cleared
the same way; tests/server/test_faults.py pins what each fault puts on the wire.
"""
from __future__ import annotations

import asyncio

import pytest

import cpipe
import cpipe.asyncio
from tests._servers import start_reference_server
from tests.server.rawclient import RawClient

HOST = "127.0.0.1"
#: Client kinds `caller` builds; each sends one command and returns its reply.
KINDS = ["client", "autopipeline", "pipeline", "pool", "pool-submit", "asyncio", "asyncio-pipeline"]


@pytest.fixture(scope="module")
def fault_server():
    srv = start_reference_server("--enable-faults")
    yield srv
    srv.stop()


def control(port: int, *args) -> None:
    """CPIPE.FAULT ... on a fresh connection, closed at once: a GLOBAL fault
    also arms the connection that set it."""
    with RawClient(port) as c:
        assert c.call("CPIPE.FAULT", *args) == b"+OK\r\n"


class Caller:
    """do(*args): one command through this kind of client, its raw reply."""

    def __init__(self, kind: str, port: int, **options) -> None:
        self.kind = kind
        self.loop = None
        if kind.startswith("asyncio"):
            self.loop = asyncio.new_event_loop()
            self.client = cpipe.asyncio.Client(host=HOST, port=port, **options)
        elif kind.startswith("pool"):
            self.client = cpipe.Pool(host=HOST, port=port, size=4, **options)
        else:
            self.client = cpipe.Client(host=HOST, port=port, autopipeline=kind == "autopipeline", **options)

    def do(self, *args):
        c = self.client
        if self.kind == "pool-submit":
            return c.submit(*args).result(timeout=30)
        if self.kind == "pipeline":
            return c.pipeline(transaction=False).add_command(*args).execute()[0]
        if self.kind == "asyncio":
            return self.loop.run_until_complete(self._await(c.call, *args))
        if self.kind == "asyncio-pipeline":
            return self.loop.run_until_complete(self._await_pipeline(*args))
        return c.call(*args)

    @staticmethod
    async def _await(fn, *args):
        return await fn(*args)

    async def _await_pipeline(self, *args):
        return (await self.client.pipeline(transaction=False).add_command(*args).execute())[0]

    def close(self) -> None:
        if self.loop is not None:
            self.loop.run_until_complete(self.client.aclose())
            self.loop.close()
        else:
            self.client.close()

    def __enter__(self) -> "Caller":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def assert_in_step(c: Caller, key: str, value: bytes) -> None:
    """After a fault: the client answers every command with its own reply."""
    for i in range(50):
        token = f"{c.kind}:{i}".encode()
        assert c.do("ECHO", token) == token
    assert c.do("GET", key) == value
