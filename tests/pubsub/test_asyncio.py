"""cpipe.asyncio's PubSub gives what redis.asyncio's gives, on the same server."""
from __future__ import annotations

import asyncio

import pytest
import redis.asyncio

import cpipe.asyncio
from cpipe.asyncio.pubsub import PubSub
from tests.asyncio_client._run import LOOP_KINDS, run


async def _until(cond, timeout=10.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while not await cond():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def _drain(ps, n, timeout=10.0):
    out = []
    deadline = asyncio.get_running_loop().time() + timeout
    while len(out) < n:
        assert asyncio.get_running_loop().time() < deadline, f"got {out}"
        m = await ps.get_message(timeout=0.5)
        if m is not None:
            out.append(m)
    return out


async def _script(ps, pub, tag):
    ch, pat = f"{tag}:ch", f"{tag}:p*"
    await ps.subscribe(ch)
    await ps.psubscribe(pat)
    got = await _drain(ps, 2)

    async def subscribed():
        return (await pub.pubsub_numsub(ch))[0][1] == 1

    await _until(subscribed)
    await pub.publish(ch, "hello")
    await pub.publish(f"{tag}:pz", b"\x00bin")
    got += await _drain(ps, 2)
    await ps.unsubscribe(ch)
    await ps.ping()
    got += await _drain(ps, 2)
    assert await ps.get_message(timeout=0.05) is None
    return got, dict(ps.channels), dict(ps.patterns)


@pytest.mark.parametrize("loop_kind", LOOP_KINDS)
@pytest.mark.parametrize("decode", [False, True])
def test_shapes_match_redis_asyncio(server, loop_kind, decode):
    async def main():
        pub = redis.asyncio.Redis(port=server.port, protocol=2)
        theirs = await _script(redis.asyncio.Redis(port=server.port, protocol=2, decode_responses=decode).pubsub(), pub, "as")
        c = cpipe.asyncio.Redis(port=server.port, decode_responses=decode)
        ps = c.pubsub()
        assert isinstance(ps, PubSub) and isinstance(ps, redis.asyncio.client.PubSub)
        ours = await _script(ps, pub, "as")
        await ps.aclose()
        await c.aclose()
        await pub.aclose()
        return ours, theirs

    ours, theirs = run(loop_kind, main())
    assert ours == theirs


@pytest.mark.parametrize("loop_kind", LOOP_KINDS)
def test_async_for_listen_and_handlers(server, loop_kind):
    async def main():
        pub = redis.asyncio.Redis(port=server.port, protocol=2)
        c = cpipe.asyncio.Redis(port=server.port)
        seen = []

        async def async_handler(m):
            seen.append(("async", m["data"]))

        ps = c.pubsub()
        await ps.subscribe("al:a", **{"al:h": async_handler, "al:s": lambda m: seen.append(("sync", m["data"]))})

        async def publish():
            async def ready():
                return dict(await pub.pubsub_numsub("al:a"))[b"al:a"] == 1
            await _until(ready)
            await pub.publish("al:h", "1")
            await pub.publish("al:s", "2")
            for i in range(3):
                await pub.publish("al:a", i)

        task = asyncio.ensure_future(publish())
        got = []
        async for m in ps.listen():
            got.append(m)
            if len([x for x in got if x["type"] == "message"]) == 3:
                break
        await task
        await ps.aclose()
        await c.aclose()
        await pub.aclose()
        return got, seen

    got, seen = run(loop_kind, main())
    assert [m["type"] for m in got] == ["subscribe"] * 3 + ["message"] * 3
    assert [m["data"] for m in got[3:]] == [b"0", b"1", b"2"]
    assert seen == [("async", b"1"), ("sync", b"2")]


@pytest.mark.parametrize("loop_kind", LOOP_KINDS)
def test_waiting_does_not_block_the_loop_and_aclose_wakes_it(server, loop_kind):
    async def main():
        c = cpipe.asyncio.Redis(port=server.port)
        ps = c.pubsub()
        await ps.subscribe("aw:a")
        await _drain(ps, 1)
        ticks = 0

        async def ticker():
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.01)

        t = asyncio.ensure_future(ticker())
        assert await ps.get_message(timeout=0.3) is None
        assert ticks >= 5  # the loop ran while get_message waited
        waiter = asyncio.ensure_future(ps.get_message(timeout=None))
        await asyncio.sleep(0.1)
        assert not waiter.done()
        await ps.aclose()
        result = await asyncio.wait_for(waiter, 5)
        t.cancel()
        assert ps.channels == {}
        await c.aclose()
        return result

    assert run(loop_kind, main()) is None


