"""redis-py's `pubsub(push_handler_func=f)`: cpipe's PubSub does what redis-py's does.

Under RESP3 (protocol=3, redis-py 8's default) redis-py's parser hands every
pub/sub push frame (subscribe confirmations and messages alike) to f, as the
list the server sent, and get_message()/listen() handle what f returns (None:
nothing). Under RESP2 f is never called. cpipe's subscriber speaks RESP2 on
the wire and rebuilds the frames; these tests run the same conversation on
both clients, on the same real server, and compare everything seen.
"""
from __future__ import annotations

import asyncio
import time

import pytest
import redis
import redis.asyncio

import cpipe
import cpipe.asyncio
from cpipe.errors import DataError

from ._util import subscribers, wait_until
from tests.asyncio_client._run import run

# The tests compare cpipe with the installed redis-py conversation for
# conversation; what they pin is redis-py 6+'s RESP3 push handling (5.0's
# asyncio PubSub has no ssubscribe, and its RESP3 pub/sub hands the handler
# other frames). cpipe follows the newer releases here.
pytestmark = pytest.mark.skipif(int(redis.__version__.split(".")[0]) < 6,
                                reason="redis-py 5's RESP3 pub/sub differs; cpipe follows redis-py 6 and later")


def _messages(get, quiet=0.3):
    """Every get_message() result (None dropped) until nothing at all came for
    `quiet` seconds. A handled frame also makes get_message return None, but at
    once: only a call that waited its whole timeout means the stream is quiet."""
    out = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        start = time.monotonic()
        m = get(timeout=quiet)
        if m is not None:
            out.append(m)
        elif time.monotonic() - start >= quiet * 0.9:
            return out
    raise AssertionError(f"messages did not stop: {out[-3:]}")


def _script(client, publisher, tag):
    """subscribe (one channel with its own handler), psubscribe, ssubscribe,
    publish to each, PING, unsubscribe: what the push handler and get_message saw."""
    frames, by_channel = [], []
    ps = client.pubsub(push_handler_func=lambda f: frames.append((type(f).__name__, f)))
    ps.subscribe(f"{tag}:a", **{f"{tag}:b": by_channel.append})
    ps.psubscribe(f"{tag}:x*")
    ps.ssubscribe(f"{tag}:s")
    wait_until(lambda: subscribers(publisher, f"{tag}:b") == 1, what="the subscription")
    publisher.publish(f"{tag}:a", "1")
    publisher.publish(f"{tag}:b", b"\x00two")
    publisher.publish(f"{tag}:xy", "3")
    publisher.spublish(f"{tag}:s", "4")
    got = _messages(ps.get_message)
    ps.ping()
    got += _messages(ps.get_message)
    ps.unsubscribe(f"{tag}:a")
    got += _messages(ps.get_message)
    state = (sorted(ps.channels), sorted(ps.pending_unsubscribe_channels), ps.subscribed)
    ps.close()
    return frames, got, by_channel, state


@pytest.mark.parametrize("protocol", [3, 2])
@pytest.mark.parametrize("decode", [False, True])
def test_handler_sees_what_redis_py_gives_it(real_server, protocol, decode):
    port = real_server.port
    publisher = redis.Redis(port=port, protocol=2)
    theirs_client = redis.Redis(port=port, protocol=protocol, decode_responses=decode)
    mine_client = cpipe.Redis(port=port, protocol=protocol, decode_responses=decode)
    try:
        theirs = _script(theirs_client, publisher, "ph")
        mine = _script(mine_client, publisher, "ph")
    finally:
        for c in (publisher, theirs_client, mine_client):
            c.close()
    assert mine == theirs
    frames, got, by_channel, _ = mine
    s = (lambda v: v) if decode else (lambda v: v.encode() if isinstance(v, str) else v)
    if protocol == 3:
        # The frames as the server sent them, subscribe confirmations included;
        # get_message returned only the PING reply (not a push frame under RESP3).
        assert [f for _, f in frames] == [
            [s("subscribe"), s("ph:a"), 1], [s("subscribe"), s("ph:b"), 2],
            [s("psubscribe"), s("ph:x*"), 3], [s("ssubscribe"), s("ph:s"), 1],
            [s("message"), s("ph:a"), s("1")],
            [s("message"), s("ph:b"), b"\x00two" if not decode else "\x00two"],
            [s("pmessage"), s("ph:x*"), s("ph:xy"), s("3")],
            [s("smessage"), s("ph:s"), s("4")],
            [s("unsubscribe"), s("ph:a"), 2],
        ]
        assert got == [{"type": "pong", "pattern": None, "channel": None, "data": s("")}]
        assert by_channel == []  # the push handler took the message first
    else:
        assert frames == []  # RESP2: redis-py never calls it
        assert [m["type"] for m in got] == ["subscribe", "subscribe", "psubscribe", "ssubscribe", "message",
                                            "pmessage", "smessage", "pong", "unsubscribe"]
        assert [m["data"] for m in by_channel] == [b"\x00two" if not decode else "\x00two"]


