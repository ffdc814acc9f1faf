"""gopipe's module-level API (Connect, hget, hset, add_command, execute,
ConnectPool, phget, phset) on a default client and pool, returning real
replies instead of the prototype's 0."""
from __future__ import annotations

from concurrent.futures import Future
from typing import Any, Optional

from .client import Client
from .errors import ConnectionError
from .pool import Pool

_client: Optional[Client] = None
_pool: Optional[Pool] = None


def Connect(host: str = "localhost", port: int = 6379, **options: Any) -> Client:  # noqa: N802
    """Open the default client used by hget/hset/add_command/execute."""
    global _client
    if _client is not None:
        _client.close()
    _client = Client(host, port, **options)
    return _client


def ConnectPool(host: str = "localhost", port: int = 6379, pool: int = 10, **options: Any) -> Pool:  # noqa: N802
    """Open the default pool used by phget/phset."""
    global _pool
    if _pool is not None:
        _pool.close()
    _pool = Pool(host, port, size=pool, **options)
    return _pool


def _default_client() -> Client:
    if _client is None:
        raise ConnectionError("call cpipe.Connect(host, port) first")
    return _client


def _default_pool() -> Pool:
    if _pool is None:
        raise ConnectionError("call cpipe.ConnectPool(host=..., port=..., pool=N) first")
    return _pool


def hget(name: Any, key: Any) -> Any:
    return _default_client().hget(name, key)


def hset(name: Any, key: Any, value: Any) -> int:
    return _default_client().hset(name, key, value)


def add_command(*args: Any) -> None:
    _default_client().add_command(*args)


def execute() -> list:
    return _default_client().execute()


def phget(name: Any, key: Any) -> Future:
    return _default_pool().phget(name, key)


def phset(name: Any, key: Any, value: Any) -> Future:
    return _default_pool().phset(name, key, value)
