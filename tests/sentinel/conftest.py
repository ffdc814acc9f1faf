from __future__ import annotations

import pytest

from tests.sentinel._topology import start_topology


@pytest.fixture(scope="module")
def topology():
    topo = start_topology()
    yield topo
    topo.stop()