def test_handler_result_is_what_get_message_and_listen_handle(real_server):
    """A handler's return value goes on as the message redis-py read; None drops it."""
    port = real_server.port
    publisher = redis.Redis(port=port, protocol=2)
    c = cpipe.Redis(port=port, protocol=3)
    seen = []

    def keep_messages(frame):
        seen.append(list(frame))
        return frame if frame[0] == b"message" else None

    try:
        ps = c.pubsub(push_handler_func=keep_messages)
        ps.subscribe("keep:a")
        wait_until(lambda: subscribers(publisher, "keep:a") == 1, what="the subscription")
        publisher.publish("keep:a", "one")
        assert _messages(ps.get_message) == [{"type": "message", "pattern": None, "channel": b"keep:a",
                                               "data": b"one"}]
        # parse_response returns the handler's result, as redis-py's does.
        publisher.publish("keep:a", "two")
        wait_until(lambda: ps.connection.can_read(0.1), what="a message")
        assert ps.parse_response(block=False, timeout=1) == [b"message", b"keep:a", b"two"]
        # listen() yields what handle_message makes of the handler's results.
        publisher.publish("keep:a", "three")
        ps.unsubscribe("keep:a")
        ps.subscribe("keep:b")  # the unsubscribe frame is dropped: listen goes on
        wait_until(lambda: subscribers(publisher, "keep:b") == 1, what="the second subscription")
        publisher.publish("keep:b", "four")
        it = ps.listen()
        assert [next(it)["data"], next(it)["data"]] == [b"three", b"four"]
        assert seen == [[b"subscribe", b"keep:a", 1], [b"message", b"keep:a", b"one"],
                        [b"message", b"keep:a", b"two"], [b"message", b"keep:a", b"three"],
                        [b"unsubscribe", b"keep:a", 0], [b"subscribe", b"keep:b", 1],
                        [b"message", b"keep:b", b"four"]]
        ps.close()
    finally:
        publisher.close()
        c.close()


def test_a_second_pubsub_does_not_reach_the_first_ones_handler(real_server):
    """redis-py's test_push_handler_not_left_on_released_connection, without its
    connection-identity check (each cpipe PubSub has its own engine connection)."""
    c = cpipe.Redis(port=real_server.port, protocol=3)
    seen = []
    try:
        p = c.pubsub(push_handler_func=seen.append)
        p.subscribe("left:foo")
        wait_until(lambda: p.get_message(timeout=0.1) is None and seen, what="the handled confirmation")
        assert seen == [[b"subscribe", b"left:foo", 1]]
        p.close()
        seen.clear()
        p2 = c.pubsub()
        p2.subscribe("left:foo")
        assert _messages(p2.get_message) == [{"type": "subscribe", "pattern": None, "channel": b"left:foo",
                                              "data": 1}]
        assert c.publish("left:foo", "m") == 1
        assert _messages(p2.get_message)[0]["data"] == b"m"
        assert seen == []
        p2.close()
    finally:
        c.close()


def test_reconnect_notice_is_not_a_push_frame(dedicated_server):
    """After a connection loss the re-subscription's confirmations go to the
    handler (as redis-py's re-subscription's would); cpipe's reconnect notice
    is returned by get_message, never handed to the handler."""
    c = cpipe.Redis(port=dedicated_server.port, protocol=3)
    admin = redis.Redis(port=dedicated_server.port, protocol=2)
    seen = []
    try:
        ps = c.pubsub(push_handler_func=seen.append)
        ps.subscribe("rc:a")
        assert _messages(ps.get_message) == []
        assert admin.client_kill_filter(_type="pubsub") >= 1
        got = wait_until(lambda: ps.get_message(timeout=0.5), what="the reconnect notice")
        assert got["type"] == "reconnect" and got["data"]["channels"] == 1
        assert seen == [[b"subscribe", b"rc:a", 1]] * 2
        ps.close()
    finally:
        admin.close()
        c.close()


