"""Fixtures for the bulk-write tests: a real server (`real_server`, from
tests/conftest.py, shared by the session), a reference server with faults
enabled (module-scoped, for killed connections), and `r`, a cpipe.Redis on
the real server with an empty database."""
from __future__ import annotations

import pytest

import cpipe
from tests._servers import start_reference_server


@pytest.fixture(scope="session")
def fault_server():
    srv = start_reference_server("--enable-faults")
    yield srv
    srv.stop()


@pytest.fixture
def r(real_server):
    c = cpipe.Redis(host="127.0.0.1", port=real_server.port, socket_timeout=30)
    c.flushall()
    yield c
    c.close()
