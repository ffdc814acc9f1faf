"""Differential scenarios for RESP3 pub/sub, shard channels and client-side
caching (CLIENT TRACKING): each returns a transcript of raw frames (replies
and push/invalidation messages), run in RESP2 and RESP3, compared with
Redis 7.0 and recorded in golden_redis70.json like test_diff_multiclient.

Client ids differ between servers: replies that contain one are recorded
with the id replaced by a name (`_mask`)."""
import re
import time

import pytest

from . import difftools
from .rawclient import RawClient, parse

QUIET = 0.1  # read_all: the peer has said all it will once quiet this long


def _conns(port, n, proto):
    cs = [difftools.open_client(port, proto) for _ in range(n)]
    cs[0].call("FLUSHALL")
    for c in cs:
        c.call("SELECT", "9")
    return cs


def _id(c) -> int:
    return int(c.call("CLIENT", "ID")[1:-2])


def _mask(raw: bytes, ids: dict) -> bytes:
    for name, cid in ids.items():
        raw = re.sub(rb":%d\r\n" % cid, b":<%s>\r\n" % name.encode(), raw)
    return raw


def _info(raw: bytes) -> bytes:
    """CLIENT TRACKINGINFO with a redirect id (client ids differ) masked."""
    return re.sub(rb"redirect\r\n:[1-9]\d*\r\n", b"redirect\r\n:ID\r\n", raw)


def _hello(raw: bytes) -> bytes:
    raw = re.sub(rb"\$2\r\nid\r\n:\d+\r\n", b"$2\r\nid\r\n:ID\r\n", raw)
    return re.sub(rb"\$7\r\nversion\r\n\$\d+\r\n[0-9.]+\r\n", b"$7\r\nversion\r\nVER\r\n", raw)


def pubsub_resp3(port, proto):
    """Commands in subscribed mode (RESP3: anything; RESP2: refused),
    shard channels, RESET."""
    sub, pub = _conns(port, 2, proto)
    t = []
    try:
        t.append(sub.call("SUBSCRIBE", "ch"))
        for cmd in [("SET", "k", "v"), ("GET", "k"), ("HGETALL", "nope"), ("PING",), ("PING", "x"),
                    ("ECHO", "e"), ("CLIENT", "GETNAME"), ("HELLO", "2"), ("SSUBSCRIBE", "s1", "s2")]:
            t.append(_hello(sub.call(*cmd)))
        t.append(sub.read_all(QUIET))
        t.append(pub.call("PUBLISH", "ch", "m1"))
        t.append(pub.call("SPUBLISH", "s1", "m2"))
        t.append(pub.call("SPUBLISH", "nobody", "m3"))
        t.append(sub.read_all(QUIET))
        t.append(sorted(parse(pub.call("PUBSUB", "SHARDCHANNELS"))))  # hash order in Redis
        t.append(pub.call("PUBSUB", "SHARDCHANNELS", "s1*"))
        t.append(pub.call("PUBSUB", "SHARDNUMSUB", "s1", "zz"))
        t.append(pub.call("PUBSUB", "SHARDNUMSUB"))
        t.append(pub.call("PUBSUB", "NUMSUB", "s1", "ch"))
        t.append(pub.call("PUBLISH", "s1", "not-shard"))
        t.append(pub.call("SPUBLISH", "ch", "not-plain"))
        t.append(sub.call("SUNSUBSCRIBE", "s1"))
        t.append(sub.call("SUNSUBSCRIBE"))
        t.append(sub.call("SUNSUBSCRIBE"))
        t.append(sub.call("UNSUBSCRIBE"))
        t.append(sub.call("PING"))
        t.append(sub.call("GET", "k"))
        t.append(sub.call("SSUBSCRIBE", "only-shard"))
        t.append(sub.call("PING"))
        t.append(sub.call("GET", "k"))
        t.append(sub.call("SSUBSCRIBE"))
        t.append(pub.call("SPUBLISH", "only-shard"))
        t.append(sub.call("RESET"))
        t.append(sub.call("GET", "k"))
        t.append(pub.call("PUBSUB", "SHARDNUMSUB", "only-shard"))
        t.append(pub.call("HELLO", "3", "SETNAME", "bad name"))
        t.append(pub.call("HELLO", "4"))
        t.append(pub.call("HELLO", "abc"))
    finally:
        sub.close()
        pub.close()
    return t


