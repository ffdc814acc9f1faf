"""The soak's workers: each checks every reply against its own unique values.

An operation is a plan: a list of steps (name, key, call, expected) run in
order; a step runs only if the one before succeeded with the right reply.
Keys are fresh for every operation (soak:<phase>:<worker>:<kind>:<seq>), so a
command lost to a fault (did the SET run before the connection broke?)
never makes a later check ambiguous. Values carry the worker's name and
sequence number: a wrong reply shows whose reply it was.

The same plans run in threads (sync clients, Pool futures) and in asyncio
tasks (the call returns an awaitable there).
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import random
import time
from typing import Any, Callable

from .tally import Tally

#: Upper bound on the operations one worker runs, beside the deadline.
MAX_OPS = 10_000_000
#: How long a Pool future or an awaited command may take before it counts
#: as never resolved (a defect: faults must end in a reply or an error).
RESOLVE_TIMEOUT = 15.0
#: BLPOP timeouts, seconds: on a list holding our element, and on an empty one.
BLPOP_FULL = 0.5
BLPOP_EMPTY = 0.1


class Plans:
    """The operations of one worker `who`, on keys under soak:<phase>: (each
    phase of a run starts on keys of its own). Each plan is built on the
    client `client_of()` returns then (a test may replace it meanwhile)."""

    def __init__(self, phase: str, who: str, client_of: Callable[[], Any], rng: random.Random) -> None:
        self.prefix = f"soak:{phase}:{who}"
        self.who, self.client_of, self.rng = who, client_of, rng
        self.counter_gen = 0
        self.count = 0

    def token(self, i: int, j: int = 0) -> bytes:
        return f"{self.who}:{i}:{j}:{self.rng.getrandbits(40):010x}".encode()

    def key(self, kind: str, i: int) -> str:
        return f"{self.prefix}:{kind}:{i}"

    def set_get(self, i: int) -> list:
        c, k, v = self.client_of(), self.key("s", i), self.token(i)
        return [("set", k, lambda: c.set(k, v), True), ("get", k, lambda: c.get(k), v)]

    def hset_hget(self, i: int) -> list:
        c, h, v = self.client_of(), self.key("h", i), self.token(i)
        return [("hset", h, lambda: c.hset(h, "f", v), 1), ("hget", h, lambda: c.hget(h, "f"), v)]

    def echo(self, i: int) -> list:
        c, v = self.client_of(), self.token(i)
        return [("echo", "-", lambda: c.echo(v), v)]

    def incr(self, i: int) -> list:
        c, k = self.client_of(), self.key("n", self.counter_gen)
        return [("incr", k, lambda: c.incr(k), self.count + 1)]

    def counted(self, ok: bool) -> None:
        """After an INCR plan: on any failure the counter's value is unknown
        (the INCR may have run), so continue on a new counter."""
        if ok:
            self.count += 1
        else:
            self.counter_gen += 1
            self.count = 0

    def pipeline(self, i: int) -> list:
        n = self.rng.randint(2, 16)
        keys = [self.key("p", i) + f":{j}" for j in range(n)]
        vals = [self.token(i, j) for j in range(n)]
        p = self.client_of().pipeline()
        for k, v in zip(keys, vals):
            p.set(k, v)
        for k in keys:
            p.get(k)
        return [("pipeline", keys[0], p.execute, [True] * n + vals)]

    def transaction(self, i: int) -> list:
        k, v = self.key("x", i), self.token(i)
        p = self.client_of().pipeline(transaction=True)
        p.set(k, v).incr(k + ":n").incrby(k + ":n", 5).get(k)
        return [("multi", k, p.execute, [True, 1, 6, v])]

    def blpop(self, i: int) -> list:
        c, lst, v = self.client_of(), self.key("l", i), self.token(i)
        if self.rng.random() < 0.25:
            return [("blpop-empty", lst, lambda: c.blpop(lst, timeout=BLPOP_EMPTY), None)]
        return [("rpush", lst, lambda: c.rpush(lst, v), 1),
                ("blpop", lst, lambda: c.blpop(lst, timeout=BLPOP_FULL), (lst.encode(), v))]

    def submit(self, i: int) -> list:
        """Pool futures: a burst of ECHOs, then SET and GET in sequence (two
        submissions may run on different connections, so the GET waits)."""
        c, n = self.client_of(), self.rng.randint(1, 24)
        vals = [self.token(i, j) for j in range(n)]
        futs: list = []

        def burst():
            futs.extend(c.submit("ECHO", v) for v in vals)
            return [_resolve(f) for f in futs]

        k, v = self.key("f", i), self.token(i, n)
        return [("submit-echo", "-", burst, vals),
                ("submit-set", k, lambda: _resolve(c.submit("SET", k, v)), b"OK"),
                ("submit-get", k, lambda: _resolve(c.submit("GET", k)), v)]


class NeverResolved(Exception):
    """A future or awaited command outlived RESOLVE_TIMEOUT."""


def _resolve(fut: concurrent.futures.Future):
    try:
        return fut.result(RESOLVE_TIMEOUT)
    except concurrent.futures.TimeoutError:
        raise NeverResolved(f"future unresolved after {RESOLVE_TIMEOUT}s") from None


#: Operations every worker mixes, and how often (relative weights); Pool
#: threads add "submit".
OPS = ("set_get", "hset_hget", "echo", "incr", "pipeline", "transaction", "blpop")
WEIGHTS = (30, 15, 10, 20, 10, 8, 7)


def run_thread(phase: str, who: str, kind: str, client_of: Callable[[], Any], tally: Tally,
               deadline: float, seed: int) -> None:
    """One thread's loop until the deadline: random operations, each checked."""
    rng = random.Random(seed)
    plans = Plans(phase, who, client_of, rng)
    ops, weights = OPS, WEIGHTS
    if kind == "pool":
        ops, weights = ops + ("submit",), weights + (25,)
    for i in range(MAX_OPS):
        if time.monotonic() >= deadline:
            return
        name = rng.choices(ops, weights)[0]
        try:
            steps = getattr(plans, name)(i)
        except Exception as e:  # noqa: BLE001 - building a plan must not fail
            tally.unexpected_error(who, name, "-", e)
            continue
        ok = True
        for op, key, call, expected in steps:
            ok, got = tally.outcome(op, who, key, call)
            if not ok or not tally.check(who, op, key, expected, got):
                ok = False
                break
            tally.done(kind)
        if name == "incr":
            plans.counted(ok)


