"""walrus: its containers and stream consumer groups on a plain client (not a Walrus db)."""
from __future__ import annotations

from walrus import ConsumerGroup, Hash, Stream, ZSet


def test_hash_and_sorted_set_containers(make_client, admin):
    r = make_client()
    h = Hash(r, "user:1")
    assert h.database is r
    h.update(name="ann", visits="1")
    h.incr("visits", 2)
    assert h.as_dict() == {b"name": b"ann", b"visits": b"3"}
    assert admin.hget("user:1", "visits") == b"3"

    board = ZSet(r, "board")
    board.add({"ann": 3, "bob": 1, "cid": 2})
    board.incr("bob", 5)
    assert board.range(0, -1, with_scores=True) == [(b"cid", 2.0), (b"ann", 3.0), (b"bob", 6.0)]
    assert board.rank("ann") == 1 and board.score("bob") == 6.0
    assert board.popmin() == [(b"cid", 2.0)]


def test_stream_consumer_group_read_ack_and_autoclaim(make_client):
    r = make_client()
    stream = Stream(r, "events")
    ids = [stream.add({"n": str(i)}) for i in range(4)]
    assert len(stream) == 4

    group = ConsumerGroup(r, "workers", ["events"], consumer="c1")
    assert group.create() == {"events": True}
    first = group.read(count=2)  # c1 takes two and "crashes" without acking
    assert [mid for mid, _ in first[0][1]] == ids[:2]
    c2 = group.consumer("c2")
    rest = c2.read(count=10)
    assert [mid for mid, _ in rest[0][1]] == ids[2:]
    assert c2.events.ack(*ids[2:]) == 2

    pending = group.events.pending()
    assert [p["message_id"] for p in pending] == ids[:2]
    assert {p["consumer"] for p in pending} == {b"c1"}
    # c2 takes over c1's idle entries (idle >= 0 ms: at once).
    claimed = c2.events.autoclaim("c2", min_idle_time=0, count=10)
    assert [mid for mid, _ in claimed[1]] == ids[:2]
    assert c2.events.ack(*ids[:2]) == 2
    assert group.events.pending() == []
