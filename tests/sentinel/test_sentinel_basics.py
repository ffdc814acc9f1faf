"""cpipe.Sentinel against three real sentinels: the answers are redis-py's,
master_for and slave_for clients reach the right servers, bad input is
refused before anything connects, and a READONLY reply moves a master
client as redis-py's SentinelManagedConnection does.
"""
from __future__ import annotations

import inspect
import time

import pytest
import redis
import redis.sentinel

import cpipe
from tests.sentinel._topology import SERVICE, SOLO, settled, wait_until


@pytest.fixture(scope="module")
def sentinels(topology):
    ours = cpipe.Sentinel(topology.sentinel_addrs, socket_timeout=5)
    theirs = redis.sentinel.Sentinel(topology.sentinel_addrs, socket_timeout=5)
    yield ours, theirs
    for s in (ours, theirs):
        if hasattr(s, "close"):
            s.close()


def test_discover_as_redis_py(sentinels):
    ours, theirs = sentinels
    assert ours.discover_master(SERVICE) == theirs.discover_master(SERVICE)
    assert ours.discover_slaves(SERVICE) == theirs.discover_slaves(SERVICE)
    assert len(ours.discover_slaves(SERVICE)) == 1
    assert ours.discover_slaves(SOLO) == theirs.discover_slaves(SOLO) == []
    if hasattr(theirs, "discover_replicas"):  # redis-py 8's aliases, inherited
        assert ours.discover_replicas(SERVICE) == theirs.discover_replicas(SERVICE)
    assert isinstance(ours, redis.sentinel.Sentinel)


def test_unknown_service_is_master_not_found_as_redis_py(sentinels):
    ours, theirs = sentinels
    with pytest.raises(redis.sentinel.MasterNotFoundError) as got:
        ours.discover_master("nosuch")
    with pytest.raises(redis.sentinel.MasterNotFoundError) as want:
        theirs.discover_master("nosuch")
    assert str(got.value) == str(want.value) == "No master found for 'nosuch'"
    assert ours.discover_slaves("nosuch") == theirs.discover_slaves("nosuch") == []


def test_a_dead_sentinel_is_skipped_and_the_answering_one_asked_first(topology):
    from tests._servers import free_port

    dead = ("127.0.0.1", free_port())
    s = cpipe.Sentinel([dead, *topology.sentinel_addrs], socket_timeout=5, socket_connect_timeout=1)
    want = redis.sentinel.Sentinel(topology.sentinel_addrs, socket_timeout=5).discover_master(SERVICE)
    assert s.discover_master(SERVICE) == want
    assert s.discover_slaves(SERVICE) == redis.sentinel.Sentinel(topology.sentinel_addrs).discover_slaves(SERVICE)
    m = s.master_for(SERVICE, socket_timeout=5)
    assert m.set("dead-first", "ok") and m.get("dead-first") == b"ok"
    m.close()
    # Nobody answering: MasterNotFoundError naming what each sentinel said.
    none = cpipe.Sentinel([dead], socket_timeout=1, socket_connect_timeout=1)
    with pytest.raises(redis.sentinel.MasterNotFoundError, match=r"No master found for 'mymaster' : 127\.0\.0\.1:\d+ - "):
        none.discover_master(SERVICE)
    c = none.master_for(SERVICE)
    with pytest.raises(redis.sentinel.MasterNotFoundError, match="No master found for 'mymaster'"):
        c.ping()
    assert isinstance(none.discover_slaves(SERVICE), list) and not none.discover_slaves(SERVICE)
    with pytest.raises(redis.sentinel.SlaveNotFoundError, match="No slave found for 'mymaster'"):
        none.slave_for(SERVICE).ping()


def test_master_for_writes_and_reads_on_the_master(topology, sentinels):
    ours, _ = sentinels
    m = ours.master_for(SERVICE, socket_timeout=5)
    assert isinstance(m, cpipe.Redis)
    assert m.set("mf:k", "v1") is True
    assert m.get("mf:k") == b"v1"
    assert m.info("replication")["role"] == "master"
    assert m.config_get("port")["port"] == str(ours.discover_master(SERVICE)[1])
    with m.pipeline() as p:
        p.incr("mf:n").incr("mf:n").get("mf:n")
        assert p.execute()[-1] == b"2"
    m.close()
    # A Pool and decode_responses, as any cpipe client takes them.
    pool = ours.master_for(SERVICE, redis_class=cpipe.Pool, size=2, decode_responses=True, socket_timeout=5)
    assert pool.get("mf:k") == "v1"
    pool.close()


