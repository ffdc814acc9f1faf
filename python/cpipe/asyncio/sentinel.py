"""`cpipe.asyncio.Sentinel`: redis-py's asyncio Sentinel whose clients are cpipe.asyncio's.

The same engine Sentinel as `cpipe.Sentinel` (see cpipe.sentinel for how
clients follow a failover); the questions to the sentinels run in the
loop's default executor, so the loop never waits for them.

    sentinel = cpipe.asyncio.Sentinel([("127.0.0.1", 26379)], socket_timeout=0.5)
    master = sentinel.master_for("mymaster")      # a cpipe.asyncio.Redis
    await master.set("k", "v")
"""
from __future__ import annotations

import asyncio
from typing import Any, Optional

import redis.asyncio
import redis.asyncio.sentinel as _async_sentinel

from ..sentinel import EngineSentinel, MasterNotFoundError, SlaveNotFoundError, check_service_name
from .client import Redis

__all__ = ["Sentinel", "MasterNotFoundError", "SlaveNotFoundError"]


class Sentinel(EngineSentinel, _async_sentinel.Sentinel):
    """redis.asyncio.sentinel.Sentinel (same constructor and methods) whose clients are cpipe.asyncio.Redis."""

    _client_class = Redis
    _redis_py_class = redis.asyncio.Redis

    def __init__(self, sentinels: Any, min_other_sentinels: int = 0, sentinel_kwargs: Optional[dict] = None,
                 force_master_ip: Optional[str] = None, **connection_kwargs: Any) -> None:
        self._setup_sentinels(sentinels, min_other_sentinels, sentinel_kwargs, force_master_ip, connection_kwargs)

    async def discover_master(self, service_name: str) -> tuple[str, int]:
        """The master's (ip, port), or MasterNotFoundError (redis-py's, either module's)."""
        name = check_service_name(service_name)
        return await asyncio.get_running_loop().run_in_executor(None, self._native_sentinel.master, name)

    async def discover_slaves(self, service_name: str) -> list[tuple[str, int]]:
        """The replicas not down, [(ip, port), ...], maybe none."""
        name = check_service_name(service_name)
        return await asyncio.get_running_loop().run_in_executor(None, self._native_sentinel.replicas, name)

    def master_for(self, service_name: str, redis_class: Any = Redis, connection_pool_class: Any = None,
                   **kwargs: Any) -> Any:
        """A client of the master of service_name; it follows failovers by itself."""
        return self._client_for(service_name, False, redis_class, connection_pool_class, kwargs)

    def slave_for(self, service_name: str, redis_class: Any = Redis, connection_pool_class: Any = None,
                  **kwargs: Any) -> Any:
        """A client of the replicas of service_name (round-robin, then the master)."""
        return self._client_for(service_name, True, redis_class, connection_pool_class, kwargs)