def tracking_default(port, proto):
    """Default mode on the tracking connection itself (RESP2: tracked, but
    the messages go nowhere)."""
    a, b = _conns(port, 2, proto)
    t = []
    try:
        t.append(a.call("CLIENT", "TRACKINGINFO"))
        t.append(a.call("CLIENT", "GETREDIR"))
        t.append(a.call("CLIENT", "TRACKING", "on"))
        t.append(a.call("CLIENT", "TRACKINGINFO"))
        t.append(a.call("CLIENT", "GETREDIR"))
        t.append(a.call("GET", "k"))
        t.append(b.call("SET", "k", "v"))
        t.append(a.read_all(QUIET))
        t.append(a.call("GET", "k"))
        t.append(a.call("SET", "k", "mine"))  # own write: the message follows the reply
        t.append(a.read_all(QUIET))
        t.append(a.call("GET", "k"))
        for cmd in [("MULTI",), ("SET", "k", "1"), ("GET", "k"), ("SET", "k", "2"), ("EXEC",)]:
            t.append(a.call(*cmd))
        t.append(a.read_all(QUIET))
        t.append(a.call("GET", "nope"))
        t.append(a.call("HGET", "k", "f"))  # an error reply still tracks the key
        t.append(b.call("SET", "nope", "1"))
        t.append(b.call("SET", "k", "3"))
        t.append(a.read_all(QUIET))
        t.append(a.call("MGET", "x", "y", "x"))
        t.append(b.call("MSET", "x", "1", "y", "2"))
        t.append(a.read_all(QUIET))
        t.append(a.call("GET", "z"))
        t.append(b.call("SET", "z", "1", "NX"))
        t.append(b.call("SET", "z", "2", "NX"))  # no change, and z is no longer tracked
        t.append(b.call("SET", "z", "3"))
        t.append(a.read_all(QUIET))
        # keys are tracked by name, whatever the database
        t.append(a.call("GET", "g"))
        t.append(b.call("SELECT", "0"))
        t.append(b.call("SET", "g", "db0"))
        t.append(b.call("SELECT", "9"))
        t.append(a.read_all(QUIET))
        # other read commands, other types
        t.append(a.call("HGETALL", "h"))
        t.append(a.call("LRANGE", "l", "0", "-1"))
        t.append(a.call("SMEMBERS", "s"))
        t.append(a.call("ZSCORE", "zz", "m"))
        t.append(a.call("EXISTS", "e1", "e2"))
        t.append(b.call("HSET", "h", "f", "v"))
        t.append(b.call("RPUSH", "l", "x"))
        t.append(b.call("SADD", "s", "m"))
        t.append(b.call("ZADD", "zz", "1", "m"))
        t.append(b.call("SET", "e2", "1"))
        t.append(b.call("SET", "e1", "1"))
        t.append(a.read_all(QUIET))
        t.append(a.call("GET", "l"))
        t.append(b.call("DEL", "l", "h"))
        t.append(b.call("EXPIRE", "h", "100"))
        t.append(a.read_all(QUIET))
        # flushes: a null key list, to the writer after its reply
        t.append(a.call("GET", "k"))
        t.append(b.call("FLUSHDB"))
        t.append(a.read_all(QUIET))
        t.append(a.call("FLUSHALL"))
        t.append(a.read_all(QUIET))
        t.append(b.call("FLUSHALL"))
        t.append(a.read_all(QUIET))
        # expiry
        t.append(b.call("SET", "ex", "1", "PX", "40"))
        t.append(a.call("GET", "ex"))
        time.sleep(0.4)
        t.append(a.read_all(QUIET))
        # NOLOOP: own writes are not reported (and forget the key)
        t.append(a.call("CLIENT", "TRACKING", "on", "NOLOOP"))
        t.append(a.call("CLIENT", "TRACKINGINFO"))
        t.append(a.call("GET", "n"))
        t.append(a.call("SET", "n", "1"))
        t.append(b.call("SET", "n", "2"))
        t.append(a.read_all(QUIET))
        t.append(a.call("GET", "n"))
        t.append(b.call("SET", "n", "3"))
        t.append(a.read_all(QUIET))
        # off: nothing more; keys read while on still count once on again
        t.append(a.call("GET", "w"))
        t.append(a.call("CLIENT", "TRACKING", "off"))
        t.append(a.call("CLIENT", "TRACKING", "off"))
        t.append(a.call("GET", "k"))
        t.append(b.call("SET", "k", "1"))
        t.append(a.read_all(QUIET))
        t.append(a.call("CLIENT", "TRACKING", "on"))
        t.append(b.call("SET", "w", "1"))
        t.append(a.read_all(QUIET))
        t.append(a.call("CLIENT", "TRACKING", "off"))
        t.append(a.call("RESET"))
        t.append(a.call("CLIENT", "TRACKINGINFO"))
    finally:
        a.close()
        b.close()
    return t


