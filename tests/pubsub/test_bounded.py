"""A slow consumer: the engine's queue stays bounded and the server's
client-output-buffer-limit for pub/sub clients takes over."""
from __future__ import annotations

import time

import redis

import cpipe

from ._util import subscribers, wait_until

BOUND = 500
BATCH_SLACK = 1024  # one batch the reader scanned may be admitted past the bound (engine/subscriber.go)
MESSAGES = 60_000
PAYLOAD = b"x" * 1000  # up to 60 MB: more than the socket buffers and the 1 MB limit set below


def test_slow_consumer_stays_bounded_and_the_server_cuts_it_off(dedicated_server):
    admin = redis.Redis(port=dedicated_server.port, protocol=2)
    admin.config_set("client-output-buffer-limit", "pubsub 1mb 512kb 1")
    c = cpipe.Redis(port=dedicated_server.port, client_name="slow-sub")
    ps = c.pubsub(max_queued_messages=BOUND, on_reconnect=lambda n: None)
    ps.subscribe("slow")
    wait_until(lambda: subscribers(admin, "slow") == 1, what="subscription")
    max_queued, max_omem = 0, 0
    deadline = time.monotonic() + 30
    sent, cut_off = 0, False
    with admin.pipeline(transaction=False) as pipe:
        while sent < MESSAGES and time.monotonic() < deadline:
            for _ in range(500):
                pipe.publish("slow", PAYLOAD)
            pipe.execute()
            sent += 500
            max_queued = max(max_queued, ps.queued()[0])
            ours = [cl for cl in admin.client_list(_type="pubsub") if cl["name"] == "slow-sub"]
            if not ours:  # the server closed it: its output buffer passed the limit
                cut_off = True
                break
            max_omem = max(max_omem, int(ours[0]["omem"]))
    # The engine stopped reading at its bound: the backlog piled up on the
    # server (omem, up to the limit), not in this process.
    assert cut_off, f"the server never disconnected the slow subscriber (omem up to {max_omem})"
    assert max_queued <= BOUND + BATCH_SLACK, max_queued
    assert max_omem > 0
    # Draining: the messages that were queued, then the re-subscription and its notice.
    kinds = []
    deadline = time.monotonic() + 30
    while "reconnect" not in kinds and time.monotonic() < deadline:
        m = ps.get_message(timeout=0.5)
        if m is not None:
            kinds.append(m["type"])
    assert "reconnect" in kinds
    # What was queued here or still in the socket buffers arrived; the rest was cut off with the connection.
    assert 0 < kinds.count("message") < sent
    print(f"\nslow consumer: queued at most {max_queued} messages here, server omem up to {max_omem} bytes, "
          f"{kinds.count('message')} of {sent} delivered before the cut-off")
    ps.close()
    admin.close()


def test_queue_bound_in_bytes(real_server):
    admin = redis.Redis(port=real_server.port, protocol=2)
    ps = cpipe.Redis(port=real_server.port).pubsub(max_queued_bytes=64 * 1024, ignore_subscribe_messages=True)
    ps.subscribe("bytes")
    wait_until(lambda: subscribers(admin, "bytes") == 1, what="subscription")
    big = b"y" * 10_000
    with admin.pipeline(transaction=False) as pipe:
        for _ in range(200):  # 2 MB
            pipe.publish("bytes", big)
        pipe.execute()
    time.sleep(0.3)
    queued_messages, queued_bytes = ps.queued()
    # Bounded by bytes: 64 KiB plus one batch (256 KiB) at most.
    assert queued_bytes <= 64 * 1024 + 256 * 1024 + len(big) + 100
    got = 0
    deadline = time.monotonic() + 20
    while got < 200 and time.monotonic() < deadline:
        m = ps.get_message(timeout=0.5)
        if m is not None and m["type"] == "message":
            assert m["data"] == big
            got += 1
    assert got == 200  # under the server's default limit nothing is lost: it only waited
    ps.close()
    admin.close()
