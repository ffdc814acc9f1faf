"""redis-cli and redis-benchmark against the reference server: no errors.

Both come with Redis (Debian packages redis-tools / redis-server); if they
are missing the tests fail loudly instead of skipping.
"""
import os
import re
import shutil
import subprocess
import tempfile

import pytest

from tests._servers import start_reference_server


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise RuntimeError(f"{name} not found on PATH: install the Debian package redis-tools "
                           f"(apt-get install redis-tools) - these tests must not be skipped")
    return path


def _run(args, stdin=None, timeout=60):
    proc = subprocess.run(args, input=stdin, capture_output=True, timeout=timeout)
    return proc.returncode, proc.stdout.decode("utf-8", "replace"), proc.stderr.decode("utf-8", "replace")


def test_redis_cli(ref_server):
    cli = [_tool("redis-cli"), "-p", str(ref_server.port)]
    assert _run(cli + ["PING"])[:2] == (0, "PONG\n")
    assert _run(cli + ["-n", "3", "SET", "greeting", "hello world"])[:2] == (0, "OK\n")
    assert _run(cli + ["-n", "3", "GET", "greeting"])[:2] == (0, "hello world\n")
    assert _run(cli + ["-n", "3", "--no-raw", "GET", "greeting"])[:2] == (0, '"hello world"\n')
    rc, out, err = _run(cli + ["-n", "3", "RPUSH", "l", "a", "b", "c"])
    assert (rc, out) == (0, "3\n")
    assert _run(cli + ["-n", "3", "--no-raw", "LRANGE", "l", "0", "-1"])[1] == '1) "a"\n2) "b"\n3) "c"\n'
    # commands from stdin, as people pipe them
    rc, out, err = _run(cli + ["-n", "4"], stdin=b"SET counter 10\nINCR counter\nINCRBY counter 5\nGET counter\n")
    assert (rc, out, err) == (0, "OK\n11\n16\n16\n", "")
    # mass insertion protocol (redis-cli --pipe ends with an ECHO marker)
    data = b"".join(b"*3\r\n$3\r\nSET\r\n$%d\r\nk%d\r\n$1\r\nv\r\n" % (len(b"k%d" % i), i) for i in range(1000))
    rc, out, err = _run(cli + ["-n", "5", "--pipe"], stdin=data)
    assert rc == 0, (out, err)
    assert "errors: 0, replies: 1000" in out
    assert _run(cli + ["-n", "5", "DBSIZE"])[1] == "1000\n"
    rc, out, err = _run(cli + ["-n", "5", "--scan", "--pattern", "k99*"])
    assert rc == 0 and sorted(out.split()) == sorted(["k99"] + [f"k99{i}" for i in range(10)])
    rc, out, err = _run(cli + ["INFO", "server"])
    assert rc == 0 and "redis_version:" in out and "tcp_port:%d" % ref_server.port in out
    rc, out, err = _run(cli + ["FLUSHALL"])
    assert (rc, out) == (0, "OK\n")


def test_redis_cli_unix_socket_and_password():
    cli = _tool("redis-cli")
    path = os.path.join(tempfile.mkdtemp(prefix="cpipe-sock-"), "redis.sock")
    srv = start_reference_server("--unixsocket", path, "--requirepass", "pw")
    try:
        rc, out, err = _run([cli, "-s", path, "--no-auth-warning", "-a", "pw", "PING"])
        assert (rc, out) == (0, "PONG\n")
        rc, out, err = _run([cli, "-s", path, "PING"])
        assert "NOAUTH Authentication required." in out
    finally:
        srv.stop()


TESTS = "ping,set,get,incr,lpush,rpush,lpop,rpop,sadd,hset,spop,lrange,mset"


@pytest.mark.parametrize("pipeline", ["1", "16"])
def test_redis_benchmark(ref_server, pipeline):
    bench = _tool("redis-benchmark")
    rc, out, err = _run([bench, "-p", str(ref_server.port), "-t", TESTS, "-q", "-n", "2000",
                         "-c", "20", "-P", pipeline], timeout=120)
    assert rc == 0, (out, err)
    assert "rror" not in out + err and "WARN" not in err, (out, err)
    # ping gives two results (inline and multibulk), lrange a setup LPUSH and four
    results = re.findall(r"([A-Z_0-9]+(?: \([^)]*\))?): [\d.]+ requests per second", out)
    assert len(results) == 18, out
    for name in ("PING_INLINE", "PING_MBULK", "SET", "GET", "INCR", "LPUSH", "RPUSH", "LPOP", "RPOP",
                 "SADD", "HSET", "SPOP", "LRANGE_100 (first 100 elements)", "MSET (10 keys)"):
        assert name in results, (name, results)
