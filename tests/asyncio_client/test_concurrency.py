"""Many tasks on one client or pool, several event loops in several threads,
blocking commands beside ordinary traffic; on asyncio and on uvloop."""
from __future__ import annotations

import asyncio
import threading
import time

import pytest

import cpipe.asyncio as ca

from ._run import LOOP_KINDS, loop_is, run

TASKS = 50
PER_TASK = 1_000


def _make(kind: str, port: int, **options):
    options.setdefault("socket_timeout", 30)
    if kind == "pool":
        return ca.Pool(host="127.0.0.1", port=port, size=4, **options)
    return ca.Client(host="127.0.0.1", port=port, **options)


async def task_program(r, t: int, n: int, prefix: str = "") -> None:
    """n commands on task t's own keys, each reply checked against a model."""
    p = f"{prefix}at{t}:"
    counter = 0
    items: list[bytes] = []
    last = None
    for i in range(n):
        v = f"{t}:{i}"
        step = i % 8
        if step == 0:
            assert await r.set(p + "s", v) is True
            last = v.encode()
        elif step == 1:
            assert await r.get(p + "s") == last, (t, i)
        elif step == 2:
            counter += 1
            assert await r.incr(p + "n") == counter, (t, i)
        elif step == 3:
            assert await r.hset(p + "h", str(i), v) == 1, (t, i)
        elif step == 4:
            assert await r.hget(p + "h", str(i - 1)) == f"{t}:{i - 1}".encode(), (t, i)
        elif step == 5:
            items.insert(0, v.encode())
            assert await r.lpush(p + "l", v) == len(items), (t, i)
        elif step == 6:
            assert await r.lrange(p + "l", 0, 2) == items[:3], (t, i)
        else:
            assert await r.echo(v) == v.encode(), (t, i)
    assert await r.hlen(p + "h") == n // 8
    assert await r.get(p + "n") == str(counter).encode()


@pytest.mark.parametrize("kind", ["client", "pool"])
def test_50_tasks_1000_commands(server, loop_kind, kind):
    async def main():
        assert loop_is(loop_kind)
        r = _make(kind, server.port)
        try:
            await r.flushall()
            await asyncio.gather(*(task_program(r, t, PER_TASK) for t in range(TASKS)))
            assert await r.dbsize() == TASKS * 4
        finally:
            await r.aclose()

    run(loop_kind, main(), timeout=180)


@pytest.mark.parametrize("kind", ["client", "pool"])
def test_many_commands_in_flight_at_once(server, loop_kind, kind):
    """Tens of thousands of futures outstanding, not awaited one by one."""
    async def main():
        r = _make(kind, server.port)
        try:
            futs = [r.echo(f"f{i}") for i in range(30_000)]
            assert await asyncio.gather(*futs) == [f"f{i}".encode() for i in range(30_000)]
        finally:
            await r.aclose()

    run(loop_kind, main(), timeout=120)


