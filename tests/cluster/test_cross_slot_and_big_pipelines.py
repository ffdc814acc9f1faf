"""Commands over many slots, and very large cluster pipelines.

What redis-py's RedisCluster does is the expectation:
- DEL, EXISTS, UNLINK, TOUCH over keys in many slots are split per slot and
  their counts summed; mget_nonatomic / mset_nonatomic split and put the
  replies back in the caller's order;
- a command that cannot be split (MGET, MSET, SUNIONSTORE, RENAME, ...) over
  keys in different slots raises RedisClusterException before anything is
  sent: the keys are checked unchanged afterwards;
- a pipeline returns its replies in the caller's order whatever node served
  each command, an error reply stays in its own place;
- a transaction (pipeline(transaction=True)) works within one slot and raises
  CrossSlotTransactionError across slots, before anything is sent.
"""
from __future__ import annotations

import pytest
import redis
from redis.crc import key_slot
from redis.exceptions import CrossSlotTransactionError, RedisClusterException, ResponseError

from tests.cluster._cluster import Cluster

BIG_PIPELINE = 100_000


def _keys(prefix: str, n: int) -> list[bytes]:
    return [f"{prefix}:{i}".encode() for i in range(n)]


def _raw_values(cluster: Cluster, keys: list[bytes]) -> dict[bytes, object]:
    """Each key's value (or its type, for non-strings) straight from its
    primary, not through the client under test."""
    owner = {}
    for start, end, primary, _ in cluster.topology():
        owner.update(dict.fromkeys(range(start, end + 1), primary))
    out: dict[bytes, object] = {}
    for k in keys:
        r = redis.Redis(host="127.0.0.1", port=owner[key_slot(k)], protocol=2)
        try:
            kind = r.type(k)
            if kind == b"string":
                out[k] = r.get(k)
            elif kind == b"set":
                out[k] = ("set", sorted(r.smembers(k)))
            elif kind == b"list":
                out[k] = ("list", r.lrange(k, 0, -1))
            else:
                out[k] = kind
        finally:
            r.close()
    return out


def _in_distinct_slots(keys: list[bytes]) -> list[bytes]:
    seen, out = set(), []
    for k in keys:
        if key_slot(k) not in seen:
            seen.add(key_slot(k))
            out.append(k)
    return out


def test_keys_spread_over_every_primary(cluster_client, cluster):
    keys = _keys("spread", 1000)
    owners = {cluster.primary_of_slot(s) for s in {key_slot(k) for k in keys}}
    assert owners == set(cluster.primaries())


def test_mset_mget_nonatomic_over_many_slots_in_caller_order(cluster_client):
    keys = _keys("mm", 1000)
    mapping = {k: b"v-" + k for k in keys}
    assert all(cluster_client.mset_nonatomic(mapping))
    # Missing keys interleaved, and the caller's order is not slot order.
    asked = []
    for i, k in enumerate(reversed(keys)):
        asked.append(k)
        if i % 7 == 0:
            asked.append(f"missing:{i}".encode())
    got = cluster_client.mget_nonatomic(asked)
    assert got == [mapping.get(k) for k in asked]


def test_mget_across_slots(cluster_client):
    """redis-py refuses MGET over several slots before sending; cpipe splits
    it by slot (a documented difference, python/cpipe/cluster.py) and must
    then answer in the caller's key order, missing keys as None."""
    keys = _keys("mga", 500)
    assert len({key_slot(k) for k in keys}) > 400
    cluster_client.mset_nonatomic({k: k[::-1] for k in keys})
    asked = [k for pair in zip(reversed(keys), _keys("mga-missing", 500)) for k in pair]
    if type(cluster_client).__module__.startswith("redis."):
        with pytest.raises(RedisClusterException, match="same key slot"):
            cluster_client.mget(asked)
    else:
        assert cluster_client.mget(asked) == [k[::-1] if k in set(keys) else None for k in asked]
        assert cluster_client.mget(*asked[:3]) == [keys[-1][::-1], None, keys[-2][::-1]]


