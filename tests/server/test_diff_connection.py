"""Differential: connection commands, errors common to all commands,
inline commands, AUTH with --requirepass."""
import re

import pytest

from tests._servers import start_real_server, start_reference_server

from .difftools import PROTOS, assert_same, assert_same_redispy, expected
from .rawclient import RawClient

SCRIPTS = {
    "ping_echo_case": [
        ("PING",), ("PING", "hello"), ("PING", "a", "b"), ("ping",), ("PiNg", "x"), ("ECHO", "hi"),
        ("ECHO",), ("ECHO", "a", "b"), ("ECHO", ""), ("echo", b"\x00\xff"),
    ],
    "unknown_and_arity": [
        ("FOO",), ("foo", "a", "b"), ("FOO", "x" * 200), ("FOO", *["y" * 50] * 5),
        ("FOO", "a\r\nb", "c\nd"), ("GET",), ("get", "a", "b"), ("HSET", "h"), ("ZADD",), ("SET", "k"),
        ("", "x"), ("CLIENT",), ("CLIENT", "BOGUS"), ("client", "setname"), ("CLIENT", "SETINFO", "LIB-NAME", "x"),
        ("CLIENT", "GETNAME", "x"), ("CONFIG",), ("CONFIG", "bogus"), ("CONFIG", "GET"),
        ("COMMAND", "bogus"), ("PUBSUB",), ("PUBSUB", "bogus"), ("PUBSUB", "NUMPAT", "x"),
    ],
    "client_name": [
        ("CLIENT", "GETNAME"), ("CLIENT", "SETNAME", "worker-1"), ("CLIENT", "GETNAME"),
        ("CLIENT", "SETNAME", "has space"), ("CLIENT", "SETNAME", "new\nline"), ("CLIENT", "GETNAME"),
        ("CLIENT", "SETNAME", ""), ("CLIENT", "GETNAME"), ("client", "setname", "x", "y"),
    ],
    "auth_without_password": [
        ("AUTH", "pw"), ("AUTH", "default", "anything"), ("AUTH", "other", "pw"), ("AUTH", "a", "b", "c"),
        ("AUTH",), ("HELLO", "2", "AUTH", "other", "pw"), ("HELLO", "x"), ("HELLO", "1"), ("HELLO", "4"),
        ("HELLO", "2", "BOGUS"), ("HELLO", "2", "SETNAME"), ("HELLO", "2", "SETNAME", "a b"),
        ("HELLO", "2", "AUTH", "default"),
    ],
    "config_time": [
        ("CONFIG", "GET", "save"), ("CONFIG", "GET", "appendonly"), ("CONFIG", "GET", "databases"),
        ("CONFIG", "GET", "nosuchparam"), ("TIME", "x"), ("LASTSAVE", "x"),
    ],
}


@pytest.mark.parametrize("name", sorted(SCRIPTS))
@pytest.mark.parametrize("proto", PROTOS)
def test_connection(real_server, ref_server, name, proto):
    assert_same(real_server.port, ref_server.port, SCRIPTS[name], "connection:" + name, proto)


@pytest.mark.parametrize("name", sorted(SCRIPTS))
@pytest.mark.parametrize("proto", PROTOS)
def test_connection_redispy(real_server, ref_server, name, proto):
    assert_same_redispy(real_server.port, ref_server.port, SCRIPTS[name], "connection:" + name, proto)


def _masked_hello(raw: bytes) -> bytes:
    raw = re.sub(rb"\$2\r\nid\r\n:\d+\r\n", b"$2\r\nid\r\n:ID\r\n", raw)
    return re.sub(rb"\$7\r\nversion\r\n\$\d+\r\n[0-9.]+\r\n", b"$7\r\nversion\r\nVER\r\n", raw)


def test_hello_and_ids(real_server, ref_server):
    """HELLO 2 has the same shape; only the version and client id differ."""
    def run(port):
        with RawClient(port) as c:
            hello = _masked_hello(c.call("HELLO", "2", "SETNAME", "me"))
            name = c.call("CLIENT", "GETNAME")
            cid = c.call("CLIENT", "ID")
            assert re.fullmatch(rb":\d+\r\n", cid)
            return [hello, name]
    assert run(ref_server.port) == expected("hello_and_ids", lambda: run(real_server.port))


def test_hello_resp3_and_back(real_server, ref_server):
    """HELLO 3 forms (a map reply), HELLO alone (current protocol), RESP3
    replies, then HELLO 2 (an array again)."""
    def run(port):
        out = []
        with RawClient(port) as c:
            for cmd in [("HELLO", "3", "SETNAME", "me"), ("CLIENT", "GETNAME"), ("GET", "nope"),
                        ("HELLO",), ("HELLO", "3", "SETNAME", "a b"), ("HELLO", "3", "AUTH", "default", "x"),
                        ("HELLO", "3", "AUTH", "other", "x"), ("HELLO", "3", "BOGUS"), ("HGETALL", "nope"),
                        ("HELLO", "2"), ("GET", "nope"), ("HGETALL", "nope"), ("HELLO",),
                        ("HELLO", "3"), ("RESET",), ("GET", "nope")]:
                out.append(_masked_hello(c.call(*cmd)))
        return out
    assert run(ref_server.port) == expected("resp3:hello_and_ids", lambda: run(real_server.port))


