"""What cpipe.RedisCluster and cpipe.asyncio.RedisCluster share: their
options, the engine handle, and the choice of where a command goes.

`ClusterCore.__init__` takes redis-py's RedisCluster options, checks them
(a cpipe.Redis that never connects checks the connection options exactly
as cpipe.Redis does, and holds the reply callbacks), opens the engine's
router (cluster_export.go) and sets the attributes redis-py's own
RedisCluster methods read (encoder, command_flags, result_callbacks,
nodes_manager, ...). `_route` says where a command goes: to the engine as
it is (routed by its keys), to one slot's owner (redis-py's SLOT_ID
commands), or to a list of nodes whose replies `_merge` puts together as
redis-py does.
"""
from __future__ import annotations

import random
import threading
from typing import Any, Callable, Optional

import redis.cluster as _rc
from redis.client import CaseInsensitiveDict
from redis.connection import Encoder
from redis.exceptions import RedisClusterException

from . import _engine
from ._replies import callback_options, find_callback
from .cluster_nodes import EngineNodes
from .errors import ClusterDownError, DataError, ForkError

try:
    from redis.exceptions import CrossSlotTransactionError
except ImportError:  # redis-py before 6
    from redis.exceptions import RedisClusterException as CrossSlotTransactionError  # type: ignore[assignment]

SLOT_ID = _rc.SLOT_ID
_AbstractCluster = _rc.AbstractRedisCluster

# engine.ReplicaReads, by redis-py's LoadBalancingStrategy value.
REPLICA_READS = {"round_robin": 1, "round_robin_replicas": 2, "random_replica": 3}

# redis-py RedisCluster options that cpipe does not take, and why.
_UNSUPPORTED = {
    "address_remap": "the engine dials the addresses the cluster reports",
    "cache": "client-side caching is not available for clusters yet",
    "cache_config": "client-side caching is not available for clusters yet",
}
# redis-py options that only tune redis-py's own discovery and retries: the
# engine's map reloads on MOVED, on a lost node and every refresh_interval,
# and a lost node's commands are retried by the engine within socket_timeout.
_IGNORED = ("cluster_error_retry_attempts", "require_full_coverage", "reinitialize_steps",
            "dynamic_startup_nodes", "retry", "policy_resolver", "event_dispatcher", "lock",
            "maint_notifications_config", "connection_class", "connection_error_retry_attempts")

_configured = False


def native() -> Any:
    """The engine module, with the cluster statuses' exception classes handed in once."""
    global _configured
    mod = _engine.native()
    if not _configured:
        mod.cluster_configure(RedisClusterException, CrossSlotTransactionError, ClusterDownError)
        _configured = True
    return mod


