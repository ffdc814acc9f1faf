"""cpipe's sync PubSub gives what redis-py's gives, on the same server."""
from __future__ import annotations

import threading
import time

import pytest
import redis

import cpipe
from cpipe.pubsub import PubSub

from ._util import drain, subscribers, wait_until


def _script(ps, publisher, tag):
    """The same conversation for both clients; every message they get back."""
    ch, other, pat = f"{tag}:ch", f"{tag}:other", f"{tag}:p*"
    ps.subscribe(ch, other)
    ps.psubscribe(pat)
    got = drain(ps, 3)
    wait_until(lambda: subscribers(publisher, ch) == 1, what="the subscription")
    publisher.publish(ch, "hello")
    publisher.publish(f"{tag}:pz", b"\x00\x01bin")
    publisher.publish(other, 12)
    got += drain(ps, 3)
    ps.unsubscribe(other)
    ps.punsubscribe()
    got += drain(ps, 2)
    ps.ping()
    ps.ping("hi")
    got += drain(ps, 2)
    ps.unsubscribe()
    got += drain(ps, 1)
    assert ps.get_message(timeout=0.05) is None
    return got, dict(ps.channels), dict(ps.patterns), ps.subscribed


@pytest.mark.parametrize("decode", [False, True])
def test_message_shapes_match_redis_py(cp, rp, publisher, decode):
    theirs = _script(rp(decode_responses=decode).pubsub(), publisher, "shape")
    ours_ps = cp(decode_responses=decode).pubsub()
    assert isinstance(ours_ps, PubSub) and isinstance(ours_ps, redis.client.PubSub)
    ours = _script(ours_ps, publisher, "shape")
    assert ours == theirs
    kinds = [m["type"] for m in ours[0]]
    assert kinds[:6] == ["subscribe", "subscribe", "psubscribe", "message", "pmessage", "message"]


def test_sharded_pubsub_matches_redis_py(real_server):
    """SSUBSCRIBE (Redis 7; the reference server has no sharded pub/sub)."""
    publisher = redis.Redis(port=real_server.port, protocol=2)
    results = []
    for ps in (redis.Redis(port=real_server.port, protocol=2).pubsub(), cpipe.Redis(port=real_server.port).pubsub()):
        ps.ssubscribe("sh:a")
        got = drain(ps, 1)
        wait_until(lambda: publisher.execute_command("PUBSUB", "SHARDNUMSUB", "sh:a")[1] == 1, what="ssubscribe")
        publisher.execute_command("SPUBLISH", "sh:a", "x")
        got += drain(ps, 1)
        ps.sunsubscribe("sh:a")
        got += drain(ps, 1)
        results.append((got, ps.shard_channels, ps.subscribed))
        ps.close()
    assert results[0] == results[1]
    assert [m["type"] for m in results[1][0]] == ["ssubscribe", "smessage", "sunsubscribe"]


def test_binary_channel_names(cp, rp, publisher):
    name = b"\xff\xfe:bin"
    for ps in (rp().pubsub(), cp().pubsub()):
        ps.subscribe(name)
        assert drain(ps, 1)[0]["channel"] == name
        wait_until(lambda: subscribers(publisher, name) == 1, what="binary subscription")
        publisher.publish(name, b"\xff")
        assert drain(ps, 1) == [{"type": "message", "pattern": None, "channel": name, "data": b"\xff"}]
        assert name in ps.channels
        ps.close()


def test_undecodable_message_raises_only_itself(cp, publisher):
    ps = cp(decode_responses=True).pubsub(ignore_subscribe_messages=True)
    ps.subscribe("dec")
    wait_until(lambda: subscribers(publisher, "dec") == 1, what="subscription")
    publisher.publish("dec", b"\xff\xfe")
    publisher.publish("dec", "fine")
    with pytest.raises(UnicodeDecodeError):
        for _ in range(20):
            ps.get_message(timeout=0.5)
    assert drain(ps, 1)[0]["data"] == "fine"
    ps.close()


