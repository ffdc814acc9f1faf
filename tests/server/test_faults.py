"""Faults on demand, each observed from a raw socket (CPIPE.FAULT and the
Python API on the server object)."""
import socket
import time

import pytest
import redis

from .rawclient import RawClient, parse


def test_refused_without_flag(ref_server):
    with RawClient(ref_server.port) as c:
        assert c.call("CPIPE.FAULT", "CLOSE-AFTER", "1") == \
            b"-ERR CPIPE.FAULT is disabled; start the server with --enable-faults\r\n"
        assert c.call("PING") == b"+PONG\r\n"


@pytest.mark.parametrize("args, err", [
    ((), b"-ERR wrong number of arguments for 'cpipe.fault' command\r\n"),
    (("BOGUS",), b"-ERR unknown CPIPE.FAULT kind 'BOGUS'"),
    (("DELAY",), b"-ERR syntax error: CPIPE.FAULT DELAY needs one integer argument\r\n"),
    (("DELAY", "x"), b"-ERR value is not an integer or out of range\r\n"),
    (("CLOSE-AFTER", "-1"), b"-ERR value is not an integer or out of range\r\n"),
    (("STALL", "now"), b"-ERR syntax error\r\n"),
    (("REFUSE", "10", "GLOBAL"), b"-ERR syntax error: REFUSE is always global\r\n"),
])
def test_syntax(thread_server, args, err):
    with RawClient(thread_server.port) as c:
        assert c.call("CPIPE.FAULT", *args).startswith(err)
        assert c.call("PING") == b"+PONG\r\n"


def test_close_after(thread_server):
    with RawClient(thread_server.port) as c:
        assert c.call("cpipe.fault", "close-after", "3") == b"+OK\r\n"
        c.send_raw(b"PING\r\nPING\r\nPING\r\nPING\r\n")
        assert c.read_all(1.0) == b"+PONG\r\n" * 3
        assert c.is_closed()
    with RawClient(thread_server.port) as c:
        assert c.call("CPIPE.FAULT", "CLOSE-AFTER", "0") == b"+OK\r\n"
        assert c.is_closed()
        assert c.buf == b""


def test_close_after_counts_pushed_messages(thread_server):
    with RawClient(thread_server.port) as sub, RawClient(thread_server.port) as pub:
        sub.call("CPIPE.FAULT", "CLOSE-AFTER", "2")
        assert sub.call("SUBSCRIBE", "ch").startswith(b"*3\r\n$9\r\nsubscribe")
        assert pub.call("PUBLISH", "ch", "m1") == b":1\r\n"
        assert sub.read_reply() == b"*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nm1\r\n"
        assert sub.is_closed()
        time.sleep(0.05)
        assert pub.call("PUBLISH", "ch", "m2") == b":0\r\n"


def test_close_mid_reply(thread_server):
    with RawClient(thread_server.port) as c:
        c.call("SET", "k", "0123456789")
        assert c.call("CPIPE.FAULT", "CLOSE-MID-REPLY") == b"+OK\r\n"
        c.send("GET", "k")
        assert c.read_all(1.0) == b"$10\r\n012"  # 8 of 17 bytes
        assert c.is_closed()


def test_delay(thread_server):
    with RawClient(thread_server.port) as c:
        assert c.call("CPIPE.FAULT", "DELAY", "200") == b"+OK\r\n"
        start = time.monotonic()
        c.send_raw(b"ECHO a\r\nECHO b\r\nECHO c\r\n")
        replies = [c.read_reply() for _ in range(3)]
        took = time.monotonic() - start
        assert replies == [b"$1\r\na\r\n", b"$1\r\nb\r\n", b"$1\r\nc\r\n"]
        assert 0.19 <= took < 1.0
        start = time.monotonic()
        assert c.call("CPIPE.FAULT", "CLEAR") == b"+OK\r\n"  # never faulted itself
        for _ in range(5):
            assert c.call("PING") == b"+PONG\r\n"
        assert time.monotonic() - start < 0.15


def test_stall(thread_server):
    with RawClient(thread_server.port) as c, RawClient(thread_server.port) as other:
        c.call("SET", "k", "0123456789")
        assert c.call("CPIPE.FAULT", "STALL") == b"+OK\r\n"
        c.send("GET", "k")
        c.send("SET", "k", "changed")
        assert c.read_all(0.5) == b"$10\r\n012"
        assert not c.is_closed(0.5)  # open, silent for good
        assert other.call("GET", "k") == b"$10\r\n0123456789\r\n"  # stalled requests never ran