async def _run_task(phase: str, who: str, c, tally: Tally, deadline: float, seed: int) -> None:
    rng = random.Random(seed)
    plans = Plans(phase, who, lambda: c, rng)
    for i in range(MAX_OPS):
        if time.monotonic() >= deadline:
            return
        name = rng.choices(OPS, WEIGHTS)[0]
        ok = True
        for op, key, call, expected in getattr(plans, name)(i):
            try:
                got = await asyncio.wait_for(call(), RESOLVE_TIMEOUT)
            except asyncio.TimeoutError:  # the builtin class; cpipe's is another
                tally.failed(who, op, key, NeverResolved(f"await outlived {RESOLVE_TIMEOUT}s"))
                ok = False
            except Exception as e:  # noqa: BLE001 - classified by the tally
                tally.failed(who, op, key, e)
                ok = False
            else:
                ok = tally.check(who, op, key, expected, got)
            if not ok:
                break
            tally.done("asyncio")
        if name == "incr":
            plans.counted(ok)


def run_asyncio(phase: str, host: str, port: int, tasks: int, socket_timeout: float, tally: Tally,
                deadline: float, seed: int) -> None:
    """One event loop (in the calling thread) running `tasks` workers on one
    cpipe.asyncio.Client."""
    import cpipe.asyncio

    async def main() -> None:
        c = cpipe.asyncio.Client(host=host, port=port, socket_timeout=socket_timeout)
        try:
            await asyncio.gather(*(_run_task(phase, f"a{n}-asyncio", c, tally, deadline, seed + n)
                                   for n in range(tasks)))
        finally:
            await c.aclose()

    asyncio.run(main())
