"""Run the same command steps on redis-py and on the client under test.

A scenario is a list of steps `S("method", *args, **kwargs)`. `Differ.run`
plays every step on redis-py, records each result or exception and a
snapshot of the whole keyspace, empties the server, plays the same steps on
the client under test, and asserts that results (types included: True is not
1, b"x" is not "x", a tuple is not a list), errors and final keyspace are the
same. A step on which redis-py raised DataError is also checked to have sent
nothing: the server's command counters must not move.
"""
from __future__ import annotations

import math
import re
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import redis

from cpipe import errors as cerrors

TESTS_SOURCE_STEP = re.compile(r"""\bS\(\s*["']([a-z_]+)["']""")


class S:
    """One step: method name, arguments, and an optional `_norm` applied to
    both results before comparing (for random or time-dependent replies),
    or `_tol` for integers that may differ by a clock tick (TTLs)."""

    def __init__(self, method: str, *args: Any, _norm: Optional[Callable[[Any], Any]] = None,
                 _tol: Optional[int] = None, **kwargs: Any):
        self.method = method
        self.args = args
        self.kwargs = kwargs
        self.norm = _norm
        self.tol = _tol  # for TTLs: equal types, values within this distance

    def __repr__(self) -> str:
        parts = [repr(a) for a in self.args] + [f"{k}={v!r}" for k, v in self.kwargs.items()]
        return f"{self.method}({', '.join(parts)})"


@dataclass
class Outcome:
    kind: str            # "ok", "DataError", "ResponseError" or an exception class name
    value: Any = None    # the result, or the error message
    raw: Any = field(default=None, repr=False)


def _norm_msg(msg: str) -> str:
    return msg[4:] if msg.startswith("ERR ") else msg


def outcome_of(call: Callable[[], Any], data_error: type, response_error: type) -> Outcome:
    try:
        with warnings.catch_warnings():
            # redis-py flags setex/hmset as deprecated; they are still API
            warnings.simplefilter("ignore", DeprecationWarning)
            return Outcome("ok", call())
    except data_error as e:
        return Outcome("DataError", str(e), e)
    except response_error as e:
        return Outcome("ResponseError", _norm_msg(str(e)), e)
    except Exception as e:  # noqa: BLE001 - TypeError etc. must match too
        return Outcome(type(e).__name__, str(e), e)


def same(a: Any, b: Any) -> bool:
    """Equal values of exactly the same types, all the way down."""
    if type(a) is not type(b):
        return False
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        if {(type(k), k) for k in a} != {(type(k), k) for k in b}:
            return False
        return all(same(a[k], b[k]) for k in a)
    if isinstance(a, (set, frozenset)):
        return {(type(x), x) for x in a} == {(type(x), x) for x in b}
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return a == b


def snapshot(ctl: redis.Redis) -> dict:
    """Every key of databases 0 and 1 with its type, value and whether it expires."""
    state = {}
    for db in (0, 1):
        ctl.execute_command("SELECT", db)
        for key in sorted(ctl.keys("*")):
            kind = ctl.type(key)
            if kind == b"string":
                value: Any = ctl.get(key)
            elif kind == b"hash":
                value = ctl.hgetall(key)
            elif kind == b"list":
                value = ctl.lrange(key, 0, -1)
            elif kind == b"set":
                value = sorted(ctl.smembers(key))
            elif kind == b"zset":
                value = ctl.zrange(key, 0, -1, withscores=True)
            else:
                value = None
            state[(db, key)] = (kind, value, ctl.ttl(key) >= 0)
    ctl.execute_command("SELECT", 0)
    return state


def command_counts(ctl: redis.Redis) -> dict:
    stats = ctl.info("commandstats")
    return {k: v["calls"] for k, v in stats.items() if k not in ("cmdstat_info", "cmdstat_select")}


class Differ:
    def __init__(self, rp: redis.Redis, client: Any, ctl: redis.Redis):
        self.rp = rp
        self.client = client
        self.ctl = ctl  # a single-connection bytes client for setup and inspection

    def _play(self, target: Any, steps: tuple, data_error: type, response_error: type,
              expected: Optional[list] = None) -> list[Outcome]:
        out = []
        for i, step in enumerate(steps):
            check_nothing_sent = expected is not None and expected[i].kind == "DataError"
            before = command_counts(self.ctl) if check_nothing_sent else None
            method = getattr(target, step.method)
            out.append(outcome_of(lambda: method(*step.args, **step.kwargs), data_error, response_error))
            if check_nothing_sent:
                assert command_counts(self.ctl) == before, (
                    f"step {i} {step!r}: DataError expected before sending, but the server saw a command")
        return out

    def run(self, *steps: S) -> tuple[list[Outcome], list[Outcome]]:
        self.ctl.flushall()
        expected = self._play(self.rp, steps, redis.DataError, redis.ResponseError)
        expected_state = snapshot(self.ctl)
        self.ctl.flushall()
        got = self._play(self.client, steps, cerrors.DataError, cerrors.ResponseError, expected)
        got_state = snapshot(self.ctl)
        for i, (step, e, g) in enumerate(zip(steps, expected, got)):
            ev, gv = e.value, g.value
            if step.norm is not None and e.kind == "ok" and g.kind == "ok":
                ev, gv = step.norm(ev), step.norm(gv)
            assert e.kind == g.kind, f"step {i} {step!r}: redis-py {e!r}, cpipe {g!r}"
            if e.kind == "DataError":
                continue  # our messages are our own; the class is what code catches
            if e.kind != "ok" and e.kind != "ResponseError":
                continue  # TypeError etc.: the class is enough
            if step.tol is not None and e.kind == "ok":
                assert type(ev) is type(gv) and abs(ev - gv) <= step.tol, (
                    f"step {i} {step!r}: redis-py {ev!r}, cpipe {gv!r}")
                continue
            assert same(ev, gv), f"step {i} {step!r}: redis-py {ev!r}, cpipe {gv!r}"
        assert expected_state == got_state, "keyspace after the steps differs"
        return expected, got

    def pipeline(self, *steps: S) -> tuple[list, list]:
        """The steps queued on a pipeline of each client; execute() results compared."""
        self.ctl.flushall()
        pipe = self.rp.pipeline(transaction=False)
        for step in steps:
            getattr(pipe, step.method)(*step.args, **step.kwargs)
        expected = pipe.execute()
        expected_state = snapshot(self.ctl)
        self.ctl.flushall()
        pipe = self.client.pipeline()
        for step in steps:
            returned = getattr(pipe, step.method)(*step.args, **step.kwargs)
            assert returned is pipe, f"{step!r} on a pipeline returned {returned!r}, not the pipeline"
        got = pipe.execute()
        got_state = snapshot(self.ctl)
        assert len(expected) == len(got)
        for i, (step, e, g) in enumerate(zip(steps, expected, got)):
            if step.norm is not None:
                e, g = step.norm(e), step.norm(g)
            assert same(e, g), f"pipelined step {i} {step!r}: redis-py {e!r}, cpipe {g!r}"
        assert expected_state == got_state
        return expected, got