def tracking_redirect(port, proto):
    """REDIRECT to a RESP2 subscriber of __redis__:invalidate, to a RESP3
    connection, to a RESP2 connection not subscribed, to one that goes away."""
    a, b = _conns(port, 2, proto)
    r2 = RawClient(port)
    r3 = difftools.open_client(port, 3)
    plain = RawClient(port)
    gone = RawClient(port)
    ids = {"r2": _id(r2), "r3": _id(r3), "plain": _id(plain), "gone": _id(gone), "a": _id(a)}
    t = []

    def rec(raw):
        t.append(_mask(raw, ids))

    try:
        rec(r2.call("SUBSCRIBE", "__redis__:invalidate"))
        rec(a.call("CLIENT", "TRACKING", "on", "REDIRECT", str(ids["r2"])))
        rec(a.call("CLIENT", "TRACKINGINFO"))
        rec(a.call("CLIENT", "GETREDIR"))
        rec(a.call("GET", "k"))
        rec(b.call("SET", "k", "v"))
        rec(r2.read_all(QUIET))
        rec(a.call("GET", "k"))
        rec(a.call("SET", "k", "own"))
        rec(r2.read_all(QUIET))
        rec(a.call("GET", "k"))
        rec(a.call("FLUSHDB"))  # the null is the one of a's protocol
        rec(r2.read_all(QUIET))
        rec(a.read_all(QUIET))
        rec(a.call("GET", "k"))
        rec(b.call("FLUSHALL"))
        rec(r2.read_all(QUIET))
        # to a RESP3 connection that is not subscribed
        rec(a.call("CLIENT", "TRACKING", "on", "REDIRECT", str(ids["r3"])))
        rec(a.call("CLIENT", "GETREDIR"))
        rec(a.call("GET", "k3"))
        rec(b.call("SET", "k3", "v"))
        rec(r3.read_all(QUIET))
        rec(a.call("GET", "k3"))
        rec(b.call("FLUSHDB"))
        rec(r3.read_all(QUIET))
        # to a RESP2 connection that is not subscribed: nothing anywhere
        rec(a.call("CLIENT", "TRACKING", "on", "REDIRECT", str(ids["plain"])))
        rec(a.call("GET", "p"))
        rec(b.call("SET", "p", "v"))
        rec(plain.read_all(QUIET))
        rec(a.read_all(QUIET))
        # the target goes away
        rec(a.call("CLIENT", "TRACKING", "on", "REDIRECT", str(ids["gone"])))
        rec(a.call("GET", "g"))
        gone.close()
        time.sleep(0.1)
        rec(b.call("SET", "g", "v"))
        rec(a.read_all(QUIET))
        rec(a.call("CLIENT", "TRACKINGINFO"))
        rec(a.call("GET", "g"))
        rec(b.call("SET", "g", "w"))
        rec(a.read_all(QUIET))
        rec(a.call("CLIENT", "TRACKING", "off"))
        rec(a.call("CLIENT", "TRACKINGINFO"))
        # errors
        rec(a.call("CLIENT", "TRACKING", "on", "REDIRECT", "999999"))
        rec(a.call("CLIENT", "TRACKING", "on", "REDIRECT", "abc"))
        rec(a.call("CLIENT", "TRACKING", "on", "REDIRECT", str(ids["r2"]), "REDIRECT", str(ids["r2"])))
        rec(a.call("CLIENT", "TRACKING", "on", "REDIRECT"))
        rec(a.call("CLIENT", "TRACKING", "on", "REDIRECT", str(ids["a"])))  # itself: allowed
        rec(a.call("CLIENT", "GETREDIR"))
        rec(a.call("CLIENT", "TRACKING", "off"))
        rec(a.call("CLIENT", "TRACKINGINFO"))
    finally:
        for c in (a, b, r2, r3, plain):
            c.close()
    return t


