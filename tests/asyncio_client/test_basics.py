"""cpipe.asyncio basics: every kind of reply, errors, pipelines, async
iterators, from_url, aclose; on asyncio and on uvloop."""
from __future__ import annotations

import asyncio

import pytest

import cpipe
import cpipe.asyncio as ca

from ._run import loop_is, run


def _client(server, cls=None, **options):
    options.setdefault("socket_timeout", 10)
    return (cls or ca.Client)(host="127.0.0.1", port=server.port, **options)


@pytest.mark.parametrize("cls", [ca.Client, ca.Redis, ca.Pool])
def test_reply_kinds(server, loop_kind, cls):
    async def main():
        assert loop_is(loop_kind)
        r = _client(server, cls)
        try:
            assert await r.flushall() is True
            assert await r.set("b:k", "v") is True
            assert await r.get("b:k") == b"v"
            assert await r.get("b:missing") is None
            assert await r.call("GET", "b:k") == b"v"
            assert await r.incr("b:n") == 1
            assert await r.incrby("b:n", 41) == 42
            assert await r.rpush("b:l", "a", "b", "c") == 3
            assert await r.lrange("b:l", 0, -1) == [b"a", b"b", b"c"]
            assert await r.lrange("b:nolist", 0, -1) == []
            assert await r.hset("b:h", mapping={"f1": "v1", "f2": 2}) == 2
            assert await r.hgetall("b:h") == {b"f1": b"v1", b"f2": b"2"}
            assert await r.hgetall("b:noh") == {}
            assert await r.sadd("b:s", "x", "y", "x") == 2
            assert await r.smembers("b:s") == {b"x", b"y"}
            assert await r.zadd("b:z", {"m1": 1.5, "m2": 2}) == 2
            assert await r.zscore("b:z", "m1") == 1.5
            assert await r.zscore("b:z", "nope") is None
            assert await r.zrange("b:z", 0, -1, withscores=True) == [(b"m1", 1.5), (b"m2", 2.0)]
            assert await r.ping() is True
            assert await r.exists("b:k", "b:missing") == 1
            assert await r.mget("b:k", "b:missing") == [b"v", None]
            assert await r.execute_command("HGETALL", "b:h") == {b"f1": b"v1", b"f2": b"2"}
            assert await r.execute_command("CLIENT SETNAME", "named") is True
            assert await r.call("CLIENT", "GETNAME") == b"named"
            assert (await r.info("server"))["redis_version"]
            assert await r.dbsize() == 6
            assert await r.delete("b:k", "b:missing") == 1
        finally:
            await r.aclose()

    run(loop_kind, main())


def test_decode_responses(server, loop_kind):
    async def main():
        r = _client(server, decode_responses=True)
        raw = _client(server)  # the same loop, another reply encoding
        try:
            await r.set("d:k", "héllo")
            await r.hset("d:h", "ä", "ö")
            await r.sadd("d:s", "é")
            results = await asyncio.gather(r.get("d:k"), raw.get("d:k"), r.hgetall("d:h"),
                                           raw.hgetall("d:h"), r.smembers("d:s"), r.lrange("d:none", 0, -1))
            assert results == ["héllo", "héllo".encode(), {"ä": "ö"}, {"ä".encode(): "ö".encode()}, {"é"}, []]
            # Interleaved on one loop queue, each keeps its own encoding.
            many = await asyncio.gather(*(c.get("d:k") for _ in range(500) for c in (r, raw)))
            assert many == ["héllo", "héllo".encode()] * 500
        finally:
            await r.aclose()
            await raw.aclose()

    run(loop_kind, main())


def test_error_replies(server, loop_kind):
    async def main():
        r = _client(server)
        try:
            await r.set("e:str", "x")
            with pytest.raises(cpipe.ResponseError, match="not an integer"):
                await r.incr("e:str")
            with pytest.raises(cpipe.ResponseError, match="WRONGTYPE"):
                await r.lpush("e:str", 1)
            with pytest.raises(cpipe.ResponseError):
                await r.execute_command("NO-SUCH-COMMAND")
            with pytest.raises(cpipe.ResponseError):
                await r.call("SET")
            # The connection stays usable and in step.
            assert await r.get("e:str") == b"x"
            outcomes = await asyncio.gather(*(r.incr("e:str") if i % 2 else r.echo(str(i)) for i in range(200)),
                                            return_exceptions=True)
            for i, o in enumerate(outcomes):
                if i % 2:
                    assert isinstance(o, cpipe.ResponseError)
                else:
                    assert o == str(i).encode()
        finally:
            await r.aclose()

    run(loop_kind, main())