def test_handlers_and_ignore_subscribe_messages(cp, publisher):
    seen = []
    ps = cp().pubsub(ignore_subscribe_messages=True)
    ps.subscribe(**{"h:a": seen.append})
    ps.psubscribe(**{"h:p*": seen.append})
    ps.subscribe("h:plain")
    assert ps.get_message(timeout=0.2) is None  # confirmations are ignored
    wait_until(lambda: subscribers(publisher, "h:plain") == 1, what="subscriptions")
    publisher.publish("h:a", "1")
    publisher.publish("h:px", "2")
    publisher.publish("h:plain", "3")
    got = drain(ps, 1)
    assert got == [{"type": "message", "pattern": None, "channel": b"h:plain", "data": b"3"}]
    assert seen == [
        {"type": "message", "pattern": None, "channel": b"h:a", "data": b"1"},
        {"type": "pmessage", "pattern": b"h:p*", "channel": b"h:px", "data": b"2"},
    ]
    ps.close()


def test_get_message_timeout_and_not_subscribed(cp):
    ps = cp().pubsub()
    assert ps.get_message(timeout=0.05) is None  # not subscribed: redis-py waits, then None
    with pytest.raises(RuntimeError, match="pubsub connection not set"):
        ps.parse_response(block=False)
    ps.subscribe("t:a")
    assert drain(ps, 1)[0]["type"] == "subscribe"
    assert ps.get_message(timeout=0.1) is None
    assert ps.get_message() is None  # timeout 0: no wait
    ps.close()


def test_connection_can_read_waits_for_a_message_and_keeps_it(cp, publisher):
    # redis-py's pubsub.connection.can_read(timeout): is a message waiting?
    ps = cp().pubsub()
    ps.subscribe("cr:a")
    assert ps.connection.can_read(timeout=5)  # the subscribe confirmation
    assert ps.get_message(timeout=0)["type"] == "subscribe"
    assert not ps.connection.can_read(timeout=0)
    assert not ps.connection.can_read(timeout=0.05)
    wait_until(lambda: subscribers(publisher, "cr:a") == 1, what="the subscription")
    publisher.publish("cr:a", "hello")
    assert ps.connection.can_read(timeout=5)
    assert ps.connection.can_read(timeout=0)  # still there: can_read consumes nothing
    assert ps.get_message(timeout=0)["data"] == b"hello"
    leased = ps.connection
    ps.close()
    assert not leased.can_read(timeout=0)  # closed: nothing to read, no error


def test_get_message_batches_many_messages(cp, publisher):
    ps = cp().pubsub(ignore_subscribe_messages=True, batch=64)
    ps.subscribe("b:a")
    wait_until(lambda: subscribers(publisher, "b:a") == 1, what="subscription")
    with publisher.pipeline(transaction=False) as p:
        for i in range(1000):
            p.publish("b:a", i)
        p.execute()
    got = drain(ps, 1000)
    assert [int(m["data"]) for m in got] == list(range(1000))
    ps.close()


def test_parse_response_returns_server_lists(cp, rp, publisher):
    """parse_response is redis-py API too: it returns what the server sent."""
    out = []
    for ps in (rp().pubsub(), cp().pubsub()):
        ps.subscribe("pr:a")
        ps.psubscribe("pr:p*")
        first = [ps.parse_response(block=True), ps.parse_response(block=True)]
        wait_until(lambda: subscribers(publisher, "pr:a") == 1, what="subscription")
        publisher.publish("pr:a", "x")
        publisher.publish("pr:pq", "y")
        out.append(first + [ps.parse_response(block=True), ps.parse_response(block=True)])
        ps.close()
    assert out[0] == out[1]


def test_listen(cp, publisher):
    ps = cp().pubsub()
    ps.subscribe("l:a")

    def publish():
        wait_until(lambda: subscribers(publisher, "l:a") == 1, what="subscription")
        for i in range(3):
            publisher.publish("l:a", i)

    t = threading.Thread(target=publish)
    t.start()
    got = []
    for m in ps.listen():
        got.append(m)
        if len(got) == 4:
            ps.unsubscribe()
        if m["type"] == "unsubscribe":
            break
    t.join(10)
    assert [m["type"] for m in got] == ["subscribe", "message", "message", "message", "unsubscribe"]
    assert not ps.subscribed
    ps.close()


