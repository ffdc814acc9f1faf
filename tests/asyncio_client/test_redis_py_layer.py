"""cpipe.asyncio on redis-py's asyncio command layer: it is a redis.asyncio.Redis,
its commands are coroutines as redis-py's are, redis-py's execute_command
options (NEVER_DECODE, EMPTY_RESPONSE, callbacks), WATCH/transactions on a
dedicated connection, Script in pipelines, Lock, retries."""
from __future__ import annotations

import asyncio
import inspect

import pytest
import redis
import redis.asyncio
import redis.asyncio.client
import redis.asyncio.lock
import redis.commands.core

import cpipe
import cpipe.asyncio as ca

from ._run import run


def _client(server, cls=None, **options):
    options.setdefault("socket_timeout", 10)
    return (cls or ca.Redis)(host="127.0.0.1", port=server.port, **options)


async def _flushed(server, **options):
    r = _client(server, **options)
    await r.flushall()
    return r


# -- what it is -----------------------------------------------------------------

def test_is_a_redis_asyncio_client_with_its_command_methods(server):
    r = _client(server)
    pool = _client(server, ca.Pool, size=2)
    assert ca.Client is ca.Redis
    assert isinstance(r, redis.asyncio.Redis) and isinstance(pool, redis.asyncio.Redis)
    assert isinstance(r.connection_pool, redis.asyncio.ConnectionPool)
    pipe = r.pipeline()
    assert isinstance(pipe, redis.asyncio.client.Pipeline) and isinstance(pipe, ca.Pipeline)
    assert pipe.is_transaction is True and r.pipeline(transaction=False).is_transaction is False
    # Everything but the hot methods is redis-py's own asyncio method.
    for name in ("zadd", "xadd", "scan_iter", "hscan_iter", "transaction", "lock", "register_script",
                 "__aenter__", "__aexit__", "close"):
        assert getattr(ca.Redis, name) is getattr(redis.asyncio.Redis, name), name
    assert ca.Pipeline.watch is redis.asyncio.client.Pipeline.watch
    assert ca.Pipeline.unwatch is redis.asyncio.client.Pipeline.unwatch
    assert ca.Pipeline.multi is redis.asyncio.client.Pipeline.multi
    # The hot methods keep redis-py's parameters.
    def parameters(f):
        return [(p.name, p.kind, p.default) for p in inspect.signature(f).parameters.values()]

    for name in ("get", "set", "hset", "hget", "delete", "incr", "lpush", "sadd"):
        assert parameters(getattr(ca.Redis, name)) == parameters(getattr(redis.asyncio.Redis, name)), name
    assert isinstance(r.register_script("return 1"), redis.commands.core.AsyncScript)
    assert isinstance(r.lock("l"), redis.asyncio.lock.Lock)
    run("asyncio", r.aclose())
    run("asyncio", pool.aclose())


def test_commands_are_coroutines_sent_when_awaited(server, loop_kind):
    async def main():
        r = await _flushed(server)
        try:
            hot, general = r.set("lazy:k", "v"), r.zadd("lazy:z", {"m": 1})
            assert inspect.iscoroutine(hot) and inspect.iscoroutine(general)
            await asyncio.sleep(0.05)
            assert await r.exists("lazy:k", "lazy:z") == 0, "a command ran before it was awaited"
            assert await hot is True and await general == 1
            # Tasks and asyncio.gather take them as they take redis-py's.
            task = asyncio.create_task(r.get("lazy:k"))
            assert await task == b"v"
            assert await asyncio.gather(r.get("lazy:k"), r.zscore("lazy:z", "m")) == [b"v", 1.0]
            # A client can be awaited and entered, as redis-py's.
            assert await r is r
        finally:
            await r.aclose()

    run(loop_kind, main())


def test_async_with_closes_at_the_last_exit(server, loop_kind):
    # redis-py's own __aenter__/__aexit__: newer releases count nested
    # entries and close at the last exit; 5.0's closes at every exit.
    nested = hasattr(redis.asyncio.Redis, "_increment_usage")

    async def main():
        r = _client(server)
        async with r as entered:
            assert entered is r
            async with r:
                assert await r.ping() is True
            if nested:
                assert await r.ping() is True  # still open: an outer `async with` holds it
            else:
                with pytest.raises(cpipe.ConnectionError):
                    await r.ping()
        with pytest.raises(cpipe.ConnectionError):
            await r.ping()

    run(loop_kind, main())


