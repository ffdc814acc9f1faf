"""Pub/Sub: one subscriber receives N published messages.

The publisher is `redis-benchmark -P 1000 -c 1 PUBLISH bench:ps <16 bytes>` in
its own process, started once the subscriber is subscribed; a load is the
time from its start until the subscriber has received the N-th message (and
the CPU of this process over that time: the Go engine's reader included).
Every client takes its turn in each repetition, in an order rotated per
repetition:

- cpipe: `for m in pubsub.listen()` (sync) and `async for m in pubsub.listen()`
  (asyncio), with `ignore_subscribe_messages=True`;
- redis-py: the `get_message()` loop (its usual fast form) and `listen()`,
  and redis.asyncio's `async for`.

A second figure, "backlog", publishes the N messages first (the subscriber
not reading: they wait in the engine's queue, the socket buffers and the
server's output buffer) and then times only the draining: what a consumer
that fell behind pays per message. The engine's reader ran while the
messages were published, so for cpipe part of the work is outside the
clock: that row is context (info), the live rows carry the target.
"""
from __future__ import annotations

import asyncio
import subprocess
import time
from typing import Any, Callable

from harness import Context, Target, case

N = 200_000
CHANNEL = "bench:ps"
PAYLOAD = "x" * 16


def _publisher(ctx: Context, n: int) -> subprocess.Popen:
    if not ctx.bench_bin:
        raise RuntimeError("redis-benchmark not found")
    cmd = [ctx.bench_bin, "-h", ctx.host, "-p", str(ctx.port), "-n", str(n), "-P", "1000", "-c", "1", "-q",
           "PUBLISH", CHANNEL, PAYLOAD]
    ctx.note(f"publisher: `redis-benchmark -h {ctx.host} -p PORT -n {n} -P 1000 -c 1 -q PUBLISH {CHANNEL} {PAYLOAD}`")
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _wait_subscribed(ctx: Context, count: int = 1) -> None:
    admin = ctx.admin()
    deadline = time.monotonic() + 10
    while dict(admin.pubsub_numsub(CHANNEL)).get(CHANNEL.encode(), 0) < count:
        if time.monotonic() > deadline:
            raise RuntimeError("the subscriber never subscribed")
        time.sleep(0.005)


def _count_sync(messages: Any, n: int) -> None:
    got = 0
    for m in messages:
        if m["type"] == "message":
            got += 1
            if got == n:
                return


def _get_message_loop(ps: Any, n: int) -> None:
    got = 0
    get = ps.get_message
    while got < n:
        m = get(ignore_subscribe_messages=True, timeout=1.0)
        if m is not None and m["type"] == "message":
            got += 1


async def _count_async(ps: Any, n: int) -> None:
    got = 0
    async for m in ps.listen():
        if m["type"] == "message":
            got += 1
            if got == n:
                return


def _sync_load(ctx: Context, make_client: Callable[[], Any], consume: Callable[[Any, int], None], n: int,
               backlog: bool, **pubsub_kw: Any) -> tuple:
    """(seconds, meter) of one subscriber receiving n messages."""
    ps = make_client().pubsub(ignore_subscribe_messages=True, **pubsub_kw)
    ps.subscribe(CHANNEL)
    _wait_subscribed(ctx)
    try:
        if backlog:
            _publisher(ctx, n).wait(ctx.remaining())
        with ctx.meter() as m:
            pub = None if backlog else _publisher(ctx, n)
            consume(ps, n)
        if pub is not None:
            pub.wait(ctx.remaining())
        return m
    finally:
        ps.close()


def _async_load(ctx: Context, make_client: Callable[[], Any], n: int, backlog: bool, **pubsub_kw: Any) -> Any:
    async def main() -> Any:
        client = make_client()
        ps = client.pubsub(ignore_subscribe_messages=True, **pubsub_kw)
        await ps.subscribe(CHANNEL)
        _wait_subscribed(ctx)
        try:
            if backlog:
                await asyncio.get_running_loop().run_in_executor(None, lambda: _publisher(ctx, n).wait(ctx.remaining()))
            with ctx.meter() as m:
                pub = None if backlog else _publisher(ctx, n)
                await _count_async(ps, n)
            if pub is not None:
                pub.wait(ctx.remaining())
            return m
        finally:
            await ps.aclose()
            await client.aclose()

    return ctx.run_async(main())


def _clients(ctx: Context, backlog: bool, n: int) -> list:
    import cpipe
    import cpipe.asyncio
    import redis
    import redis.asyncio

    host, port = ctx.host, ctx.port
    # Room for the whole backlog in the engine's queue (the default bound is 100,000 messages).
    kw = {"max_queued_messages": n + 1000} if backlog else {}
    return [
        ("cpipe listen()", lambda: _sync_load(ctx, lambda: cpipe.Redis(host=host, port=port), _count_listen, n, backlog, **kw)),
        ("redis-py get_message()", lambda: _sync_load(ctx, lambda: redis.Redis(host=host, port=port, protocol=2),
                                                      _get_message_loop, n, backlog)),
        ("redis-py listen()", lambda: _sync_load(ctx, lambda: redis.Redis(host=host, port=port, protocol=2),
                                                 _count_listen, n, backlog)),
        ("cpipe.asyncio async for", lambda: _async_load(ctx, lambda: cpipe.asyncio.Redis(host=host, port=port), n,
                                                        backlog, **kw)),
        ("redis.asyncio async for", lambda: _async_load(ctx, lambda: redis.asyncio.Redis(host=host, port=port,
                                                                                          protocol=2), n, backlog)),
    ]


def _count_listen(ps: Any, n: int) -> None:
    _count_sync(ps.listen(), n)


def _run(ctx: Context, backlog: bool) -> None:
    n = ctx.count(N, 1000)
    suffix = " (backlog)" if backlog else ""
    for label, load in ctx.rotate(_clients(ctx, backlog, n)):
        m = load()
        ctx.record(label + suffix, n / m.seconds, info=backlog, cpu=m.per_op(n))


@case("pubsub", "Pub/Sub: one subscriber receives 200,000 published messages", order=900,
      targets=[Target("cpipe listen()", "redis-py get_message()", at_least=3.0),
               Target("cpipe.asyncio async for", "redis.asyncio async for", at_least=3.0)])
def pubsub_live(ctx: Context) -> None:
    """redis-benchmark publishes (-P 1000) while the subscriber reads; rate = N / (publisher start to N-th message)."""
    _run(ctx, backlog=False)


@case("pubsub_backlog", "Pub/Sub: draining a backlog of 200,000 messages", order=901)
def pubsub_backlog(ctx: Context) -> None:
    """N messages published first, then only the subscriber's draining is timed (context: see the module)."""
    _run(ctx, backlog=True)
