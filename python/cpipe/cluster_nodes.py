"""The cluster's nodes as redis-py's RedisCluster shows them, read from the engine.

The engine owns the slot map (cpipe/engine/cluster_slots.go) and reloads it
on MOVED, on a lost node and every `refresh_interval`; `EngineNodes` is a
read-only view of it with the attributes and methods of redis-py's
NodesManager that RedisCluster's own methods use (nodes_cache,
slots_cache, default_node, get_node, get_nodes_by_server_type,
get_node_from_slot). It is re-read from the engine (no server round trip)
whenever it is asked for, so it never lags the engine's map by more than
one call; its ClusterNode objects stay the same objects across reloads.
"""
from __future__ import annotations

import random
import threading
from typing import Any, Callable, Optional

from redis.cluster import PRIMARY, REPLICA, ClusterNode, get_node_name

from .errors import ResponseError


class EngineNodes:
    def __init__(self, topology: Callable[[bool], list], startup_nodes: list,
                 connection_kwargs: dict, make_client: Callable[[Any], Any],
                 node_class: Callable[..., Any] = ClusterNode) -> None:
        self._topology = topology  # native.cluster_nodes bound to the cluster handle
        self._node_class = node_class  # redis.cluster's ClusterNode, or redis.asyncio.cluster's
        self._make_client = make_client
        self._lock = threading.Lock()
        self.startup_nodes = {n.name: n for n in startup_nodes}
        self.connection_kwargs = connection_kwargs
        self.nodes_cache: dict[str, ClusterNode] = {}
        self._ranges: list = []
        self._slots: Optional[dict[int, list[ClusterNode]]] = None
        self._default: Any = None
        self._raw: Any = None
        self._clients: dict[str, Any] = {}  # node name -> a cpipe client on that node alone
        self.address_remap = None
        self.read_load_balancer = None

    # -- reading the engine's map ------------------------------------------

    def initialize(self, refresh: bool = True) -> None:
        """Reload from the engine; with refresh (redis-py's meaning) ask the cluster again first."""
        raw = self._topology(refresh)
        with self._lock:
            if raw == self._raw:
                return
            nodes, ranges = raw
            cache: dict[str, ClusterNode] = {}
            listed = []
            for host, port, primary, _node_id in nodes:
                name = get_node_name(host, port)
                node = self.nodes_cache.get(name) or self.startup_nodes.get(name) or self._node_class(host, port)
                node.server_type = PRIMARY if primary else REPLICA
                cache[name] = node
                listed.append(node)
            self.nodes_cache = cache
            self._ranges = [(r[0], r[1], [listed[i] for i in r[2:]]) for r in ranges]
            self._slots = None
            self._raw = raw
            default = self._default
            if default is None or default.name not in cache or default.server_type != PRIMARY:
                # redis-py's choice: a startup node when it is a primary.
                primaries: list = [n for n in self.startup_nodes.values() if cache.get(n.name) is n]
                primaries = [n for n in primaries if n.server_type == PRIMARY]
                primaries += [n for n in listed if n.server_type == PRIMARY]
                self._default = primaries[0] if primaries else None

    def current(self) -> "EngineNodes":
        self.initialize(refresh=False)
        return self

    @property
    def slots_cache(self) -> dict[int, list[ClusterNode]]:
        """slot -> [primary, replica, ...], redis-py's table (built on first use after a change)."""
        self.initialize(refresh=False)
        slots = self._slots
        if slots is None:
            slots = {}
            for start, end, nodes in self._ranges:
                for s in range(start, end + 1):
                    slots[s] = nodes
            self._slots = slots
        return slots

    @property
    def default_node(self) -> Optional[ClusterNode]:
        self.initialize(refresh=False)
        return self._default

    @default_node.setter
    def default_node(self, node: ClusterNode) -> None:
        self._default = node

    # -- redis-py's NodesManager methods -------------------------------------

    def get_node(self, host: Optional[str] = None, port: Optional[int] = None,
                 node_name: Optional[str] = None) -> Optional[ClusterNode]:
        self.initialize(refresh=False)
        if host and port:
            if host == "localhost":
                host = "127.0.0.1"
            return self.nodes_cache.get(get_node_name(host, port))
        if node_name:
            return self.nodes_cache.get(node_name)
        return None

    def get_nodes_by_server_type(self, server_type: str) -> list[ClusterNode]:
        self.initialize(refresh=False)
        return [n for n in self.nodes_cache.values() if n.server_type == server_type]

    def get_node_from_slot(self, slot: int, read_from_replicas: bool = False,
                           load_balancing_strategy: Any = None, server_type: Any = None) -> ClusterNode:
        nodes = self.slots_cache.get(slot)
        if not nodes:
            from redis.exceptions import SlotNotCoveredError

            raise SlotNotCoveredError(f'Slot "{slot}" not covered by the cluster.')
        if (read_from_replicas or load_balancing_strategy is not None) and len(nodes) > 1:
            return random.choice(nodes[1:])
        return nodes[0]

    def redis_client(self, node: Any) -> Any:
        """A cpipe client on node alone (made on first use; sync nodes also get it as redis_connection)."""
        with self._lock:
            client = self._clients.get(node.name)
            if client is None:
                client = self._clients[node.name] = self._make_client(node)
        if hasattr(type(node), "__dict__") and "redis_connection" in getattr(node, "__dict__", {}):
            node.redis_connection = client
        return client

    def node_clients(self) -> list:
        """The per-node clients made so far, forgotten (for the caller to close)."""
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for node in list(self.nodes_cache.values()) + list(self.startup_nodes.values()):
            if "redis_connection" in getattr(node, "__dict__", {}):
                node.redis_connection = None
        return clients

    def close(self) -> None:
        for client in self.node_clients():
            try:
                client.close()
            except ResponseError:
                pass

    def reset(self) -> None:
        pass