def test_data_errors_send_nothing(server, loop_kind):
    async def main():
        r = _client(server)
        try:
            await r.flushall()
            for bad in (None, {"a": 1}, [1], object()):
                with pytest.raises(cpipe.DataError):
                    await r.set("de:k", bad)
            with pytest.raises(cpipe.DataError):
                await r.call("SET", "de:k", None)
            with pytest.raises(cpipe.DataError):
                await r.hset("de:h", "f", None)
            assert await r.exists("de:k", "de:h") == 0
            with pytest.raises(cpipe.DataError):
                ca.Client(host="127.0.0.1", port=0)
            p = r.pipeline()
            p.set("de:p", "ok").set("de:p2", None)
            with pytest.raises(cpipe.DataError):
                await p.execute()
            assert await r.exists("de:p", "de:p2") == 0  # nothing of the pipeline was sent
            assert await r.ping() is True
        finally:
            await r.aclose()

    run(loop_kind, main())


def test_pipelines(server, loop_kind):
    async def main():
        r = _client(server)
        try:
            await r.flushall()
            async with r.pipeline(transaction=False) as p:
                for i in range(1000):
                    p.set(f"p:{i}", i)
                p.get("p:999").hset("p:h", "a", "b").hgetall("p:h").smembers("p:nos").zscore("p:noz", "m")
                replies = await p.execute()
            assert replies[:1000] == [True] * 1000
            assert replies[1000:] == [b"999", 1, {b"a": b"b"}, set(), None]

            async with r.pipeline(transaction=True) as t:
                t.incr("p:c").incr("p:c").get("p:c")
                assert await t.execute() == [1, 2, b"2"]

            # Errors: raised after all replies were read, or in place.
            p = r.pipeline(transaction=False)
            p.set("p:s", "x").incr("p:s").get("p:s")
            with pytest.raises(cpipe.ResponseError, match="Command # 2"):
                await p.execute()
            p.set("p:s", "x").incr("p:s").get("p:s")
            out = await p.execute(raise_on_error=False)
            assert out[0] is True and isinstance(out[1], cpipe.ResponseError) and out[2] == b"x"

            t = r.pipeline(transaction=True)
            t.set("p:t", 1).execute_command("NO-SUCH-COMMAND")
            with pytest.raises(cpipe.ResponseError):
                await t.execute()
            assert await r.get("p:t") is None  # EXECABORT: nothing ran

            assert await r.pipeline().execute() == []
            # Pipelines and single commands issued together all get their own replies.
            pipes = []
            for j in range(20):
                q = r.pipeline(transaction=bool(j % 2))
                for i in range(50):
                    q.echo(f"{j}:{i}")
                pipes.append(q.execute())
            singles = [r.echo(f"single{j}") for j in range(20)]
            results = await asyncio.gather(*pipes, *singles)
            for j in range(20):
                assert results[j] == [f"{j}:{i}".encode() for i in range(50)]
                assert results[20 + j] == f"single{j}".encode()
        finally:
            await r.aclose()

    run(loop_kind, main())


