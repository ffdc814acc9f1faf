"""Redis Cluster: `cpipe.RedisCluster`, a `redis.cluster.RedisCluster` routed by the engine.

    rc = cpipe.RedisCluster(host="127.0.0.1", port=7000)
    rc.set("{user:1}:name", "ada"); rc.get("{user:1}:name")
    rc.mget("a", "b", "c")                 # split by slot, sent in parallel
    rc.keys(target_nodes=rc.PRIMARIES)     # redis-py's target_nodes and merging
    with rc.pipeline() as p: ...           # one request per node, in parallel

The command methods, the node flags (PRIMARIES, ALL_NODES, ...), the result
merging (RESULT_CALLBACKS) and the reply callbacks are redis-py's. What
differs is below execute_command: a command that names no node goes to the
engine (cpipe/engine/cluster*.go) as it is; the engine finds its slot from
the server's COMMAND table, picks the node from its slot map, follows MOVED
and ASK, waits out TRYAGAIN and CLUSTERDOWN, and after a lost node reloads
the map and sends the command to the slot's new owner within the socket
timeout. A command redis-py sends to a node set (INFO, KEYS, FLUSHALL,
SCAN, ...) or that names target_nodes runs on each node's own connections
and the results are merged with redis-py's RESULT_CALLBACKS.

Differences from redis-py, on purpose: MGET with keys in several slots is
split by slot (redis-py raises); a keyless command redis-py cannot place
(ECHO) runs on a random primary; retries of lost nodes are the engine's
(bounded by socket_timeout), not a Retry object's.
"""
from __future__ import annotations

import threading
from functools import partial
from typing import Any, Optional

import redis
import redis.cluster as _rc
from redis.client import CaseInsensitiveDict
from redis.cluster import ClusterNode
from redis.connection import Encoder
from redis.crc import key_slot

from . import _engine
from ._replies import EMPTY_RESPONSE, NEVER_DECODE, callback_options, find_callback, wire_args
from .cluster_nodes import EngineNodes
from .errors import ClusterDownError, DataError, ForkError, ResponseError

try:
    from redis.exceptions import CrossSlotTransactionError
except ImportError:  # redis-py before 6
    from redis.exceptions import RedisClusterException as CrossSlotTransactionError  # type: ignore[assignment]
from redis.exceptions import RedisClusterException

SLOT_ID = _rc.SLOT_ID

# engine.ReplicaReads, by redis-py's LoadBalancingStrategy value.
_REPLICA_READS = {"round_robin": 1, "round_robin_replicas": 2, "random_replica": 3}

# redis-py RedisCluster options that cpipe does not take, and why.
_UNSUPPORTED = {
    "address_remap": "the engine dials the addresses the cluster reports",
    "cache": "client-side caching is not available for clusters yet",
    "cache_config": "client-side caching is not available for clusters yet",
}
# redis-py options that only tune redis-py's own discovery and retries: the
# engine's map reloads on MOVED, on a lost node and every refresh_interval.
_IGNORED = ("cluster_error_retry_attempts", "require_full_coverage", "reinitialize_steps",
            "dynamic_startup_nodes", "retry", "policy_resolver", "event_dispatcher", "lock",
            "maint_notifications_config", "connection_class")

_configured = False


def _native() -> Any:
    global _configured
    native = _engine.native()
    if not _configured:
        native.cluster_configure(RedisClusterException, CrossSlotTransactionError, ClusterDownError)
        _configured = True
    return native