def test_mget_and_mset_in_one_slot_with_hash_tags(cluster_client):
    keys = [f"{{tag}}:{i}".encode() for i in range(200)]
    assert len({key_slot(k) for k in keys}) == 1
    assert cluster_client.mset({k: k[::-1] for k in keys}) is True
    assert cluster_client.mget(keys + [b"{tag}:missing"]) == [k[::-1] for k in keys] + [None]


def test_del_exists_touch_unlink_are_split_and_summed(cluster_client):
    keys = _keys("multi", 600)
    assert len({key_slot(k) for k in keys}) > 500
    cluster_client.mset_nonatomic({k: b"x" for k in keys})
    missing = _keys("nope", 50)
    # EXISTS counts a key as often as it is named, as Redis does.
    assert cluster_client.exists(*keys, *missing, *keys[:10]) == 610
    assert cluster_client.touch(*keys, *missing) == 600
    assert cluster_client.unlink(*keys[:300], *missing) == 300
    assert cluster_client.delete(*keys) == 300
    assert cluster_client.exists(*keys) == 0


@pytest.mark.parametrize("command", [
    ("MSET", 2), ("SUNIONSTORE", 3), ("SINTERSTORE", 3), ("SDIFFSTORE", 3),
    ("RENAME", 2), ("RENAMENX", 2), ("SMOVE", 2), ("LMOVE", 2), ("RPOPLPUSH", 2),
    ("COPY", 2), ("ZUNIONSTORE", 3), ("BITOP", 3), ("PFMERGE", 2),
])
def test_cross_slot_commands_that_cannot_be_split_raise_before_sending(cluster_client, cluster, command):
    name, nkeys = command
    keys = _in_distinct_slots(_keys(f"xs-{name}", 200))[:nkeys]
    assert len({key_slot(k) for k in keys}) == nkeys
    cluster_client.set(keys[0], b"string-value")
    for k in keys[1:]:
        cluster_client.sadd(k, b"m1", b"m2") if name.startswith("S") else cluster_client.set(k, b"other")
    before = _raw_values(cluster, keys)
    call = {
        "MSET": lambda: cluster_client.mset({k: b"new" for k in keys}),
        "SUNIONSTORE": lambda: cluster_client.sunionstore(keys[0], keys[1:]),
        "SINTERSTORE": lambda: cluster_client.sinterstore(keys[0], keys[1:]),
        "SDIFFSTORE": lambda: cluster_client.sdiffstore(keys[0], keys[1:]),
        "RENAME": lambda: cluster_client.rename(keys[0], keys[1]),
        "RENAMENX": lambda: cluster_client.renamenx(keys[0], keys[1]),
        "SMOVE": lambda: cluster_client.smove(keys[1], keys[0], b"m1"),
        "LMOVE": lambda: cluster_client.lmove(keys[0], keys[1]),
        "RPOPLPUSH": lambda: cluster_client.rpoplpush(keys[0], keys[1]),
        "COPY": lambda: cluster_client.copy(keys[0], keys[1], replace=True),
        "ZUNIONSTORE": lambda: cluster_client.zunionstore(keys[0], keys[1:]),
        "BITOP": lambda: cluster_client.bitop("OR", keys[0], *keys[1:]),
        "PFMERGE": lambda: cluster_client.pfmerge(keys[0], keys[1]),
    }[name]
    with pytest.raises(RedisClusterException):
        call()
    assert _raw_values(cluster, keys) == before
    # The client is still in step after the refusal.
    assert cluster_client.get(keys[0]) == b"string-value"