def test_run_in_thread_stop_join_and_exception_handler(cp, publisher):
    seen = []
    ps = cp().pubsub()
    ps.subscribe(**{"rt:a": lambda m: seen.append(m["data"])})
    with pytest.raises(redis.exceptions.PubSubError):
        bad = cp().pubsub()
        bad.subscribe("rt:nohandler")
        bad.run_in_thread()
    t = ps.run_in_thread(sleep_time=0.05, daemon=True)
    wait_until(lambda: subscribers(publisher, "rt:a") == 1, what="subscription")
    publisher.publish("rt:a", "1")
    wait_until(lambda: seen == [b"1"], what="the handler")
    t.stop()
    t.join(5)
    assert not t.is_alive()
    assert ps.connection is None  # the worker closed it
    # exception_handler gets what the loop raised
    errors = []

    def boom(m):
        raise ValueError("boom")

    ps2 = cp().pubsub()
    ps2.subscribe(**{"rt:b": boom})

    def handler(exc, pubsub, thread):
        errors.append(exc)
        thread.stop()

    t2 = ps2.run_in_thread(sleep_time=0.05, daemon=True, exception_handler=handler)
    wait_until(lambda: subscribers(publisher, "rt:b") == 1, what="subscription")
    publisher.publish("rt:b", "x")
    t2.join(5)
    assert not t2.is_alive()
    assert len(errors) == 1 and str(errors[0]) == "boom"


def test_close_and_reset_forget_subscriptions(cp, publisher):
    ps = cp().pubsub()
    ps.subscribe("c:a")
    drain(ps, 1)
    wait_until(lambda: subscribers(publisher, "c:a") == 1, what="subscription")
    ps.reset()
    assert ps.channels == {} and not ps.subscribed and ps.connection is None
    wait_until(lambda: subscribers(publisher, "c:a") == 0, what="the server to see the close")
    ps.subscribe("c:b")  # usable again after reset, as redis-py's
    assert drain(ps, 1)[0]["channel"] == b"c:b"
    with ps:
        pass
    assert ps.connection is None
    wait_until(lambda: subscribers(publisher, "c:b") == 0, what="the close")
    ps.close()
    ps.close()


def test_close_from_another_thread_wakes_a_blocked_reader(cp):
    ps = cp().pubsub()
    ps.subscribe("w:a")
    drain(ps, 1)
    result = []
    t = threading.Thread(target=lambda: result.append(ps.get_message(timeout=None)))
    t.start()
    time.sleep(0.2)
    assert t.is_alive()
    ps.close()
    t.join(5)
    assert not t.is_alive() and result == [None]


def test_listening_thread_does_not_block_other_work(cp, publisher):
    """A thread blocked in get_message holds nothing that commands, publishes
    or subscribes on the same client need."""
    c = cp()
    ps = c.pubsub()
    ps.subscribe("nb:a")
    drain(ps, 1)
    t = threading.Thread(target=ps.get_message, kwargs={"timeout": 3})
    t.start()
    time.sleep(0.1)
    c.set("nb:k", "v")
    assert c.get("nb:k") == b"v"
    assert c.publish("nb:a", "x") == 1
    ps.subscribe("nb:b")
    t.join(5)
    assert drain(ps, 1)[0]["type"] in ("message", "subscribe")
    ps.close()


def test_bad_commands_are_refused_before_sending(cp):
    ps = cp().pubsub()
    with pytest.raises(cpipe.DataError, match="cannot run on a pub/sub connection"):
        ps.execute_command("GET", "x")
    with pytest.raises(cpipe.DataError):
        ps.subscribe(True)  # redis-py's encoder refuses a bool
    with pytest.raises(cpipe.DataError, match="max_queued_messages"):
        cp().pubsub(max_queued_messages=-1)
    with pytest.raises(cpipe.DataError, match="reconnect_timeout"):
        cp().pubsub(reconnect_timeout=0)
    assert ps.connection is None  # nothing was opened


def test_pubsub_introspection_commands_are_plain(cp):
    c = cp()
    ps = c.pubsub()
    ps.subscribe("i:a")
    ps.psubscribe("i:p*")
    drain(ps, 2)
    wait_until(lambda: c.pubsub_numsub("i:a") == [(b"i:a", 1)], what="subscription")
    assert b"i:a" in c.pubsub_channels("i:*")
    assert c.pubsub_numpat() >= 1
    ps.close()


def test_pool_pubsub(server, publisher):
    pool = cpipe.Pool(host="127.0.0.1", port=server.port, size=2)
    try:
        ps = pool.pubsub(ignore_subscribe_messages=True)
        assert isinstance(ps, PubSub)
        ps.subscribe("pool:a")
        wait_until(lambda: subscribers(publisher, "pool:a") == 1, what="subscription")
        pool.publish("pool:a", "x")
        assert drain(ps, 1)[0]["data"] == b"x"
        ps.close()
    finally:
        pool.close()
    with pytest.raises(cpipe.ConnectionError):
        pool.pubsub()
