"""Bad input never takes the server down: malformed RESP, oversized
headers, half-sent commands, clients that never read. The offending client
gets Redis's error and/or is closed; everybody else keeps being served."""
import threading
import time

import pytest

from cpipe.server import limits

from . import difftools
from .conftest import make_thread_server
from .rawclient import RawClient

# Malformed or odd input whose handling is compared with redis-server's:
# the bytes sent back and whether the connection was closed.
CASES = {
    "bad_multibulk_count": b"*abc\r\n",
    "multibulk_count_over_int_max": b"*3000000000\r\n",
    "multibulk_leading_zero": b"*01\r\n$4\r\nPING\r\n",
    "bad_bulk_len": b"*1\r\n$abc\r\n",
    "negative_bulk_len": b"*1\r\n$-1\r\n",
    "bulk_len_over_512mb": b"*1\r\n$536870913\r\n",
    "bulk_len_at_512mb_waits": b"*2\r\n$4\r\nECHO\r\n$536870912\r\nabc",
    "int_instead_of_bulk": b"*1\r\n:5\r\n",
    "status_inside_array": b"*2\r\n$4\r\nECHO\r\n+OK\r\n",
    "nested_array": b"*1\r\n*1\r\n$4\r\nPING\r\n",
    "commands_before_error_run": b"PING\r\n*1\r\n$4\r\nPING\r\n*2\r\n$4\r\nECHO\r\n$x\r\n",
    "empty_and_negative_counts": b"*0\r\n*-1\r\n*-5\r\n*1\r\n$4\r\nPING\r\n",
    "bulk_trailer_not_checked": b"*1\r\n$4\r\nPINGxx*1\r\n$4\r\nPING\r\n",
    "top_level_bulk_is_inline": b"$3\r\nfoo\r\n",
    "unbalanced_quotes": b"SET k \"abc\r\nPING\r\n",
    "quote_then_garbage": b"ECHO \"a\"b\r\n",
    "too_big_inline": b"x" * (64 * 1024 + 10),
    "too_big_mbulk_count": b"*" + b"1" * (64 * 1024 + 10),
    "too_big_bulk_count": b"*1\r\n$" + b"1" * (64 * 1024 + 10),
    "cr_without_lf_waits": b"*1\r",
    "nul_in_inline": b"ECHO a\x00b\r\n",
    "lone_newlines": b"\n\n\r\nPING\n",
}


def _probe(port, data):
    with RawClient(port) as c:
        c.send_raw(data)
        out = c.read_all(0.4)
        closed = c.is_closed(0.3)
    return out, closed


@pytest.mark.parametrize("name", sorted(CASES))
def test_malformed_like_redis(real_server, ref_server, name):
    expected = difftools.expected("malformed:" + name, lambda: _probe(real_server.port, CASES[name]))
    got = _probe(ref_server.port, CASES[name])
    assert got == expected
    with RawClient(ref_server.port) as c:  # and the server is still fine
        assert c.call("PING") == b"+PONG\r\n"


def test_byte_by_byte(real_server, ref_server):
    """Every request split at every byte boundary gives the same replies."""
    data = (b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nab\r\nc\r\nGET k\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"
            b"*2\r\n$4\r\nECHO\r\n$0\r\n\r\n")
    def run(port):
        with RawClient(port) as c:
            c.call("SELECT", "9")
            for i in range(len(data)):
                c.send_raw(data[i:i + 1])
                time.sleep(0.001)
            return c.read_all(0.3)
    outs = [difftools.expected("byte_by_byte", lambda: run(real_server.port)), run(ref_server.port)]
    assert outs[0] == outs[1]
    assert outs[1] == b"+OK\r\n$5\r\nab\r\nc\r\n$5\r\nab\r\nc\r\n$0\r\n\r\n"