def test_pipeline_of_100k_mixed_commands_replies_in_caller_order(cluster_client, cluster):
    pipe = cluster_client.pipeline()
    expected: list[object] = []
    for i in range(BIG_PIPELINE):
        key = f"big:{i % 20_000}".encode()
        op = i % 4
        if op == 0:
            pipe.set(key, f"s{i}".encode())
            expected.append(True)
        elif op == 1:
            # Reads back the SET queued just before it (same key): order
            # within a slot is the caller's.
            pipe.get(f"big:{(i - 1) % 20_000}".encode())
            expected.append(f"s{i - 1}".encode())
        elif op == 2:
            pipe.hset(b"h" + key, b"f", i)
            expected.append(None)  # 1 or 0: filled in below
        else:
            pipe.hget(b"h" + f"big:{(i - 1) % 20_000}".encode(), b"f")
            expected.append(f"{i - 1}".encode())
    replies = pipe.execute()
    assert len(replies) == BIG_PIPELINE
    # HSET's count is 1 the first time a hash field is set, 0 after.
    seen_hash: set[int] = set()
    for i in range(2, BIG_PIPELINE, 4):
        expected[i] = 0 if (i % 20_000) in seen_hash else 1
        seen_hash.add(i % 20_000)
    bad = [(i, replies[i], expected[i]) for i in range(BIG_PIPELINE) if replies[i] != expected[i]]
    assert not bad, f"{len(bad)} replies out of place, e.g. {bad[:5]}"
    sample = [f"big:{i}".encode() for i in range(0, 20_000, 997)]
    assert len({cluster.primary_of_slot(key_slot(k)) for k in sample}) == 3


def test_pipeline_error_reply_stays_in_its_place(cluster_client):
    keys = _in_distinct_slots(_keys("perr", 100))[:6]
    pipe = cluster_client.pipeline()
    pipe.set(keys[0], b"a")
    pipe.lpush(keys[0], b"x")          # WRONGTYPE
    pipe.get(keys[0])
    pipe.set(keys[1], b"b")
    pipe.incr(keys[1])                 # not an integer
    pipe.get(keys[1])
    replies = pipe.execute(raise_on_error=False)
    assert replies[0] is True and replies[2] == b"a"
    assert replies[3] is True and replies[5] == b"b"
    assert isinstance(replies[1], ResponseError) and "WRONGTYPE" in str(replies[1])
    assert isinstance(replies[4], ResponseError) and "not an integer" in str(replies[4])
    pipe = cluster_client.pipeline()
    pipe.set(keys[2], b"c")
    pipe.lpush(keys[2], b"x")
    with pytest.raises(ResponseError, match="WRONGTYPE"):
        pipe.execute()
    # The commands before the error ran, and the client is still in step.
    assert cluster_client.get(keys[2]) == b"c"
    assert cluster_client.get(keys[0]) == b"a"


def test_transaction_in_one_slot(cluster_client):
    keys = [f"{{tx}}:{i}".encode() for i in range(5)]
    pipe = cluster_client.pipeline(transaction=True)
    pipe.set(keys[0], 10)
    pipe.incrby(keys[0], 5)
    pipe.rpush(keys[1], b"a", b"b")
    pipe.lpush(keys[0], b"wrong")      # an error inside EXEC does not abort it
    pipe.get(keys[0])
    replies = pipe.execute(raise_on_error=False)
    # redis-py 8's cluster transaction returns SET's raw b"OK" (its response
    # callbacks are not applied inside MULTI/EXEC); True is what the
    # non-cluster client gives. Either is the SET's own reply.
    assert replies[0] in (True, b"OK")
    assert replies[1:3] == [15, 2]
    assert isinstance(replies[3], ResponseError)
    assert replies[4] == b"15"


def test_transaction_across_slots_raises_before_sending(cluster_client, cluster):
    keys = _in_distinct_slots(_keys("txx", 100))[:2]
    cluster_client.set(keys[0], b"before")
    before = _raw_values(cluster, keys)
    pipe = cluster_client.pipeline(transaction=True)
    pipe.set(keys[0], b"after")
    pipe.set(keys[1], b"after")
    with pytest.raises(CrossSlotTransactionError):
        pipe.execute()
    assert _raw_values(cluster, keys) == before
    assert cluster_client.get(keys[0]) == b"before"
