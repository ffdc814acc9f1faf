"""Starting the server from Python and from the command line; commands
whose output is server-specific (INFO, COMMAND, CLIENT LIST, CONFIG)."""
import asyncio
import os
import subprocess
import sys
import tempfile
import time

import pytest
import redis

from cpipe.server import Server, ServerConfig, ServerThread, serve

from .rawclient import RawClient, parse


async def _roundtrip(port):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n")
    await writer.drain()
    data = b""
    while not data.endswith(b"$1\r\nv\r\n"):
        data += await reader.read(100)
    writer.close()
    await writer.wait_closed()
    return data


def test_serve_async_context_manager():
    async def main():
        async with serve(port=0) as srv:
            assert isinstance(srv, Server) and srv.port > 0
            assert await _roundtrip(srv.port) == b"+OK\r\n$1\r\nv\r\n"
            r = redis.asyncio.Redis(port=srv.port, protocol=2)
            assert await r.incr("n") == 1
            await r.aclose()
        with pytest.raises(OSError):
            await _roundtrip(srv.port)
    asyncio.run(main())


def test_serve_on_uvloop():
    import uvloop  # installed with the test requirements; never skipped

    async def main():
        async with serve(ServerConfig(port=0, parser="python")) as srv:
            return await _roundtrip(srv.port)
    assert uvloop.run(main()) == b"+OK\r\n$1\r\nv\r\n"


def test_server_thread_and_unix_socket():
    path = os.path.join(tempfile.mkdtemp(prefix="cpipe-sock-"), "s.sock")
    with ServerThread(port=0, unixsocket=path) as a, ServerThread(port=0) as b:
        assert a.port != b.port
        with RawClient(unix=path) as c:
            assert c.call("SET", "where", "unix") == b"+OK\r\n"
        with RawClient(a.port) as c:
            assert c.call("GET", "where") == b"$4\r\nunix\r\n"
        with RawClient(b.port) as c:
            assert c.call("GET", "where") == b"$-1\r\n"
        r = redis.Redis(unix_socket_path=path, protocol=2)
        assert r.get("where") == b"unix"
        r.close()
        assert a.call(lambda: a.state.dbs[0].data) == {b"where": b"unix"}
    assert not os.path.exists(path)


def test_server_thread_start_failure_is_raised():
    with ServerThread(port=0) as a:
        with pytest.raises(OSError):
            ServerThread(port=a.port, use_uvloop=False).start()


