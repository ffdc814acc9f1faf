"""Cancelling tasks never leaves a connection out of step: the reply of a
cancelled command is read and dropped, so every later command still gets
its own reply (redis-py's CVE-2023-28858/28859 is the failure to avoid)."""
from __future__ import annotations

import asyncio
import random

import pytest

import cpipe
import cpipe.asyncio as ca

from ._run import run

KEYS = 120


def _value(k: int) -> bytes:
    # Some values span many socket reads, so a cancellation can land mid-reply.
    size = 200_000 if k % 10 == 0 else 20 + k
    return (f"v{k}:".encode() * (size // 4 + 1))[:size]


async def _setup(r) -> None:
    async with r.pipeline() as p:
        for k in range(KEYS):
            p.set(f"cx:k{k}", _value(k))
        p.delete("cx:h", "cx:l")
        p.hset("cx:h", mapping={f"f{i}": f"hv{i}" for i in range(300)})
        p.rpush("cx:l", *[f"li{i}" for i in range(300)])
        await p.execute()


async def _checked_command(r, rng: random.Random, token: str) -> str:
    """One command whose reply is known exactly; raises if it is not ours."""
    kind = rng.randrange(4)
    if kind == 0:
        k = rng.randrange(KEYS)
        assert await r.get(f"cx:k{k}") == _value(k), f"GET cx:k{k} got another reply"
    elif kind == 1:
        assert await r.echo(token) == token.encode(), "ECHO got another reply"
    elif kind == 2:
        h = await r.hgetall("cx:h")
        assert h == {f"f{i}".encode(): f"hv{i}".encode() for i in range(300)}, "HGETALL got another reply"
    else:
        assert await r.lrange("cx:l", 0, -1) == [f"li{i}".encode() for i in range(300)], "LRANGE got another reply"
    return token


async def _cancel_rounds(r, rounds: int, seed: int) -> None:
    rng = random.Random(seed)
    await _setup(r)
    cancelled_total = completed_total = 0
    for rnd in range(rounds):
        tasks = []
        for j in range(100):
            coro = _checked_command(r, random.Random(rng.random()), f"{rnd}:{j}")
            if rng.random() < 0.3:
                coro = asyncio.wait_for(coro, rng.choice([0, 1e-6, 1e-4, 5e-4, 2e-3]))
            tasks.append(asyncio.ensure_future(coro))
        # Cancel a random half at random moments: before the task ran, after
        # it sent its command, while the reply is arriving, after it arrived.
        for t in rng.sample(tasks, len(tasks) // 2):
            pause = rng.randrange(4)
            if pause == 1:
                await asyncio.sleep(0)
            elif pause == 2:
                await asyncio.sleep(rng.random() * 0.002)
            t.cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        for j, res in enumerate(results):
            if isinstance(res, (asyncio.CancelledError, asyncio.TimeoutError)):
                cancelled_total += 1
            elif isinstance(res, BaseException):
                raise AssertionError(f"round {rnd} task {j}: {res!r}") from res
            else:
                assert res == f"{rnd}:{j}"
                completed_total += 1
        # Straight after: every command still gets exactly its own reply.
        check = [_checked_command(r, random.Random(rng.random()), f"check{rnd}:{j}") for j in range(50)]
        assert await asyncio.gather(*check) == [f"check{rnd}:{j}" for j in range(50)]
    assert cancelled_total > rounds * 10 and completed_total > 0, (cancelled_total, completed_total)


# A task cancelled before it first ran leaves its coroutine unstarted.
@pytest.mark.filterwarnings("ignore:coroutine '_checked_command' was never awaited")
@pytest.mark.parametrize("kind", ["client", "pool"])
def test_cancel_random_tasks_many_rounds(server, loop_kind, kind):
    async def main():
        cls = ca.Pool if kind == "pool" else ca.Client
        opts = {"size": 3} if kind == "pool" else {}
        r = cls(host="127.0.0.1", port=server.port, socket_timeout=30, **opts)
        try:
            await _cancel_rounds(r, rounds=40, seed=1234)
            # Every dropped reply was collected: nothing is left waiting.
            await asyncio.sleep(0.2)
            assert await r.ping() is True
            assert len(r._lq.pending) == 0, "replies of cancelled commands were never collected"
        finally:
            await r.aclose()

    run(loop_kind, main(), timeout=120)


def test_cancel_pipelines(server, loop_kind):
    async def main():
        r = ca.Client(host="127.0.0.1", port=server.port, socket_timeout=30)
        rng = random.Random(99)
        try:
            await _setup(r)
            await r.delete("cx:a", "cx:b")
            for rnd in range(30):
                tasks = []
                for j in range(10):
                    if j % 2:
                        p = r.pipeline(transaction=False)
                        for i in range(300):
                            p.get(f"cx:k{(i + j) % KEYS}")
                        want = [_value((i + j) % KEYS) for i in range(300)]
                    else:
                        p = r.pipeline(transaction=True)
                        p.incr("cx:a").incr("cx:b").echo(f"{rnd}:{j}")
                        want = None
                    tasks.append((asyncio.ensure_future(p.execute()), want))
                for t, _ in rng.sample(tasks, 5):
                    if rng.random() < 0.5:
                        await asyncio.sleep(rng.random() * 0.003)
                    t.cancel()
                for j, (t, want) in enumerate(tasks):
                    try:
                        res = await t
                    except asyncio.CancelledError:
                        continue
                    if want is not None:
                        assert res == want, f"round {rnd} pipeline {j} got another reply"
                    else:
                        a, b, e = res
                        assert a == b and e == f"{rnd}:{j}".encode()
                # Single commands and pipelines after the cancellations are in step.
                p = r.pipeline(transaction=False)
                p.echo(f"after{rnd}").get("cx:k3")
                assert await p.execute() == [f"after{rnd}".encode(), _value(3)]
                assert await r.echo(f"single{rnd}") == f"single{rnd}".encode()
                # A cancelled transaction ran either whole or not at all.
                a, b = await r.mget("cx:a", "cx:b")
                assert a == b
        finally:
            await r.aclose()

    run(loop_kind, main(), timeout=120)


def test_cancelled_waiters_with_timeouts(server, loop_kind):
    """asyncio.wait_for with tiny timeouts on every command of a long stream."""
    async def main():
        r = ca.Client(host="127.0.0.1", port=server.port, socket_timeout=30)
        try:
            await _setup(r)
            timed_out = 0
            for i in range(3000):
                try:
                    got = await asyncio.wait_for(r.get(f"cx:k{i % KEYS}"), 0.0005 if i % 3 else 0)
                except asyncio.TimeoutError:
                    timed_out += 1
                else:
                    assert got == _value(i % KEYS)
            assert await r.echo("end") == b"end"
            assert timed_out > 0
        finally:
            await r.aclose()

    run(loop_kind, main(), timeout=120)


def test_cancelled_blocking_pop_does_not_swallow_the_next_item(server, loop_kind):
    """The common pattern `await asyncio.wait_for(r.blpop(q, 0), t)`: when
    it times out, the BLPOP must not stay armed on the server, or it pops
    the next item pushed and that item is lost (nobody awaits its reply)."""
    async def main():
        r = ca.Client(host="127.0.0.1", port=server.port, socket_timeout=30)
        try:
            await r.delete("cx:q")
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(r.blpop(["cx:q"], 0), 0.2)
            await asyncio.sleep(0.1)
            assert await r.rpush("cx:q", "precious") == 1
            await asyncio.sleep(0.1)
            assert await r.blpop(["cx:q"], 1) == (b"cx:q", b"precious"), \
                "the cancelled BLPOP consumed the item"
        finally:
            await r.aclose()

    run(loop_kind, main(), timeout=30)


def test_cancelled_blocking_commands_leave_the_server(dedicated_server, loop_kind):
    """Cancelled BLPOPs (timeout 0: forever) must not stay blocked on the
    server, holding connections and waiting to pop someone's data."""
    import cpipe as sync

    monitor = sync.Client(host="127.0.0.1", port=dedicated_server.port, socket_timeout=10)

    def blocked_clients() -> int:
        return int(monitor.info("clients")["blocked_clients"])

    async def main():
        r = ca.Pool(host="127.0.0.1", port=dedicated_server.port, size=2, socket_timeout=10)
        try:
            tasks = [asyncio.ensure_future(r.blpop([f"cb:{i}"], 0)) for i in range(30)]
            tasks += [asyncio.ensure_future(r.bzpopmin([f"cbz:{i}"], 0)) for i in range(5)]
            for _ in range(100):
                await asyncio.sleep(0.02)
                if blocked_clients() == 35:
                    break
            assert blocked_clients() == 35
            for t in tasks:
                t.cancel()
            for _ in range(150):
                await asyncio.sleep(0.02)
                if blocked_clients() == 0:
                    break
            assert blocked_clients() == 0, "cancelled blocking commands still wait on the server"
            for i in range(30):
                await r.rpush(f"cb:{i}", "kept")
            assert [await r.llen(f"cb:{i}") for i in range(30)] == [1] * 30
            # The client still works, blocking commands included.
            assert await r.blpop(["cb:0"], 1) == (b"cb:0", b"kept")
            assert await asyncio.gather(*(r.echo(str(i)) for i in range(100))) == [str(i).encode() for i in range(100)]
        finally:
            await r.aclose()

    try:
        run(loop_kind, main(), timeout=30)
    finally:
        monitor.close()
