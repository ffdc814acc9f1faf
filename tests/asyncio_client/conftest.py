"""Fixtures for the asyncio client tests.

`server` and `real_server` come from tests/conftest.py; `loop_kind`
parametrizes a test over the asyncio and uvloop event loops.
"""
from __future__ import annotations

import pytest

from tests._servers import start_real_server

from ._run import LOOP_KINDS


@pytest.fixture(params=LOOP_KINDS)
def loop_kind(request) -> str:
    return request.param


@pytest.fixture
def dedicated_server():
    """A real server of our own, for tests that kill or restart it."""
    srv = start_real_server()
    yield srv
    srv.stop()
