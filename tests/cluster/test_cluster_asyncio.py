"""cpipe.asyncio.RedisCluster against redis-py's asyncio RedisCluster on the same cluster."""
from __future__ import annotations

import asyncio

import pytest
import redis
import redis.asyncio.cluster
from redis.exceptions import CrossSlotTransactionError, RedisClusterException

import cpipe.asyncio
from tests.cluster._cluster import HOST, admin


def run(coro):
    return asyncio.run(coro)


@pytest.fixture
def port(cluster):
    cluster.flushall()
    return cluster.any_alive_port()


def test_commands_routing_and_merging(port):
    async def main():
        ours = cpipe.asyncio.RedisCluster(host=HOST, port=port)
        theirs = await redis.asyncio.cluster.RedisCluster(host=HOST, port=port)
        assert isinstance(ours, redis.asyncio.cluster.RedisCluster)
        keys = [f"a:{i}" for i in range(60)]
        assert await asyncio.gather(*(ours.set(k, k) for k in keys)) == [True] * 60
        for k in keys[:15]:
            owner = theirs.get_node_from_key(k)
            assert admin(owner.port).get(k) == k
            assert ours.get_node_from_key(k).name == owner.name
        assert await ours.mget(keys) == [k.encode() for k in keys]  # split by slot
        assert await ours.mget_nonatomic(keys[:9]) == await theirs.mget_nonatomic(keys[:9])
        assert await ours.exists(*keys) == 60
        assert sorted(await ours.keys(target_nodes=ours.PRIMARIES)) == sorted(await theirs.keys(target_nodes=theirs.PRIMARIES))
        assert await ours.dbsize(target_nodes=ours.PRIMARIES) == await theirs.dbsize(target_nodes=theirs.PRIMARIES) == 60
        assert await ours.ping(target_nodes=ours.ALL_NODES) is True
        info = await ours.info(target_nodes=ours.REPLICAS)
        assert sorted(info) == sorted(n.name for n in theirs.get_replicas())
        assert sorted((n.name, n.server_type) for n in ours.get_nodes()) == \
            sorted((n.name, n.server_type) for n in theirs.get_nodes())
        assert isinstance(ours.get_nodes()[0], redis.asyncio.cluster.ClusterNode)
        got = {k async for k in ours.scan_iter(match="a:*")}
        assert got == {k.encode() for k in keys}
        assert await ours.delete(*keys) == 60
        with pytest.raises(RedisClusterException, match="same key slot"):
            await ours.sunion("a:1", "a:2")
        with pytest.raises(RedisClusterException, match="same key slot"):
            await ours.mset({"a:1": 1, "a:2": 2})
        assert await theirs.exists("a:1", "a:2") == 0
        await ours.set("s", "x")
        with pytest.raises(redis.ResponseError, match="not an integer"):
            await ours.incr("s")
        assert await ours.eval("return redis.call('GET', KEYS[1])", 1, "s") == b"x"
        assert await ours.blpop("q", 0.1) is None
        await ours.aclose()
        await theirs.aclose()
        with pytest.raises(redis.ConnectionError):
            await ours.get("s")

    run(main())


def test_many_concurrent_commands_get_their_own_replies(port):
    async def main():
        rc = cpipe.asyncio.RedisCluster(host=HOST, port=port, decode_responses=True)
        n = 2000
        await asyncio.gather(*(rc.set(f"c:{i}", f"v{i}") for i in range(n)))
        got = await asyncio.gather(*(rc.get(f"c:{i}") for i in range(n)))
        assert got == [f"v{i}" for i in range(n)]
        # Concurrent commands may run in any order (as on redis-py's pool), each exactly once.
        assert sorted(await asyncio.gather(*(rc.incr("counter") for _ in range(500)))) == list(range(1, 501))
        await rc.aclose()

    run(main())


def test_pipelines_and_transactions(port):
    async def main():
        ours = cpipe.asyncio.RedisCluster(host=HOST, port=port)
        theirs = redis.asyncio.cluster.RedisCluster(host=HOST, port=port)
        async with ours.pipeline() as p:
            for i in range(100):
                p.set(f"p:{i}", i).incr(f"n:{i % 5}")
            p.get("p:7").hset("h", "f", "v").hgetall("h")
            replies = await p.execute()
        assert replies[-3:] == [b"7", 1, {b"f": b"v"}]
        assert await theirs.get("n:4") == b"20"
        async with ours.pipeline(transaction=True) as t:
            t.incr("{t}a").incr("{t}a").get("{t}a")
            assert await t.execute() == [1, 2, b"2"]
        t = ours.pipeline(transaction=True)
        t.set("x:1", 1).set("x:2", 2)
        with pytest.raises(CrossSlotTransactionError):
            await t.execute()
        p = ours.pipeline()
        p.set("before", 1).sunion("x:1", "x:2")
        with pytest.raises(RedisClusterException):
            await p.execute()
        assert await theirs.exists("x:1", "x:2", "before") == 0
        await ours.set("s", "x")
        replies = await ours.pipeline().incr("s").get("s").execute(raise_on_error=False)
        assert isinstance(replies[0], redis.ResponseError) and replies[1] == b"x"
        await ours.aclose()
        await theirs.aclose()

    run(main())


def test_one_client_on_successive_loops(port):
    rc = cpipe.asyncio.RedisCluster(host=HOST, port=port)
    assert run(rc.set("loop", 1)) is True
    assert run(rc.incr("loop")) == 2  # a new loop: the router's connections belong to none
    assert run(rc.get("loop")) == b"2"
    run(rc.aclose())


def test_sharded_pubsub(port):
    async def main():
        rc = cpipe.asyncio.RedisCluster(host=HOST, port=port, decode_responses=True)
        channels = [f"anews:{i}" for i in range(8)]
        assert len({rc.get_node_from_key(c).name for c in channels}) == 3
        ps = rc.pubsub()
        await ps.ssubscribe(*channels)
        confirmed = 0
        while confirmed < len(channels):
            m = await ps.get_sharded_message(timeout=5)
            assert m is not None, "SSUBSCRIBE not confirmed"
            confirmed += m["type"] == "ssubscribe"
        for c in channels:
            assert await rc.spublish(c, "hi " + c) == 1  # on the owner, where the subscriber is
        got = []
        while len(got) < len(channels):
            m = await ps.get_sharded_message(ignore_subscribe_messages=True, timeout=5)
            assert m is not None, f"only {got} arrived"
            got.append((m["type"], m["channel"], m["data"]))
        assert sorted(got) == sorted(("smessage", c, "hi " + c) for c in channels)
        await ps.aclose()
        await rc.aclose()

    run(main())


def test_watch_transaction(port):
    async def main():
        rc = cpipe.asyncio.RedisCluster(host=HOST, port=port)
        other = redis.asyncio.cluster.RedisCluster(host=HOST, port=port)
        await rc.set("{aw}n", 1)
        calls = []

        async def incr(pipe):
            value = int(await pipe.get("{aw}n"))
            if not calls:
                await other.set("{aw}n", 10)  # between WATCH and EXEC: retried
            calls.append(value)
            pipe.multi()
            pipe.set("{aw}n", value + 1)

        assert await rc.transaction(incr, "{aw}n") == [True]
        assert calls == [1, 10] and await other.get("{aw}n") == b"11"
        with pytest.raises(CrossSlotTransactionError):
            await rc.pipeline().watch("aw:1", "aw:2")
        await rc.aclose()
        await other.aclose()

    run(main())
