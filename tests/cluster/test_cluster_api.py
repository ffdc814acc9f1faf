"""cpipe.RedisCluster's API against redis-py's RedisCluster on the same cluster.

Routing and hash tags are checked on the servers themselves (each key is on
the node redis-py says owns its slot, read with a plain connection to that
node); node lists, target_nodes results and multi-key results are compared
with what redis-py's RedisCluster answers for the same calls.
"""
from __future__ import annotations

import time

import pytest
import redis
import redis.cluster
from redis.cluster import ClusterNode, LoadBalancingStrategy
from redis.exceptions import RedisClusterException

import cpipe
from tests.cluster._cluster import HOST, admin, wait_until

KEYS = [f"user:{i}" for i in range(150)] + [f"{{tag}}:{i}" for i in range(20)] + ["{}x", "a{", "{a}}b", "é:ü"]


def test_is_a_redis_py_cluster_client(both):
    ours, _ = both
    assert isinstance(ours, redis.cluster.RedisCluster)
    assert cpipe.RedisCluster.PRIMARIES == redis.cluster.RedisCluster.PRIMARIES


def test_keys_land_on_the_node_redis_py_routes_to(both):
    ours, theirs = both
    for key in KEYS:
        assert ours.set(key, key) is True
    for key in KEYS:
        assert ours.keyslot(key) == theirs.keyslot(key) == admin(ours.get_default_node().port).cluster("KEYSLOT", key)
        owner = theirs.get_node_from_key(key)
        with admin(owner.port) as node:
            assert node.get(key) == key, f"{key} is not on {owner.name}"
        assert ours.get(key) == key.encode()
        assert ours.get_node_from_key(key).name == owner.name
    # Hash tags: every {tag} key in one slot, so a multi-key command on them is one node's.
    tagged = [k for k in KEYS if k.startswith("{tag}")]
    assert len({ours.keyslot(k) for k in tagged}) == 1
    assert ours.sunion("{tag}:set1", "{tag}:set2") == set()  # one slot: not refused
    assert ours.rename(tagged[0], "{tag}:renamed") is True


def test_nodes_are_the_same_as_redis_py(both):
    ours, theirs = both

    def shape(nodes):
        return sorted((n.name, n.server_type) for n in nodes)

    assert shape(ours.get_nodes()) == shape(theirs.get_nodes())
    assert shape(ours.get_primaries()) == shape(theirs.get_primaries())
    assert shape(ours.get_replicas()) == shape(theirs.get_replicas())
    assert len(ours.get_primaries()) == 3 and len(ours.get_replicas()) == 3
    default = ours.get_default_node()
    assert default.server_type == "primary"
    assert default.name == theirs.get_default_node().name  # the startup node, a primary
    some = ours.get_replicas()[0]
    assert ours.get_node(some.host, some.port) is some
    assert ours.get_node(node_name=some.name) is some
    assert ours.get_node("127.0.0.1", 1) is None
    for key in KEYS[:20]:
        slot = ours.keyslot(key)
        assert ours.nodes_manager.slots_cache[slot][0].name == theirs.nodes_manager.slots_cache[slot][0].name


