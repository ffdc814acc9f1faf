"""Sentinel with TLS data nodes: the sentinel monitors the master's TLS
port (tls-replication yes), so master_for's clients connect with TLS to the
address Sentinel names, verified against that address; the sentinels
themselves are reached in plaintext, or over TLS with sentinel_kwargs."""
from __future__ import annotations

import asyncio
import os
import subprocess
import tempfile
import time

import pytest
import redis

import cpipe
import cpipe.asyncio
from tests._servers import ServerProcess, free_port, real_server_binary, wait_for_port
from tests.tls.conftest import start_tls_server

SERVICE = "tlsmaster"


@pytest.fixture(scope="module")
def tls_sentinel(pki):
    master = start_tls_server(pki, "--tls-auth-clients", "no")
    port, tls_port = free_port(), free_port()
    workdir = tempfile.mkdtemp(prefix="cpipe-tls-sentinel-")
    conf = os.path.join(workdir, "sentinel.conf")
    with open(conf, "w") as f:
        f.write("\n".join([
            f"port {port}", f"tls-port {tls_port}", "bind 127.0.0.1", f"dir {workdir}", "protected-mode no",
            f"tls-cert-file {pki.server_cert}", f"tls-key-file {pki.server_key}", f"tls-ca-cert-file {pki.ca}",
            "tls-auth-clients no", "tls-replication yes",
            f"sentinel monitor {SERVICE} 127.0.0.1 {master.tls_port} 1",
            f"sentinel down-after-milliseconds {SERVICE} 1000",
        ]) + "\n")
    args = [real_server_binary(), conf, "--sentinel"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    sentinel = ServerProcess(port=port, proc=proc, args=args, workdir=workdir)
    try:
        wait_for_port("127.0.0.1", port)
        probe = redis.Redis(port=port, socket_timeout=2)
        deadline = time.monotonic() + 20
        while True:
            m = probe.sentinel_master(SERVICE)
            if m["is_master"] and not m["is_sdown"] and m.get("role-reported") == "master":
                break
            if time.monotonic() > deadline:
                raise AssertionError(f"the sentinel does not see the TLS master up: {m}")
            time.sleep(0.1)
        probe.close()
        yield master, sentinel, tls_port
    finally:
        sentinel.stop()
        master.proc.stop()


def test_master_for_with_tls(tls_sentinel, pki):
    master, sentinel, _ = tls_sentinel
    s = cpipe.Sentinel([("127.0.0.1", sentinel.port)], socket_timeout=5, ssl=True, ssl_ca_certs=pki.ca)
    assert s.discover_master(SERVICE) == ("127.0.0.1", master.tls_port)
    m = s.master_for(SERVICE)
    try:
        assert m.set("via-sentinel", "tls")
        assert m.get("via-sentinel") == b"tls"
        assert redis.Redis(port=master.port).get("via-sentinel") == b"tls"
        with m.pipeline(transaction=False) as p:
            for i in range(1000):
                p.incr("sentinel-n")
            assert p.execute()[-1] == 1000
    finally:
        m.close()
    # Without TLS the master's TLS port does not answer RESP.
    plain = cpipe.Sentinel([("127.0.0.1", sentinel.port)], socket_timeout=2).master_for(SERVICE)
    with pytest.raises(redis.ConnectionError):
        plain.ping()
    plain.close()
    # A wrong CA: verification fails, as redis-py's would.
    bad = cpipe.Sentinel([("127.0.0.1", sentinel.port)], socket_timeout=2, ssl=True,
                         ssl_ca_certs=pki.other_ca).master_for(SERVICE)
    with pytest.raises(redis.ConnectionError, match="certificate verify failed"):
        bad.ping()
    bad.close()


def test_sentinels_over_tls_too(tls_sentinel, pki):
    master, _, sentinel_tls_port = tls_sentinel
    tls = {"ssl": True, "ssl_ca_certs": pki.ca}
    s = cpipe.Sentinel([("127.0.0.1", sentinel_tls_port)], sentinel_kwargs={"socket_timeout": 5, **tls},
                       socket_timeout=5, **tls)
    assert s.discover_master(SERVICE) == ("127.0.0.1", master.tls_port)
    m = s.master_for(SERVICE)
    try:
        assert m.ping()
    finally:
        m.close()


def test_asyncio_master_for_with_tls(tls_sentinel, pki):
    master, sentinel, _ = tls_sentinel

    async def main():
        s = cpipe.asyncio.Sentinel([("127.0.0.1", sentinel.port)], socket_timeout=5, ssl=True, ssl_ca_certs=pki.ca)
        m = s.master_for(SERVICE)
        try:
            assert await m.set("async-sentinel", "1")
            assert await m.get("async-sentinel") == b"1"
        finally:
            await m.aclose()
    asyncio.run(main())
