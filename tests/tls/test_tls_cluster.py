"""A TLS cluster: 3 primaries with --tls-cluster yes (the cluster bus and
the slot map's addresses are TLS), created with `redis-cli --tls --cluster
create`; cpipe.RedisCluster and cpipe.asyncio.RedisCluster route over TLS,
split multi-key commands, run pipelines and follow MOVED and ASK to other
nodes' TLS ports, checked over the nodes' plaintext ports with redis-py.
A second cluster requires client certificates (mutual TLS).

Such a node reports both its ports in CLUSTER SHARDS; a TLS client that
dialled the plaintext one would wait out its timeout in the handshake.
"""
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


def _node(pki, auth_clients: str) -> tuple[ServerProcess, int]:
    port, tls_port, bus = free_port(), free_port(), free_port()
    workdir = tempfile.mkdtemp(prefix="cpipe-tls-cluster-")
    args = [real_server_binary(), "--port", str(port), "--tls-port", str(tls_port), "--bind", "127.0.0.1",
            "--tls-cert-file", pki.server_cert, "--tls-key-file", pki.server_key,
            "--tls-ca-cert-file", pki.ca, "--tls-auth-clients", auth_clients,
            # What a node presents when it connects to another's bus.
            "--tls-client-cert-file", pki.client_cert, "--tls-client-key-file", pki.client_key,
            "--tls-cluster", "yes", "--tls-replication", "yes",
            "--cluster-enabled", "yes", "--cluster-port", str(bus), "--cluster-config-file", os.path.join(workdir, "nodes.conf"),
            "--cluster-node-timeout", "2000", "--save", "", "--appendonly", "no", "--dir", workdir]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    srv = ServerProcess(port=port, proc=proc, args=args, workdir=workdir)
    wait_for_port("127.0.0.1", port)  # the TLS port listens once the plaintext one answers
    return srv, tls_port