def test_target_nodes_results_merge_as_redis_py(both):
    ours, theirs = both
    for i in range(60):
        ours.set(f"k{i}", i)
    flags = (ours.PRIMARIES, ours.ALL_NODES, ours.REPLICAS)
    for client in (ours, theirs):
        assert client.ping(target_nodes=client.ALL_NODES) is True
    assert sorted(ours.keys(target_nodes=ours.PRIMARIES)) == sorted(theirs.keys(target_nodes=theirs.PRIMARIES))
    assert len(ours.keys(target_nodes=ours.PRIMARIES)) == 60
    assert ours.dbsize(target_nodes=ours.PRIMARIES) == theirs.dbsize(target_nodes=theirs.PRIMARIES) == 60
    # Without target_nodes, the command's flag decides, as in redis-py (KEYS, DBSIZE: the default node).
    assert sorted(ours.keys()) == sorted(theirs.keys())
    assert ours.dbsize() == theirs.dbsize()
    for flag in flags:
        ours_info = ours.info(target_nodes=flag)
        theirs_info = theirs.info(target_nodes=flag)
        assert sorted(ours_info) == sorted(theirs_info)
        assert all(isinstance(v, dict) and "redis_version" in v for v in ours_info.values())
    one = ours.get_primaries()[1]
    assert ours.dbsize(target_nodes=one) == admin(one.port).dbsize()
    two = ours.get_primaries()[:2]
    assert ours.dbsize(target_nodes=two) == sum(admin(n.port).dbsize() for n in two)
    assert ours.dbsize(target_nodes={n.name: n for n in two}) == sum(admin(n.port).dbsize() for n in two)
    # A node named by the user may be redis-py's own ClusterNode object.
    theirs_node = theirs.get_primaries()[0]
    assert ours.dbsize(target_nodes=theirs_node) == admin(theirs_node.port).dbsize()
    assert ours.echo("hi", target_nodes=ours.RANDOM) == b"hi"
    assert ours.config_get("maxmemory-policy", target_nodes=ours.PRIMARIES) == \
        theirs.config_get("maxmemory-policy", target_nodes=theirs.PRIMARIES)
    sha = ours.script_load("return 7")
    assert sha == theirs.script_load("return 7")
    assert ours.script_exists(sha) == theirs.script_exists(sha) == [True]
    assert ours.flushall() == {n.name: True for n in ours.get_primaries()}
    assert ours.dbsize(target_nodes=ours.PRIMARIES) == 0
    with pytest.raises(TypeError):
        ours.ping(target_nodes=42)


def test_slot_id_commands_go_to_the_slot_owner(both):
    ours, theirs = both
    key = "{slotted}k"
    ours.set(key, 1)
    slot = ours.keyslot(key)
    assert ours.cluster_countkeysinslot(slot) == theirs.cluster_countkeysinslot(slot) == 1
    assert ours.cluster_get_keys_in_slot(slot, 10) == theirs.cluster_get_keys_in_slot(slot, 10)
    assert len(ours.cluster_get_keys_in_slot(slot, 10)) == 1


def test_multi_key_commands_split_by_slot(both):
    ours, theirs = both
    keys = [f"m:{i}" for i in range(40)]
    assert len({ours.keyslot(k) for k in keys}) > 10
    assert ours.mset_nonatomic({k: k for k in keys}) == [True] * len({ours.keyslot(k) for k in keys})
    # MGET across slots comes back in the caller's key order (redis-py: mget_nonatomic).
    assert ours.mget(keys + ["nope"]) == [k.encode() for k in keys] + [None]
    assert ours.mget_nonatomic(keys[:10] + ["nope"]) == theirs.mget_nonatomic(keys[:10] + ["nope"])
    assert ours.exists(*keys, "nope", keys[0]) == theirs.exists(*keys, "nope", keys[0]) == 41
    assert ours.touch(*keys[:10]) == 10
    assert ours.delete(*keys[:20], "nope") == 20
    assert ours.unlink(*keys[20:]) == 20
    assert theirs.exists(*keys) == 0
    result = ours.mset_nonatomic({"{s}a": 1, "{s}b": 2, "other": 3})
    assert result == [True, True]  # one MSET per slot, redis-py's shape
    assert theirs.mget_nonatomic(["{s}a", "{s}b", "other"]) == [b"1", b"2", b"3"]


def test_cross_slot_commands_are_refused_before_anything_is_sent(both):
    ours, theirs = both
    a, b = "cross:a", "cross:b"
    assert ours.keyslot(a) != ours.keyslot(b)
    ours.set(a, "1")
    ours.sadd("set:x", "m")
    for call in (lambda c: c.rename(a, b), lambda c: c.sunion(a, b), lambda c: c.mset({a: "2", b: "2"}),
                 lambda c: c.smove("set:x", "set:y", "m"), lambda c: c.eval("return 1", 2, a, b)):
        for client in (ours, theirs):
            with pytest.raises(RedisClusterException, match="all keys must map to the same key slot"):
                call(client)
    # Nothing ran: the values are as they were.
    assert theirs.get(a) == b"1" and theirs.get(b) is None
    assert theirs.smembers("set:x") == {b"m"}
    assert theirs.exists("set:y") == 0


