"""Bulk.send_raw: pre-encoded requests (RESP or inline), cut anywhere."""
from __future__ import annotations

import pytest
import redis

from cpipe import _engine


def resp(*args) -> bytes:
    return _engine.native().encode(*args)


def test_raw_chunks_cut_anywhere_count_as_the_server(r):
    stream = b"".join(resp("SET", f"k{i}", "v" * (i % 50)) for i in range(3000))
    stream += b"SET inline 1\r\n\r\n   \r\n*0\r\n" + resp("SET", "last", "x")  # blank lines and *0: no reply
    counted = 0
    with r.bulk() as b:
        b.set("first", 1)
        for cut in range(0, len(stream), 997):   # chunks that split commands, headers and CRLFs
            counted += b.send_raw(stream[cut:cut + 997])
    assert counted == 3002
    assert b.acknowledged == 3003 and r.dbsize() == 3003
    assert r.get("inline") == b"1" and r.get("last") == b"x"


def test_raw_count_must_match(r):
    with r.bulk() as b:
        with pytest.raises(redis.DataError, match="holds 2 complete commands, not 3"):
            b.send_raw(resp("SET", "a", 1) + resp("SET", "b", 2), 3)
        assert b.send_raw(resp("SET", "c", 3), 1) == 1
    assert b.acknowledged == 1 and r.exists("a", "b") == 0 and r.get("c") == b"3"


@pytest.mark.parametrize("bad", [b"*2\r\n$3\r\nGET\r\n:1\r\n", b"*1\r\n$3\r\nPINGX\r\n", b"*x\r\n",
                                 b"*1\r\n$99999999999\r\n"])
def test_bad_raw_bytes_are_refused_before_sending(r, bad):
    with r.bulk() as b:
        b.send_raw(resp("SET", "ok", 1))
        with pytest.raises(redis.DataError):
            b.send_raw(resp("SET", "no", 1) + bad)
    assert b.acknowledged == 1 and r.exists("no") == 0


def test_raw_errors_carry_their_command(r):
    r.set("str", "v")
    with r.bulk(raise_on_error=False) as b:
        b.send_raw(resp("SET", "a", 1) + b"LPUSH str x\r\n" + resp("LPUSH", "str", "y"))
    assert [(i, args) for i, args, _ in b.errors] == [(1, (b"LPUSH", b"str", b"x")), (2, (b"LPUSH", b"str", b"y"))]


def test_raw_stream_ending_mid_command(r):
    with pytest.raises(redis.DataError, match="middle of a command"):
        with r.bulk() as b:
            b.send_raw(resp("SET", "a", 1) + resp("SET", "b", 2)[:-3])
    assert b.acknowledged == 1 and r.get("a") == b"1" and r.exists("b") == 0
