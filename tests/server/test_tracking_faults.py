"""The client-side-caching faults (CLOSE-BEFORE-INVALIDATE,
DELAY-INVALIDATE), observed from raw sockets, through CPIPE.FAULT and the
Python API; plus the tracking table's bound."""
import time

import pytest

from .difftools import open_client
from .rawclient import RawClient, parse

INVALIDATE_K = b">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n"


def _tracking(port):
    a = open_client(port, 3)
    assert a.call("CLIENT", "TRACKING", "on") == b"+OK\r\n"
    assert a.call("GET", "k") == b"_\r\n"
    return a


def test_close_before_invalidate(thread_server):
    port = thread_server.port
    with _tracking(port) as a, RawClient(port) as b:
        assert a.call("CPIPE.FAULT", "CLOSE-BEFORE-INVALIDATE") == b"+OK\r\n"
        assert a.call("PING") == b"+PONG\r\n"  # other replies are untouched
        assert b.call("SET", "k", "v") == b"+OK\r\n"
        assert a.is_closed()
        assert a.buf == b""  # the invalidation never went out
        assert b.call("GET", "k") == b"$1\r\nv\r\n"  # the write happened


def test_close_before_invalidate_on_redirect_target(thread_server):
    port = thread_server.port
    with RawClient(port) as a, RawClient(port) as b, RawClient(port) as r2:
        rid = parse(r2.call("CLIENT", "ID"))
        r2.call("SUBSCRIBE", "__redis__:invalidate")
        assert a.call("CLIENT", "TRACKING", "on", "REDIRECT", str(rid)) == b"+OK\r\n"
        a.call("GET", "k")
        thread_server.set_fault("close-before-invalidate", client_id=rid)
        assert b.call("SET", "k", "v") == b"+OK\r\n"
        assert r2.is_closed()
        assert r2.buf == b""
        # the tracking client now has a broken redirect
        info = parse(a.call("CLIENT", "TRACKINGINFO"))
        a.call("GET", "k")
        b.call("SET", "k", "w")
        info = parse(a.call("CLIENT", "TRACKINGINFO"))
        assert info[1] == [b"on", b"broken_redirect"]


def test_close_before_invalidate_is_one_shot_and_clearable(thread_server):
    port = thread_server.port
    with _tracking(port) as a, RawClient(port) as b:
        aid = parse(a.call("CLIENT", "ID"))
        thread_server.set_fault("close-before-invalidate", client_id=aid)
        thread_server.clear_faults(client_id=aid)
        assert b.call("SET", "k", "v") == b"+OK\r\n"
        assert a.read_all(0.3) == INVALIDATE_K
        assert not a.is_closed(0.1)


def test_delay_invalidate_holds_only_invalidations(thread_server):
    port = thread_server.port
    with _tracking(port) as a, RawClient(port) as b:
        assert a.call("CPIPE.FAULT", "DELAY-INVALIDATE", "400") == b"+OK\r\n"
        assert b.call("SET", "k", "v1") == b"+OK\r\n"
        # the reply to a later command comes first: the client sees the
        # new value before it hears that its cached one is stale
        assert a.call("GET", "k") == b"$2\r\nv1\r\n"
        assert b.call("SET", "k", "v2") == b"+OK\r\n"
        assert a.call("PING") == b"+PONG\r\n"
        # then both invalidations, in order
        got = a.read_all(1.0)
        assert got == INVALIDATE_K * 2
        assert a.call("CPIPE.FAULT", "CLEAR") == b"+OK\r\n"
        a.call("GET", "k")
        b.call("SET", "k", "v3")
        assert a.read_all(0.2) == INVALIDATE_K


def test_delay_invalidate_global_and_python(thread_server):
    port = thread_server.port
    thread_server.set_fault("delay-invalidate", 300)
    try:
        with _tracking(port) as a, RawClient(port) as b:  # armed on the new connection
            b.call("SET", "k", "v")
            assert a.call("PING") == b"+PONG\r\n"
            assert a.read_all(1.0) == INVALIDATE_K
    finally:
        thread_server.clear_faults()
    with pytest.raises(ValueError):
        thread_server.set_fault("delay-invalidate")
    with RawClient(port) as c:
        assert c.call("CPIPE.FAULT", "DELAY-INVALIDATE").startswith(
            b"-ERR syntax error: CPIPE.FAULT DELAY-INVALIDATE needs one integer argument")
        assert c.call("CPIPE.FAULT", "CLOSE-BEFORE-INVALIDATE", "1") == b"-ERR syntax error\r\n"


def test_delay_invalidate_then_disconnect_drops_held(thread_server):
    port = thread_server.port
    with RawClient(port) as b:
        a = _tracking(port)
        aid = parse(a.call("CLIENT", "ID"))
        a.call("CPIPE.FAULT", "DELAY-INVALIDATE", "200")
        b.call("SET", "k", "v")
        a.close()
        for _ in range(100):  # the server notices the disconnect
            if aid not in thread_server.call(lambda: list(thread_server.server.state.clients)):
                break
            time.sleep(0.02)
        else:
            raise AssertionError("client not gone")
        time.sleep(0.3)  # past the hold: the held message goes nowhere, no error
        assert b.call("PING") == b"+PONG\r\n"


def test_tracking_table_is_bounded(thread_server):
    """Past max_keys the oldest tracked key is invalidated and forgotten."""
    port = thread_server.port
    table = thread_server.call(lambda: thread_server.server.state.tracking)
    thread_server.call(lambda: setattr(table, "max_keys", 3))
    with open_client(port, 3) as a:
        a.call("CLIENT", "TRACKING", "on")
        for k in ("k1", "k2", "k3"):
            a.call("GET", k)
        assert a.call("GET", "k4") == b"_\r\n"  # the eviction's message follows the reply
        assert a.read_all(0.2) == b">2\r\n$10\r\ninvalidate\r\n*1\r\n$2\r\nk1\r\n"
        assert thread_server.call(lambda: sorted(table.keys)) == [b"k2", b"k3", b"k4"]


def test_held_invalidations_are_bounded_by_the_output_limit():
    from .conftest import make_thread_server
    srv = make_thread_server(enable_faults=True, client_output_buffer_limit=300)
    try:
        with open_client(srv.port, 3) as a, RawClient(srv.port) as b:
            assert a.call("CLIENT", "TRACKING", "on", "BCAST") == b"+OK\r\n"
            assert a.call("CPIPE.FAULT", "DELAY-INVALIDATE", "60000") == b"+OK\r\n"
            for i in range(3):  # well under the limit: held, connection open
                b.call("SET", "key%d" % i, "v")
            assert a.call("PING") == b"+PONG\r\n"
            for i in range(3, 30):  # ~40 bytes each: past 300 bytes held
                b.call("SET", "key%d" % i, "v")
            assert a.is_closed()
            assert a.buf == b""  # nothing held was ever sent
    finally:
        srv.stop()