def test_malformed(thread_server):
    with RawClient(thread_server.port) as c:
        assert c.call("CPIPE.FAULT", "MALFORMED") == b"+OK\r\n"
        c.send_raw(b"PING\r\nPING\r\n")
        assert c.read_all(0.5) == b"@malformed\r\n+PONG\r\n"
    r = redis.Redis(port=thread_server.port, protocol=2, socket_timeout=2)
    try:
        r.execute_command("CPIPE.FAULT", "MALFORMED")
        with pytest.raises(redis.RedisError):  # redis-py: InvalidResponse
            r.ping()
    finally:
        r.close()


def test_extra(thread_server):
    with RawClient(thread_server.port) as c:
        assert c.call("CPIPE.FAULT", "EXTRA") == b"+OK\r\n"  # never followed itself
        assert c.read_all(0.2) == b""
        c.send("ECHO", "a")
        assert c.read_all(0.3) == b"$1\r\na\r\n+EXTRA\r\n"
        c.send_raw(b"PING\r\nPING\r\n")
        assert c.read_all(0.3) == b"+PONG\r\n+PONG\r\n"  # once per arming
        assert not c.is_closed(0.2)


def test_extra_is_in_the_same_write_as_the_reply(thread_server):
    """The stray reply must reach the client with the real one (one read
    returns both), the case where it sits in a client's read buffer."""
    with RawClient(thread_server.port) as c:
        c.call("SET", "k", "v" * 100)
        c.call("CPIPE.FAULT", "EXTRA")
        c.send("GET", "k")
        time.sleep(0.2)
        first = c.sock.recv(65536)
        assert first == b"$100\r\n" + b"v" * 100 + b"\r\n+EXTRA\r\n"


def test_extra_later(thread_server):
    with RawClient(thread_server.port) as c:
        assert c.call("CPIPE.FAULT", "EXTRA-LATER", "300") == b"+OK\r\n"
        start = time.monotonic()
        assert c.call("PING") == b"+PONG\r\n"
        assert c.read_all(0.15) == b""  # idle for a while after the reply
        assert c.call("ECHO", "b") == b"$1\r\nb\r\n"  # meanwhile served as usual
        c.settimeout(2)
        assert c.read_reply() == b"+EXTRA\r\n"
        assert 0.28 <= time.monotonic() - start < 1.5
        assert c.read_all(0.5) == b""  # once
        assert c.call("PING") == b"+PONG\r\n"


def test_clear_drops_a_scheduled_extra_later(thread_server):
    with RawClient(thread_server.port) as c:
        assert c.call("CPIPE.FAULT", "EXTRA-LATER", "200") == b"+OK\r\n"
        assert c.call("PING") == b"+PONG\r\n"
        assert c.call("CPIPE.FAULT", "CLEAR") == b"+OK\r\n"
        assert c.read_all(0.5) == b""
        assert c.call("CPIPE.FAULT", "EXTRA") == b"+OK\r\n"
        assert c.call("CPIPE.FAULT", "CLEAR") == b"+OK\r\n"
        assert c.read_all(0.2) == b""
        c.send("PING")
        assert c.read_all(0.3) == b"+PONG\r\n"


@pytest.mark.parametrize("kind, after", [("EXTRA", b"+EXTRA\r\n"), ("extra-bytes", b"\x00extra\r\n")])
def test_extra_global(thread_server, kind, after):
    port = thread_server.port
    with RawClient(port) as a, RawClient(port) as b:
        assert a.call("CPIPE.FAULT", kind, "GLOBAL") == b"+OK\r\n"
        b.send("PING")
        assert b.read_all(0.3) == b"+PONG\r\n" + after
        with RawClient(port) as fresh:
            fresh.send("ECHO", "x")
            assert fresh.read_all(0.3) == b"$1\r\nx\r\n" + after
        a.send("PING")  # the issuer too, after its +OK
        assert a.read_all(0.3) == b"+PONG\r\n" + after
        assert a.call("CPIPE.FAULT", "CLEAR", "GLOBAL") == b"+OK\r\n"
    with RawClient(port) as fresh:
        fresh.send("PING")
        assert fresh.read_all(0.3) == b"+PONG\r\n"


