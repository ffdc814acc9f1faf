"""Issue 7, item 1 (the engine's part): bytes that no caller waits for are a
protocol error for their connection, which is closed; they are never the
next caller's reply. (Commands that would make a server send such bytes on
purpose, SUBSCRIBE and the like, are refused: test_mode_commands_refused.py.)

The servers here are fakes that send one reply too many, at once or a
little later, as a misbehaving server or proxy would.
"""
from __future__ import annotations

import threading
import time

import pytest

import cpipe
from tests.client._fake import FakeConn, FakeServer


def _answer_with_strays(late: float, sent: threading.Semaphore | None = None):
    """GET answers properly; `DOUBLE x` answers +x and then +x once more,
    right away (late=0) or `late` seconds later (then `sent` is released
    once the stray reply is out)."""

    def send_late(conn: FakeConn, data: bytes) -> None:
        conn.send(data)
        if sent is not None:
            sent.release()

    def behaviour(index: int, conn: FakeConn) -> None:
        while True:
            reqs = conn.requests()
            if reqs is None:
                return
            out = []  # a batch's replies go out in one write, as Redis sends them
            for r in reqs:
                if r[0].upper() == b"DOUBLE":
                    out.append(b"+%s\r\n" % r[1])
                    if late:
                        threading.Timer(late, send_late, (conn, b"+%s\r\n" % r[1])).start()
                    else:
                        out.append(b"+%s\r\n" % r[1])
                else:
                    out.append(conn.answer(r))
            conn.send(b"".join(out))

    return behaviour


@pytest.mark.parametrize("late", [0, 0.005])
@pytest.mark.parametrize("kind", ["client", "autopipelined", "pool"])
def test_stray_reply_is_never_the_next_callers_reply(kind, late):
    sent = threading.Semaphore(0)
    with FakeServer(_answer_with_strays(late, sent)) as srv:
        opts = dict(host="127.0.0.1", port=srv.port, socket_timeout=5)
        if kind == "pool":
            c = cpipe.Pool(size=2, **opts)
        else:
            c = cpipe.Client(autopipeline=(kind == "autopipelined"), **opts)
        try:
            for i in range(5):
                c.call("SET", f"k{i}", f"v{i}")
            for i in range(5):
                assert c.call("DOUBLE", f"d{i}") == f"d{i}".encode()
                if late:
                    # The stray reply lands on the idle connection; the next
                    # call comes before the old 50 ms idle check would run.
                    assert sent.acquire(timeout=5)
                    time.sleep(0.002)
                # Before the fix the stray +d{i} was handed to this GET.
                assert c.call("GET", f"k{i}") == f"v{i}".encode()
        finally:
            c.close()
        assert srv.accepts >= 5, "each stray reply must close its connection"


def test_stray_reply_behind_a_busy_connection_is_caught_when_it_goes_idle():
    """While other requests are queued behind it, a stray reply cannot be
    told from theirs (RESP has no request ids; that is why the commands
    that cause them are refused). Once the connection has nothing more to
    wait for, the leftover bytes close it: the damage stops there and the
    next caller is in step."""
    with FakeServer(_answer_with_strays(0)) as srv:
        c = cpipe.Client(host="127.0.0.1", port=srv.port, socket_timeout=5)
        try:
            c.call("SET", "k", "v")
            replies = c.pipeline(transaction=False).add_command("DOUBLE", "a").add_command("GET", "k").execute(raise_on_error=False)
            assert replies[0] == b"a"  # the stray +a took the GET's place in the stream ...
            assert c.call("GET", "k") == b"v"  # ... but never reaches the next caller
        finally:
            c.close()
        assert srv.accepts == 2


def test_exec_reply_out_of_step_is_a_protocol_error():
    """A transaction whose EXEC is answered with something other than its
    replies (a server out of step) raises ProtocolError, not TypeError."""

    def behaviour(index: int, conn: FakeConn) -> None:
        while True:
            reqs = conn.requests()
            if reqs is None:
                return
            out = []
            for r in reqs:
                name = r[0].upper()
                out.append(b"+OK\r\n" if name in (b"MULTI", b"EXEC") else b"+QUEUED\r\n")
            conn.send(b"".join(out))

    with FakeServer(behaviour) as srv:
        c = cpipe.Client(host="127.0.0.1", port=srv.port, socket_timeout=5)
        try:
            p = c.pipeline(transaction=True)
            p.set("a", 1)
            p.set("b", 2)
            with pytest.raises(cpipe.ProtocolError, match="EXEC answered"):
                p.execute()
        finally:
            c.close()