def test_handler_must_be_callable(real_server):
    c = cpipe.Redis(port=real_server.port, protocol=3)
    try:
        with pytest.raises(DataError, match="push_handler_func must be callable"):
            c.pubsub(push_handler_func="not a function")
    finally:
        c.close()


# -- asyncio ------------------------------------------------------------------


async def _amessages(get, quiet=0.3):
    """_messages for an asyncio PubSub."""
    out = []
    for _ in range(200):
        start = time.monotonic()
        m = await get(timeout=quiet)
        if m is not None:
            out.append(m)
        elif time.monotonic() - start >= quiet * 0.9:
            return out
    raise AssertionError(f"messages did not stop: {out[-3:]}")


async def _ascript(client, publisher, tag):
    frames = []

    async def handler(frame):
        frames.append((type(frame).__name__, frame))

    ps = client.pubsub(push_handler_func=handler)
    await ps.subscribe(f"{tag}:a")
    await ps.psubscribe(f"{tag}:x*")
    await ps.ssubscribe(f"{tag}:s")
    while (await publisher.pubsub_numsub(f"{tag}:a"))[0][1] != 1:
        await asyncio.sleep(0.01)
    await publisher.publish(f"{tag}:a", "1")
    await publisher.publish(f"{tag}:xy", "3")
    await publisher.spublish(f"{tag}:s", "4")
    got = await _amessages(ps.get_message)
    await ps.ping()
    await ps.unsubscribe(f"{tag}:a")
    got += await _amessages(ps.get_message)
    await ps.aclose()
    return frames, got


@pytest.mark.parametrize("protocol", [3, 2])
@pytest.mark.parametrize("decode", [False, True])
def test_asyncio_handler_sees_what_redis_asyncio_gives_it(real_server, protocol, decode):
    async def main():
        port = real_server.port
        publisher = redis.asyncio.Redis(port=port, protocol=2)
        theirs_client = redis.asyncio.Redis(port=port, protocol=protocol, decode_responses=decode)
        mine_client = cpipe.asyncio.Redis(port=port, protocol=protocol, decode_responses=decode)
        try:
            return await _ascript(theirs_client, publisher, "aph"), await _ascript(mine_client, publisher, "aph")
        finally:
            for c in (publisher, theirs_client, mine_client):
                await c.aclose()

    theirs, mine = run("asyncio", main())
    assert mine == theirs
    frames, got = mine
    s = (lambda v: v) if decode else (lambda v: v.encode())
    if protocol == 3:
        assert [f for _, f in frames] == [
            [s("subscribe"), s("aph:a"), 1], [s("psubscribe"), s("aph:x*"), 2], [s("ssubscribe"), s("aph:s"), 1],
            [s("message"), s("aph:a"), s("1")], [s("pmessage"), s("aph:x*"), s("aph:xy"), s("3")],
            [s("smessage"), s("aph:s"), s("4")], [s("unsubscribe"), s("aph:a"), 1],
        ]
        assert got == [{"type": "pong", "pattern": None, "channel": None, "data": s("")}]
    else:
        assert frames == []
        assert [m["type"] for m in got] == ["subscribe", "psubscribe", "ssubscribe", "message", "pmessage",
                                            "smessage", "pong", "unsubscribe"]


def test_asyncio_handler_result_is_what_get_message_and_listen_handle(real_server):
    async def main():
        c = cpipe.asyncio.Redis(port=real_server.port, protocol=3)
        seen = []

        async def keep_messages(frame):
            seen.append(list(frame))
            return frame if frame[0] == b"message" else None

        try:
            ps = c.pubsub(push_handler_func=keep_messages)
            await ps.subscribe("akeep:a")
            assert await _amessages(ps.get_message) == []
            assert await c.publish("akeep:a", "one") == 1
            assert await _amessages(ps.get_message) == [{"type": "message", "pattern": None,
                                                         "channel": b"akeep:a", "data": b"one"}]
            await c.publish("akeep:a", "two")
            it = ps.listen()
            assert (await it.__anext__())["data"] == b"two"
            # A plain function is called too (redis.asyncio would need a coroutine function).
            plain = c.pubsub(push_handler_func=lambda f: seen.append(("plain", list(f))))
            await plain.subscribe("akeep:b")
            assert await _amessages(plain.get_message) == []
            await plain.aclose()
            await ps.aclose()
            return seen
        finally:
            await c.aclose()

    assert run("asyncio", main()) == [[b"subscribe", b"akeep:a", 1], [b"message", b"akeep:a", b"one"],
                                      [b"message", b"akeep:a", b"two"], ("plain", [b"subscribe", b"akeep:b", 1])]