@pytest.mark.parametrize("args, err", [
    (("EXTRA-LATER",), b"-ERR syntax error: CPIPE.FAULT EXTRA-LATER needs one integer argument\r\n"),
    (("EXTRA-LATER", "-5"), b"-ERR value is not an integer or out of range\r\n"),
    (("EXTRA", "1"), b"-ERR syntax error\r\n"),
])
def test_extra_syntax(thread_server, args, err):
    with RawClient(thread_server.port) as c:
        assert c.call("CPIPE.FAULT", *args) == err
        c.send("PING")
        assert c.read_all(0.3) == b"+PONG\r\n"  # nothing was armed


def test_extra_from_python(thread_server):
    with RawClient(thread_server.port) as c:
        c_id = parse(c.call("CLIENT", "ID"))
        thread_server.set_fault("extra", client_id=c_id)
        c.send("PING")
        assert c.read_all(0.3) == b"+PONG\r\n+EXTRA\r\n"
        thread_server.set_fault("extra-later", 100, client_id=c_id)
        assert c.call("PING") == b"+PONG\r\n"
        c.settimeout(2)
        assert c.read_reply() == b"+EXTRA\r\n"
        # Spent one-shot faults leave the connection on the plain fast path.
        assert thread_server.call(lambda: thread_server.state.clients[c_id].fault) is None
    with pytest.raises(ValueError):
        thread_server.set_fault("extra-later")  # needs its delay


JUNK = b"\x00extra\r\n"  # EXTRA-BYTES: NUL starts no RESP2/RESP3 type


def test_extra_bytes(thread_server):
    with RawClient(thread_server.port) as c:
        assert c.call("CPIPE.FAULT", "EXTRA-BYTES") == b"+OK\r\n"  # never followed itself
        assert c.read_all(0.2) == b""
        c.send("ECHO", "a")
        assert c.read_all(0.3) == b"$1\r\na\r\n" + JUNK
        c.send_raw(b"PING\r\nPING\r\n")
        assert c.read_all(0.3) == b"+PONG\r\n+PONG\r\n"  # once per arming
        assert not c.is_closed(0.2)


def test_extra_bytes_are_in_the_same_write_as_the_reply(thread_server):
    with RawClient(thread_server.port) as c:
        c.call("SET", "k", "v" * 100)
        c.call("CPIPE.FAULT", "EXTRA-BYTES")
        c.send("GET", "k")
        time.sleep(0.2)
        assert c.sock.recv(65536) == b"$100\r\n" + b"v" * 100 + b"\r\n" + JUNK


def test_extra_bytes_after_extra(thread_server):
    """Both armed: the stray valid reply, then the junk, in one write."""
    with RawClient(thread_server.port) as c:
        c_id = parse(c.call("CLIENT", "ID"))
        # From Python: armed by CPIPE.FAULT, EXTRA would follow the next +OK.
        thread_server.set_fault("extra", client_id=c_id)
        thread_server.set_fault("extra-bytes", client_id=c_id)
        c.send("PING")
        time.sleep(0.2)
        assert c.sock.recv(65536) == b"+PONG\r\n+EXTRA\r\n" + JUNK


def test_clear_disarms_extra_bytes(thread_server):
    with RawClient(thread_server.port) as c:
        assert c.call("CPIPE.FAULT", "EXTRA-BYTES") == b"+OK\r\n"
        assert c.call("CPIPE.FAULT", "CLEAR") == b"+OK\r\n"
        c.send("PING")
        assert c.read_all(0.3) == b"+PONG\r\n"


@pytest.mark.parametrize("args", [("EXTRA-BYTES", "1"), ("EXTRA-BYTES", "1", "GLOBAL"),
                                  ("EXTRA-BYTES", "GLOBAL", "GLOBAL")])
def test_extra_bytes_syntax(thread_server, args):
    with RawClient(thread_server.port) as c:
        assert c.call("CPIPE.FAULT", *args) == b"-ERR syntax error\r\n"
        c.send("PING")
        assert c.read_all(0.3) == b"+PONG\r\n"  # nothing was armed


def test_unknown_kind_lists_extra_bytes(thread_server):
    with RawClient(thread_server.port) as c:
        assert b"EXTRA-BYTES" in c.call("CPIPE.FAULT", "EXTRA-JUNK")


