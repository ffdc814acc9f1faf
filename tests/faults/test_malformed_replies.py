"""Issue 7, "already passing" class: malformed replies.

The reference server's MALFORMED fault replaces the next reply with bytes
that are not RESP. Every kind of client (plain, auto-pipelined, pipeline,
Pool call and submit, asyncio call and pipeline) must raise ProtocolError
for that command, close the connection, and answer everything after it in
step. (Each malformed byte pattern, on a plain Client, is in
tests/client/test_reliability.py with a fake server.)
"""
from __future__ import annotations

import pytest

import cpipe

from ._reference import KINDS, Caller, assert_in_step, control, fault_server  # noqa: F401


@pytest.mark.parametrize("kind", KINDS)
def test_malformed_reply_is_protocol_error_then_in_step(fault_server, kind):  # noqa: F811
    port = fault_server.port
    key, value = f"malformed:{kind}", b"v" * 100
    with Caller(kind, port, socket_timeout=10) as c:
        assert c.do("SET", key, value) == b"OK"
        control(port, "MALFORMED", "GLOBAL")
        try:
            with pytest.raises(cpipe.ProtocolError):
                c.do("GET", key)
        finally:
            control(port, "CLEAR", "GLOBAL")
        assert_in_step(c, key, value)
