"""Differential scenarios with several connections: pub/sub, transactions
(WATCH abort), blocking pops (order, timeout, disconnect). Each scenario
returns a transcript of raw replies; both servers must produce the same."""
import time

import pytest

from . import difftools
from .rawclient import RawClient, parse

PAUSE = 0.05  # lets the server register a blocked/subscribed client


def _conns(port, n, proto=2):
    cs = [difftools.open_client(port, proto) for _ in range(n)]
    cs[0].call("FLUSHALL")
    for c in cs:
        c.call("SELECT", "9")
    return cs


def pubsub_basic(port, proto=2):
    sub, sub2, pub = _conns(port, 3, proto)
    t = []
    try:
        t.append(sub.call("SUBSCRIBE", "news", "sport"))
        t.append(sub.read_reply())
        t.append(sub2.call("PSUBSCRIBE", "n*", "s?ort"))
        t.append(sub2.read_reply())
        t.append(pub.call("PUBLISH", "news", "hello"))
        t.append(sub.read_reply())
        t.append(sub2.read_reply())
        t.append(pub.call("PUBLISH", "sport", b"\x00bin\r\n"))
        t.append(sub.read_reply())
        t.append(sub2.read_reply())
        t.append(pub.call("PUBLISH", "nobody", "x"))
        t.append(sub2.read_reply())
        t.append(pub.call("PUBLISH", "void", "x"))
        t.append(sorted(parse(pub.call("PUBSUB", "CHANNELS"))))  # hash order in Redis
        t.append(pub.call("PUBSUB", "CHANNELS", "n*"))
        t.append(pub.call("PUBSUB", "NUMSUB", "news", "void"))
        t.append(pub.call("PUBSUB", "NUMPAT"))
        t.append(pub.call("PUBSUB", "NUMSUB"))
        # subscribed mode: only a few commands allowed (RESP2)
        t.append(sub.call("GET", "x"))
        t.append(sub.call("PING"))
        t.append(sub.call("PING", "p"))
        t.append(sub.call("SUBSCRIBE", "news"))
        t.append(sub.call("UNSUBSCRIBE", "news"))
        t.append(sub.call("UNSUBSCRIBE", "nosuch"))
        t.append(sub.call("UNSUBSCRIBE"))
        t.append(sub.call("UNSUBSCRIBE"))
        t.append(sub.call("PING"))
        t.append(sub.call("PUNSUBSCRIBE"))
        t.append(sub2.call("PUNSUBSCRIBE", "n*"))
        t.append(sub2.call("PUNSUBSCRIBE"))
        t.append(sub2.call("GET", "x"))
        t.append(sub.call("SUBSCRIBE"))
        t.append(sub.call("PSUBSCRIBE"))
        t.append(pub.call("PUBLISH", "news"))
        t.append(pub.call("SUBSCRIBE", "a"))
        t.append(pub.read_all(0.1))
        t.append(pub.call("MULTI"))
        t.append(pub.call("RESET"))
        t.append(pub.call("PUBSUB", "NUMSUB", "a"))
        t.append(pub.call("QUIT"))
    finally:
        for c in (sub, sub2, pub):
            c.close()
    return t


def pubsub_disconnect(port, proto=2):
    sub, pub = _conns(port, 2, proto)
    t = [sub.call("SUBSCRIBE", "ch")]
    sub.close()
    time.sleep(PAUSE)
    t.append(pub.call("PUBLISH", "ch", "gone"))
    t.append(pub.call("PUBSUB", "NUMSUB", "ch"))
    pub.close()
    return t