def test_scripts_and_movable_keys_are_routed(both):
    ours, theirs = both
    ours.set("s:1", "v1")
    assert ours.eval("return redis.call('GET', KEYS[1])", 1, "s:1") == b"v1"
    assert ours.eval("return 5", 0) == 5
    script = ours.register_script("return redis.call('INCR', KEYS[1])")
    assert [script(keys=["s:n"]) for _ in range(3)] == [1, 2, 3]
    ours.zadd("{z}a", {"m": 1})
    assert ours.zunionstore("{z}out", ["{z}a", "{z}b"]) == 1
    assert theirs.zrange("{z}out", 0, -1) == [b"m"]
    lock = ours.lock("s:lock", timeout=5)
    assert lock.acquire(blocking=False) and theirs.exists("s:lock")
    lock.release()
    assert not theirs.exists("s:lock")


def test_scan_iter_walks_every_primary(both):
    ours, theirs = both
    keys = {f"scan:{i}" for i in range(300)}
    with ours.pipeline() as p:
        for k in keys:
            p.set(k, 1)
        p.execute()
    got = [k.decode() for k in ours.scan_iter(match="scan:*", count=50)]
    assert len(got) == len(set(got)) and set(got) == keys
    assert set(got) == {k.decode() for k in theirs.scan_iter(match="scan:*")}


def test_errors_are_redis_py_s(both):
    ours, _ = both
    ours.set("str", "x")
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        ours.lpush("str", 1)
    with pytest.raises(redis.ResponseError, match="not an integer"):
        ours.incr("str")
    with pytest.raises(RedisClusterException, match="Argument 'db'"):
        cpipe.RedisCluster(host=HOST, port=ours.get_default_node().port, db=1)
    with pytest.raises(RedisClusterException, match="at least one node"):
        cpipe.RedisCluster()
    with pytest.raises(cpipe.DataError, match="address_remap"):
        cpipe.RedisCluster(host=HOST, port=ours.get_default_node().port, address_remap=lambda a: a)
    with pytest.raises(cpipe.DataError, match="refresh_interval"):
        cpipe.RedisCluster(host=HOST, port=ours.get_default_node().port, refresh_interval=-1)
    with pytest.raises(cpipe.DataError, match="socket_timeout"):
        cpipe.RedisCluster(host=HOST, port=ours.get_default_node().port, socket_timeout="soon")


def test_startup_nodes_url_and_decoding(cluster):
    cluster.flushall()
    ports = [p for _, p in cluster.addrs]
    # A dead startup node first: discovery goes on to the next one.
    rc = cpipe.RedisCluster(startup_nodes=[ClusterNode(HOST, 1), ClusterNode(HOST, ports[2])], decode_responses=True)
    assert rc.set("u", "é") and rc.get("u") == "é"
    assert len(rc.get_nodes()) == 6
    rc.close()
    rc = cpipe.RedisCluster.from_url(f"redis://{HOST}:{ports[3]}/0?decode_responses=True&socket_timeout=5")
    assert rc.get("u") == "é"
    assert rc.mget("u", "nope") == ["é", None]
    rc.close()
    with pytest.raises(redis.ConnectionError):
        rc.get("u")  # closed for good


def test_read_from_replicas_reads_on_replicas(cluster):
    cluster.flushall()
    port = cluster.any_alive_port()
    writer = cpipe.RedisCluster(host=HOST, port=port)
    reader = cpipe.RedisCluster(host=HOST, port=port, load_balancing_strategy=LoadBalancingStrategy.ROUND_ROBIN_REPLICAS)
    keys = [f"r:{i}" for i in range(30)]
    for k in keys:
        writer.set(k, k)
    for primary in writer.get_primaries():
        with admin(primary.port) as r:
            r.execute_command("WAIT", 1, 2000)

    def replica_gets():
        total = 0
        for replica in writer.get_replicas():
            with admin(replica.port) as r:
                total += r.info("commandstats").get("cmdstat_get", {}).get("calls", 0)
        return total

    before = replica_gets()
    assert [reader.get(k) for k in keys] == [k.encode() for k in keys]
    assert replica_gets() - before == len(keys)  # every GET served by a replica (READONLY connections)
    # Writes still go to primaries, and MOVED from a replica is not followed there.
    assert reader.set("r:w", 1) is True and writer.get("r:w") == b"1"
    before = replica_gets()
    assert [writer.get(k) for k in keys[:5]] == [k.encode() for k in keys[:5]]
    assert replica_gets() == before  # the default: primaries only
    writer.close()
    reader.close()