class RedisCluster(redis.cluster.RedisCluster):
    """redis-py's RedisCluster on cpipe's engine; see the module docstring.

    Takes redis-py's options (host/port or startup_nodes, read_from_replicas,
    load_balancing_strategy, and every connection option a cpipe.Redis
    takes: socket_timeout, password, decode_responses, protocol, ...) plus
    cpipe's refresh_interval: reload the slot map that often in the
    background (seconds; 0 or None: only when the cluster says so).
    Nothing connects until the first command.
    """

    def __init__(
        self,
        host: Optional[str] = None,
        port: int = 6379,
        startup_nodes: Optional[list[ClusterNode]] = None,
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
        nodes = list(startup_nodes or [])
        if host is not None:
            nodes.append(ClusterNode(host, port))
        if not nodes:
            raise RedisClusterException(
                "RedisCluster requires at least one node to discover the cluster: "
                "give host and port, or startup_nodes=[ClusterNode(host, port), ...]")
        if refresh_interval is not None and (isinstance(refresh_interval, bool) or not isinstance(refresh_interval, (int, float))
                                             or not 0 <= refresh_interval <= 1e9):
            raise DataError(f"refresh_interval must be a number of seconds >= 0, not {refresh_interval!r}")
        strategy = getattr(load_balancing_strategy, "value", load_balancing_strategy)
        if strategy is not None and strategy not in _REPLICA_READS:
            raise DataError(f"load_balancing_strategy must be a redis.cluster.LoadBalancingStrategy, not {load_balancing_strategy!r}")
        if read_from_replicas and strategy is None:
            strategy = "round_robin"  # what redis-py's read_from_replicas=True means
        if _engine.forked_child():
            raise ForkError(_engine.FORK_MESSAGE)
        kwargs.setdefault("autopipeline", True)  # one shared connection per node, callers coalesced
        self._client_options = dict(kwargs)
        # A cpipe.Redis that never connects: it checks the options exactly as
        # cpipe.Redis does and holds what every node's connections use.
        from .client import Redis

        template = Redis(host=nodes[0].host, port=nodes[0].port, **kwargs)
        self._template = template
        self._native = native = _native()
        self._encoding = template._encoding
        self._max_bulk = template._max_bulk
        self._socket_timeout = template._socket_timeout
        self._config = template._config
        self.response_callbacks = template.response_callbacks
        self.connection_pool = template.connection_pool
        self._protocol_pending = False
        self._retry = None
        self.encoder = Encoder(template.encoding, kwargs.get("encoding_errors", "strict"), template.decode_responses)
        # What redis-py's own RedisCluster methods read.
        self.command_flags = self.__class__.COMMAND_FLAGS.copy()
        self.node_flags = self.__class__.NODE_FLAGS.copy()
        self.result_callbacks = CaseInsensitiveDict(self.__class__.RESULT_CALLBACKS)
        self.cluster_response_callbacks = CaseInsensitiveDict(
            self.__class__.CLUSTER_COMMANDS_RESPONSE_CALLBACKS)  # type: ignore[arg-type]  # typed dict[str, str]
        self.read_from_replicas = bool(read_from_replicas)
        self.load_balancing_strategy = load_balancing_strategy
        self.reinitialize_steps = 0
        self.reinitialize_counter = 0
        self.user_on_connect_func = None
        self.retry = None
        self._lock = threading.RLock()
        self._event_dispatcher = template._event_dispatcher
        self._closed = False
        seeds = " ".join(n.name for n in nodes)
        self._h = native.cluster_open(native.open(self._config), seeds, float(refresh_interval or 0),
                                      _REPLICA_READS.get(strategy, 0) if strategy else 0)
        self._exec = partial(native.cluster_execute, self._h, self._encoding, self._max_bulk, None, -1)
        self._exec_raw = partial(native.cluster_execute, self._h, None, self._max_bulk, None, -1)
        self.startup_nodes = nodes
        self.nodes_manager = EngineNodes(partial(native.cluster_nodes, self._h), nodes,
                                         template.connection_pool.connection_kwargs, self._node_client)
        _engine.track(self)

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> "RedisCluster":
        """A RedisCluster whose startup node (and options) come from redis://host:port?option=value."""
        return cls(url=url, **kwargs)

    def __repr__(self) -> str:
        return f"<{type(self).__module__}.{type(self).__name__} {' '.join(n.name for n in self.startup_nodes)}>"

    def _node_client(self, node: ClusterNode) -> Any:
        from .client import Redis

        return Redis(host=node.host, port=node.port, **self._client_options)

    def get_redis_connection(self, node: ClusterNode) -> Any:
        """A cpipe.Redis on node alone (node.redis_connection, made on first use)."""
        return self.nodes_manager.redis_client(node)

    def _adopt_after_fork(self) -> None:
        """In a forked child: the engine cannot run here; every call raises ForkError."""
        def forked(*args: Any, **kwargs: Any) -> Any:
            raise ForkError(_engine.FORK_MESSAGE)

        self._exec = self._exec_raw = forked  # type: ignore[assignment]
        self._h = 0

    # -- routing ----------------------------------------------------------------

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

    def _nodes_for(self, flag: Any) -> list[ClusterNode]:
        if flag == self.PRIMARIES:
            return self.get_primaries()
        if flag == self.REPLICAS:
            return self.get_replicas()
        if flag == self.ALL_NODES:
            return self.get_nodes()
        if flag == self.RANDOM:
            return [self.get_random_node()]
        return [self.get_default_node()]

    def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        """redis-py's entry point: routed by the engine, or run on target_nodes and merged."""
        if not args:
            raise DataError("execute_command needs a command name")
        target = kwargs.pop("target_nodes", None)
        nodes: Optional[list] = None
        flag = None
        if target is not None:
            if self._is_nodes_flag(target):
                flag = target
            else:
                nodes = list(self._parse_target_nodes(target))
        else:
            flag = self._flag_of(args)
        wire = wire_args(args)
        if nodes is None and flag is None:
            return self._reply(args[0], self._run(wire, kwargs, None, -1), kwargs)
        if flag == SLOT_ID:
            return self._reply(args[0], self._run(wire, kwargs, None, int(args[1])), kwargs)
        if nodes is None:
            nodes = self._nodes_for(flag)
        if not nodes or any(n is None for n in nodes):
            raise RedisClusterException(f"No targets were found to execute {args} command on")
        res = {n.name: self._reply(args[0], self._run(wire, kwargs, n.name, -1), kwargs) for n in nodes}
        return self._merge(args[0], res, kwargs)

    def _run(self, wire: tuple, options: dict, node: Optional[str], slot: int) -> Any:
        encoding = None if NEVER_DECODE in options else self._encoding
        try:
            return self._native.cluster_execute(self._h, encoding, self._max_bulk, node, slot, *wire)
        except ResponseError as e:
            if EMPTY_RESPONSE in options:
                return _Empty(options[EMPTY_RESPONSE])
            raise e

    def _reply(self, command: Any, reply: Any, options: dict) -> Any:
        if isinstance(reply, _Empty):
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

    # -- multi-key commands --------------------------------------------------------

    def mset(self, mapping: Any) -> Any:
        """MSET, all keys in one slot (redis-py raises RedisClusterException otherwise, before sending)."""
        slots = {key_slot(self.encoder.encode(k)) for k in mapping}
        if len(slots) > 1:
            raise RedisClusterException("MSET - all keys must map to the same key slot")
        return super().mset(mapping)

    def _execute_pipeline_by_slot(self, command: str, slots_to_args: Any) -> list:
        # redis-py's helper for mget_nonatomic, mset_nonatomic, delete, exists,
        # touch and unlink: one command per slot, here one cluster pipeline.
        pipe = self.pipeline(transaction=False)
        for slot_args in slots_to_args.values():
            pipe.execute_command(command, *slot_args)
        return pipe.execute()

    def delete(self, *keys: Any) -> Any:
        return self.execute_command("DEL", *keys)  # the engine splits by slot, in parallel

    def exists(self, *keys: Any) -> Any:
        return self.execute_command("EXISTS", *keys)

    def touch(self, *keys: Any) -> Any:
        return self.execute_command("TOUCH", *keys)

    def unlink(self, *keys: Any) -> Any:
        return self.execute_command("UNLINK", *keys)

    # -- topology -------------------------------------------------------------------

    def get_nodes(self) -> list[ClusterNode]:
        return list(self.nodes_manager.current().nodes_cache.values())

    def get_random_node(self) -> ClusterNode:
        import random

        return random.choice(self.get_nodes())

    def refresh_topology(self) -> None:
        """Ask the cluster for its slot map now (the engine also does on MOVED and lost nodes)."""
        self.nodes_manager.initialize(refresh=True)

    # -- pipelines, pub/sub ------------------------------------------------------------

    def pipeline(self, transaction: Any = None, shard_hint: Any = None) -> Any:
        """A ClusterPipeline: each command routed, one request per node, in parallel;
        transaction=True: MULTI ... EXEC, every key in one slot (else CrossSlotTransactionError)."""
        if shard_hint:
            raise RedisClusterException("shard_hint is deprecated in cluster mode")
        from .cluster_pipeline import ClusterPipeline

        return ClusterPipeline(self, bool(transaction))

    def _exec_many(self, wire: list) -> list:
        return self._native.cluster_execute_many(self._h, self._encoding, self._max_bulk, False, wire)

    def _exec_many_raw(self, wire: list) -> list:
        return self._native.cluster_execute_many(self._h, None, self._max_bulk, False, wire)

    def _exec_transaction(self, wire: list, raw: bool) -> list:
        return self._native.cluster_execute_many(self._h, None if raw else self._encoding, self._max_bulk, True, wire)

    def _settle_protocol(self, handle: int = 0) -> None:
        pass

    def pubsub(self, node: Optional[ClusterNode] = None, host: Optional[str] = None, port: Optional[int] = None,
               **kwargs: Any) -> Any:
        """A PubSub on one node (given, or the default node): cluster-wide channels reach every node.
        Sharded channels (SSUBSCRIBE) are not routed by slot yet."""
        if node is None and host is not None and port is not None:
            node = self.get_node(host, port)
        if node is None:
            node = self.get_default_node()
        return self.get_redis_connection(node).pubsub(**kwargs)

    def monitor(self, target_node: Optional[ClusterNode] = None) -> Any:
        return self.get_redis_connection(target_node or self.get_default_node()).monitor()

    # -- lifetime ----------------------------------------------------------------------

    def close(self) -> None:
        """Close every node's connections; the client cannot be used afterwards."""
        self._closed = True
        h, self._h = getattr(self, "_h", 0), 0
        if h:
            self._native.cluster_close(h)
        nodes = getattr(self, "nodes_manager", None)
        if nodes is not None:
            nodes.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass


class _Empty:
    """EMPTY_RESPONSE's value in place of an error reply, through the callbacks untouched."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

