"""RedisCluster's hot methods (get, set, hset, ... from cpipe._hot) answer as
redis-py's RedisCluster does, on the same cluster, and reach each key's node."""
from __future__ import annotations

import redis
import redis.cluster

import cpipe
from tests.cluster._cluster import HOST

KEYS = [f"hot:{i}" for i in range(40)] + ["{t}:a", "{t}:b"]


def _calls(c, prefix):
    out = []
    for k in KEYS:
        k = prefix + k
        out.append(c.set(k, "v"))
        out.append(c.get(k))
        out.append(c.incr(k + ":n"))
        out.append(c.incrby(k + ":n", 5))
        out.append(c.decr(k + ":n"))
        out.append(c.decrby(k + ":n", 2))
        out.append(c.hset(k + ":h", "f", 1))
        out.append(c.hset(k + ":h", mapping={"g": 2}))
        out.append(c.hget(k + ":h", "f"))
        out.append(c.hgetall(k + ":h"))
        out.append(c.lpush(k + ":l", 1, 2))
        out.append(c.rpush(k + ":l", 3))
        out.append(c.sadd(k + ":s", "a", "b", "a"))
        out.append(c.set(k, "w", nx=True))
        out.append(c.get(k + ":missing"))
    return out


def test_hot_methods_answer_as_redis_py(both):
    ours, theirs = both
    assert type(ours).get is not redis.cluster.RedisCluster.get  # the hot path is in use
    assert _calls(ours, "ours:") == _calls(theirs, "theirs:")


def test_hot_methods_reach_each_keys_node(both, cluster):
    ours, theirs = both
    for k in KEYS:
        ours.set(k, k)
    for k in KEYS:
        node = theirs.get_node_from_key(k)
        with redis.Redis(host=node.host, port=node.port) as plain:
            assert plain.get(k) == k.encode()  # on the slot's owner, not redirected elsewhere


def test_hot_methods_apply_response_callbacks_and_decoding(cluster):
    cluster.flushall()
    port = cluster.any_alive_port()
    with cpipe.RedisCluster(host=HOST, port=port, decode_responses=True) as rc:
        assert rc.set("cb:k", "v") is True
        assert rc.get("cb:k") == "v"
        rc.set_response_callback("GET", lambda r: ("converted", r))
        assert rc.get("cb:k") == ("converted", "v")


def test_hot_set_with_options_is_redis_pys(both):
    ours, _ = both
    assert ours.set("opt:k", "v", ex=100) is True
    assert 0 < ours.ttl("opt:k") <= 100
    assert ours.set("opt:k", "w", get=True) == b"v"