def transactions(port, proto=2):
    a, b = _conns(port, 2, proto)
    t = []
    try:
        for cmd in [("EXEC", "x"), ("MULTI",), ("SET", "k", "1"), ("INCR", "k"), ("LPUSH", "k", "x"), ("GET", "k"), ("EXEC",),
                    ("EXEC",), ("DISCARD",), ("MULTI",), ("MULTI",), ("SET", "k", "2"), ("DISCARD",), ("GET", "k"),
                    ("MULTI",), ("SET", "k", "3"), ("NOSUCH",), ("GET", "k"), ("EXEC",), ("GET", "k"),
                    ("MULTI",), ("GET",), ("EXEC",), ("MULTI",), ("WATCH", "k"), ("UNWATCH",), ("PING",), ("EXEC",),
                    ("MULTI",), ("EXEC", "x"), ("EXEC",), ("MULTI",), ("CLIENT", "BOGUS"), ("EXEC",),
                    ("MULTI",), ("SELECT", "3"), ("SET", "in3", "v"), ("EXEC",), ("GET", "in3"), ("SELECT", "9"),
                    ("MULTI",), ("BLPOP", "empty", "0"), ("BLMOVE", "empty", "x", "LEFT", "LEFT", "0"),
                    ("EXEC",), ("MULTI",), ("EXEC",), ("WATCH",), ("MULTI",), ("SUBSCRIBE", "c"), ("EXEC",)]:
            t.append(a.call(*cmd))
        t.append(a.read_all(0.05))
        # WATCH abort: another client modifies the watched key
        a.call("RESET")
        a.call("SELECT", "9")
        t.append(a.call("WATCH", "w", "w2"))
        t.append(b.call("SET", "w", "changed"))
        t.append(a.call("MULTI"))
        t.append(a.call("SET", "w", "mine"))
        t.append(a.call("EXEC"))
        t.append(a.call("GET", "w"))
        # a failed write does not count as a change
        t.append(a.call("WATCH", "w"))
        t.append(b.call("SET", "w", "x", "NX"))
        t.append(b.call("LPUSH", "w", "x"))
        t.append(a.call("MULTI"))
        t.append(a.call("SET", "w", "mine"))
        t.append(a.call("EXEC"))
        # own write before MULTI aborts too; UNWATCH forgets
        t.append(a.call("WATCH", "w"))
        t.append(a.call("SET", "w", "self"))
        t.append(a.call("MULTI"))
        t.append(a.call("EXEC"))
        t.append(a.call("WATCH", "w"))
        t.append(b.call("DEL", "w"))
        t.append(a.call("UNWATCH"))
        t.append(a.call("MULTI"))
        t.append(a.call("EXEC"))
        # watched key expiring aborts; watching a missing key then creating it aborts
        t.append(a.call("SET", "e", "v", "PX", "60"))
        t.append(a.call("WATCH", "e", "missing"))
        time.sleep(0.12)
        t.append(a.call("MULTI"))
        t.append(a.call("EXEC"))
        t.append(a.call("WATCH", "missing"))
        t.append(b.call("SET", "missing", "now"))
        t.append(a.call("MULTI"))
        t.append(a.call("EXEC"))
        # FLUSHDB touches watched keys that existed; DISCARD unwatches
        t.append(a.call("SET", "f", "1"))
        t.append(a.call("WATCH", "f"))
        t.append(b.call("FLUSHDB"))
        t.append(a.call("MULTI"))
        t.append(a.call("EXEC"))
        t.append(a.call("WATCH", "g"))
        t.append(b.call("FLUSHALL"))
        t.append(a.call("MULTI"))
        t.append(a.call("EXEC"))
        t.append(a.call("WATCH", "h"))
        t.append(a.call("MULTI"))
        t.append(a.call("DISCARD"))
        t.append(b.call("SET", "h", "1"))
        t.append(a.call("MULTI"))
        t.append(a.call("EXEC"))
        # pipelined transaction in one write
        a.send_raw(b"*1\r\n$5\r\nMULTI\r\n*3\r\n$3\r\nSET\r\n$1\r\np\r\n$1\r\n1\r\n*2\r\n$4\r\nINCR\r\n$1\r\np\r\n"
                   b"*1\r\n$4\r\nEXEC\r\n")
        t.append(a.read_all(0.2))
    finally:
        a.close()
        b.close()
    return t