def test_master_for_pubsub_reaches_the_master(sentinels):
    ours, _ = sentinels
    m = ours.master_for(SERVICE, socket_timeout=5)
    p = m.pubsub(ignore_subscribe_messages=True)
    p.subscribe("mf:chan")
    wait_until("the subscription is on the master", lambda: m.pubsub_numsub("mf:chan")[0][1] == 1, timeout=5)
    m.publish("mf:chan", "hello")
    msg = wait_until("the message", lambda: p.get_message(timeout=0.2), timeout=5)
    assert msg["data"] == b"hello"
    p.close()
    m.close()


def test_slave_for_reads_a_replicated_key(topology, sentinels):
    ours, theirs = sentinels
    m = ours.master_for(SERVICE, socket_timeout=5)
    m.set("sf:k", "replicated")
    assert m.wait(1, 5000) == 1
    r = ours.slave_for(SERVICE, socket_timeout=5)
    assert r.get("sf:k") == b"replicated"
    assert r.info("replication")["role"] == "slave"
    assert int(r.config_get("port")["port"]) in [p for _, p in theirs.discover_slaves(SERVICE)]
    # A write on a replica is redis-py's ReadOnlyError, and the connection stays.
    with pytest.raises(redis.exceptions.ReadOnlyError):
        r.set("sf:k", "no")
    assert r.get("sf:k") == b"replicated"
    if hasattr(ours, "replica_for"):  # redis-py 8's alias, inherited
        r2 = ours.replica_for(SERVICE, socket_timeout=5)
        assert r2.get("sf:k") == b"replicated"
        r2.close()
    r.close()
    m.close()


def test_bad_input_is_refused_before_connecting(topology, sentinels):
    ours, _ = sentinels
    class NotOurs(redis.Redis):
        pass

    with pytest.raises(redis.exceptions.DataError, match="redis_class"):
        ours.master_for(SERVICE, redis_class=NotOurs)
    # redis-py's own default class (what its aliases pass) means cpipe's.
    assert type(ours.master_for(SERVICE, redis_class=redis.Redis)) is cpipe.Redis
    with pytest.raises(redis.exceptions.DataError, match="host="):
        ours.master_for(SERVICE, host="127.0.0.1")
    with pytest.raises(redis.exceptions.DataError, match="service name"):
        ours.master_for(b"mymaster")
    with pytest.raises(redis.exceptions.DataError, match="connection_pool_class"):
        ours.master_for(SERVICE, connection_pool_class=redis.ConnectionPool)
    with pytest.raises(redis.exceptions.DataError, match=r"\(host, port\) pair"):
        cpipe.Sentinel([("127.0.0.1",)])
    with pytest.raises(redis.exceptions.DataError, match="min_other_sentinels"):
        cpipe.Sentinel(topology.sentinel_addrs, min_other_sentinels=-1)
    with pytest.raises(TypeError, match="unexpected keyword argument 'bogus'"):
        ours.master_for(SERVICE, bogus=1)


def test_min_other_sentinels_and_force_master_ip_as_redis_py(topology):
    cases = [{"min_other_sentinels": 2}, {"min_other_sentinels": 3}]
    if "force_master_ip" in inspect.signature(redis.sentinel.Sentinel.__init__).parameters:
        cases.append({"force_master_ip": "localhost"})  # redis-py 5.0 has no force_master_ip to compare with
    for kw in cases:
        ours = cpipe.Sentinel(topology.sentinel_addrs, socket_timeout=5, **kw)
        theirs = redis.sentinel.Sentinel(topology.sentinel_addrs, socket_timeout=5, **kw)
        try:
            want = ("ok", theirs.discover_master(SERVICE))
        except redis.sentinel.MasterNotFoundError as e:
            want = ("error", str(e))
        try:
            got = ("ok", ours.discover_master(SERVICE))
        except redis.sentinel.MasterNotFoundError as e:
            got = ("error", str(e))
        assert got == want, kw
    # force_master_ip is where a master client connects.
    m = cpipe.Sentinel(topology.sentinel_addrs, force_master_ip="localhost").master_for(SERVICE, socket_timeout=5)
    assert m.ping() is True
    m.close()


