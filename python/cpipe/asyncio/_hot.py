"""The hot command methods for the asyncio client and pipeline (see cpipe._hot).

They are the sync client's, with the non-plain forms of set() and hset()
handed to redis.asyncio.Redis's own methods, so the asyncio client never
runs a sync-only method even if a redis-py release splits them.
"""
from __future__ import annotations

import inspect

import redis.asyncio

from .._hot import HotCommands

_redis_py = redis.asyncio.Redis


class AsyncHotCommands(HotCommands):
    __slots__ = ()

    def set(self, name, value, *args, **kwargs):
        if args or kwargs:
            return _redis_py.set(self, name, value, *args, **kwargs)
        return self._cmd("SET", name, value)

    def hset(self, name, key=None, value=None, mapping=None, items=None):
        if mapping is None and items is None and key is not None:
            return self._cmd("HSET", name, key, value)
        return _redis_py.hset(self, name, key, value, mapping, items)


AsyncHotCommands.set.__signature__ = inspect.signature(_redis_py.set)  # type: ignore[attr-defined]
for _name in ("set", "hset"):
    getattr(AsyncHotCommands, _name).__doc__ = getattr(_redis_py, _name).__doc__
del _name
