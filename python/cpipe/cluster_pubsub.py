"""Pub/Sub on a cluster: classic channels on one node, sharded channels on their slot's node.

`ClusterPubSub` holds cpipe PubSubs (cpipe.pubsub, each on an engine
subscriber connection of its own): one on the node it was made for, which
carries SUBSCRIBE and PSUBSCRIBE (a cluster forwards PUBLISH to every
node), and one per node that owns a sharded channel's slot, made when an
SSUBSCRIBE first names such a channel. get_message reads the first;
get_sharded_message reads the shard connections in turn.

Not handled yet: a sharded channel whose slot moves to another node (the
server then sends sunsubscribe; subscribe again to follow it).
"""
from __future__ import annotations

import time
from typing import Any, Optional


class ClusterPubSub:
    def __init__(self, cluster: Any, node: Any, **kwargs: Any) -> None:
        self._cluster = cluster
        self._kwargs = kwargs
        self.node = node
        self._main = cluster.get_redis_connection(node).pubsub(**kwargs)
        self._shards: dict[str, Any] = {}  # node name -> that node's PubSub for sharded channels
        self._turn = 0

    def __getattr__(self, name: str) -> Any:
        # subscribe, psubscribe, unsubscribe, get_message, listen, channels, ...: the node's PubSub
        return getattr(self._main, name)

    def get_pubsub_node(self) -> Any:
        return self.node

    def _by_slot(self, channels: dict) -> dict[int, tuple[Any, dict]]:
        """slot -> (its node, {channel: handler}): SSUBSCRIBE takes the channels of one slot only."""
        out: dict[int, tuple[Any, dict]] = {}
        for channel, handler in channels.items():
            slot = self._cluster.keyslot(channel)
            if slot not in out:
                out[slot] = (self._cluster.get_node_from_key(channel), {})
            out[slot][1][channel] = handler
        return out

    def _shard(self, node: Any) -> Any:
        ps = self._shards.get(node.name)
        if ps is None:
            ps = self._shards[node.name] = self._cluster.get_redis_connection(node).pubsub(**self._kwargs)
        return ps

    def ssubscribe(self, *args: Any, **kwargs: Any) -> None:
        """SSUBSCRIBE each channel on the node that owns its slot (handlers as redis-py's)."""
        channels: dict = dict.fromkeys(args)
        channels.update(kwargs)
        for node, group in self._by_slot(channels).values():
            names = [c for c, h in group.items() if h is None]
            handlers = {c: h for c, h in group.items() if h is not None}
            self._shard(node).ssubscribe(*names, **handlers)

    def sunsubscribe(self, *args: Any) -> None:
        if not args:
            for ps in self._shards.values():
                ps.sunsubscribe()
            return
        for node, group in self._by_slot(dict.fromkeys(args)).values():
            ps = self._shards.get(node.name)
            if ps is not None:
                ps.sunsubscribe(*group)

    @property
    def shard_channels(self) -> dict:
        out: dict = {}
        for ps in self._shards.values():
            out.update(ps.shard_channels)
        return out

    def get_sharded_message(self, ignore_subscribe_messages: bool = False, timeout: float = 0.0,
                            target_node: Optional[Any] = None) -> Any:
        """The next message of any shard connection (or of target_node's), waiting up to timeout seconds."""
        deadline = time.monotonic() + (timeout or 0.0)
        while True:
            if target_node is not None:
                ps = self._shards.get(target_node.name)
                pubsubs = [ps] if ps is not None else []
            else:
                pubsubs = list(self._shards.values())
            if len(pubsubs) == 1:  # one connection: its own wait, no polling
                return pubsubs[0].get_sharded_message(ignore_subscribe_messages=ignore_subscribe_messages,
                                                      timeout=max(deadline - time.monotonic(), 0.0))
            for i in range(len(pubsubs)):
                ps = pubsubs[(self._turn + i) % len(pubsubs)]
                msg = ps.get_sharded_message(ignore_subscribe_messages=ignore_subscribe_messages, timeout=0.0)
                if msg is not None:
                    self._turn += i + 1
                    return msg
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            time.sleep(min(left, 0.01))

    def close(self) -> None:
        for ps in [self._main, *self._shards.values()]:
            ps.close()
        self._shards.clear()

    reset = close

    def __enter__(self) -> "ClusterPubSub":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