def blocking_order(port, proto=2):
    """Longest-waiting client first; several elements in one push."""
    w1, w2, w3, p = _conns(port, 4, proto)
    t = []
    try:
        w1.send("BLPOP", "q", "0")
        time.sleep(PAUSE)
        w2.send("BLPOP", "other", "q", "0")
        time.sleep(PAUSE)
        w3.send("BRPOP", "q", "0")
        time.sleep(PAUSE)
        t.append(p.call("RPUSH", "q", "a", "b"))
        t.append(w1.read_reply())
        t.append(w2.read_reply())
        t.append(p.call("LLEN", "q"))
        t.append(p.call("RPUSH", "q", "c", "d"))
        t.append(w3.read_reply())
        t.append(p.call("LRANGE", "q", "0", "-1"))
        # push and pop in one pipeline: the blocked client is served after RPUSH
        w1.send("BLPOP", "r", "0")
        time.sleep(PAUSE)
        p.send_raw(b"*3\r\n$5\r\nRPUSH\r\n$1\r\nr\r\n$1\r\nx\r\n*2\r\n$4\r\nLPOP\r\n$1\r\nr\r\n")
        t.append(p.read_reply())
        t.append(p.read_reply())
        t.append(w1.read_reply())
        # a blocked client's pipelined commands wait for it
        w2.send_raw(b"*3\r\n$5\r\nBLPOP\r\n$1\r\ns\r\n$1\r\n0\r\n*2\r\n$4\r\nECHO\r\n$5\r\nafter\r\n")
        time.sleep(PAUSE)
        t.append(p.call("LPUSH", "s", "v"))
        t.append(w2.read_reply())
        t.append(w2.read_reply())
        # BLMOVE wakes a client waiting on the destination
        w1.send("BLPOP", "dst", "0")
        time.sleep(PAUSE)
        w3.send("BLMOVE", "src", "dst", "RIGHT", "LEFT", "0")
        time.sleep(PAUSE)
        t.append(p.call("RPUSH", "src", "m1", "m2"))
        t.append(w3.read_reply())
        t.append(w1.read_reply())
        t.append(p.call("LRANGE", "src", "0", "-1"))
        t.append(p.call("EXISTS", "dst"))
        # MULTI/EXEC: waiters are served after EXEC, not in between
        w1.send("BLPOP", "tx", "0")
        time.sleep(PAUSE)
        for cmd in [("MULTI",), ("RPUSH", "tx", "1", "2"), ("LPOP", "tx"), ("EXEC",)]:
            t.append(p.call(*cmd))
        t.append(w1.read_reply())
        # a key of the wrong type does not wake anyone; a later list does
        w2.send("BLPOP", "wt", "0")
        time.sleep(PAUSE)
        t.append(p.call("SET", "wt", "string"))
        t.append(p.call("DEL", "wt"))
        t.append(p.call("RPUSH", "wt", "ok"))
        t.append(w2.read_reply())
        # BRPOPLPUSH rotation onto itself
        t.append(p.call("RPUSH", "rot", "1", "2"))
        t.append(w3.call("BRPOPLPUSH", "rot", "rot", "0"))
        t.append(p.call("LRANGE", "rot", "0", "-1"))
    finally:
        for c in (w1, w2, w3, p):
            c.close()
    return t


def blocking_timeout_and_disconnect(port, proto=2):
    w1, w2, p = _conns(port, 3, proto)
    t = []
    try:
        start = time.monotonic()
        t.append(w1.call("BLPOP", "nothing", "0.2"))
        took = time.monotonic() - start
        t.append(0.19 <= took < 1.5)
        start = time.monotonic()
        t.append(w1.call("BLMOVE", "nothing", "d", "LEFT", "LEFT", "0.1"))
        t.append(w1.call("BRPOPLPUSH", "nothing", "d", "0.1"))
        t.append(time.monotonic() - start >= 0.19)
        # a waiter that disconnects loses nothing and blocks no one
        gone = RawClient(port)
        gone.call("SELECT", "9")
        gone.send("BLPOP", "dq", "0")
        time.sleep(PAUSE)
        gone.close()
        time.sleep(PAUSE)
        w2.send("BLPOP", "dq", "0")
        time.sleep(PAUSE)
        t.append(p.call("RPUSH", "dq", "first", "second"))
        t.append(w2.read_reply())
        t.append(p.call("LRANGE", "dq", "0", "-1"))
        t.append(p.call("DEL", "dq"))
        # the same client waiting on the same key twice in one command
        w1.send("BLPOP", "dup", "dup", "0")
        time.sleep(PAUSE)
        t.append(p.call("RPUSH", "dup", "1", "2"))
        t.append(w1.read_reply())
        t.append(p.call("LRANGE", "dup", "0", "-1"))
        # BLMOVE waiter whose destination became the wrong type: error, value kept
        w1.send("BLMOVE", "bs", "bd", "LEFT", "LEFT", "0")
        time.sleep(PAUSE)
        t.append(p.call("SET", "bd", "string"))
        t.append(p.call("RPUSH", "bs", "v"))
        t.append(w1.read_reply())
        t.append(p.call("LRANGE", "bs", "0", "-1"))
    finally:
        for c in (w1, w2, p):
            c.close()
    return t


SCENARIOS = {f.__name__: f for f in (pubsub_basic, pubsub_disconnect, transactions, blocking_order,
                                      blocking_timeout_and_disconnect)}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
@pytest.mark.parametrize("proto", difftools.PROTOS)
def test_scenario(real_server, ref_server, name, proto):
    expected = difftools.expected(difftools.golden_key("scenario:" + name, proto),
                                  lambda: SCENARIOS[name](real_server.port, proto))
    got = SCENARIOS[name](ref_server.port, proto)
    diffs = [f"  #{i}: redis {e!r}\n        ref   {g!r}" for i, (e, g) in enumerate(zip(expected, got)) if e != g]
    assert len(expected) == len(got)
    assert not diffs, "transcripts differ:\n" + "\n".join(diffs)
