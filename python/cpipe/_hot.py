"""The few command methods cpipe writes itself: the hot path.

Every other command method is redis-py's own (its command mixins). These
override redis-py's where `make bench` shows the difference: redis-py's
methods build an options dict (`keys=[name]`, kept for its client-side
cache) and, for HSET and SET, an argument list per call, which costs more
than the engine's whole round trip share on pipelines and pooled calls.

Rules that keep them from drifting from redis-py:
- the signature is exactly redis-py's (tests/compat/test_hot_commands.py
  compares inspect.signature with every installed redis-py);
- anything but the plain form delegates to redis-py's own method, so only
  the plain form is cpipe's code, and the same test checks its replies
  against redis-py's on a real server;
- the reply goes through the client's `response_callbacks`, so
  `set_response_callback` still applies.

`self._cmd(*args)` runs a command whose name is one upper-case word and
that needs no options: a client returns the converted reply, a pipeline
queues it and returns itself.
"""
from __future__ import annotations

import inspect
from typing import Any

import redis

_redis_py = redis.Redis


# The hot methods whose plain form runs in C: staged by a pipeline
# (pipeline.py, bridge_batch.c) and run by a client (client.py,
# bridge_hot.c): (method, command, fewest and most positional arguments,
# -1: any number). The plain form is what HotCommands' method sends as
# _cmd(command, *args) when no argument is None.
C_METHOD_FORMS = (("get", "GET", 1, 1), ("set", "SET", 2, 2), ("hget", "HGET", 2, 2), ("hset", "HSET", 3, 3),
                  ("hgetall", "HGETALL", 1, 1), ("delete", "DEL", 1, -1), ("exists", "EXISTS", 1, -1),
                  ("lpush", "LPUSH", 2, -1), ("rpush", "RPUSH", 2, -1), ("sadd", "SADD", 2, -1))


def install_c_method(cls: type, attr: str, method: Any, python_method: Any) -> Any:
    """Put a C method descriptor on cls as attr, showing python_method's
    signature, doc and name (inspect, help()), which it hands every call
    that is not the plain form."""
    method.__signature__ = inspect.signature(python_method)
    method.__doc__ = python_method.__doc__
    method.__name__ = attr
    method.__qualname__ = f"{cls.__name__}.{attr}"
    method.__wrapped__ = python_method
    setattr(cls, attr, method)
    return method


class HotCommands:
    __slots__ = ()

    def _cmd(self, *args: Any) -> Any:  # provided by the client / pipeline class
        raise NotImplementedError

    def get(self, name):
        return self._cmd("GET", name)

    def set(self, name, value, *args, **kwargs):
        if args or kwargs:
            return _redis_py.set(self, name, value, *args, **kwargs)
        return self._cmd("SET", name, value)

    def hget(self, name, key):
        return self._cmd("HGET", name, key)

    def hset(self, name, key=None, value=None, mapping=None, items=None):
        if mapping is None and items is None and key is not None:
            return self._cmd("HSET", name, key, value)
        return _redis_py.hset(self, name, key, value, mapping, items)

    def hgetall(self, name):
        return self._cmd("HGETALL", name)

    def incr(self, name, amount=1):
        return self._cmd("INCRBY", name, amount)

    def incrby(self, name, amount=1):
        return self._cmd("INCRBY", name, amount)

    def decr(self, name, amount=1):
        return self._cmd("DECRBY", name, amount)

    def decrby(self, name, amount=1):
        return self._cmd("DECRBY", name, amount)

    def delete(self, *names):
        return self._cmd("DEL", *names)

    def exists(self, *names):
        return self._cmd("EXISTS", *names)

    def lpush(self, name, *values):
        return self._cmd("LPUSH", name, *values)

    def rpush(self, name, *values):
        return self._cmd("RPUSH", name, *values)

    def sadd(self, name, *values):
        return self._cmd("SADD", name, *values)


class StagedHotCommands(HotCommands):
    """The hot methods of a pipeline that encodes commands as they are
    queued (cpipe.Pipeline): one Python frame and one C call per command,
    and no argument tuple kept per command.

    `self._stage` is the pipeline's `Batch.add` while commands are queued
    into its batch, else None (immediate mode after WATCH, a client that
    cannot send batches, a batch given up): then HotCommands' method runs
    (`_cmd`). A command `_stage` refuses (DataError for a bad argument) goes
    to `_unstage`, which turns the pipeline back to argument tuples with it
    last, so that execute() raises as it always did, sending nothing.
    Signatures, and the forms handed to redis-py, are HotCommands'. The
    less used hot methods are HotCommands' own: their `_cmd` queues onto
    the batch too (Pipeline._queue), one frame further down.
    """

    __slots__ = ()
    _stage: Any = None  # the pipeline's instance attribute

    def _unstage(self, *args: Any) -> None:  # provided by the pipeline class
        raise NotImplementedError

    def get(self, name):
        stage = self._stage
        if stage is None:
            return HotCommands.get(self, name)
        try:
            stage("GET", name)
        except Exception:
            self._unstage("GET", name)
        return self

    def set(self, name, value, *args, **kwargs):
        stage = self._stage
        if stage is None or args or kwargs:
            return HotCommands.set(self, name, value, *args, **kwargs)
        try:
            stage("SET", name, value)
        except Exception:
            self._unstage("SET", name, value)
        return self

    def hget(self, name, key):
        stage = self._stage
        if stage is None:
            return HotCommands.hget(self, name, key)
        try:
            stage("HGET", name, key)
        except Exception:
            self._unstage("HGET", name, key)
        return self

    def hset(self, name, key=None, value=None, mapping=None, items=None):
        stage = self._stage
        if stage is None or mapping is not None or items is not None or key is None:
            return HotCommands.hset(self, name, key, value, mapping, items)
        try:
            stage("HSET", name, key, value)
        except Exception:
            self._unstage("HSET", name, key, value)
        return self


# The command names the hot methods send.
HOT_NAMES = ("GET", "SET", "HGET", "HSET", "HGETALL", "INCRBY", "DECRBY", "DEL", "EXISTS",
             "LPUSH", "RPUSH", "SADD")

HOT_COMMANDS = ("get", "set", "hget", "hset", "hgetall", "incr", "incrby", "decr", "decrby",
                "delete", "exists", "lpush", "rpush", "sadd")

# set() takes redis-py's options as *args/**kwargs (they differ between
# releases: 8.x added ifeq/ifne/...) and hands them to redis-py's own set;
# its signature is redis-py's, so introspection sees that one.
HotCommands.set.__signature__ = inspect.signature(_redis_py.set)  # type: ignore[attr-defined]
StagedHotCommands.set.__signature__ = inspect.signature(_redis_py.set)  # type: ignore[attr-defined]
for _name in HOT_COMMANDS:
    getattr(HotCommands, _name).__doc__ = getattr(_redis_py, _name).__doc__
    if _name in StagedHotCommands.__dict__:
        StagedHotCommands.__dict__[_name].__doc__ = getattr(_redis_py, _name).__doc__
del _name


class ClusterHotCommands:
    """The hot methods for RedisCluster: those redis-py's RedisCluster shares
    with Redis (its DEL and EXISTS are split by slot, and cpipe.RedisCluster
    has its own). Its `_cmd` lets the engine route the command by its keys."""

    __slots__ = ()


for _name in HOT_COMMANDS:
    if _name not in ("delete", "exists"):
        setattr(ClusterHotCommands, _name, HotCommands.__dict__[_name])
del _name