def test_extra_bytes_from_python(thread_server):
    with RawClient(thread_server.port) as c:
        c_id = parse(c.call("CLIENT", "ID"))
        thread_server.set_fault("extra_bytes", client_id=c_id)  # '_' accepted, as for the others
        c.send("PING")
        assert c.read_all(0.3) == b"+PONG\r\n" + JUNK
        # Spent, the fault leaves the connection on the plain fast path.
        assert thread_server.call(lambda: thread_server.state.clients[c_id].fault) is None
        thread_server.set_fault("extra-bytes")  # global
        try:
            c.send("PING")
            assert c.read_all(0.3) == b"+PONG\r\n" + JUNK
        finally:
            thread_server.clear_faults()
        c.send("PING")
        assert c.read_all(0.3) == b"+PONG\r\n"


def _connect_refused(port) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return False
    except ConnectionRefusedError:
        return True


def test_refuse(thread_server):
    port = thread_server.port
    with RawClient(port) as c:
        assert c.call("CPIPE.FAULT", "REFUSE", "400") == b"+OK\r\n"
        assert _connect_refused(port)
        assert c.call("PING") == b"+PONG\r\n"  # open connections are untouched
        deadline = time.monotonic() + 5
        while _connect_refused(port):
            assert time.monotonic() < deadline
            time.sleep(0.05)
    with RawClient(port) as c:
        assert c.call("PING") == b"+PONG\r\n"


def test_global_and_clear(thread_server):
    port = thread_server.port
    with RawClient(port) as a, RawClient(port) as b:
        assert a.call("CPIPE.FAULT", "CLOSE-AFTER", "1", "GLOBAL") == b"+OK\r\n"
        assert b.call("PING") == b"+PONG\r\n"
        assert b.is_closed()
        with RawClient(port) as fresh:
            assert fresh.call("PING") == b"+PONG\r\n"
            assert fresh.is_closed()
        assert a.call("PING") == b"+PONG\r\n"  # the issuer too, after its +OK
        assert a.is_closed()
    with RawClient(port) as c:
        assert c.call("CPIPE.FAULT", "CLEAR", "GLOBAL") == b"+OK\r\n"
    with RawClient(port) as c:
        assert c.call("PING") == b"+PONG\r\n"
        assert c.call("PING") == b"+PONG\r\n"


def test_global_delay_applies_to_new_connections(thread_server):
    port = thread_server.port
    with RawClient(port) as a:
        a.call("CPIPE.FAULT", "DELAY", "150", "GLOBAL")
        with RawClient(port) as fresh:
            start = time.monotonic()
            assert fresh.call("PING") == b"+PONG\r\n"
            assert time.monotonic() - start >= 0.14
        a.call("CPIPE.FAULT", "CLEAR", "GLOBAL")
    with RawClient(port) as fresh:
        start = time.monotonic()
        assert fresh.call("PING") == b"+PONG\r\n"
        assert time.monotonic() - start < 0.1


def test_python_api(thread_server):
    port = thread_server.port
    with RawClient(port) as a, RawClient(port) as b:
        a_id = parse(a.call("CLIENT", "ID"))
        thread_server.set_fault("close-after", 1, client_id=a_id)
        assert b.call("PING") == b"+PONG\r\n"
        assert a.call("PING") == b"+PONG\r\n"
        assert a.is_closed()
        assert b.call("PING") == b"+PONG\r\n"
    with RawClient(port) as c:
        thread_server.set_fault("malformed")  # global
        c.send("PING")
        assert c.read_all(0.3) == b"@malformed\r\n"
        thread_server.clear_faults()
        assert c.call("PING") == b"+PONG\r\n"
        thread_server.refuse(300)
        assert _connect_refused(port)
        thread_server.clear_faults()  # also ends a refusal early
        time.sleep(0.1)
        assert not _connect_refused(port)
    with pytest.raises(ValueError):
        thread_server.set_fault("explode")
    with pytest.raises(KeyError):
        thread_server.set_fault("stall", client_id=10**9)


def test_faults_work_without_enable_flag_from_python(parser_kind):
    from cpipe.server import ServerThread
    with ServerThread(port=0, parser=parser_kind) as srv, RawClient(srv.port) as c:
        assert c.call("CPIPE.FAULT", "STALL").startswith(b"-ERR CPIPE.FAULT is disabled")
        srv.set_fault("close-mid-reply")
        c.send("ECHO", "abcdef")
        assert c.read_all(0.5) == b"$6\r\nab"  # 6 of 12 bytes
        assert c.is_closed()
