"""Coalescing really happens: concurrent callers' commands reach the server
in fewer reads than there are commands (redis counts its socket reads in
INFO stats total_reads_processed)."""
from __future__ import annotations

import pytest

import cpipe
from tests._servers import start_real_server

from ._helpers import run_threads

THREADS = 16
PER_THREAD = 2_000


@pytest.fixture(scope="module")
def stats_server():
    """A server of our own, so no other client's traffic is counted."""
    srv = start_real_server()
    yield srv
    srv.stop()


def _reads(r) -> int:
    return int(r.info("stats")["total_reads_processed"])


def _hammer(r) -> int:
    """16 threads x 2,000 checked commands; returns the server reads they took."""
    r.flushall()
    before = _reads(r)

    def work(t: int) -> None:
        for i in range(PER_THREAD):
            if i % 2:
                assert r.incr(f"co{t}") == i // 2 + 1
            else:
                assert r.call("ECHO", f"{t}:{i}") == f"{t}:{i}".encode()

    run_threads(work, THREADS, timeout=120)
    return _reads(r) - before - 1  # the second INFO is one read too


def test_concurrent_commands_are_coalesced(stats_server):
    commands = THREADS * PER_THREAD
    with cpipe.Client(host="127.0.0.1", port=stats_server.port, autopipeline=True, socket_timeout=30) as r:
        reads = _hammer(r)
    assert 0 < reads < commands, f"{reads} server reads for {commands} commands: nothing was coalesced"


def test_without_autopipeline_each_command_is_a_read(stats_server):
    """The control: the measure does count one read per uncoalesced command."""
    commands = THREADS * PER_THREAD
    with cpipe.Client(host="127.0.0.1", port=stats_server.port, autopipeline=False, socket_timeout=30) as r:
        reads = _hammer(r)
    assert reads >= commands


def test_pool_coalesces_too(stats_server):
    commands = THREADS * PER_THREAD
    with cpipe.Pool(host="127.0.0.1", port=stats_server.port, size=2, socket_timeout=30) as r:
        assert r.autopipeline is True  # the default for a Pool
        reads = _hammer(r)
    assert 0 < reads < commands, f"{reads} server reads for {commands} commands: nothing was coalesced"
