"""Run the same command script against the real server and the reference
server and compare the replies byte for byte.

A script is a list of steps:
    ("SET", "k", "v")          reply bytes must be identical
    U("SMEMBERS", "s")         same elements in any order (Redis's hash
                               table order is randomly seeded per process)
    SCANALL("SCAN", "0", ...)  iterate the cursor to 0, compare the union
    APPROX(50, "PTTL", "k")    integer replies within 50 of each other
    SLEEP(0.1)                 pause (expiry scripts)
Each script starts on a fresh connection after FLUSHALL.
"""
from __future__ import annotations

import time

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from .rawclient import RawClient, parse


class U(tuple):
    def __new__(cls, *args):
        return super().__new__(cls, args)


class SCANALL(tuple):
    def __new__(cls, *args):
        return super().__new__(cls, args)


class APPROX:
    def __init__(self, tol, *cmd):
        self.tol = tol
        self.cmd = cmd

    def __repr__(self):
        return f"APPROX({self.tol}, {self.cmd})"


class SLEEP:
    def __init__(self, seconds):
        self.seconds = seconds

    def __repr__(self):
        return f"SLEEP({self.seconds})"


def _sorted_items(v):
    if isinstance(v, list):
        return sorted((repr(x) for x in v))
    return v


def run_step(cl: RawClient, step):
    if isinstance(step, SLEEP):
        time.sleep(step.seconds)
        return None
    if isinstance(step, APPROX):
        return ("approx", step.tol, parse(cl.call(*step.cmd)))
    if isinstance(step, U):
        return ("unordered", _sorted_items(parse(cl.call(*step))))
    if isinstance(step, SCANALL):
        args = list(step)
        at = 1 if args[0].upper() == "SCAN" else 2  # where the cursor goes
        cursor = args[at]
        seen = []
        for _ in range(10000):
            args[at] = cursor
            v = parse(cl.call(*args))
            if not isinstance(v, list):
                return ("scan-error", v)
            cursor, items = v
            if args[0].upper() in ("HSCAN", "ZSCAN"):
                seen += [tuple(items[i:i + 2]) for i in range(0, len(items), 2)]
            else:
                seen += items
            if cursor == b"0":
                break
        return ("scan", sorted(set(map(repr, seen))))
    return cl.call(*step)


def run_script(port: int, steps, db: int = 9) -> list:
    with RawClient(port) as cl:
        cl.call("FLUSHALL")
        cl.call("SELECT", str(db))
        return [run_step(cl, s) for s in steps]


def _same(a, b) -> bool:
    if isinstance(a, tuple) and a and a[0] == "approx":
        return (isinstance(b, tuple) and isinstance(a[2], int) and isinstance(b[2], int)
                and abs(a[2] - b[2]) <= a[1])
    return a == b


def assert_same(real_port: int, ref_port: int, steps) -> None:
    expected = run_script(real_port, steps)
    got = run_script(ref_port, steps)
    diffs = []
    for step, e, g in zip(steps, expected, got):
        if not _same(e, g):
            diffs.append(f"  {step!r}:\n    redis: {e!r}\n    ref:   {g!r}")
    assert not diffs, "replies differ:\n" + "\n".join(diffs)


def _redispy_value(r, step):
    try:
        return ("ok", repr(r.execute_command(*step)))
    except redis.RedisError as e:
        return ("error", type(e).__name__, str(e))


def assert_same_redispy(real_port: int, ref_port: int, steps) -> None:
    """The same script through redis-py (protocol=2, no decoding): parsed
    replies, response callbacks and exception classes must agree too."""
    plain = [s for s in steps if type(s) is tuple]
    results = []
    for port in (real_port, ref_port):
        r = redis.Redis(port=port, protocol=2, db=9, socket_timeout=5,
                        retry=Retry(NoBackoff(), 0))  # errors surface at once
        try:
            r.flushall()
            results.append([_redispy_value(r, s) for s in plain])
        finally:
            r.close()
    diffs = [f"  {s!r}: redis {a!r} ref {b!r}"
             for s, a, b in zip(plain, results[0], results[1]) if a != b]
    assert not diffs, "redis-py results differ:\n" + "\n".join(diffs)