# -- execute_command's options ----------------------------------------------------

def test_never_decode_replies_are_bytes(real_server, loop_kind):
    """redis-py reads DUMP's reply undecoded even with decode_responses=True."""
    async def main():
        r = await _flushed(real_server, decode_responses=True)
        try:
            await r.set("nd:k", "héllo")
            dumped = await r.dump("nd:k")
            assert isinstance(dumped, bytes)
            assert await r.restore("nd:copy", 0, dumped) == "OK"
            assert await r.get("nd:copy") == "héllo"
            # In a batch with decoded replies, each gets its own (plain and MULTI/EXEC).
            for transaction in (False, True):
                p = r.pipeline(transaction=transaction)
                p.get("nd:k").dump("nd:k").hset("nd:h", "f", "é").hgetall("nd:h")
                got = await p.execute()
                assert got[0] == "héllo" and got[1] == dumped and got[3] == {"f": "é"}, (transaction, got)
            # After WATCH, in immediate mode on the pipeline's own connection.
            async with r.pipeline() as p:
                await p.watch("nd:k")
                assert await p.dump("nd:k") == dumped
                assert await p.get("nd:k") == "héllo"
        finally:
            await r.aclose()

    run(loop_kind, main())


def test_empty_response_replaces_the_error_reply(server, loop_kind):
    """mget([]) sends MGET with no key; redis-py returns [] instead of the server's error."""
    async def main():
        r = await _flushed(server)
        try:
            await r.set("er:k", "v")
            assert await r.mget([]) == []
            with pytest.raises(cpipe.ResponseError):
                await r.execute_command("MGET")  # the same command without the option
            for transaction in (False, True):
                p = r.pipeline(transaction=transaction)
                p.mget([]).get("er:k").mget(["er:k"])
                assert await p.execute() == [[], b"v", [b"v"]], transaction
        finally:
            await r.aclose()

    run(loop_kind, main())


def test_response_callbacks_can_be_replaced(server, loop_kind):
    async def main():
        r = await _flushed(server)
        try:
            await r.set("cb:k", "v")
            await r.rpush("cb:l", "a", "b")
            r.set_response_callback("GET", lambda reply: ("GET", reply))
            r.set_response_callback("lrange", lambda reply: len(reply))  # any case, as redis-py

            async def later(reply):  # redis-py awaits an awaitable a callback returns
                await asyncio.sleep(0)
                return ("async", reply)

            r.set_response_callback("ECHO", later)
            assert await r.get("cb:k") == ("GET", b"v")  # a hot method
            assert await r.lrange("cb:l", 0, -1) == 2  # a redis-py method
            assert await r.echo("x") == ("async", b"x")
            for transaction in (False, True):
                p = r.pipeline(transaction=transaction)
                p.get("cb:k").lrange("cb:l", 0, -1).incr("cb:n")
                got = await p.execute()
                assert got[:2] == [("GET", b"v"), 2] and isinstance(got[2], int), (transaction, got)
            # The pipeline's immediate mode (after WATCH) uses them too.
            async with r.pipeline() as p:
                await p.watch("cb:k")
                assert await p.get("cb:k") == ("GET", b"v")
        finally:
            await r.aclose()

    run(loop_kind, main())


def test_pipeline_errors_are_annotated_as_redis_py_does(server, loop_kind):
    async def main():
        r = await _flushed(server)
        theirs = redis.asyncio.Redis(host="127.0.0.1", port=server.port, protocol=2)
        try:
            messages = []
            for client in (r, theirs):
                await client.set("an:s", "x")
                for transaction in (False, True):
                    p = client.pipeline(transaction=transaction)
                    assert p.set("an:s", "x").incr("an:s") is p  # chained calls return the pipeline
                    p.get("an:s")
                    with pytest.raises(cpipe.ResponseError) as excinfo:
                        await p.execute()
                    messages.append(str(excinfo.value))
            assert messages[:2] == messages[2:], messages
            assert messages[0].startswith("Command # 2 (INCRBY an:s 1) of pipeline caused error"), messages[0]
        finally:
            await r.aclose()
            await theirs.aclose()

    run(loop_kind, main())


