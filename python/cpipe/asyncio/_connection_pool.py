"""`client.connection_pool` of an asyncio client: a `redis.asyncio.ConnectionPool`.

As for the sync client (see cpipe._connection_pool): it describes where the
engine connects (`connection_kwargs`, `get_encoder()`), its `disconnect()`
closes the engine's connections too, and redis-py features not in the
engine (PubSub, MONITOR) run on redis-py's own asyncio connections from it,
with the same options. cpipe's commands never go through it.
"""
from __future__ import annotations

import weakref
from typing import Any

import redis
import redis.asyncio

from .._connection_pool import connection_kwargs_for

_ASYNC_CONNECTION = {
    redis.Connection: redis.asyncio.Connection,
    redis.UnixDomainSocketConnection: redis.asyncio.UnixDomainSocketConnection,
    redis.SSLConnection: redis.asyncio.SSLConnection,
}


class AsyncEngineConnectionPool(redis.asyncio.ConnectionPool):
    """Describes the engine's connections in redis.asyncio's terms; see the module docstring."""

    def __init__(self, client: Any, options: dict[str, Any], max_connections: int) -> None:
        connection_class, kwargs = connection_kwargs_for(options)
        super().__init__(connection_class=_ASYNC_CONNECTION[connection_class],
                         max_connections=max_connections, **kwargs)
        # Weakly: the client owns the pool, not the other way round.
        self._client_ref = weakref.ref(client)

    async def disconnect(self, inuse_connections: bool = True) -> None:
        await super().disconnect(inuse_connections)
        client = self._client_ref()
        if client is not None:
            await client._reconnect_engine_async()

    def __repr__(self) -> str:
        kw = self.connection_kwargs
        where = kw.get("path") or f"{kw.get('host')}:{kw.get('port')}"
        return (f"<{type(self).__module__}.{type(self).__name__}"
                f"(cpipe engine {where} db={kw.get('db')}, {self.max_connections} connections)>")