def test_half_command_then_silence(thread_server):
    """A client that sends half a command and goes quiet blocks nobody."""
    silent = RawClient(thread_server.port)
    silent.send_raw(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$100\r\npartial")
    with RawClient(thread_server.port) as other:
        for i in range(50):
            assert other.call("SET", f"k{i}", "v") == b"+OK\r\n"
        assert other.call("EXISTS", "k") == b":0\r\n"
    silent.send_raw(b"x" * 93 + b"\r\n")
    assert silent.read_reply() == b"+OK\r\n"
    silent.close()


def test_small_proto_max_bulk_len(parser_kind):
    srv = make_thread_server(proto_max_bulk_len=1000, parser=parser_kind)
    try:
        with RawClient(srv.port) as c:
            assert c.call("SET", "k", "x" * 1000) == b"+OK\r\n"
            # a complete request in one write, with a bulk over the limit
            c.send("SET", "k", "x" * 1001)
            assert c.read_all(0.3) == b"-ERR Protocol error: invalid bulk length\r\n"
            assert c.is_closed()
        with RawClient(srv.port) as c:
            assert c.call("APPEND", "k", "y") == \
                b"-ERR string exceeds maximum allowed size (proto-max-bulk-len)\r\n"
    finally:
        srv.stop()


def test_query_buffer_limit_closes_without_reply(parser_kind):
    srv = make_thread_server(client_query_buffer_limit=100_000, parser=parser_kind)
    try:
        with RawClient(srv.port) as c:
            c.send_raw(b"*2\r\n$4\r\nECHO\r\n$200000\r\n" + b"x" * 150_000)
            assert c.is_closed()
            assert c.buf == b""
        with RawClient(srv.port) as c:  # many arguments count too
            c.send_raw(b"*100000\r\n" + b"$5\r\nhello\r\n" * 12_000)
            assert c.is_closed()
        with RawClient(srv.port) as c:
            assert c.call("ECHO", "x" * 90_000)[:8] == b"$90000\r\n"
    finally:
        srv.stop()


def test_huge_declared_count_costs_nothing(ref_server):
    """*2147483647 is legal; arguments are not preallocated."""
    with RawClient(ref_server.port) as c:
        c.send_raw(b"*2147483647\r\n$4\r\nPING\r\n")
        with RawClient(ref_server.port) as other:
            assert other.call("PING") == b"+PONG\r\n"


def _rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def test_large_value_in_small_chunks(ref_server):
    """A 20 MB value arriving in 64 KB pieces: one copy, correct result."""
    value = bytes(range(256)) * (20 * 4096)
    with RawClient(ref_server.port) as c:
        c.call("SELECT", "9")
        data = b"*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$%d\r\n%s\r\n" % (len(value), value)
        for i in range(0, len(data), 65536):
            c.send_raw(data[i:i + 65536])
        assert c.read_reply() == b"+OK\r\n"
        assert c.call("STRLEN", "big") == b":%d\r\n" % len(value)
        assert c.call("GETRANGE", "big", "1000", "1003") == b"$4\r\n" + value[1000:1004] + b"\r\n"
        c.call("DEL", "big")


def test_subscriber_that_never_reads_is_disconnected(parser_kind):
    srv = make_thread_server(client_output_buffer_limit=2 * 1024 * 1024, parser=parser_kind)
    try:
        lazy = RawClient(srv.port)
        assert lazy.call("SUBSCRIBE", "firehose").startswith(b"*3")
        pub = RawClient(srv.port)
        payload = "p" * 100_000
        delivered = []
        for _ in range(400):  # 40 MB offered; kernel buffers take a few, the limit is 2 MB
            delivered.append(pub.call("PUBLISH", "firehose", payload))
        assert delivered[-1] == b":0\r\n"  # the lazy subscriber is gone
        assert srv.call(lambda: len(srv.state.pubsub.channels)) == 0
        assert pub.call("PING") == b"+PONG\r\n"
        assert lazy.is_closed(5)
        pub.close()
        lazy.close()
    finally:
        srv.stop()


def test_pipeliner_that_never_reads_is_throttled(parser_kind):
    """Replies are produced only as fast as the client reads them: the
    server stops reading its requests, memory stays bounded, others are fine."""
    srv = make_thread_server(parser=parser_kind)
    try:
        with RawClient(srv.port) as c:
            c.call("SET", "big", "v" * 1_000_000)
        greedy = RawClient(srv.port)
        request = b"*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n" * 5000  # 5 GB of replies if answered
        sender = threading.Thread(target=lambda: _send_quietly(greedy.sock, request), daemon=True)
        sender.start()
        time.sleep(1.0)

        def buffered():
            return [c.transport.get_write_buffer_size() for c in srv.state.clients.values()]
        assert max(srv.call(buffered)) < limits.OUTPUT_BUFFER_LIMIT
        with RawClient(srv.port) as other:
            assert other.call("PING") == b"+PONG\r\n"
        # when it finally reads, it gets every reply, in order
        greedy.settimeout(10)
        got = 0
        while got < 20:
            assert greedy.read_reply().startswith(b"$1000000\r\n")
            got += 1
        greedy.close()
    finally:
        srv.stop()


def _send_quietly(sock, data):
    try:
        sock.sendall(data)
    except OSError:
        pass