# -- WATCH and transactions ---------------------------------------------------------

def test_watch_conflict_raises_watch_error(server, loop_kind):
    async def main():
        r = await _flushed(server)
        other = _client(server)
        try:
            await r.set("w:k", 1)
            async with r.pipeline() as p:
                assert await p.watch("w:k") is True
                assert p.watching
                value = int(await p.get("w:k"))  # immediate mode
                await other.set("w:k", 100)  # someone else changes the watched key
                p.multi()
                p.set("w:k", value + 1).set("w:side-effect", 1)
                with pytest.raises(cpipe.WatchError):
                    await p.execute()
            assert await r.get("w:k") == b"100" and await r.exists("w:side-effect") == 0
            # Without a conflict the same transaction runs; the shared connection was never involved.
            async with r.pipeline() as p:
                await p.watch("w:k")
                value = int(await p.get("w:k"))
                p.multi()
                p.set("w:k", value + 1)
                assert await p.execute() == [True]
            assert await r.get("w:k") == b"101"
        finally:
            await r.aclose()
            await other.aclose()

    run(loop_kind, main())


def test_transaction_helper_retries_until_it_wins(server, loop_kind):
    """redis-py's Redis.transaction: 20 tasks increment one key through WATCH; none is lost."""
    async def main():
        r = await _flushed(server)
        try:
            await r.set("tx:n", 0)
            tries = []

            async def increment(pipe):
                tries.append(1)
                current = int(await pipe.get("tx:n"))
                await asyncio.sleep(0)  # let the others interleave
                pipe.multi()
                pipe.set("tx:n", current + 1)
                return current + 1

            results = await asyncio.gather(*(r.transaction(increment, "tx:n", value_from_callable=True)
                                             for _ in range(20)))
            assert sorted(results) == list(range(1, 21))
            assert await r.get("tx:n") == b"20"
            assert len(tries) > 20, "no transaction ever conflicted: the test proved nothing"
            assert await r.transaction(lambda pipe: pipe.multi() or pipe.incr("tx:n"), "tx:n",
                                       watch_delay=0.001) == [21]
        finally:
            await r.aclose()

    run(loop_kind, main())


def test_watch_connection_lost_is_watch_error(server, loop_kind):
    """The dedicated connection dies while keys are watched: WatchError (as redis-py), never a
    silent reconnect that would let EXEC succeed unconditionally."""
    async def main():
        r = await _flushed(server)
        admin = _client(server)
        try:
            await r.set("wl:k", 1)
            p = r.pipeline()
            await p.watch("wl:k")
            watch_conn = await p.client_id()  # immediate mode: on the pipeline's own connection
            assert watch_conn != await r.client_id(), "WATCH ran on the shared connection"
            assert await admin.client_kill_filter(_id=watch_conn) == 1
            with pytest.raises(cpipe.WatchError):
                await p.get("wl:k")
            assert not p.watching and p.connection is None
            # The same while EXEC is sent.
            await p.watch("wl:k")
            await admin.client_kill_filter(_id=await p.client_id())
            p.multi()
            p.set("wl:k", 2)
            with pytest.raises(cpipe.WatchError):
                await p.execute()
            assert await r.get("wl:k") == b"1"
            # The pipeline and the client still work.
            await p.watch("wl:k")
            p.multi()
            p.incr("wl:k")
            assert await p.execute() == [2]
        finally:
            await r.aclose()
            await admin.aclose()

    run(loop_kind, main())


