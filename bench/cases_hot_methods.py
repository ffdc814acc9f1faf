"""Why cpipe keeps a few hand-written command methods (python/cpipe/_hot.py).

Every command method of cpipe.Redis is redis-py's, but for a dozen hot ones
whose plain form cpipe writes itself. These cases measure that choice: the
same cpipe client and engine, once through cpipe's hot method and once
through redis-py's own method of the same name (called unbound on the same
object), taking turns chunk by chunk.
"""
from __future__ import annotations

import redis

from harness import Context, Target, case


def _loads(ctx: Context, kind: str) -> list:
    c = ctx.cpipe_client()
    rp_hset, rp_hget = redis.Redis.hset, redis.Redis.hget

    def pipe(method_set, method_get, label):
        def load(a, b):
            p = c.pipeline(transaction=False)
            key = f"bench:hot:{label}"
            if kind == "pipe":
                for i in range(a, b):
                    method_set(p, key, i, i)
                for i in range(a, b):
                    method_get(p, key, i)
                out = p.execute()
            else:
                for i in range(a, b):
                    method_set(c, key, i, i)
                out = [method_get(c, key, i) for i in range(a, b)]
            want = str(b - 1).encode()

            def check():
                if out[-1] != want:
                    raise AssertionError(f"{label}: last reply {out[-1]!r}, expected {want!r}")
            return check
        return load

    hot = type(c)
    return [("cpipe hot methods", pipe(hot.hset, hot.hget, "hot")),
            ("redis-py's methods on cpipe", pipe(rp_hset, rp_hget, "redis-py"))]


@case(
    "hot_pipe", "Hot methods in a pipeline: HSET then HGET, 100,000 each", order=900,
    targets=[Target("cpipe hot methods", "redis-py's methods on cpipe", at_least=1.0)],
    description=(
        "`p.hset(key, i, i)` then `p.hget(key, i)` queued in pipelines of 10,000 (transaction=False) on one "
        "cpipe.Redis, through cpipe's hot methods and through `redis.Redis.hset(p, ...)` / "
        "`redis.Redis.hget(p, ...)` (redis-py's own methods on the same pipeline), taking turns; rate = "
        "commands / time, building the pipeline included."),
)
def hot_pipe(ctx: Context) -> None:
    n = ctx.count(100_000)
    ctx.flushall()
    acc = ctx.interleaved()
    acc.run(_loads(ctx, "pipe"), n, 10_000, ops_per_item=2)
    acc.record()


@case(
    "hot_seq", "Hot methods one at a time: HSET then HGET, 10,000 each", order=901,
    description=(
        "No target: one round trip per command hides a difference of a microsecond, so this case "
        "only shows that the hot methods cost nothing there. "
        "`c.hset(key, i, i)` then `c.hget(key, i)`, one round trip each, on one cpipe.Redis, through "
        "cpipe's hot methods and through redis-py's own methods on the same client, taking turns in "
        "chunks of 1,000."),
)
def hot_seq(ctx: Context) -> None:
    n = ctx.count(10_000)
    ctx.flushall()
    acc = ctx.interleaved()
    acc.run(_loads(ctx, "seq"), n, 1_000, ops_per_item=2)
    acc.record()