def _start_cluster(pki, auth_clients: str):
    nodes = []
    try:
        for _ in range(3):
            nodes.append(_node(pki, auth_clients))
        done = subprocess.run(
            [redis_cli_binary(), "--tls", "--cacert", pki.ca, "--cert", pki.client_cert, "--key", pki.client_key,
             "--cluster", "create", *(f"127.0.0.1:{tls}" for _, tls in nodes), "--cluster-yes"],
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


@pytest.fixture(scope="module")
def tls_cluster(pki):
    yield from _start_cluster(pki, "no")


@pytest.fixture(scope="module")
def mtls_cluster(pki):
    yield from _start_cluster(pki, "yes")


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


def _ids(nodes) -> list[str]:
    return [redis.Redis(port=srv.port, decode_responses=True).cluster("myid") for srv, _ in nodes]


def _owner(nodes, key: str) -> int:
    """The index in nodes of the primary serving key: the one that does not answer MOVED."""
    answers = _stored_on(nodes, key)
    assert answers.count("MovedError") == len(nodes) - 1, answers
    return next(i for i, a in enumerate(answers) if a != "MovedError")


def test_ask_and_moved_to_another_nodes_tls_port(tls_cluster, pki):
    """A slot migrated under a client that loaded the map before: ASK while
    it migrates, then MOVED; both name the target's TLS port (the server
    answers a TLS connection so), which the engine dials over TLS."""
    key = "{tls-move}k"
    rc = cpipe.RedisCluster(host="127.0.0.1", port=tls_cluster[0][1], ssl=True, ssl_ca_certs=pki.ca,
                            socket_timeout=10)
    admins = [redis.Redis(port=srv.port, decode_responses=True) for srv, _ in tls_cluster]
    try:
        slot = rc.keyslot(key)
        assert rc.get(key) is None  # the map is loaded, the slot's owner known
        src = _owner(tls_cluster, key)
        dst = (src + 1) % 3
        ids = _ids(tls_cluster)
        admins[dst].execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", ids[src])
        admins[src].execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", ids[dst])
        try:
            # The key is not on the source: ASK, then ASKING + SET on the target.
            assert rc.set(key, "asked") is True
            with pytest.raises(redis.exceptions.AskError, match=f"^{slot} 127.0.0.1:{tls_cluster[dst][0].port}$"):
                admins[src].set(key, "x")  # what a plaintext client is told: the plaintext port
            assert admins[dst].execute_command("ASKING") and admins[dst].get(key) == "asked"
            assert rc.get(key) == b"asked"
        finally:
            for i in (dst, src, 3 - src - dst):
                admins[i].execute_command("CLUSTER", "SETSLOT", slot, "NODE", ids[dst])
        # The client's map still names the source: MOVED to the target's TLS port.
        assert rc.set(key, "moved") is True
        assert _stored_on(tls_cluster, key)[dst] == b"moved"
        assert rc.get_node_from_key(key).port == tls_cluster[dst][1]
    finally:
        rc.close()
        for a in admins:
            a.close()


def test_rediss_url(tls_cluster, pki):
    rc = cpipe.RedisCluster.from_url(f"rediss://127.0.0.1:{tls_cluster[2][1]}", ssl_ca_certs=pki.ca)
    try:
        assert rc.set("tls:url", "1") and rc.get("tls:url") == b"1"
        assert rc.mget(["tls:url", "tls:url2"]) == [b"1", None]
        # Commands redis-py sends to node sets, and a node's own client, over TLS too.
        assert b"tls:url" in rc.keys("tls:url*", target_nodes=rc.PRIMARIES)
        node = rc.get_node_from_key("tls:url")
        assert rc.get_redis_connection(node).get("tls:url") == b"1"
    finally:
        rc.close()


def test_hostname_checked_against_each_node(tls_cluster, pki):
    """The seed by name (localhost), the other nodes by the address the
    cluster reports (127.0.0.1): each is checked against its own name."""
    rc = cpipe.RedisCluster(host="localhost", port=tls_cluster[0][1], ssl=True, ssl_ca_certs=pki.ca,
                            ssl_check_hostname=True, ssl_cert_reqs="required")
    try:
        keys = [f"tls:host:{i}" for i in range(60)]
        assert rc.mset_nonatomic({k: k for k in keys})
        assert rc.mget(keys) == [k.encode() for k in keys]
        assert len({rc.get_node_from_key(k).port for k in keys}) == 3
    finally:
        rc.close()


def test_wrong_ca_is_a_clear_error(tls_cluster, pki):
    """redis-py's ConnectionError with OpenSSL's words, not a TimeoutError."""
    _, seed = tls_cluster[0]
    rc = cpipe.RedisCluster(host="127.0.0.1", port=seed, ssl=True, ssl_ca_certs=pki.other_ca, socket_timeout=5)
    try:
        with pytest.raises(redis.ConnectionError, match="certificate verify failed"):
            rc.get("k")
    finally:
        rc.close()

    async def main():
        arc = cpipe.asyncio.RedisCluster(host="127.0.0.1", port=seed, ssl=True, ssl_ca_certs=pki.other_ca,
                                         socket_timeout=5)
        try:
            with pytest.raises(redis.ConnectionError, match="certificate verify failed"):
                await arc.get("k")
        finally:
            await arc.aclose()

    asyncio.run(main())


def test_asyncio_over_tls(tls_cluster, pki):
    _, seed = tls_cluster[1]

    async def main():
        rc = cpipe.asyncio.RedisCluster(host="127.0.0.1", port=seed, ssl=True, ssl_ca_certs=pki.ca)
        try:
            await asyncio.gather(*(rc.set(f"atls:{i}", i) for i in range(300)))
            got = await asyncio.gather(*(rc.get(f"atls:{i}") for i in range(300)))
            split = await rc.mget([f"atls:{i}" for i in range(300)])
            async with rc.pipeline(transaction=False) as p:
                for i in range(3000):
                    p.hset(f"atls:h{{{i % 30}}}", f"f{i}", i)
                piped = await p.execute()
            return got, split, piped
        finally:
            await rc.aclose()

    got, split, piped = asyncio.run(main())
    assert got == split == [str(i).encode() for i in range(300)]
    assert piped == [1] * 3000
    assert sorted(map(str, _stored_on(tls_cluster, "atls:7"))) == sorted(["b'7'", "MovedError", "MovedError"])
    assert sum(redis.Redis(port=srv.port).dbsize() for srv, _ in tls_cluster) >= 330


def test_mutual_tls_cluster(mtls_cluster, pki):
    _, seed = mtls_cluster[0]
    cert = dict(ssl_certfile=pki.client_cert, ssl_keyfile=pki.client_key)
    without = cpipe.RedisCluster(host="127.0.0.1", port=seed, ssl=True, ssl_ca_certs=pki.ca, socket_timeout=5)
    try:
        with pytest.raises(redis.ConnectionError, match="client certificate"):
            without.get("k")
    finally:
        without.close()
    rc = cpipe.RedisCluster(host="127.0.0.1", port=seed, ssl=True, ssl_ca_certs=pki.ca, **cert)
    try:
        keys = [f"mtls:{i}" for i in range(100)]
        with rc.pipeline(transaction=False) as p:
            for k in keys:
                p.set(k, k)
            assert p.execute() == [True] * 100
        assert rc.mget(keys) == [k.encode() for k in keys]
        assert {n.port for n in rc.get_primaries()} == {tls for _, tls in mtls_cluster}
    finally:
        rc.close()
    for k in keys[:10]:
        assert sorted(map(str, _stored_on(mtls_cluster, k))) == sorted([str(k.encode()), "MovedError", "MovedError"])

    async def main():
        arc = cpipe.asyncio.RedisCluster(host="127.0.0.1", port=mtls_cluster[2][1], ssl=True,
                                         ssl_ca_certs=pki.ca, **cert)
        try:
            return await arc.mget(keys)
        finally:
            await arc.aclose()

    assert asyncio.run(main()) == [k.encode() for k in keys]