def test_readonly_reply_fails_the_master_connection_as_redis_py(topology, sentinels):
    """The master is demoted under the client (REPLICAOF): the write that gets
    READONLY raises ConnectionError, as redis-py's SentinelManagedConnection
    makes it (retryable: the server refused it); the connection is failed,
    so later commands reconnect through Sentinel, and the connect checks ROLE."""
    ours, _ = sentinels
    solo = redis.Redis(port=topology.solo.port, protocol=2, socket_timeout=5)
    m = ours.master_for(SOLO, socket_timeout=5)
    assert m.set("ro:k", "before") is True
    solo.replicaof("127.0.0.1", topology.replica.port)  # read-only from now on
    try:
        with pytest.raises(redis.exceptions.ConnectionError, match="The previous master is now a slave") as e:
            m.set("ro:k", "during")
        assert not isinstance(e.value, redis.exceptions.ReadOnlyError)
        # The next connect finds ROLE "slave" where Sentinel still says master:
        # it refuses to connect rather than serve reads from the demoted master.
        with pytest.raises(redis.exceptions.ConnectionError, match="ROLE|No master found"):
            m.get("ro:k")
        with pytest.raises(redis.exceptions.ConnectionError, match="ROLE|No master found"):
            with m.pipeline() as p:
                p.set("ro:k", "pipelined").get("ro:k").execute()
    finally:
        solo.replicaof("NO", "ONE")
    # Promoted back: the client writes again, by itself, once Sentinel agrees.
    wait_until("the master is usable again", lambda: settled(topology, SOLO, replicas=0))
    wait_until("solo takes writes through the client", lambda: m.set("ro:k", "after"), timeout=15)
    assert solo.get("ro:k") == b"after"
    m.close()
    solo.close()


def test_readonly_in_a_pipeline_fails_the_whole_batch(topology, sentinels):
    ours, _ = sentinels
    solo = redis.Redis(port=topology.solo.port, protocol=2, socket_timeout=5)
    wait_until("solo is a usable master", lambda: settled(topology, SOLO, replicas=0))
    m = ours.master_for(SOLO, socket_timeout=5)
    assert m.set("rop:k", "x")
    solo.replicaof("127.0.0.1", topology.replica.port)
    try:
        with m.pipeline(transaction=False) as p:
            p.get("rop:k").set("rop:k", "y").get("rop:k")
            with pytest.raises(redis.exceptions.ConnectionError, match="The previous master is now a slave"):
                p.execute()
    finally:
        solo.replicaof("NO", "ONE")
    wait_until("the master is usable again", lambda: settled(topology, SOLO, replicas=0))
    wait_until("writes again", lambda: m.set("rop:k", "z"), timeout=15)
    m.close()
    solo.close()


def test_asyncio_sentinel_as_redis_py(topology):
    import asyncio

    import redis.asyncio.sentinel

    import cpipe.asyncio

    async def main():
        ours = cpipe.asyncio.Sentinel(topology.sentinel_addrs, socket_timeout=5)
        theirs = redis.asyncio.sentinel.Sentinel(topology.sentinel_addrs, socket_timeout=5)
        assert isinstance(ours, redis.asyncio.sentinel.Sentinel)
        assert await ours.discover_master(SERVICE) == await theirs.discover_master(SERVICE)
        assert await ours.discover_slaves(SERVICE) == await theirs.discover_slaves(SERVICE)
        with pytest.raises(redis.asyncio.sentinel.MasterNotFoundError, match="No master found for 'nosuch'"):
            await ours.discover_master("nosuch")
        m = ours.master_for(SERVICE, socket_timeout=5)
        assert isinstance(m, cpipe.asyncio.Redis)
        assert await m.set("am:k", "v") is True
        assert await m.get("am:k") == b"v"
        got = await asyncio.gather(*(m.incr("am:n") for _ in range(50)))
        assert sorted(got) == list(range(1, 51))
        assert (await m.info("replication"))["role"] == "master"
        assert await m.wait(1, 5000) == 1
        r = ours.slave_for(SERVICE, socket_timeout=5)
        assert await r.get("am:k") == b"v"
        with pytest.raises(redis.exceptions.ReadOnlyError):
            await r.set("am:k", "no")
        await m.aclose()
        await r.aclose()
        await theirs.aclose() if hasattr(theirs, "aclose") else None

    asyncio.run(asyncio.wait_for(main(), 60))