def test_periodic_refresh_sees_a_moved_slot_without_a_command(cluster):
    """refresh_interval reloads the map in the background: a slot handed to
    another primary shows in get_node_from_key with no command run. The slot
    (an empty one) is handed back afterwards, so the shared map is unchanged."""
    cluster.flushall()
    rc = cpipe.RedisCluster(host=HOST, port=cluster.any_alive_port(), refresh_interval=0.2)
    key = "refresh-key"
    slot = rc.keyslot(key)
    owner = rc.get_node_from_key(key)
    other = next(n for n in rc.get_primaries() if n.name != owner.name)

    def hand_to(node):
        node_id = admin(node.port).execute_command("CLUSTER", "MYID")
        for p in cluster.primaries():
            admin(p).execute_command("CLUSTER", "SETSLOT", slot, "NODE", node_id)

    hand_to(other)
    try:
        wait_until("the periodic refresh to see the slot's new owner",
                   lambda: rc.get_node_from_key(key).name == other.name, timeout=10)
    finally:
        hand_to(owner)
    wait_until("the slot back on its owner", lambda: cluster.primary_of_slot(slot) == owner.port, timeout=10)
    wait_until("the client to see it back", lambda: rc.get_node_from_key(key).name == owner.name, timeout=10)
    cluster.wait_settled()
    rc.close()


def test_a_moved_slot_is_followed_and_learnt(cluster):
    """MOVED: the command is answered by the new owner, and the client's map learns it."""
    cluster.flushall()
    rc = cpipe.RedisCluster(host=HOST, port=cluster.any_alive_port())
    key = "moved-key"
    slot = rc.keyslot(key)
    owner = rc.get_node_from_key(key)
    other = next(n for n in rc.get_primaries() if n.name != owner.name)

    def hand_to(node):
        node_id = admin(node.port).execute_command("CLUSTER", "MYID")
        for p in cluster.primaries():
            admin(p).execute_command("CLUSTER", "SETSLOT", slot, "NODE", node_id)

    hand_to(other)
    try:
        assert rc.set(key, "v") is True
        with admin(other.port) as r:
            assert r.get(key) == "v"
        wait_until("the map to follow MOVED", lambda: rc.get_node_from_key(key).name == other.name, timeout=10)
        rc.delete(key)
    finally:
        hand_to(owner)
    wait_until("the slot back on its owner", lambda: cluster.primary_of_slot(slot) == owner.port, timeout=10)
    cluster.wait_settled()
    time.sleep(0.1)
    assert rc.set(key, "w") is True and rc.get(key) == b"w"
    rc.close()


def test_sharded_pubsub_routes_each_channel_to_its_slot_owner(cluster):
    rc = cpipe.RedisCluster(host=HOST, port=cluster.any_alive_port(), decode_responses=True)
    channels = [f"news:{i}" for i in range(8)]
    assert len({rc.get_node_from_key(c).name for c in channels}) == 3  # spread over every primary
    ps = rc.pubsub()
    ps.ssubscribe(*channels)
    ps.subscribe("classic")
    wait_until("every SSUBSCRIBE confirmed", lambda: all(
        rc.execute_command("PUBSUB SHARDNUMSUB", c, target_nodes=rc.get_node_from_key(c))[0][1] == 1
        for c in channels), timeout=10)
    for c in channels:
        assert rc.spublish(c, "hi " + c) == 1  # routed to the owner, where the subscriber is
    got = []
    while len(got) < len(channels):
        m = ps.get_sharded_message(ignore_subscribe_messages=True, timeout=5)
        if m is not None:
            got.append((m["type"], m["channel"], m["data"]))
    assert sorted(got) == sorted(("smessage", c, "hi " + c) for c in channels)
    assert set(ps.shard_channels) == set(channels)
    ps.sunsubscribe(channels[0])
    wait_until("SUNSUBSCRIBE done", lambda: rc.spublish(channels[0], "x") == 0, timeout=10)
    # Classic channels: the node's own subscription; PUBLISH reaches every node.
    wait_until("SUBSCRIBE confirmed", lambda: ps.get_message(timeout=0.1) is not None or "classic" in ps.channels)
    rc.publish("classic", "everyone")
    m = None
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and (m is None or m["type"] != "message"):
        m = ps.get_message(timeout=0.5)
    assert m is not None and m["channel"] == "classic" and m["data"] == "everyone"
    ps.close()
    rc.close()


