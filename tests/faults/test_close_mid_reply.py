"""Issue 7, "already passing" class: the server closes a connection mid-reply.

The reference server's CLOSE-MID-REPLY fault sends the first half of the
next reply (here in the middle of a 1000-byte bulk string), then closes.
Every kind of client must raise ConnectionError at once (not a
TimeoutError after socket_timeout), and answer everything after it in step
on a new connection. (Partial replies of each RESP type, on a plain Client,
are in tests/client/test_reliability.py with a fake server.)
"""
from __future__ import annotations

import time

import pytest

import cpipe

from ._reference import KINDS, Caller, assert_in_step, control, fault_server  # noqa: F401

SOCKET_TIMEOUT = 10.0


@pytest.mark.parametrize("kind", KINDS)
def test_close_mid_reply_is_connection_error_then_in_step(fault_server, kind):  # noqa: F811
    port = fault_server.port
    key, value = f"close-mid:{kind}", b"x" * 1000
    with Caller(kind, port, socket_timeout=SOCKET_TIMEOUT) as c:
        assert c.do("SET", key, value) == b"OK"
        control(port, "CLOSE-MID-REPLY", "GLOBAL")
        try:
            start = time.monotonic()
            with pytest.raises(cpipe.ConnectionError) as info:
                c.do("GET", key)
            took = time.monotonic() - start
        finally:
            control(port, "CLEAR", "GLOBAL")
        assert not isinstance(info.value, cpipe.TimeoutError)
        assert took < SOCKET_TIMEOUT / 2, f"took {took:.1f}s: waited for a timeout, not the close"
        assert_in_step(c, key, value)
