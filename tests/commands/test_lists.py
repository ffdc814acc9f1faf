"""List commands, blocking ones included."""
from __future__ import annotations

import threading
import time

from .differ import S


def test_push_pop(diff):
    diff.run(
        S("lpush", "l", "a"),
        S("lpush", "l", "b", "c", 1, 2.5, b"\x00"),
        S("rpush", "l", "z"),
        S("rpush", "l", "y", "x"),
        S("lpushx", "l", "px"),
        S("lpushx", "missing", "px"),
        S("rpushx", "l", "rx", "rx2"),
        S("rpushx", "missing", "rx"),
        S("lrange", "l", 0, -1),
        S("lpop", "l"),
        S("rpop", "l"),
        S("lpop", "l", 2),
        S("rpop", "l", 3),
        S("lpop", "l", 0),
        S("lpop", "missing"),
        S("rpop", "missing"),
        S("lpop", "missing", 2),
        S("rpop", "missing", 2),
        S("lpush", "l"),
        S("lpop", "l", -1),
        S("llen", "l"),
        S("lrange", "l", 0, -1),
    )


def test_list_reads_and_edits(diff):
    diff.run(
        S("rpush", "l", "a", "b", "c", "b", "d", "b"),
        S("lrange", "l", 1, 3),
        S("lrange", "l", -2, -1),
        S("lrange", "l", 10, 20),
        S("lrange", "missing", 0, -1),
        S("llen", "l"),
        S("llen", "missing"),
        S("lindex", "l", 0),
        S("lindex", "l", -1),
        S("lindex", "l", 99),
        S("lset", "l", 0, "A"),
        S("lset", "l", 99, "x"),
        S("lset", "missing", 0, "x"),
        S("linsert", "l", "BEFORE", "c", "bc"),
        S("linsert", "l", "after", "c", "cd"),
        S("linsert", "l", "AFTER", "nothere", "x"),
        S("linsert", "missing", "AFTER", "a", "x"),
        S("linsert", "l", "SIDEWAYS", "c", "x"),
        S("lpos", "l", "b"),
        S("lpos", "l", "b", rank=2),
        S("lpos", "l", "b", count=0),
        S("lpos", "l", "b", rank=-1, count=2, maxlen=10),
        S("lpos", "l", "nothere"),
        S("lrem", "l", 1, "b"),
        S("lrem", "l", -1, "b"),
        S("lrem", "l", 0, "b"),
        S("lrem", "l", 0, "nothere"),
        S("ltrim", "l", 1, -2),
        S("ltrim", "missing", 0, 1),
        S("lrange", "l", 0, -1),
        S("set", "s", "v"),
        S("lpush", "s", "x"),
        S("lrange", "s", 0, -1),
        S("ltrim", "s", 0, 1),
    )


def test_moves(diff):
    diff.run(
        S("rpush", "src", "1", "2", "3", "4"),
        S("lmove", "src", "dst"),
        S("lmove", "src", "dst", "RIGHT", "LEFT"),
        S("lmove", "src", "dst", src="LEFT", dest="LEFT"),
        S("lmove", "missing", "dst"),
        S("lmove", "src", "dst", "UP", "DOWN"),
        S("rpoplpush", "src", "dst"),
        S("rpoplpush", "src", "dst"),
        S("rpoplpush", "missing", "dst"),
        S("lrange", "dst", 0, -1),
    )


def test_blocking_with_data(diff):
    diff.run(
        S("rpush", "a", "1", "2", "2b"),
        S("rpush", "b", "3"),
        S("blpop", ["missing", "a"], 1),
        S("brpop", ["a", "b"], 1),
        S("blpop", "b", timeout=1),
        S("brpop", ["a"], None),
        S("rpush", "c", "x", "y"),
        S("blmove", "c", "d", 1),
        S("blmove", "c", "d", 1, "RIGHT", "LEFT"),
        S("rpush", "c", "z"),
        S("brpoplpush", "c", "d", 1),
        S("lrange", "d", 0, -1),
        S("set", "s", "v"),
        S("blpop", ["s"], 1),
    )


def test_blocking_timeouts(diff):
    t0 = time.monotonic()
    diff.run(
        S("blpop", ["empty1", "empty2"], 0.05),
        S("brpop", "empty", 0.05),
        S("blmove", "empty", "d", 0.05),
        S("brpoplpush", "empty", "d", 0.05),
        S("exists", "d"),
    )
    assert time.monotonic() - t0 >= 0.4  # 8 waits of 50 ms really happened


def test_blpop_wakes_on_push(cmd_client, ctl):
    ctl.flushall()

    def push_later():
        time.sleep(0.1)
        ctl.rpush("q", "job")

    t = threading.Thread(target=push_later)
    t.start()
    try:
        reply = cmd_client.blpop(["q"], timeout=5)
    finally:
        t.join()
    assert reply in ((b"q", b"job"), ("q", "job"))
    assert type(reply) is tuple