def test_run_with_exception_handler(server):
    async def main():
        pub = redis.asyncio.Redis(port=server.port, protocol=2)
        c = cpipe.asyncio.Redis(port=server.port)
        ps = c.pubsub()
        seen, errors = [], []

        def handler(m):
            if m["data"] == b"bad":
                raise ValueError("bad message")
            seen.append(m["data"])

        await ps.subscribe(**{"ar:a": handler})
        task = asyncio.ensure_future(ps.run(exception_handler=lambda e, p: errors.append(e), poll_timeout=0.05))

        async def ready():
            return dict(await pub.pubsub_numsub("ar:a"))[b"ar:a"] == 1

        await _until(ready)
        await pub.publish("ar:a", "bad")
        await pub.publish("ar:a", "ok")

        async def done():
            return seen == [b"ok"]

        await _until(done)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await ps.aclose()
        await c.aclose()
        await pub.aclose()
        return errors

    errors = run("asyncio", main())
    assert len(errors) == 1 and str(errors[0]) == "bad message"


def test_async_pool_and_bad_input(server):
    async def main():
        pool = cpipe.asyncio.Pool(port=server.port, size=2)
        ps = pool.pubsub(ignore_subscribe_messages=True)
        with pytest.raises(cpipe.DataError):
            await ps.execute_command("SET", "a", "b")
        await ps.subscribe("ap:a")

        async def ready():
            return dict(await pool.pubsub_numsub("ap:a"))[b"ap:a"] == 1

        await _until(ready)
        await pool.publish("ap:a", "x")
        got = await _drain(ps, 1)
        await ps.aclose()
        await pool.aclose()
        return got

    assert run("asyncio", main()) == [{"type": "message", "pattern": None, "channel": b"ap:a", "data": b"x"}]


@pytest.mark.parametrize("loop_kind", LOOP_KINDS)
def test_aclose_awaits_the_connection_disconnect_and_finishes_when_cancelled(real_server, loop_kind):
    # redis-py's aclose awaits pubsub.connection.disconnect(); 8.2's shields
    # that teardown, so a cancel that lands in it (a cancelled task leaving
    # `async with r.pubsub()`) still closes the connection, and aclose only
    # returns (raising CancelledError) once the teardown is done.
    shielded = hasattr(redis.asyncio.client.PubSub, "_aclose")

    async def main():
        c = cpipe.asyncio.Redis(port=real_server.port)
        ps = c.pubsub()
        await ps.subscribe("aclose-cancel")
        assert (await ps.get_message(timeout=5))["type"] == "subscribe"
        leased = ps.connection
        assert leased.is_connected
        started, resume = asyncio.Event(), asyncio.Event()
        disconnect = leased.disconnect

        async def slow_disconnect(*args, **kwargs):
            started.set()
            await resume.wait()
            await disconnect(*args, **kwargs)

        leased.disconnect = slow_disconnect
        task = asyncio.ensure_future(ps.aclose())
        await started.wait()
        task.cancel()
        await asyncio.sleep(0.01)
        if shielded:
            assert not task.done()  # waits for its teardown
        resume.set()
        with pytest.raises(asyncio.CancelledError):
            await task
        if shielded:
            assert ps.connection is None and not leased.is_connected and ps.channels == {}
            numsub = await c.pubsub_numsub("aclose-cancel")
            assert numsub[0][1] == 0  # the server saw the subscriber go
        await ps.aclose()
        assert ps.connection is None and not leased.is_connected
        await c.aclose()

    run(loop_kind, main())


@pytest.mark.parametrize("loop_kind", LOOP_KINDS)
def test_aclose_closes_the_subscriber_even_when_disconnect_fails(real_server, loop_kind):
    async def main():
        c = cpipe.asyncio.Redis(port=real_server.port)
        ps = c.pubsub()
        await ps.subscribe("aclose-fails")
        leased = ps.connection

        async def failing_disconnect(*args, **kwargs):
            raise RuntimeError("disconnect failed")

        leased.disconnect = failing_disconnect
        with pytest.raises(RuntimeError, match="disconnect failed"):
            await ps.aclose()
        assert ps.connection is None and not leased.is_connected and ps.channels == {}
        await ps.aclose()  # nothing left to close
        await c.aclose()

    run(loop_kind, main())