def tracking_bcast(port, proto):
    """BCAST with prefixes and NOLOOP; in RESP2 through a redirect."""
    a, b = _conns(port, 2, proto)
    r2 = RawClient(port)
    r2_id = _id(r2)
    r2.call("SUBSCRIBE", "__redis__:invalidate")
    redirect = [] if proto == 3 else ["REDIRECT", str(r2_id)]
    sink = a if proto == 3 else r2  # where the messages arrive
    t = []
    try:
        t.append(a.call("CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "p:", "PREFIX", "q",
                        "NOLOOP", *redirect))
        t.append(_info(a.call("CLIENT", "TRACKINGINFO")))
        t.append(b.call("SET", "p:2", "1"))
        t.append(sink.read_all(QUIET))
        t.append(b.call("SET", "other", "1"))
        t.append(b.call("SET", "qq", "1"))
        t.append(sink.read_all(QUIET))
        t.append(b.call("MSET", "p:1", "1", "q1", "1", "p:0", "1", "zz", "1"))  # one message per prefix
        t.append(sink.read_all(QUIET))
        t.append(a.call("SET", "p:3", "own"))  # NOLOOP
        t.append(a.call("GET", "p:2"))  # BCAST tracks nothing on reads
        t.append(sink.read_all(QUIET))
        t.append(b.call("DEL", "p:0", "p:1"))
        t.append(sink.read_all(QUIET))
        t.append(b.call("FLUSHDB"))
        t.append(sink.read_all(QUIET))
        # more prefixes, overlaps, mode switches
        t.append(a.call("CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "p"))
        t.append(a.call("CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "x", "PREFIX", "xy"))
        t.append(a.call("CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "x", *redirect))
        t.append(a.call("CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "x"))
        t.append(a.call("CLIENT", "TRACKING", "on"))
        t.append(a.call("CLIENT", "TRACKING", "on", "BCAST", "OPTIN"))
        t.append(a.call("CLIENT", "TRACKING", "off"))
        t.append(a.call("CLIENT", "TRACKING", "on", "PREFIX", "a"))
        t.append(a.call("CLIENT", "TRACKING", "on", "BCAST", "OPTOUT"))
        t.append(a.call("CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "a", "PREFIX", "a"))
        t.append(a.call("CLIENT", "TRACKINGINFO"))
        # no prefix: every key
        t.append(a.call("CLIENT", "TRACKING", "on", "BCAST", *redirect))
        t.append(_info(a.call("CLIENT", "TRACKINGINFO")))
        t.append(b.call("SET", "anything", "1"))
        t.append(b.call("LPUSH", "list", "1"))
        t.append(sink.read_all(QUIET))
        t.append(a.call("CLIENT", "TRACKING", "off"))
    finally:
        for c in (a, b, r2):
            c.close()
    return t


def tracking_optin_optout(port, proto):
    """OPTIN/OPTOUT with CLIENT CACHING; in RESP2 through a redirect."""
    a, b = _conns(port, 2, proto)
    r2 = RawClient(port)
    r2_id = _id(r2)
    r2.call("SUBSCRIBE", "__redis__:invalidate")
    redirect = [] if proto == 3 else ["REDIRECT", str(r2_id)]
    sink = a if proto == 3 else r2
    t = []
    try:
        t.append(a.call("CLIENT", "CACHING", "yes"))
        t.append(a.call("CLIENT", "TRACKING", "on", "OPTIN", "OPTOUT"))
        t.append(a.call("CLIENT", "TRACKING", "on", "OPTIN", *redirect))
        t.append(a.call("CLIENT", "CACHING", "no"))
        t.append(a.call("CLIENT", "CACHING", "maybe"))
        t.append(a.call("CLIENT", "CACHING"))
        t.append(a.call("GET", "i1"))
        t.append(a.call("CLIENT", "CACHING", "yes"))
        t.append(_info(a.call("CLIENT", "TRACKINGINFO")))
        t.append(a.call("GET", "i2"))
        t.append(a.call("GET", "i3"))
        t.append(b.call("MSET", "i1", "1", "i2", "2", "i3", "3"))
        t.append(sink.read_all(QUIET))
        t.append(a.call("CLIENT", "CACHING", "yes"))
        for cmd in [("MULTI",), ("GET", "m1"), ("GET", "m2"), ("EXEC",), ("GET", "m3")]:
            t.append(a.call(*cmd))
        t.append(b.call("MSET", "m1", "1", "m2", "2", "m3", "3"))
        t.append(sink.read_all(QUIET))
        t.append(a.call("CLIENT", "TRACKING", "on", "OPTOUT"))
        t.append(a.call("CLIENT", "TRACKING", "off"))
        t.append(a.call("CLIENT", "TRACKING", "on", "OPTOUT", *redirect))
        t.append(a.call("CLIENT", "CACHING", "yes"))
        t.append(a.call("GET", "o1"))
        t.append(a.call("CLIENT", "CACHING", "no"))
        t.append(_info(a.call("CLIENT", "TRACKINGINFO")))
        t.append(a.call("GET", "o2"))
        t.append(a.call("GET", "o3"))
        t.append(b.call("MSET", "o1", "1", "o2", "2", "o3", "3"))
        t.append(sink.read_all(QUIET))
        t.append(a.call("CLIENT", "TRACKING", "off"))
        t.append(a.call("CLIENT", "CACHING", "no"))
    finally:
        for c in (a, b, r2):
            c.close()
    return t


SCENARIOS = {f.__name__: f for f in (pubsub_resp3, tracking_default, tracking_redirect,
                                      tracking_bcast, tracking_optin_optout)}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
@pytest.mark.parametrize("proto", difftools.PROTOS)
def test_scenario(real_server, ref_server, name, proto):
    expected = difftools.expected(difftools.golden_key("scenario:" + name, proto),
                                  lambda: SCENARIOS[name](real_server.port, proto))
    got = SCENARIOS[name](ref_server.port, proto)
    diffs = [f"  #{i}: redis {e!r}\n        ref   {g!r}" for i, (e, g) in enumerate(zip(expected, got))
             if e != g]
    assert len(expected) == len(got)
    assert not diffs, "transcripts differ:\n" + "\n".join(diffs)
