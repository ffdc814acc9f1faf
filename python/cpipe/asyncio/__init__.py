"""cpipe for asyncio: `Client`/`Redis`/`Pool` with the sync API's options and
command methods as awaitables, on the same Go engine.

    import cpipe.asyncio
    r = cpipe.asyncio.Client(port=6379)
    await r.set("k", "v"); await r.get("k")
    async with r.pipeline() as p:
        p.hset("h", "f", "v"); p.hget("h", "f")
        await p.execute()
"""
from __future__ import annotations

from typing import Any

from .client import Client, Pipeline, Pool, Redis


def from_url(url: str, **kwargs: Any) -> Client:
    return Client.from_url(url, **kwargs)


__all__ = ["Client", "Redis", "Pool", "Pipeline", "from_url"]