def test_protocol_switch_inside_one_write(real_server, ref_server):
    """HELLO in the middle of a pipeline: every reply after it is in the new
    protocol (the reference server leaves its fast path there)."""
    from .rawclient import encode
    cmds = [("GET", "nope"), ("HGETALL", "nope"), ("HELLO", "3"), ("GET", "nope"),
            ("HGETALL", "nope"), ("ZSCORE", "nope", "m"), ("HELLO", "2"), ("GET", "nope"),
            ("HGETALL", "nope"), ("HELLO", "3"), ("MGET", "a", "b")]

    def run(port):
        with RawClient(port) as c:
            c.send_raw(b"".join(encode(*cmd) for cmd in cmds) + b"GET nope\r\n")
            return [_masked_hello(c.read_reply()) for _ in range(len(cmds) + 1)]
    assert run(ref_server.port) == expected("resp3:protocol_switch_pipeline",
                                            lambda: run(real_server.port))


def test_inline_commands(real_server, ref_server):
    """Inline (telnet-style) requests, with quoting, as redis-cli users type them."""
    data = (b"PING\r\nSET k \"a b\\x41\\n\"\r\nGET k\r\nSET 'q' 'it\\'s'\r\nGET q\r\n"
            b"\r\n   \r\nECHO \"x\"y\r\n")
    def run(port):
        with RawClient(port) as c:
            c.call("SELECT", "9")
            c.send_raw(b"ECHO before\n" + data)
            return c.read_all(0.5)
    outs = [expected("inline_commands", lambda: run(real_server.port)), run(ref_server.port)]
    assert outs[0] == outs[1]
    assert outs[1].startswith(b"$6\r\nbefore\r\n+PONG\r\n+OK\r\n$5\r\na bA\n\r\n")


def test_inline_and_multibulk_mixed_in_one_write(real_server, ref_server):
    data = b"*1\r\n$4\r\nPING\r\nPING\r\n*2\r\n$4\r\nECHO\r\n$2\r\nhi\r\nECHO  spaced   out\n"
    def run(port):
        with RawClient(port) as c:
            c.send_raw(data)
            return c.read_all(0.5)
    outs = [expected("inline_mixed", lambda: run(real_server.port)), run(ref_server.port)]
    assert outs[0] == outs[1]
    assert outs[1].startswith(b"+PONG\r\n+PONG\r\n$2\r\nhi\r\n-ERR wrong number of arguments")


def test_quit(real_server, ref_server):
    for port in (real_server.port, ref_server.port):
        with RawClient(port) as c:
            c.send_raw(b"*1\r\n$4\r\nQUIT\r\n*1\r\n$4\r\nPING\r\n")
            assert c.read_all(1.0) == b"+OK\r\n"
            assert c.is_closed()


@pytest.fixture(scope="module")
def pw_servers(parser_kind_module):
    real = start_real_server("--requirepass", "s3cret")
    ref = start_reference_server("--requirepass", "s3cret", "--parser", parser_kind_module)
    yield real, ref
    real.stop()
    ref.stop()


@pytest.fixture(scope="module", params=["hiredis", "python"])
def parser_kind_module(request):
    return request.param


def _pw_script(port):
    out = []
    with RawClient(port) as c:
        for cmd in [("GET", "k"), ("PING",), ("FOO",), ("AUTH", "wrong"), ("AUTH", "default", "wrong"),
                    ("AUTH", "nobody", "s3cret"), ("HELLO", "2"), ("MULTI",), ("QUIT", "x")][:-1]:
            out.append(c.call(*cmd))
        out.append(c.call("AUTH", "s3cret"))
        out.append(c.call("GET", "k"))
    with RawClient(port) as c:
        out.append(_masked_hello(c.call("HELLO", "2", "AUTH", "default", "s3cret")))
        out.append(c.call("PING"))
    with RawClient(port) as c:
        out.append(c.call("HELLO", "2", "AUTH", "default", "nope"))
        out.append(c.call("RESET"))
        out.append(c.call("PING"))
    with RawClient(port) as c:  # unauthenticated: tiny request limits, as Redis 7
        c.send_raw(b"*11\r\n")
        out.append(c.read_all(0.5))
    with RawClient(port) as c:
        c.send_raw(b"*1\r\n$16385\r\n")
        out.append(c.read_all(0.5))
    with RawClient(port) as c:
        out.append(c.call("AUTH", "s3cret"))
        out.append(c.call("ECHO", "x" * 20000))
        out.append(c.call(*(["MSET"] + ["k", "v"] * 10)))
    return out


def _pw_script3(port):
    out = []
    with RawClient(port) as c:
        out.append(c.call("HELLO", "3"))
        out.append(c.call("HELLO", "3", "AUTH", "default", "wrong"))
        out.append(c.call("GET", "k"))
        out.append(_masked_hello(c.call("HELLO", "3", "AUTH", "default", "s3cret", "SETNAME", "n")))
        out.append(c.call("GET", "k"))
        out.append(c.call("CLIENT", "GETNAME"))
        out.append(c.call("RESET"))
        out.append(c.call("GET", "k"))
    with RawClient(port) as c:
        out.append(c.call("AUTH", "s3cret"))
        out.append(_masked_hello(c.call("HELLO", "3")))
        out.append(c.call("GET", "k"))
    return out


def test_requirepass_resp3(pw_servers):
    real, ref = pw_servers
    assert _pw_script3(ref.port) == expected("resp3:requirepass", lambda: _pw_script3(real.port))


def test_requirepass(pw_servers):
    real, ref = pw_servers
    assert _pw_script(ref.port) == expected("requirepass", lambda: _pw_script(real.port))
