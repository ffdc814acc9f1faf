"""Servers for the TLS tests: redis-server with a TLS port beside its
plaintext one (the plaintext port is for checks from redis-py without TLS),
one that requires client certificates, started once per session."""
from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass

import pytest

from tests._servers import ServerProcess, free_port, start_real_server, wait_for_port
from tests.tls._pki import PKI, make_pki


@dataclass
class TLSServer:
    proc: ServerProcess
    tls_port: int

    @property
    def port(self) -> int:
        return self.proc.port


def start_tls_server(pki: PKI, *extra: str) -> TLSServer:
    tls_port = free_port()
    proc = start_real_server("--tls-port", str(tls_port), "--tls-cert-file", pki.server_cert,
                             "--tls-key-file", pki.server_key, "--tls-ca-cert-file", pki.ca, *extra)
    wait_for_port("127.0.0.1", proc.port)
    return TLSServer(proc, tls_port)


@pytest.fixture(scope="session")
def pki():
    d = tempfile.mkdtemp(prefix="cpipe-tls-")
    yield make_pki(d)
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def tls_server(pki):
    srv = start_tls_server(pki, "--tls-auth-clients", "no")
    yield srv
    srv.proc.stop()


@pytest.fixture(scope="session")
def mtls_server(pki):
    srv = start_tls_server(pki, "--tls-auth-clients", "yes")
    yield srv
    srv.proc.stop()


@pytest.fixture
def plain(tls_server):
    """redis-py over the plaintext port, to check what the TLS clients did."""
    import redis

    r = redis.Redis(port=tls_server.port, protocol=2)
    r.flushall()
    yield r
    r.close()
