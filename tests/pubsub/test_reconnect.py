"""Connection loss: the engine reconnects, re-subscribes, then tells the application."""
from __future__ import annotations

import threading
import time

import pytest
import redis

import cpipe

from ._util import drain, subscribers, wait_until

N_MESSAGES = 4000  # bounded publisher: this many numbered messages, ~2 s at most


def _numbered_publisher(port, channel, stop, sent):
    r = redis.Redis(port=port, protocol=2)
    deadline = time.monotonic() + 20
    for i in range(N_MESSAGES):
        if stop.is_set() or time.monotonic() > deadline:
            break
        r.publish(channel, i)
        sent.append(i)
        if i % 50 == 0:
            time.sleep(0.01)
    r.close()


def test_kill_reconnects_resubscribes_and_reports_the_gap(real_server):
    port = real_server.port
    admin = redis.Redis(port=port, protocol=2)
    notices = []
    c = cpipe.Redis(port=port, client_name="cpipe-sub")
    ps = c.pubsub(on_reconnect=notices.append)
    ps.subscribe("rc:nums")
    ps.psubscribe("rc:pat*")
    assert [m["type"] for m in drain(ps, 2)] == ["subscribe", "psubscribe"]
    wait_until(lambda: subscribers(admin, "rc:nums") == 1, what="subscription")
    stop, sent = threading.Event(), []
    pub = threading.Thread(target=_numbered_publisher, args=(port, "rc:nums", stop, sent))
    pub.start()
    got, events = [], []
    killed = False
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        m = ps.get_message(timeout=0.5)
        if m is None:
            if not pub.is_alive():
                break
            continue
        if m["type"] == "message":
            got.append(int(m["data"]))
            if not killed and len(got) == N_MESSAGES // 4:
                assert admin.client_kill_filter(_type="pubsub") >= 1
                killed = True
        else:
            events.append(m)
    stop.set()
    pub.join(10)
    assert killed
    # What came after the kill: the re-subscription's confirmations, then the notice.
    kinds = [e["type"] for e in events]
    assert kinds == ["subscribe", "psubscribe", "reconnect"], kinds
    notice = events[-1]
    assert notice == notices[0] and len(notices) == 1
    data = notice["data"]
    assert data["channels"] == 1 and data["patterns"] == 1 and data["shard_channels"] == 0
    assert data["attempts"] >= 1 and data["down_seconds"] >= 0 and data["cause"]
    assert ps.reconnects == 1
    # Before the kill every message arrived in order; after the notice every
    # message did too; only those published while the connection was down are lost.
    before = got[: N_MESSAGES // 4]
    assert before == list(range(N_MESSAGES // 4))
    after = got[N_MESSAGES // 4:]
    assert after, "nothing arrived after the reconnect"
    assert after == list(range(after[0], after[-1] + 1)), "a message published after the re-subscription was lost"
    assert after[-1] == sent[-1]
    lost = after[0] - before[-1] - 1
    print(f"\nreconnect: {lost} of {len(sent)} numbered messages lost around CLIENT KILL TYPE pubsub "
          f"(down {data['down_seconds'] * 1000:.1f} ms, {data['attempts']} attempt(s))")
    assert 0 <= lost < len(sent)
    # The server sees the subscriptions again, on a connection named as the client's.
    assert subscribers(admin, "rc:nums") == 1
    names = [cl["name"] for cl in admin.client_list(_type="pubsub")]
    assert names == ["cpipe-sub"]
    ps.close()
    admin.close()


def test_notice_is_ignored_with_subscribe_messages_but_the_callback_runs(real_server):
    admin = redis.Redis(port=real_server.port, protocol=2)
    notices = []
    ps = cpipe.Redis(port=real_server.port).pubsub(ignore_subscribe_messages=True, on_reconnect=notices.append)
    ps.subscribe("ri:a")
    wait_until(lambda: subscribers(admin, "ri:a") == 1, what="subscription")
    admin.client_kill_filter(_type="pubsub")
    wait_until(lambda: subscribers(admin, "ri:a") == 1, what="the re-subscription")
    admin.publish("ri:a", "after")
    got = drain(ps, 1)
    assert got == [{"type": "message", "pattern": None, "channel": b"ri:a", "data": b"after"}]
    assert len(notices) == 1 and notices[0]["type"] == "reconnect"
    ps.close()
    admin.close()


def test_changes_while_reconnecting_and_pending_unsubscribes(dedicated_server):
    """Subscribe/unsubscribe while the server is down are carried by the re-subscription."""
    port = dedicated_server.port
    ps = cpipe.Redis(port=port).pubsub(reconnect_timeout=20)
    ps.subscribe("rw:a", "rw:b")
    drain(ps, 2)
    dedicated_server.proc.kill()
    dedicated_server.proc.wait(10)
    time.sleep(0.2)  # the reader has seen the loss and is reconnecting
    ps.subscribe("rw:c")
    ps.unsubscribe("rw:b")
    with pytest.raises(cpipe.ConnectionError):
        ps.ping()
    dedicated_server.restart()
    events = drain(ps, 3, timeout=20)
    assert [(e["type"], e["channel"]) for e in events[:2]] == [("subscribe", b"rw:a"), ("subscribe", b"rw:c")]
    assert events[2]["type"] == "reconnect" and events[2]["data"]["channels"] == 2
    assert set(ps.channels) == {b"rw:a", b"rw:c"}
    assert ps.pending_unsubscribe_channels == set()
    admin = redis.Redis(port=port, protocol=2)
    assert sorted(admin.pubsub_channels("rw:*")) == [b"rw:a", b"rw:c"]
    ps.close()
    admin.close()


def test_gives_up_after_reconnect_timeout_then_subscribe_reconnects(dedicated_server):
    port = dedicated_server.port
    ps = cpipe.Redis(port=port, socket_connect_timeout=1).pubsub(reconnect_timeout=0.5)
    ps.subscribe("rg:a")
    drain(ps, 1)
    dedicated_server.proc.kill()
    dedicated_server.proc.wait(10)
    with pytest.raises(cpipe.ConnectionError, match="not replaced within"):
        for _ in range(40):
            ps.get_message(timeout=0.25)
    dedicated_server.restart()
    ps.subscribe("rg:b")  # connects again, re-subscribing rg:a first
    events = drain(ps, 3, timeout=10)
    assert [e["type"] for e in events] == ["subscribe", "reconnect", "subscribe"]
    assert events[0]["channel"] == b"rg:a" and events[2]["channel"] == b"rg:b"
    ps.close()


def test_close_stops_reconnecting(dedicated_server):
    ps = cpipe.Redis(port=dedicated_server.port).pubsub(reconnect_timeout=None)
    ps.subscribe("rs:a")
    drain(ps, 1)
    dedicated_server.proc.kill()
    dedicated_server.proc.wait(10)
    result = []
    t = threading.Thread(target=lambda: result.append(ps.get_message(timeout=None)))
    t.start()
    time.sleep(0.3)
    assert t.is_alive()
    ps.close()
    t.join(5)
    assert not t.is_alive() and result == [None]
