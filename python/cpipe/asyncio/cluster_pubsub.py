"""cpipe.asyncio's ClusterPubSub: cpipe.cluster_pubsub's routing, on cpipe.asyncio PubSubs.

SUBSCRIBE/PSUBSCRIBE on the node it was made for; SSUBSCRIBE on each
channel's slot owner (one SSUBSCRIBE per slot); get_sharded_message reads
the shard connections in turn. A sharded channel whose slot moves is not
followed yet.
"""
from __future__ import annotations

import asyncio
from typing import Any, Optional

from ..cluster_pubsub import ClusterPubSub as _SyncClusterPubSub


class ClusterPubSub(_SyncClusterPubSub):
    async def ssubscribe(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        channels: dict = dict.fromkeys(args)
        channels.update(kwargs)
        for node, group in self._by_slot(channels).values():
            names = [c for c, h in group.items() if h is None]
            handlers = {c: h for c, h in group.items() if h is not None}
            await self._shard(node).ssubscribe(*names, **handlers)

    async def sunsubscribe(self, *args: Any) -> None:  # type: ignore[override]
        if not args:
            for ps in self._shards.values():
                await ps.sunsubscribe()
            return
        for node, group in self._by_slot(dict.fromkeys(args)).values():
            ps = self._shards.get(node.name)
            if ps is not None:
                await ps.sunsubscribe(*group)

    async def get_sharded_message(self, ignore_subscribe_messages: bool = False,  # type: ignore[override]
                                  timeout: float = 0.0, target_node: Optional[Any] = None) -> Any:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (timeout or 0.0)
        while True:
            if target_node is not None:
                ps = self._shards.get(target_node.name)
                pubsubs = [ps] if ps is not None else []
            else:
                pubsubs = list(self._shards.values())
            if len(pubsubs) == 1:  # one connection: its own wait, no polling
                return await pubsubs[0].get_message(ignore_subscribe_messages=ignore_subscribe_messages,
                                                    timeout=max(deadline - loop.time(), 0.0))
            for i in range(len(pubsubs)):
                ps = pubsubs[(self._turn + i) % len(pubsubs)]
                msg = await ps.get_message(ignore_subscribe_messages=ignore_subscribe_messages, timeout=0.0)
                if msg is not None:
                    self._turn += i + 1
                    return msg
            left = deadline - loop.time()
            if left <= 0:
                return None
            await asyncio.sleep(min(left, 0.01))

    async def aclose(self) -> None:  # type: ignore[override]
        for ps in [self._main, *self._shards.values()]:
            await ps.aclose()
        self._shards.clear()

    async def close(self) -> None:  # type: ignore[override]
        await self.aclose()

    reset = close  # type: ignore[assignment]

    async def __aenter__(self) -> "ClusterPubSub":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()
