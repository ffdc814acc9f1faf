"""`client.connection_pool`: what libraries read of a redis-py client's pool.

Libraries look at `client.connection_pool` to learn where a client points
(`connection_kwargs`), how it encodes (`get_encoder()`), or to clone it
(`connection_class(**connection_kwargs)`), and call `disconnect()` after a
fork or on shutdown. cpipe's commands never go through this object: the
engine owns the connections. It is a real `redis.ConnectionPool` so that
isinstance checks hold and so that redis-py features not yet moved into the
engine (PubSub, MONITOR) run on redis-py's own connections from it, with the
same options as the engine's.
"""
from __future__ import annotations

import weakref
from typing import Any, Optional

import redis

from ._redis_options import redis_has_legacy_responses


def connection_kwargs_for(options: dict[str, Any]) -> tuple[type, dict[str, Any]]:
    """redis-py's connection class and kwargs for the engine's connection options."""
    kwargs = {
        "db": options["db"],
        "username": options["username"],
        "password": options["password"],
        "socket_timeout": options["socket_timeout"],
        "socket_connect_timeout": options["socket_connect_timeout"],
        "encoding": options["encoding"],
        "encoding_errors": options.get("encoding_errors", "strict"),
        "decode_responses": options["decode_responses"],
        "client_name": options["client_name"],
        # The user's protocol= as redis-py keeps it (None: redis-py's
        # default), so redis-py's own connections from this pool (PubSub)
        # and libraries reading it see what a redis.Redis would have.
        "protocol": options.get("protocol"),
    }
    if redis_has_legacy_responses():
        kwargs["legacy_responses"] = options.get("legacy_responses", True)
    if options["unix_socket_path"]:
        kwargs["path"] = options["unix_socket_path"]
        return redis.UnixDomainSocketConnection, kwargs
    kwargs["host"] = options["host"]
    kwargs["port"] = options["port"]
    if options.get("ssl"):
        kwargs.update(options["ssl_options"])
        return redis.SSLConnection, kwargs
    return redis.Connection, kwargs


class EngineConnectionPool(redis.ConnectionPool):
    """Describes the engine's connections in redis-py's terms.

    `max_connections` is the engine's number of shared connections (1 for a
    Redis client, `size` for a Pool). `disconnect()` and `reset()` close the
    engine's connections too: commands in flight on them fail with
    ConnectionError, and the next command connects again.
    """

    def __init__(self, client: Any, options: dict[str, Any], max_connections: int) -> None:
        connection_class, kwargs = connection_kwargs_for(options)
        super().__init__(connection_class=connection_class, max_connections=max_connections, **kwargs)
        # Weakly: the client owns the pool, not the other way round.
        self._client_ref = weakref.ref(client)

    def _engine_client(self) -> Optional[Any]:
        return self._client_ref()

    def disconnect(self, inuse_connections: bool = True) -> None:
        super().disconnect(inuse_connections)
        client = self._engine_client()
        if client is not None:
            client._reconnect_engine()

    def reset(self) -> None:
        super().reset()
        client = getattr(self, "_client_ref", lambda: None)()
        if client is not None:
            client._reconnect_engine()

    def __repr__(self) -> str:
        kw = self.connection_kwargs
        where = kw.get("path") or f"{kw.get('host')}:{kw.get('port')}"
        return f"<{type(self).__module__}.{type(self).__name__}(cpipe engine {where} db={kw.get('db')}, {self.max_connections} connections)>"
