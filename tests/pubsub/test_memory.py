"""A memory loop over the pub/sub bridge paths (sub_poll with message dicts,
lists, undecodable messages, sub_send, open/close): RSS stays flat."""
from __future__ import annotations

import gc

import redis

import cpipe
from tests.test_bridge_memory import rss_kib

from ._util import subscribers, wait_until

ROUNDS = 4
PER_ROUND = 20_000


def test_pubsub_bridge_does_not_leak(real_server):
    port = real_server.port
    pub = redis.Redis(port=port, protocol=2)
    ps = cpipe.Redis(port=port, decode_responses=True).pubsub(ignore_subscribe_messages=True)
    ps.subscribe("mem:a")
    ps.psubscribe("mem:p*")
    wait_until(lambda: subscribers(pub, "mem:a") == 1, what="subscription")

    def exercise(n: int) -> None:
        with pub.pipeline(transaction=False) as p:
            for i in range(n):
                p.publish("mem:a", "v" * 50)
                p.publish("mem:pz", "w")
                if i % 100 == 0:
                    p.publish("mem:a", b"\xff")  # undecodable: an exception in place
            p.execute()
        got = bad = 0
        while got < 2 * n:
            try:
                m = ps.get_message(timeout=1)
            except UnicodeDecodeError:
                bad += 1
                continue
            if m is not None:
                got += 1
        assert bad == (n + 99) // 100
        ps.ping()  # sub_send; its pong comes back as a list
        while ps.get_message(timeout=1)["type"] != "pong":
            pass
        closed = cpipe.Redis(port=port).pubsub()
        closed.subscribe("mem:x")
        closed.close()

    exercise(PER_ROUND)  # warm-up: buffers and caches reach their size
    gc.collect()
    before = rss_kib()
    for _ in range(ROUNDS):
        exercise(PER_ROUND)
    gc.collect()
    grown = rss_kib() - before
    ps.close()
    pub.close()
    # 160,000 messages: a leak of one small object per message would be several MB.
    assert grown < 4096, f"RSS grew by {grown} KiB over {ROUNDS * PER_ROUND * 2} messages"