def test_several_loops_in_several_threads(server):
    """Each thread runs its own loop (asyncio and uvloop mixed) with its own
    Client and Pool; all at the same time, all correct."""
    errors: list = []

    def thread_main(n: int) -> None:
        loop_kind = LOOP_KINDS[n % 2]

        async def main():
            assert loop_is(loop_kind)
            c = _make("client", server.port)
            p = _make("pool", server.port)
            try:
                await asyncio.gather(*(task_program(c if t % 2 else p, t, 400, prefix=f"loop{n}:")
                                       for t in range(20)))
            finally:
                await c.aclose()
                await p.aclose()

        try:
            run(loop_kind, main(), timeout=120)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append((n, e))

    threads = [threading.Thread(target=thread_main, args=(n,), daemon=True) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(150)
    assert not any(t.is_alive() for t in threads), "a loop thread hung"
    assert errors == [], errors[:3]


def test_one_client_per_loop_sequentially(server, loop_kind):
    """New loops one after another (as asyncio.run in a script or a test
    suite does), each with fresh clients."""
    async def main(i):
        r = _make("client", server.port)
        try:
            assert await asyncio.gather(*(r.echo(f"{i}:{j}") for j in range(100))) == [
                f"{i}:{j}".encode() for j in range(100)]
        finally:
            await r.aclose()

    for i in range(30):
        run(loop_kind, main(i), timeout=30)


# ------------------------------------------------------------ blocking commands


@pytest.mark.parametrize("kind", ["client", "pool"])
def test_blpop_beside_other_tasks(server, loop_kind, kind):
    async def main():
        r = _make(kind, server.port)
        try:
            await r.delete("ab:q", "ab:q2", "ab:n")
            await r.mset({f"ab:g{i}": f"v{i}" for i in range(1000)})
            t0 = time.monotonic()
            blocker = asyncio.ensure_future(r.blpop(["ab:q"], 2))
            await asyncio.sleep(0.05)
            gets = await asyncio.gather(*(r.get(f"ab:g{i}") for i in range(1000)))
            assert gets == [f"v{i}".encode() for i in range(1000)]
            assert not blocker.done(), "the GETs waited for the BLPOP"
            assert await blocker is None  # timed out on the server
            assert time.monotonic() - t0 >= 1.5

            # Woken by a push from another task, with the right value.
            blocker = asyncio.ensure_future(r.blpop(["ab:q2"], 5))
            await asyncio.sleep(0.05)
            seq = [await r.incr("ab:n") for _ in range(200)]  # sequential traffic meanwhile
            assert seq == list(range(1, 201))
            assert not blocker.done()
            assert await r.rpush("ab:q2", "payload") == 1
            assert await blocker == (b"ab:q2", b"payload")
        finally:
            await r.aclose()

    run(loop_kind, main(), timeout=30)


def test_many_blocked_tasks_each_get_their_value(server, loop_kind):
    async def main():
        r = _make("client", server.port)
        try:
            keys = [f"mb:{i}" for i in range(40)]
            await r.delete(*keys)
            blocked = [asyncio.ensure_future(r.brpop([k], 10)) for k in keys]
            moved = [asyncio.ensure_future(r.blmove(f"mb:src{i}", f"mb:dst{i}", 10)) for i in range(5)]
            zpop = asyncio.ensure_future(r.bzpopmin(["mb:z"], 10))
            await asyncio.sleep(0.2)
            assert await asyncio.gather(*(r.echo(str(i)) for i in range(500))) == [str(i).encode() for i in range(500)]
            assert not any(b.done() for b in blocked + moved + [zpop])
            for k in reversed(keys):
                await r.lpush(k, "for-" + k)
            for i in range(5):
                await r.rpush(f"mb:src{i}", f"m{i}")
            await r.zadd("mb:z", {"zm": 3.5})
            assert await asyncio.gather(*blocked) == [(k.encode(), f"for-{k}".encode()) for k in keys]
            assert await asyncio.gather(*moved) == [f"m{i}".encode() for i in range(5)]
            assert await zpop == (b"mb:z", b"zm", 3.5)
            assert await r.blpop(["mb:empty"], 0.3) is None
        finally:
            await r.aclose()

    run(loop_kind, main(), timeout=30)


# ------------------------------------------------------------ order and resources


@pytest.mark.parametrize("max_queued", [0, 8])
def test_commands_issued_in_order_run_in_order(server, loop_kind, max_queued):
    """On one Client (one connection) commands run in the order they were
    issued, even when not awaited one by one: while it first connects, and
    when the max_queued bound makes later ones wait for room."""
    async def main():
        bad = []
        for trial in range(30):
            r = _make("client", server.port, max_queued=max_queued)
            try:
                key = f"ord:{trial}"
                futs = [r.rpush(key, i) for i in range(200)]  # issued before any connect
                assert sorted(await asyncio.gather(*futs)) == list(range(1, 201))
                got = [int(x) for x in await r.lrange(key, 0, -1)]
                if got != list(range(200)):
                    bad.append((trial, got[:10]))
                await r.delete(key)
            finally:
                await r.aclose()
        assert bad == [], f"{len(bad)} of 30 trials ran commands out of order, e.g. {bad[0]}"

    run(loop_kind, main(), timeout=60)


def test_event_loops_release_their_resources(server, loop_kind):
    """Each event loop gets a completion queue and a wake-up pipe; they must
    go when the loop goes, or a process that runs many loops (a test suite,
    asyncio.run in a loop) runs out of file descriptors."""
    import gc
    import os

    def fds() -> int:
        return len(os.listdir("/proc/self/fd"))

    async def main(i):
        r = _make("client", server.port)
        try:
            assert await r.echo(str(i)) == str(i).encode()
        finally:
            await r.aclose()

    run(loop_kind, main(-1), timeout=30)
    gc.collect()
    before = fds()
    for i in range(200):
        run(loop_kind, main(i), timeout=30)
    gc.collect()
    grown = fds() - before
    assert grown < 20, f"{grown} file descriptors leaked by 200 event loops"


def test_commands_abandoned_when_their_loop_ends(server, loop_kind):
    """A loop that ends with commands still in flight: when their replies
    come later, the engine must not write into a file descriptor the
    process has reused since (the loop's wake-up pipe must not be closed
    while the engine may still write to it)."""
    import gc
    import tempfile

    async def abandon():
        r = _make("client", server.port)
        # call() sends at once (command methods send when awaited, as redis-py's).
        for i in range(5):
            r.call("BLPOP", f"abandon:{i}", 0.5)  # sent, never awaited
        r.call("ECHO", "never awaited")
        await asyncio.sleep(0.05)

    run(loop_kind, abandon(), timeout=30)
    gc.collect()
    files = [tempfile.TemporaryFile() for _ in range(20)]  # take the lowest free descriptors
    try:
        time.sleep(1.0)  # the BLPOPs time out now
        for f in files:
            f.seek(0)
            assert f.read() == b"", "the engine wrote into a reused file descriptor"
    finally:
        for f in files:
            f.close()

    async def after():
        r = _make("client", server.port)
        try:
            assert await r.echo("fine") == b"fine"
        finally:
            await r.aclose()

    run(loop_kind, after(), timeout=30)


def test_big_pipeline(server, loop_kind):
    async def main():
        r = _make("client", server.port)
        try:
            p = r.pipeline(transaction=False)
            for i in range(100_000):
                p.set(f"big:{i % 1000}", i)
            p.get("big:999")
            replies = await p.execute()
            assert replies[:-1] == [True] * 100_000 and replies[-1] == b"99999"
        finally:
            await r.aclose()

    run(loop_kind, main(), timeout=120)
