"""cpipe.RedisCluster's pipelines and transactions, beside redis-py's on the same cluster."""
from __future__ import annotations

import pytest
import redis
from redis.exceptions import CrossSlotTransactionError, RedisClusterException

import cpipe
from tests.cluster._cluster import admin


def fill(pipe, n):
    for i in range(n):
        pipe.set(f"p:{i}", i)
        pipe.incr(f"c:{i % 7}")
        pipe.get(f"p:{i}")
    pipe.hset("h", mapping={"a": 1, "b": 2})
    pipe.hgetall("h")
    pipe.zadd("z", {"m": 1.5})
    pipe.zrange("z", 0, -1, withscores=True)
    return pipe


def test_pipeline_replies_are_redis_py_s_in_order(both):
    ours, theirs = both
    got = fill(ours.pipeline(), 300).execute()
    for primary in theirs.get_primaries():
        admin(primary.port).flushall()
    want = fill(theirs.pipeline(), 300).execute()
    assert got == want
    assert len(got) == 904
    assert isinstance(ours.pipeline(), cpipe.ClusterPipeline)


def test_pipeline_spreads_over_every_primary(both):
    ours, _ = both
    with ours.pipeline() as p:
        for i in range(200):
            p.set(f"spread:{i}", i)
        assert p.execute() == [True] * 200
    counts = [admin(n.port).dbsize() for n in ours.get_primaries()]
    assert sum(counts) == 200 and all(c > 30 for c in counts)


def test_errors_in_place_or_raised(both):
    ours, theirs = both
    ours.set("s", "x")
    for client in (ours, theirs):
        replies = client.pipeline().set("a", 1).incr("s").get("a").execute(raise_on_error=False)
        assert replies[0] is True and replies[2] == b"1"
        assert isinstance(replies[1], redis.ResponseError)
        with pytest.raises(redis.ResponseError, match="not an integer"):
            client.pipeline().incr("s").set("b", 2).execute()
    assert ours.get("b") == b"2"  # the other commands ran


def test_cross_slot_command_fails_the_pipeline_before_sending(both):
    ours, theirs = both
    assert ours.keyslot("x:1") != ours.keyslot("x:2")
    p = ours.pipeline()
    p.set("before", 1)
    p.sunion("x:1", "x:2")
    with pytest.raises(RedisClusterException, match="all keys must map to the same key slot"):
        p.execute()
    assert theirs.get("before") is None  # nothing was sent


def test_transaction_on_one_slot(both):
    ours, theirs = both
    with ours.pipeline(transaction=True) as t:
        t.set("{acct}:a", 10).decrby("{acct}:a", 3).incrby("{acct}:b", 3).mget("{acct}:a", "{acct}:b")
        assert t.execute() == [True, 7, 3, [b"7", b"3"]]
    with theirs.pipeline(transaction=True) as t:
        t.get("{acct}:a").get("{acct}:b")
        assert t.execute() == [b"7", b"3"]
    # An error inside EXEC is in place or raised, as redis-py gives it.
    ours.set("{acct}:s", "x")
    replies = ours.pipeline(transaction=True).incr("{acct}:s").incr("{acct}:n").execute(raise_on_error=False)
    assert isinstance(replies[0], redis.ResponseError) and replies[1] == 1
    with pytest.raises(redis.ResponseError):
        ours.pipeline(transaction=True).incr("{acct}:s").execute()
    # A keyless command joins the transaction's slot.
    assert ours.pipeline(transaction=True).ping().incr("{acct}:n").execute() == [True, 2]


def test_transaction_across_slots_is_refused_before_sending(both):
    ours, theirs = both
    t = ours.pipeline(transaction=True)
    t.set("tx:1", 1).set("tx:2", 2)
    with pytest.raises(CrossSlotTransactionError):
        t.execute()
    assert theirs.exists("tx:1", "tx:2") == 0


def test_transaction_follows_a_moved_slot(cluster, both):
    """The slot moves between two transactions: MULTI's queued commands are
    answered MOVED, EXEC is refused (nothing ran), and the engine sends the
    whole transaction again to the new owner: it runs exactly once."""
    ours, theirs = both
    key = "{mv}k"
    ours.set(key, 0)
    ours.delete(key)  # the slot is empty again: it may be handed over with SETSLOT NODE
    slot = ours.keyslot(key)
    owner = ours.get_node_from_key(key)
    other = next(n for n in ours.get_primaries() if n.name != owner.name)

    def hand_to(node):
        node_id = admin(node.port).execute_command("CLUSTER", "MYID")
        for p in cluster.primaries():
            admin(p).execute_command("CLUSTER", "SETSLOT", slot, "NODE", node_id)

    hand_to(other)
    try:
        assert ours.pipeline(transaction=True).incr(key).incr(key).execute() == [1, 2]
        assert admin(other.port).get(key) == "2"
        ours.delete(key)
    finally:
        hand_to(owner)
    cluster.wait_settled()


def test_blocking_commands_and_cross_slot_watch_are_refused(both):
    ours, _ = both
    with pytest.raises(RedisClusterException, match="blocking"):
        ours.pipeline().blpop("q", 1).execute()
    assert ours.keyslot("w:1") != ours.keyslot("w:2")
    with pytest.raises(CrossSlotTransactionError):
        ours.pipeline().watch("w:1", "w:2")
    with pytest.raises(RedisClusterException, match="target_nodes"):
        ours.pipeline().execute_command("PING", target_nodes=ours.ALL_NODES)
    # Outside a pipeline a blocking command runs on a connection of its own.
    assert ours.blpop("q", 0.1) is None


def test_nonatomic_helpers_use_one_pipeline(both):
    ours, theirs = both
    mapping = {f"na:{i}": i for i in range(50)}
    assert ours.mset_nonatomic(mapping) == theirs.mset_nonatomic(mapping)
    assert ours.mget_nonatomic(list(mapping)) == theirs.mget_nonatomic(list(mapping))


def test_watch_on_the_slot_owner(both):
    """WATCH runs on a connection of its own to the slot's primary: redis-py's
    transaction() helper works, and a write by another client between WATCH
    and EXEC is WatchError (the helper's retry then succeeds)."""
    ours, theirs = both
    ours.set("{w}n", 5)
    calls = []

    def incr(pipe):
        value = int(pipe.get("{w}n"))
        if not calls:
            theirs.set("{w}n", 100)  # after WATCH: the first EXEC must fail
        calls.append(value)
        pipe.multi()
        pipe.set("{w}n", value + 1)

    assert ours.transaction(incr, "{w}n") == [True]
    assert calls == [5, 100] and theirs.get("{w}n") == b"101"
    with ours.pipeline() as p:
        p.watch("{w}n")
        theirs.incr("{w}n")
        p.multi()
        p.incr("{w}n")
        with pytest.raises(redis.WatchError):
            p.execute()
    assert theirs.get("{w}n") == b"102"
    # Scripts queued in a pipeline are loaded on every primary first.
    script = ours.register_script("return redis.call('INCR', KEYS[1])")
    p = ours.pipeline()
    script(keys=["{w}s"], client=p)
    script(keys=["{w}s"], client=p)
    assert p.execute() == [1, 2]
