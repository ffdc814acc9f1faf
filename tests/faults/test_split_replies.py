"""Issue 7, "already passing" class: replies cut into 1-byte TCP segments.

A fake server writes every reply one byte per send (TCP_NODELAY, a pause
between bytes, so the client's reads really see single bytes). The plain
client, an auto-pipelined one shared by threads, and a pipeline must
assemble every reply exactly. (The engine's reader is fed byte by byte in
cpipe/engine/resp_test.go; this checks the path through sockets and the
bridge.)
"""
from __future__ import annotations

import socket
import time

import pytest

import cpipe
from tests.autopipeline._helpers import run_threads
from tests.client._fake import FakeConn, FakeServer

PAUSE = 0.0002  # between two bytes


def _one_byte_at_a_time(index: int, conn: FakeConn) -> None:
    conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    while True:
        reqs = conn.requests()
        if reqs is None:
            return
        for b in b"".join(conn.answer(r) for r in reqs):
            conn.send(bytes((b,)))
            time.sleep(PAUSE)


@pytest.mark.parametrize("autopipeline", [False, True], ids=["client", "autopipeline"])
def test_replies_in_one_byte_segments(autopipeline):
    with FakeServer(_one_byte_at_a_time) as fake:
        c = cpipe.Client(host="127.0.0.1", port=fake.port, socket_timeout=10, autopipeline=autopipeline)
        try:
            value = bytes(range(256)) * 2  # CR, LF and every other byte inside the bulk
            assert c.call("SET", "k", value) == b"OK"
            assert c.call("GET", "k") == value
            assert c.call("GET", "missing") is None
            assert c.call("PING") == b"PONG"
            with pytest.raises(cpipe.ResponseError, match="unknown command"):
                c.call("NOPE")
            replies = c.pipeline(transaction=False).set("a", "1").get("a").echo("x" * 300).get("missing").execute()
            assert replies == [True, b"1", b"x" * 300, None]

            def worker(t: int) -> None:
                for i in range(20):
                    token = f"{t}:{i}".encode() * 3
                    assert c.call("ECHO", token) == token

            run_threads(worker, 4, timeout=60)
            assert fake.accepts == 1  # never a reconnect: every reply was whole
        finally:
            c.close()