def test_async_iterators(server, loop_kind):
    async def main():
        r = _client(server)
        try:
            await r.flushall()
            async with r.pipeline() as p:
                for i in range(500):
                    p.set(f"it:k{i}", i)
                p.hset("it:h", mapping={f"f{i}": i for i in range(300)})
                p.sadd("it:s", *range(300))
                p.zadd("it:z", {f"m{i}": i / 2 for i in range(300)})
                await p.execute()
            keys = {k async for k in r.scan_iter(match="it:k*", count=50)}
            assert keys == {f"it:k{i}".encode() for i in range(500)}
            assert {k async for k in r.scan_iter(count=100)} == keys | {b"it:h", b"it:s", b"it:z"}
            assert {k async for k in r.scan_iter(_type="hash")} == {b"it:h"}
            fields = dict([kv async for kv in r.hscan_iter("it:h", count=20)])
            assert fields == {f"f{i}".encode(): str(i).encode() for i in range(300)}
            assert {f async for f in r.hscan_iter("it:h", match="f1*")} == {
                (f"f{i}".encode(), str(i).encode()) for i in range(300) if str(i).startswith("1")}
            assert {m async for m in r.sscan_iter("it:s", count=30)} == {str(i).encode() for i in range(300)}
            zs = [m async for m in r.zscan_iter("it:z", count=25)]
            assert sorted(zs, key=lambda x: x[1]) == [(f"m{i}".encode(), i / 2) for i in range(300)]
            assert [x async for x in r.sscan_iter("it:empty")] == []
        finally:
            await r.aclose()

    run(loop_kind, main())


def test_from_url_with_db(server, loop_kind):
    async def main():
        r5 = ca.from_url(f"redis://127.0.0.1:{server.port}/5")
        r6 = ca.Client.from_url(f"redis://127.0.0.1:{server.port}/6?decode_responses=true")
        r0 = ca.Redis.from_url(f"redis://127.0.0.1:{server.port}", socket_timeout=5)
        try:
            assert isinstance(r5, ca.Client) and r5.db == 5 and r6.db == 6
            await asyncio.gather(r5.set("url:k", "five"), r6.set("url:k", "six"), r0.delete("url:k"))
            assert await r5.get("url:k") == b"five"
            assert await r6.get("url:k") == "six"
            assert await r0.get("url:k") is None
        finally:
            for c in (r5, r6, r0):
                await c.aclose()

    run(loop_kind, main())


def test_aclose_then_commands_fail(server, loop_kind):
    async def main():
        r = _client(server)
        assert await r.ping() is True
        await r.aclose()
        with pytest.raises(cpipe.ConnectionError):
            await r.get("k")
        with pytest.raises(cpipe.ConnectionError):
            await r.call("PING")
        p = r.pipeline()
        p.ping()
        with pytest.raises(cpipe.ConnectionError):
            await p.execute()
        await r.aclose()  # idempotent

        # async with closes too
        async with _client(server) as c:
            assert await c.echo("x") == b"x"
        with pytest.raises(cpipe.ConnectionError):
            await c.echo("x")

    run(loop_kind, main())


def test_aclose_fails_commands_in_flight(server, loop_kind):
    async def main():
        r = _client(server)
        assert await r.ping() is True
        blocked = [asyncio.ensure_future(r.blpop([f"ac:never{i}"], 10)) for i in range(5)]
        await asyncio.sleep(0.2)
        assert not any(b.done() for b in blocked)
        await r.aclose()
        done, pending = await asyncio.wait(blocked, timeout=5)
        assert not pending, "commands in flight still pending after aclose()"
        for b in done:
            assert isinstance(b.exception(), cpipe.ConnectionError), b.exception()

    run(loop_kind, main())


def test_wrong_loop_is_refused(server):
    """A client belongs to the loop it was first used on, while that loop is open."""
    r = _client(server)
    first, second = asyncio.new_event_loop(), asyncio.new_event_loop()

    async def ping():
        return await r.ping()

    async def refused():
        with pytest.raises(RuntimeError, match="another event loop"):
            await r.ping()

    try:
        assert first.run_until_complete(ping()) is True
        second.run_until_complete(refused())
    finally:
        second.close()
        first.close()
        run("asyncio", r.aclose())  # closing needs no particular loop


def test_client_outlives_its_closed_loop(server):
    """Once its loop is closed, a client moves to the next loop that uses it."""
    r = _client(server)

    async def use(value):
        await r.set("ac:outlive", value)
        return await r.get("ac:outlive")

    try:
        assert run("asyncio", use("one")) == b"one"
        assert run("asyncio", use("two")) == b"two"
    finally:
        run("asyncio", r.aclose())
