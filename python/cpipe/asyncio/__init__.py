"""cpipe for asyncio: `Redis`/`Client`/`Pool`, each a `redis.asyncio.Redis`, on the same Go engine.

    import cpipe.asyncio
    r = cpipe.asyncio.Redis(port=6379)
    await r.set("k", "v"); await r.get("k")
    async with r.pipeline(transaction=False) as p:
        p.hset("h", "f", "v").hget("h", "f")
        await p.execute()
"""
from __future__ import annotations

from typing import Any

from .client import Client, Pool, Redis
from .pipeline import Pipeline


def from_url(url: str, **kwargs: Any) -> Client:
    return Client.from_url(url, **kwargs)


def __getattr__(name: str) -> Any:
    # cpipe.asyncio.Sentinel (cpipe.asyncio.sentinel), imported on first use.
    if name in ("Sentinel", "MasterNotFoundError", "SlaveNotFoundError"):
        from . import sentinel

        return getattr(sentinel, name)
    # cpipe.asyncio.RedisCluster (cpipe.asyncio.cluster), imported on first use.
    if name in ("RedisCluster", "ClusterPipeline", "ClusterNode"):
        from . import cluster

        return getattr(cluster, name)
    raise AttributeError(f"module 'cpipe.asyncio' has no attribute {name!r}")


__all__ = ["Client", "Redis", "Pool", "Pipeline", "from_url", "Sentinel", "RedisCluster", "ClusterPipeline", "ClusterNode"]