def test_watch_connection_disconnected_is_closed_and_never_reconnected(server, loop_kind):
    """redis-py's pipe.connection has is_connected, connect() and disconnect() (async); a
    WATCH connection that was disconnected lost its WATCH, so it is never connected again."""
    async def main():
        r = await _flushed(server)
        try:
            await r.set("dc:a", 0)
            p = r.pipeline()
            await p.watch("dc:a")
            leased = p.connection
            assert leased.is_connected
            await leased.connect()  # connected: nothing to do
            await leased.disconnect()
            assert not leased.is_connected
            with pytest.raises(cpipe.ConnectionError):
                await leased.connect()
            with pytest.raises(cpipe.WatchError):  # a command after the loss: the WATCH is gone
                await p.get("dc:a")
            assert p.connection is None and p.watching is False
            await p.reset()
            await p.watch("dc:a")
            assert p.connection is not leased and p.connection.is_connected
            p.multi()
            p.incr("dc:a")
            assert await p.execute() == [1]
        finally:
            await r.aclose()

    run(loop_kind, main())


def test_idle_watch_connection_closed_by_the_server_is_replaced(server, loop_kind):
    """A spare WATCH connection the server closed while idle is replaced before anything is watched."""
    async def main():
        r = await _flushed(server)
        admin = _client(server)
        try:
            async with r.pipeline() as p:
                await p.watch("sp:k")
                spare_id = await p.client_id()
            assert len(r._spares) == 1  # reset() kept it for the next WATCH
            await admin.client_kill_filter(_id=spare_id)
            async with r.pipeline() as p:
                assert await p.watch("sp:k") is True
                assert await p.client_id() != spare_id
                p.multi()
                p.set("sp:k", 1)
                assert await p.execute() == [True]
        finally:
            await r.aclose()
            await admin.aclose()

    run(loop_kind, main())


def test_unwatch_discard_reset_and_multi(server, loop_kind):
    async def main():
        r = await _flushed(server)
        try:
            p = r.pipeline()
            await p.watch("uw:k")
            assert await p.unwatch() is True and not p.watching
            assert p.set("uw:k", 1) is p  # queued again, not immediate
            assert len(p) == 1
            with pytest.raises(redis.exceptions.RedisError, match="already been issued"):
                p.multi()
            await p.reset()
            assert len(p) == 0 and p.connection is None
            p.multi()
            with pytest.raises(redis.exceptions.RedisError, match="nested"):
                p.multi()
            with pytest.raises(redis.exceptions.RedisError, match="WATCH after a MULTI"):
                await p.watch("uw:k")
            await p.reset()
            assert await p.unwatch() is True  # nothing watched: nothing sent
            assert await r.exists("uw:k") == 0
        finally:
            await r.aclose()

    run(loop_kind, main())


# -- Script and Lock (redis-py's, on the engine) -----------------------------------

def test_registered_script_in_pipelines_after_script_flush(real_server, loop_kind):
    async def main():
        r = await _flushed(real_server)
        try:
            add = r.register_script("return redis.call('INCRBY', KEYS[1], ARGV[1])")
            assert await add(keys=["sc:n"], args=[5]) == 5
            for transaction in (False, True):
                await r.script_flush()
                assert await r.script_exists(add.sha) == [False]
                p = r.pipeline(transaction=transaction)
                p.set("sc:other", "x")
                await add(keys=["sc:n"], args=[1], client=p)  # queued; the pipeline loads the script
                p.get("sc:n")
                got = await p.execute()
                assert got[1:] == [6 + transaction, str(6 + transaction).encode()], (transaction, got)
                assert await r.script_exists(add.sha) == [True]
            # And in a WATCH transaction, loaded on the pipeline's own connection.
            await r.script_flush()
            async with r.pipeline() as p:
                await p.watch("sc:n")
                p.multi()
                await add(keys=["sc:n"], args=[10], client=p)
                assert await p.execute() == [17]
        finally:
            await r.aclose()

    run(loop_kind, main())


