"""A TLS cluster: 3 primaries with --tls-cluster yes (the cluster bus and
the slot map's addresses are TLS), created with `redis-cli --tls --cluster
create`; cpipe.RedisCluster and cpipe.asyncio.RedisCluster route over TLS,
split multi-key commands and run pipelines, checked over the nodes'
plaintext ports with redis-py."""
from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import tempfile
import time

import pytest
import redis

import cpipe
import cpipe.asyncio
from tests._servers import ServerProcess, free_port, real_server_binary, wait_for_port
from tests.cluster._cluster import redis_cli_binary


def _node(pki) -> tuple[ServerProcess, int]:
    port, tls_port, bus = free_port(), free_port(), free_port()
    workdir = tempfile.mkdtemp(prefix="cpipe-tls-cluster-")
    args = [real_server_binary(), "--port", str(port), "--tls-port", str(tls_port), "--bind", "127.0.0.1",
            "--tls-cert-file", pki.server_cert, "--tls-key-file", pki.server_key,
            "--tls-ca-cert-file", pki.ca, "--tls-auth-clients", "no",
            # What a node presents when it connects to another's bus.
            "--tls-client-cert-file", pki.client_cert, "--tls-client-key-file", pki.client_key,
            "--tls-cluster", "yes", "--tls-replication", "yes",
            "--cluster-enabled", "yes", "--cluster-port", str(bus), "--cluster-config-file", os.path.join(workdir, "nodes.conf"),
            "--cluster-node-timeout", "2000", "--save", "", "--appendonly", "no", "--dir", workdir]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    srv = ServerProcess(port=port, proc=proc, args=args, workdir=workdir)
    wait_for_port("127.0.0.1", port)  # the TLS port listens once the plaintext one answers
    return srv, tls_port


@pytest.fixture(scope="module")
def tls_cluster(pki):
    nodes = []
    try:
        for _ in range(3):
            nodes.append(_node(pki))
        done = subprocess.run(
            [redis_cli_binary(), "--tls", "--cacert", pki.ca, "--cluster", "create",
             *(f"127.0.0.1:{tls}" for _, tls in nodes), "--cluster-yes"],
            capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, done.stdout + done.stderr
        deadline = time.monotonic() + 30
        while True:
            states = [redis.Redis(port=srv.port).cluster("info")["cluster_state"] for srv, _ in nodes]
            if all(s == "ok" for s in states):
                break
            assert time.monotonic() < deadline, f"TLS cluster not ok: {states}"
            time.sleep(0.1)
        yield nodes
    finally:
        for srv, _ in nodes:
            srv.stop()
            shutil.rmtree(srv.workdir, ignore_errors=True)


def _stored_on(nodes, key: str) -> list:
    """What each primary's plaintext port answers to GET key: the value on
    its owner, a MOVED error (redis-py's MovedError) everywhere else."""
    answers = []
    for srv, _ in nodes:
        r = redis.Redis(port=srv.port)
        try:
            answers.append(r.get(key))
        except redis.exceptions.ResponseError as e:
            answers.append(type(e).__name__)
        finally:
            r.close()
    return answers


def test_routing_split_and_pipelines_over_tls(tls_cluster, pki):
    _, seed = tls_cluster[0]
    rc = cpipe.RedisCluster(host="127.0.0.1", port=seed, ssl=True, ssl_ca_certs=pki.ca, socket_timeout=10)
    try:
        keys = [f"tls:{i}" for i in range(200)]
        for k in keys:
            assert rc.set(k, k) is True
        assert rc.mget(keys) == [k.encode() for k in keys]  # split per slot, reassembled
        for k in keys[:20]:
            assert sorted(map(str, _stored_on(tls_cluster, k))) == sorted(
                [str(k.encode()), "MovedError", "MovedError"])
        with rc.pipeline(transaction=False) as p:
            for i in range(10_000):
                p.hset(f"tls:h{{{i % 50}}}", f"f{i}", i)
            assert p.execute() == [1] * 10_000
        assert sum(rc.hlen(f"tls:h{{{i}}}") for i in range(50)) == 10_000
        assert len({n.port for n in rc.get_primaries()}) == 3
        assert all(n.port in {tls for _, tls in tls_cluster} for n in rc.get_primaries())
    finally:
        rc.close()


def test_wrong_ca_is_a_clear_error(tls_cluster, pki):
    _, seed = tls_cluster[0]
    with pytest.raises(redis.exceptions.RedisError, match="certificate"):
        rc = cpipe.RedisCluster(host="127.0.0.1", port=seed, ssl=True, ssl_ca_certs=pki.other_ca,
                                socket_timeout=5)
        try:
            rc.get("k")
        finally:
            rc.close()


def test_asyncio_over_tls(tls_cluster, pki):
    _, seed = tls_cluster[1]

    async def main():
        rc = cpipe.asyncio.RedisCluster(host="127.0.0.1", port=seed, ssl=True, ssl_ca_certs=pki.ca)
        try:
            await asyncio.gather(*(rc.set(f"atls:{i}", i) for i in range(300)))
            return await asyncio.gather(*(rc.get(f"atls:{i}") for i in range(300)))
        finally:
            await rc.aclose()

    assert asyncio.run(main()) == [str(i).encode() for i in range(300)]