def test_a_forked_child_gets_fork_error_not_a_hang(cluster):
    import os

    rc = cpipe.RedisCluster(host=HOST, port=cluster.any_alive_port())
    assert rc.set("fork", 1) is True
    pid = os.fork()
    if pid == 0:  # the child: the engine's Go runtime did not survive the fork
        code = 3
        try:
            rc.get("fork")
        except cpipe.ForkError:
            code = 0
        except BaseException:
            code = 2
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0
    assert rc.get("fork") == b"1"  # the parent's client is untouched
    rc.close()


def _rss_kib() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


def test_the_cluster_bridge_does_not_leak(cluster):
    """Every bridge_cluster.c path in a loop (routed, node-targeted, error
    replies, refused input, pipelines, transactions, topology): RSS stays flat."""
    import asyncio
    import gc

    import cpipe.asyncio

    port = cluster.any_alive_port()
    rc = cpipe.RedisCluster(host=HOST, port=port)
    arc = cpipe.asyncio.RedisCluster(host=HOST, port=port)
    value = b"v" * 100
    rc.set("{mem}s", "x")

    def exercise(n):
        for i in range(n):
            rc.set("mem:k", value)
            assert rc.get("mem:k") == value
            rc.mget("mem:a", "mem:b", "mem:c")
            rc.dbsize(target_nodes=rc.PRIMARIES)
            try:
                rc.incr("{mem}s")
            except redis.ResponseError:
                pass
            try:
                rc.sunion("mem:a", "mem:b")
            except RedisClusterException:
                pass
            try:
                rc.set("mem:k", None)
            except cpipe.DataError:
                pass
            if i % 50 == 0:
                p = rc.pipeline()
                for j in range(20):
                    p.set(f"mem:p{j}", j).incr("{mem}s")
                p.execute(raise_on_error=False)
                rc.pipeline(transaction=True).incr("{mem}n").get("{mem}n").execute()
                rc.get_nodes()

        async def many():
            await asyncio.gather(*(arc.get("mem:k") for _ in range(n // 10)))
            await arc.pipeline().set("mem:q", 1).get("mem:q").execute()

        asyncio.run(many())

    exercise(3000)  # warm-up
    gc.collect()
    before = _rss_kib()
    for _ in range(3):
        exercise(3000)
    gc.collect()
    grown = _rss_kib() - before
    # ~100,000 bridge calls: a leaked reply or reference per call is megabytes.
    assert grown < 8 * 1024, f"RSS grew by {grown} KiB"
    rc.close()
    asyncio.run(arc.aclose())


def test_threads_sharing_one_client_each_get_their_own_replies(cluster):
    import threading

    rc = cpipe.RedisCluster(host=HOST, port=cluster.any_alive_port())
    errors: list = []

    def worker(w: int) -> None:
        try:
            for i in range(400):
                key = f"t{w}:{i}"
                assert rc.set(key, key) is True
                assert rc.get(key) == key.encode(), key
                if i % 50 == 0:
                    keys = [f"t{w}:{j}" for j in range(i + 1)]
                    assert rc.mget(keys) == [k.encode() for k in keys]
        except BaseException as e:  # reported below, in the test's thread
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors[:3]
    assert rc.dbsize(target_nodes=rc.PRIMARIES) >= 8 * 400
    rc.close()
