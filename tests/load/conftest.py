"""cpipe-load against a real server: db 0 is loaded by cpipe-load, db 1 by
`redis-cli --pipe` from the equivalent RESP file, and the keyspaces are
compared. The CLI runs as a subprocess (as a user runs it), bounded in time."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
import redis

import cpipe

from tests._servers import start_real_server

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TIMEOUT = 120


@pytest.fixture(scope="session")
def load_server():
    srv = start_real_server()
    yield srv
    srv.stop()


@pytest.fixture
def db0(load_server):
    r = redis.Redis(host="127.0.0.1", port=load_server.port, db=0, protocol=2, socket_timeout=30)
    r.flushall()
    yield r
    r.close()


@pytest.fixture
def db1(load_server):
    r = redis.Redis(host="127.0.0.1", port=load_server.port, db=1, protocol=2, socket_timeout=30)
    yield r
    r.close()


@pytest.fixture
def url(load_server) -> str:
    return f"redis://127.0.0.1:{load_server.port}/0"


def _env() -> dict:
    # The CLI must import the cpipe this process imported: the installed
    # package under `make test` (python/ has no native engine there), python/
    # with PYTHONPATH=python in a checkout.
    env = dict(os.environ)
    parent = os.path.dirname(os.path.dirname(os.path.abspath(cpipe.__file__)))
    env["PYTHONPATH"] = parent + os.pathsep + env.get("PYTHONPATH", "")
    return env


def run_load(*args: str, stdin: bytes | None = None, timeout: float = TIMEOUT) -> subprocess.CompletedProcess:
    """`python -m cpipe.load ARGS` (progress off unless asked), its output as text."""
    argv = [sys.executable, "-m", "cpipe.load", *args]
    if not any(a.startswith("--progress") for a in args):
        argv += ["--progress", "none"]
    return subprocess.run(argv, input=stdin, capture_output=True, timeout=timeout, env=_env(), cwd=REPO)


def popen_load(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "cpipe.load", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=_env(), cwd=REPO)


def redis_cli_pipe(port: int, db: int, path: str) -> str:
    cli = shutil.which("redis-cli")
    assert cli, "redis-cli must be on PATH (Debian package redis-tools)"
    with open(path, "rb") as f:
        p = subprocess.run([cli, "-h", "127.0.0.1", "-p", str(port), "-n", str(db), "--pipe"], stdin=f,
                           capture_output=True, timeout=TIMEOUT)
    out = p.stdout.decode()
    assert p.returncode == 0 and "errors: 0" in out, out + p.stderr.decode()
    return out


def resp(*args) -> bytes:
    """RESP encoding written here on purpose: not cpipe's encoder."""
    parts = [b"*%d\r\n" % len(args)]
    for a in args:
        b = a if isinstance(a, bytes) else str(a).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(parts)


_READ = {"string": "GET", "hash": "HGETALL", "list": "LRANGE", "set": "SMEMBERS", "zset": "ZRANGE"}


def keyspace(r: redis.Redis) -> dict:
    """Every key: (type, value, has a TTL), read with pipelines of 1,000 keys."""
    out = {}
    keys = list(r.scan_iter(count=1000))
    for i in range(0, len(keys), 1000):
        chunk = keys[i:i + 1000]
        p = r.pipeline(transaction=False)
        for k in chunk:
            p.type(k)
            p.ttl(k)
        meta = p.execute()
        p = r.pipeline(transaction=False)
        for j, k in enumerate(chunk):
            t = meta[2 * j].decode()
            if t not in _READ:
                raise AssertionError(f"unexpected type {t} for {k!r}")
            if t == "string":
                p.get(k)
            elif t == "hash":
                p.hgetall(k)
            elif t == "list":
                p.lrange(k, 0, -1)
            elif t == "set":
                p.smembers(k)
            else:
                p.zrange(k, 0, -1, withscores=True)
        for j, (k, v) in enumerate(zip(chunk, p.execute())):
            out[k] = (meta[2 * j].decode(), v, meta[2 * j + 1] > 0)
    return out
