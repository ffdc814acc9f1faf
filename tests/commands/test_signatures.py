"""Static checks: signatures follow redis-py, hot paths stay cheap, and every
command method is exercised by a differential test."""
from __future__ import annotations

import inspect
import pathlib
import re
import typing

import redis

from cpipe.commands import CoreCommands

from .differ import TESTS_SOURCE_STEP

PUBLIC = sorted(
    name for name, value in inspect.getmembers(CoreCommands, inspect.isfunction)
    if not name.startswith("_") or name in ("__getitem__", "__setitem__", "__delitem__", "__contains__")
)

# Where we knowingly differ from redis.Redis (see the module docstrings).
SIGNATURE_EXCEPTIONS: dict[str, str] = {}


def test_every_method_exists_on_redis_py():
    missing = [name for name in PUBLIC if not hasattr(redis.Redis, name)]
    assert missing == []


def test_signatures_match_redis_py():
    mismatches = []
    for name in PUBLIC:
        if name in SIGNATURE_EXCEPTIONS:
            continue
        ours = inspect.signature(getattr(CoreCommands, name)).parameters
        theirs = inspect.signature(getattr(redis.Redis, name)).parameters
        a = [(p.name, p.kind, p.default) for p in ours.values()]
        b = [(p.name, p.kind, p.default) for p in theirs.values()]
        if a != b:
            mismatches.append((name, a, b))
    assert mismatches == [], "\n".join(f"{n}:\n  ours   {a}\n  redis  {b}" for n, a, b in mismatches)


def test_every_method_is_type_hinted():
    for name in PUBLIC:
        func = getattr(CoreCommands, name)
        hints = typing.get_type_hints(func)
        params = [p for p in inspect.signature(func).parameters if p != "self"]
        assert "return" in hints, name
        assert all(p in hints for p in params), (name, [p for p in params if p not in hints])


def test_every_method_is_exercised():
    here = pathlib.Path(__file__).parent
    used = set()
    for path in here.glob("test_*.py"):
        used.update(TESTS_SOURCE_STEP.findall(path.read_text()))
        used.update(re.findall(r"cmd_client\.([a-z_]+)\(", path.read_text()))
    not_tested = [name for name in PUBLIC if name not in used]
    assert not_tested == []


class Recorder(CoreCommands):
    """Captures what each method hands to _run."""

    def __init__(self):
        self.calls = []

    def _run(self, callback, *args):
        self.calls.append((callback, args))
        return self


def test_hot_paths_send_plain_args_without_callback():
    r = Recorder()
    r.get("k")
    r.hget("h", "f")
    r.hset("h", "f", "v")
    r.incr("n")
    r.lpush("l", "a", "b")
    r.rpush("l", "a")
    r.sadd("s", "m")
    r.hmget("h", ["a", "b"])
    r.mget(["a", "b"])
    r.lrange("l", 0, -1)
    r.delete("a")
    r.exists("a")
    assert r.calls == [
        (None, ("GET", "k")),
        (None, ("HGET", "h", "f")),
        (None, ("HSET", "h", "f", "v")),
        (None, ("INCRBY", "n", 1)),
        (None, ("LPUSH", "l", "a", "b")),
        (None, ("RPUSH", "l", "a")),
        (None, ("SADD", "s", "m")),
        (None, ("HMGET", "h", "a", "b")),
        (None, ("MGET", "a", "b")),
        (None, ("LRANGE", "l", 0, -1)),
        (None, ("DEL", "a")),
        (None, ("EXISTS", "a")),
    ]


def test_callbacks_are_module_level_on_common_paths():
    """No closure built per call where the conversion does not depend on arguments."""
    r = Recorder()
    r.set("k", "v")
    r.set("k", "v")
    r.hgetall("h")
    r.hgetall("h")
    r.zrange("z", 0, -1, withscores=True)
    r.zrange("z", 0, -1, withscores=True)
    r.zscore("z", "m")
    r.zscore("z", "m")
    r.smembers("s")
    r.smembers("s")
    for first, second in zip(r.calls[::2], r.calls[1::2]):
        assert first[0] is second[0] and first[0] is not None
        assert first[0].__qualname__.count(".") == 0, first[0]


def test_mixins_have_no_instance_state():
    for klass in CoreCommands.__mro__:
        if klass is object:
            continue
        assert klass.__dict__.get("__slots__") == (), klass
    assert "_run" not in CoreCommands.__dict__ and all("_run" not in k.__dict__ for k in CoreCommands.__mro__)