def _start_cli(*args):
    env = dict(os.environ)
    proc = subprocess.Popen([sys.executable, "-m", "cpipe.server", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)
    line = proc.stdout.readline().decode()
    return proc, line


def test_cli_port_zero_prints_port():
    proc, line = _start_cli("--port", "0", "--parser", "python")
    try:
        assert line.startswith("cpipe.server ready to accept connections: tcp 127.0.0.1:")
        port = int(line.split("127.0.0.1:")[1].split()[0])
        with RawClient(port) as c:
            assert c.call("PING") == b"+PONG\r\n"
    finally:
        proc.terminate()
        assert proc.wait(10) == 0


def test_cli_unix_only():
    path = os.path.join(tempfile.mkdtemp(prefix="cpipe-sock-"), "s.sock")
    proc, line = _start_cli("--port", "0", "--unixsocket", path, "--no-uvloop")
    try:
        assert line.strip().endswith(f"unix {path} (parser hiredis)") or "unix " + path in line
        assert "tcp" not in line
        with RawClient(unix=path) as c:
            assert c.call("ECHO", "hi") == b"$2\r\nhi\r\n"
    finally:
        proc.terminate()
        assert proc.wait(10) == 0


def test_info_sections(thread_server):
    with RawClient(thread_server.port) as c:
        c.call("SELECT", "2")
        c.call("SET", "a", "1")
        c.call("SET", "b", "1", "EX", "100")
        info = parse(c.call("INFO")).decode()
        assert "# Server\r\n" in info and "redis_version:" in info
        assert f"tcp_port:{thread_server.port}" in info
        assert "# Keyspace\r\ndb2:keys=2,expires=1,avg_ttl=0" in info
        assert "connected_clients:1" in info
        only = parse(c.call("INFO", "keyspace")).decode()
        assert only.startswith("# Keyspace\r\n") and "# Server" not in only
        assert parse(c.call("INFO", "nosuchsection")) == b""
        r = redis.Redis(port=thread_server.port, protocol=2)
        assert r.info("keyspace") == {"db2": {"keys": 2, "expires": 1, "avg_ttl": 0}}
        assert r.info()["redis_mode"] == "standalone"
        r.close()


def test_command_and_client_and_config(thread_server):
    with RawClient(thread_server.port) as c:
        count = parse(c.call("COMMAND", "COUNT"))
        assert count > 120
        assert len(parse(c.call("COMMAND"))) == count
        info = parse(c.call("COMMAND", "INFO", "get", "nosuch", "blpop"))
        assert info[0][:2] == [b"get", 2] and info[1] is None and info[2][1] == -3
        assert b"blocking" in info[2][2]
        assert parse(c.call("COMMAND", "DOCS")) == []
        c.call("CLIENT", "SETNAME", "me")
        lines = parse(c.call("CLIENT", "LIST")).decode().splitlines()
        assert len(lines) == 1 and " name=me " in lines[0] and "cmd=client" in lines[0]
        assert parse(c.call("CONFIG", "GET", "save")) == [b"save", b""]
        assert parse(c.call("CONFIG", "SET", "timeout", "0")) == b"OK"
        assert c.call("CONFIG", "SET", "nosuch", "1").startswith(b"-ERR Unknown option")
        assert c.call("HELLO", "4") == b"-NOPROTO unsupported protocol version\r\n"
        assert c.call("HELLO", "3").startswith(b"%7\r\n")
        info = parse(c.call("COMMAND", "INFO", "get", "nosuch"))  # flags and categories are sets
        assert info[0][2] == [b"readonly", b"fast"] and type(info[0][2]).__name__ == "RSet"
        assert info[1] is None
        assert c.call("COMMAND", "DOCS") == b"%0\r\n"
        listing = c.call("CLIENT", "LIST")
        assert listing.startswith(b"=") and b"txt:id=" in listing and b" resp=3\n" in listing
        assert c.call("HELLO", "2").startswith(b"*14\r\n")
        with RawClient(thread_server.port) as other:
            victim = parse(other.call("CLIENT", "ID"))
            assert c.call("CLIENT", "KILL", "ID", str(victim)) == b":1\r\n"
            assert other.is_closed()
        assert parse(c.call("CLIENT", "KILL", "ID", "999999")) == "ERR No such client"


def test_idle_timeout():
    with ServerThread(port=0, timeout=1) as srv:
        idle = RawClient(srv.port)
        busy = RawClient(srv.port)
        sub = RawClient(srv.port)
        sub.call("SUBSCRIBE", "c")
        for _ in range(15):
            busy.call("PING")
            time.sleep(0.15)
        assert idle.is_closed(3)
        assert busy.call("PING") == b"+PONG\r\n"
        assert not sub.is_closed(0.2)  # subscribers are exempt, as in Redis
        for c in (idle, busy, sub):
            c.close()


def test_active_expiry_without_access(thread_server):
    with RawClient(thread_server.port) as c:
        for i in range(200):
            c.send("SET", f"k{i}", "v", "PX", "50")
        for i in range(200):
            c.read_reply()
        c.call("SET", "keep", "v")
        time.sleep(0.6)
        # DBSIZE counts keys still stored: the sweep removed the expired ones
        assert c.call("DBSIZE") == b":1\r\n"


def test_pure_python_parser_selected_by_env(monkeypatch):
    monkeypatch.setenv("CPIPE_SERVER_PARSER", "python")
    with ServerThread(port=0) as srv:
        assert srv.state.parser_kind == "python"
    monkeypatch.setenv("CPIPE_SERVER_PARSER", "nonsense")
    with pytest.raises(ValueError):
        ServerThread(port=0).start()


def test_never_loads_the_go_engine():
    code = ("import sys, cpipe.server\n"
            "from cpipe.server import ServerThread\n"
            "with ServerThread(port=0) as s: pass\n"
            "bad = [m for m in sys.modules if m.startswith('cpipe._native')]\n"
            "assert not bad, bad\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