class Empty:
    """EMPTY_RESPONSE's value in place of an error reply, through the callbacks untouched."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


class ClusterCore:
    """The shared half of the sync and asyncio RedisCluster (see the module docstring)."""

    PRIMARIES = _AbstractCluster.PRIMARIES
    REPLICAS = _AbstractCluster.REPLICAS
    ALL_NODES = _AbstractCluster.ALL_NODES
    RANDOM = _AbstractCluster.RANDOM
    DEFAULT_NODE = _AbstractCluster.DEFAULT_NODE
    # The node class target_nodes= takes and get_nodes() returns (asyncio: redis.asyncio's).
    _node_class: Callable[..., Any] = _rc.ClusterNode
    _client_class: Callable[..., Any]  # cpipe.Redis or cpipe.asyncio.Redis, for node.redis_connection

    def __init__(
        self,
        host: Optional[str] = None,
        port: int = 6379,
        startup_nodes: Optional[list] = None,
        read_from_replicas: bool = False,
        load_balancing_strategy: Any = None,
        url: Optional[str] = None,
        refresh_interval: Optional[float] = None,
        **kwargs: Any,
    ) -> None:
        for name, why in _UNSUPPORTED.items():
            if kwargs.pop(name, None) is not None:
                raise DataError(f"RedisCluster: {name}= is not supported by cpipe: {why}")
        for name in _IGNORED:
            kwargs.pop(name, None)
        if url is not None:
            from ._redis_options import options_from_url

            from_url = options_from_url(url, **kwargs)
            host, port = from_url.pop("host", host), from_url.pop("port", port)
            kwargs = from_url
        if kwargs.get("db", 0):
            raise RedisClusterException("Argument 'db' is not possible to use in cluster mode")
        kwargs.pop("db", None)
        if kwargs.get("unix_socket_path") is not None:
            raise RedisClusterException("RedisCluster: unix_socket_path cannot name a cluster node; give host and port")
        nodes = [self._node_class(n.host, n.port) for n in startup_nodes or ()]
        if host is not None:
            nodes.append(self._node_class(host, port))
        if not nodes:
            raise RedisClusterException(
                "RedisCluster requires at least one node to discover the cluster: "
                "give host and port, or startup_nodes=[ClusterNode(host, port), ...]")
        if refresh_interval is not None and (isinstance(refresh_interval, bool)
                                             or not isinstance(refresh_interval, (int, float))
                                             or not 0 <= refresh_interval <= 1e9):
            raise DataError(f"refresh_interval must be a number of seconds >= 0, not {refresh_interval!r}")
        strategy = getattr(load_balancing_strategy, "value", load_balancing_strategy)
        if strategy is not None and strategy not in REPLICA_READS:
            raise DataError(f"load_balancing_strategy must be a redis.cluster.LoadBalancingStrategy, "
                            f"not {load_balancing_strategy!r}")
        if read_from_replicas and strategy is None:
            strategy = "round_robin"  # what redis-py's read_from_replicas=True means
        if _engine.forked_child():
            raise ForkError(_engine.FORK_MESSAGE)
        kwargs.setdefault("autopipeline", True)  # one shared connection per node, callers coalesced
        self._client_options = dict(kwargs)
        from .client import Redis

        # Never connects: it checks the options as cpipe.Redis does and holds
        # the engine options every node's connections are opened with.
        template = Redis(host=nodes[0].host, port=nodes[0].port, **kwargs)
        self._native = mod = native()
        self._encoding = template._encoding
        self._max_bulk = template._max_bulk
        self._socket_timeout = template._socket_timeout
        self._config = template._config
        self.response_callbacks = template.response_callbacks
        self.connection_pool = template.connection_pool
        self._protocol_pending = False
        self.encoder = Encoder(template.encoding, kwargs.get("encoding_errors", "strict"), template.decode_responses)
        self.command_flags = _AbstractCluster.COMMAND_FLAGS.copy()
        self.node_flags = _AbstractCluster.NODE_FLAGS.copy()
        self.result_callbacks = CaseInsensitiveDict(_AbstractCluster.RESULT_CALLBACKS)
        self.cluster_response_callbacks = CaseInsensitiveDict(
            _AbstractCluster.CLUSTER_COMMANDS_RESPONSE_CALLBACKS)  # type: ignore[arg-type]  # typed dict[str, str]
        self.read_from_replicas = bool(read_from_replicas)
        self.load_balancing_strategy = load_balancing_strategy
        self.reinitialize_steps = 0
        self.reinitialize_counter = 0
        self.user_on_connect_func = None
        self.retry = None
        self._lock = threading.RLock()
        self._event_dispatcher = template._event_dispatcher
        self._closed = False
        self._template = template
        self.startup_nodes = nodes
        seeds = " ".join(n.name for n in nodes)
        self._h = mod.cluster_open(mod.open(self._config), seeds, float(refresh_interval or 0),
                                   REPLICA_READS.get(strategy, 0) if strategy else 0)
        self.nodes_manager = EngineNodes(lambda refresh: mod.cluster_nodes(self._h, refresh), nodes,
                                         template.connection_pool.connection_kwargs, self._node_client,
                                         self._node_class)
        _engine.track(self)

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> Any:
        """A RedisCluster whose startup node (and options) come from redis://host:port?option=value."""
        return cls(url=url, **kwargs)

    def __repr__(self) -> str:
        return f"<{type(self).__module__}.{type(self).__name__} {' '.join(n.name for n in self.startup_nodes)}>"

    def _node_client(self, node: Any) -> Any:
        return self._client_class(host=node.host, port=node.port, **self._client_options)

    def get_redis_connection(self, node: Any) -> Any:
        """A cpipe client on node alone (node.redis_connection, made on first use)."""
        return self.nodes_manager.redis_client(node)

    def _adopt_after_fork(self) -> None:
        """In a forked child the engine cannot run: every command raises ForkError."""
        self._h = 0

    # -- the topology (redis-py's methods, on the engine's map) -----------------

    def get_nodes(self) -> list:
        return list(self.nodes_manager.current().nodes_cache.values())

    def get_primaries(self) -> list:
        return self.nodes_manager.get_nodes_by_server_type(_rc.PRIMARY)

    def get_replicas(self) -> list:
        return self.nodes_manager.get_nodes_by_server_type(_rc.REPLICA)

    def get_random_node(self) -> Any:
        return random.choice(self.get_nodes())

    def get_default_node(self) -> Any:
        return self.nodes_manager.default_node

    def set_default_node(self, node: Any) -> bool:
        if node is None or self.get_node(node_name=node.name) is None:
            return False
        self.nodes_manager.default_node = node
        return True

    def get_node(self, host: Optional[str] = None, port: Optional[int] = None,
                 node_name: Optional[str] = None) -> Any:
        return self.nodes_manager.get_node(host, port, node_name)

    def get_node_from_key(self, key: Any, replica: bool = False) -> Any:
        nodes = self.nodes_manager.slots_cache.get(self.keyslot(key))
        if not nodes:
            from redis.exceptions import SlotNotCoveredError

            raise SlotNotCoveredError(f'Slot "{self.keyslot(key)}" is not covered by the cluster.')
        if replica:
            return nodes[1] if len(nodes) > 1 else None
        return nodes[0]

    def keyslot(self, key: Any) -> int:
        from redis.crc import key_slot

        return key_slot(self.encoder.encode(key))

    def get_encoder(self) -> Any:
        return self.encoder

    def get_connection_kwargs(self) -> dict:
        return self.nodes_manager.connection_kwargs

    def set_response_callback(self, command: str, callback: Callable[..., Any]) -> None:
        self.cluster_response_callbacks[command] = callback

    def refresh_topology(self) -> None:
        """Ask the cluster for its slot map now (the engine also does on MOVED and lost nodes)."""
        self.nodes_manager.initialize(refresh=True)

    # -- routing ------------------------------------------------------------------

    def _flag_of(self, args: tuple) -> Any:
        name = args[0]
        if isinstance(name, bytes):
            name = name.decode("utf-8", "replace")
        name = name.upper()
        flag = self.command_flags.get(name)
        if flag is None and len(args) > 1 and isinstance(args[1], (str, bytes)):
            sub = args[1].decode("utf-8", "replace") if isinstance(args[1], bytes) else args[1]
            flag = self.command_flags.get(f"{name} {sub.upper()}")
        return flag

    def _route(self, args: tuple, target: Any) -> tuple[Optional[list], int]:
        """(nodes, slot): nodes None for a command the engine routes (to slot
        when >= 0, else by its keys); else the nodes to run it on, each."""
        if target is None:
            flag = self._flag_of(args)
            if flag is None:
                return None, -1
        elif isinstance(target, str) and target in self.node_flags:
            flag = target
        else:
            if isinstance(target, dict):
                nodes = list(target.values())
            elif isinstance(target, (list, tuple)):
                nodes = list(target)
            elif hasattr(target, "name") and hasattr(target, "port"):
                nodes = [target]
            else:
                raise TypeError(
                    "target_nodes type can be one of the following: node_flag (PRIMARIES, REPLICAS, RANDOM, "
                    "ALL_NODES), ClusterNode, list<ClusterNode>, or dict<any, ClusterNode>. "
                    f"The passed type is {type(target)}")
            return self._checked(args, nodes), -1
        if flag == SLOT_ID:
            return None, int(args[1])
        if flag == self.PRIMARIES:
            nodes = self.get_primaries()
        elif flag == self.REPLICAS:
            nodes = self.get_replicas()
        elif flag == self.ALL_NODES:
            nodes = self.get_nodes()
        elif flag == self.RANDOM:
            nodes = [self.get_random_node()]
        else:
            nodes = [self.get_default_node()]
        return self._checked(args, nodes), -1

    @staticmethod
    def _checked(args: tuple, nodes: list) -> list:
        if not nodes or any(n is None for n in nodes):
            raise RedisClusterException(f"No targets were found to execute {args} command on")
        return nodes

    def _reply(self, command: Any, reply: Any, options: dict) -> Any:
        if isinstance(reply, Empty):
            return reply.value
        cb = self.cluster_response_callbacks.get(command) if isinstance(command, str) else None
        if cb is None:
            cb = find_callback(self.response_callbacks, command)
        if cb is None:
            return reply
        return cb(reply, **callback_options(options)) if options else cb(reply)

    def _merge(self, command: Any, res: dict, options: dict) -> Any:
        """redis-py's result merging: RESULT_CALLBACKS, else the one node's reply, else {node: reply}."""
        name = command.decode() if isinstance(command, bytes) else command
        if name in self.result_callbacks:
            return self.result_callbacks[name](name, res, **callback_options(options))
        if len(res) == 1:
            return next(iter(res.values()))
        return res

    def _watch_node(self, args: tuple) -> Any:
        """The node a pipeline's WATCH runs on: its keys' one slot's primary."""
        if not args or str(args[0]).upper() != "WATCH" or len(args) < 2:
            raise RedisClusterException(f"a cluster pipeline runs {args[0] if args else '?'} only after WATCH names its keys")
        slots = {self.keyslot(k) for k in args[1:]}
        if len(slots) > 1:
            raise CrossSlotTransactionError("Cannot watch or send commands on different slots")
        return self.get_node_from_key(args[1])

    def _check_mset(self, mapping: Any) -> None:
        """redis-py's MSET refuses keys in several slots, before sending."""
        if len({self.keyslot(k) for k in mapping}) > 1:
            raise RedisClusterException("MSET - all keys must map to the same key slot")