def test_lock_acquire_extend_release(real_server, loop_kind):
    async def main():
        r = await _flushed(real_server)
        other = _client(real_server)
        try:
            lock = r.lock("lk:res", timeout=2)
            rival = other.lock("lk:res", timeout=2, blocking=False)
            assert await lock.acquire(blocking=False) is True
            assert await lock.locked() and await lock.owned()
            assert await rival.acquire() is False
            assert await lock.extend(10) is True
            assert 10_000 < await r.pttl("lk:res") <= 12_000
            await lock.release()
            assert not await lock.locked()
            with pytest.raises(redis.exceptions.LockError):
                await lock.release()
            stolen = r.lock("lk:res", timeout=5)
            await stolen.acquire()
            await r.set("lk:res", "someone else")  # the key now holds another owner's token
            with pytest.raises(redis.exceptions.LockNotOwnedError):
                await stolen.release()
            await r.delete("lk:res")
            async with other.lock("lk:res", timeout=5, blocking_timeout=1) as held:
                assert await held.owned()
                assert await r.lock("lk:res", blocking_timeout=0.2).acquire() is False
            assert await r.exists("lk:res") == 0
        finally:
            await r.aclose()
            await other.aclose()

    run(loop_kind, main())


# -- retries -------------------------------------------------------------------------

def test_retry_is_honoured_when_asked_for(loop_kind):
    """A configured redis-py asyncio Retry runs the command again after a ConnectionError;
    without one nothing is retried."""
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    from tests._servers import start_reference_server

    srv = start_reference_server("--enable-faults")
    calls = []

    class CountingRetry(Retry):
        async def call_with_retry(self, do, fail, *args, **kwargs):
            calls.append(1)
            return await super().call_with_retry(do, fail, *args, **kwargs)

    async def main():
        r = _client(srv, retry=CountingRetry(NoBackoff(), 2))
        plain = _client(srv)
        try:
            assert await r.set("rt:k", "v") is True
            await r.execute_command("CPIPE.FAULT", "CLOSE-AFTER", "0")
            assert await r.get("rt:k") == b"v"  # failed once, then retried on a new connection
            assert calls == [1]
            await plain.ping()
            await plain.execute_command("CPIPE.FAULT", "CLOSE-AFTER", "0")
            with pytest.raises(cpipe.ConnectionError):
                await plain.get("rt:k")
        finally:
            await r.aclose()
            await plain.aclose()

    try:
        run(loop_kind, main())
    finally:
        srv.stop()


def test_pubsub_runs_on_a_connection_of_its_own(real_server, loop_kind):
    """redis-py's asyncio PubSub, on a redis-py connection from the pool facade."""
    async def main():
        r = _client(real_server)
        try:
            ps = r.pubsub()
            await ps.subscribe("ps:ch")
            assert (await ps.get_message(timeout=5))["type"] == "subscribe"
            assert await r.publish("ps:ch", "hi") == 1
            message = await ps.get_message(timeout=5)
            assert (message["type"], message["data"]) == ("message", b"hi")
            await ps.aclose()
            assert await r.echo("in step") == b"in step"
        finally:
            await r.aclose()

    run(loop_kind, main())


# -- connections ---------------------------------------------------------------------

async def _connection_ids(admin) -> set:
    return {int(c["id"]) for c in await admin.client_list()}


async def _gone(admin, cid: int) -> bool:
    for _ in range(100):
        if cid not in await _connection_ids(admin):
            return True
        await asyncio.sleep(0.02)
    return False


def test_connection_pool_disconnect_closes_the_engine_connections(server, loop_kind):
    """Libraries call connection_pool.disconnect() (after a fork, on shutdown): the
    engine's connections close, and the next command connects again."""
    async def main():
        r = _client(server)
        admin = _client(server)
        try:
            first = await r.client_id()
            await r.connection_pool.disconnect()
            assert await _gone(admin, first), "the engine's connection is still open"
            assert await r.set("pd:k", "v") is True and await r.get("pd:k") == b"v"
            assert await r.client_id() != first
        finally:
            await r.aclose()
            await admin.aclose()

    run(loop_kind, main())


def test_pipeline_dropped_while_watching_closes_its_connection(server, loop_kind):
    import gc

    async def main():
        r = _client(server)
        admin = _client(server)
        try:
            p = r.pipeline()
            await p.watch("dw:k")
            watch_conn = await p.client_id()
            del p  # never reset: its connection may still watch "dw:k"
            gc.collect()
            assert await _gone(admin, watch_conn), "a dropped WATCH pipeline left its connection open"
            assert await r.ping() is True
        finally:
            await r.aclose()
            await admin.aclose()

    run(loop_kind, main())
