"""Fixtures for the Redis Cluster tests.

`cluster` is one 6-node cluster (3 primaries, 3 replicas) for the whole
session; tests on it must leave the slot map as they found it. Tests that
kill nodes or move slots use `fresh_cluster`, a cluster of their own per
module, so the others are not disturbed.

`cluster_client_class` runs each test against redis-py's RedisCluster and
cpipe's (the project's is what is tested; redis-py shows the test asks only
what redis-py does). CPIPE_CLUSTER_CLIENTS=cpipe (or =redis-py) narrows that
while developing.
"""
from __future__ import annotations

import os

import pytest

from tests.cluster._cluster import HOST, Cluster, start_cluster

CLIENT_KINDS = [k for k in os.environ.get("CPIPE_CLUSTER_CLIENTS", "redis-py,cpipe").split(",") if k]


def client_class(kind: str):
    if kind == "redis-py":
        import redis.cluster

        return redis.cluster.RedisCluster
    if kind == "cpipe":
        import cpipe

        # No skip: a cpipe without RedisCluster fails every cpipe test.
        return cpipe.RedisCluster
    raise ValueError(f"unknown cluster client kind {kind!r}")


def connect(cls, cluster: Cluster, **kwargs):
    """A cluster client of class `cls` bootstrapped from one live node."""
    kwargs.setdefault("socket_timeout", 10)
    return cls(host=HOST, port=cluster.any_alive_port(), **kwargs)


@pytest.fixture(scope="session")
def cluster():
    c = start_cluster()
    yield c
    c.stop()


@pytest.fixture(scope="module")
def fresh_cluster():
    c = start_cluster()
    yield c
    c.stop()


@pytest.fixture
def cluster_nodes(cluster) -> list[tuple[str, int]]:
    return cluster.addrs


@pytest.fixture(params=CLIENT_KINDS)
def cluster_client_class(request):
    return client_class(request.param)


@pytest.fixture
def cluster_client(cluster, cluster_client_class):
    """A client on the shared cluster, which is flushed first."""
    cluster.flushall()
    c = connect(cluster_client_class, cluster)
    yield c
    c.close()


@pytest.fixture
def both(cluster):
    """(cpipe's client, redis-py's client) on the shared cluster, flushed first."""
    import cpipe
    import redis.cluster

    cluster.flushall()
    port = cluster.any_alive_port()
    ours = cpipe.RedisCluster(host=HOST, port=port, socket_timeout=10)
    theirs = redis.cluster.RedisCluster(host=HOST, port=port, socket_timeout=10)
    yield ours, theirs
    ours.close()
    theirs.close()
