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

from typing import Any, Optional

import redis
from redis.cluster import ClusterNode
from redis.exceptions import RedisClusterException

from ._hot import ClusterHotCommands
from ._replies import EMPTY_RESPONSE, NEVER_DECODE, never_decoded, wire_args
from .cluster_core import ClusterCore, Empty
from .errors import DataError, ResponseError

_NO_OPTIONS: dict = {}

__all__ = ["RedisCluster", "ClusterNode", "RedisClusterException"]


class RedisCluster(ClusterHotCommands, ClusterCore, redis.cluster.RedisCluster):
    """redis-py's RedisCluster on cpipe's engine; see the module docstring.

    Takes redis-py's options (host/port or startup_nodes, read_from_replicas,
    load_balancing_strategy, and every connection option a cpipe.Redis
    takes: socket_timeout, password, decode_responses, protocol, ...) plus
    cpipe's refresh_interval: reload the slot map that often in the
    background (seconds; 0 or None: only when the cluster says so).
    Nothing connects until the first command.
    """

    @property
    def _client_class(self) -> Any:  # type: ignore[override]
        from .client import Redis

        return Redis

    def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        """redis-py's entry point: routed by the engine, or run on target_nodes and merged."""
        if not args:
            raise DataError("execute_command needs a command name")
        nodes, slot = self._route(args, kwargs.pop("target_nodes", None))
        wire = wire_args(args)
        if nodes is None:
            return self._reply(args[0], self._run(wire, kwargs, None, slot), kwargs)
        res = {n.name: self._reply(args[0], self._run(wire, kwargs, n.name, -1), kwargs) for n in nodes}
        return self._merge(args[0], res, kwargs)

    def _cmd(self, *args: Any) -> Any:
        """The hot path (see _hot): a plain command the engine routes by its
        keys, with no options, skipping redis-py's argument handling and
        execute_command's routing: a third of a single command's cost."""
        reply = self._native.cluster_execute(self._h, self._encoding, self._max_bulk, None, -1, *args)
        return self._reply(args[0], reply, _NO_OPTIONS)

    def _run(self, wire: tuple, options: dict, node: Optional[str], slot: int) -> Any:
        if NEVER_DECODE in options:
            raw = self._execute_on(wire, options, node, slot)
            return raw if isinstance(raw, Empty) else never_decoded(wire[0], raw, self._encoding)
        return self._execute_on(wire, options, node, slot, self._encoding)

    def _execute_on(self, wire: tuple, options: dict, node: Optional[str], slot: int, encoding: Any = None) -> Any:
        try:
            return self._native.cluster_execute(self._h, encoding, self._max_bulk, node, slot, *wire)
        except ResponseError:
            if EMPTY_RESPONSE in options:
                return Empty(options[EMPTY_RESPONSE])
            raise

    # -- multi-key commands --------------------------------------------------------

    def mset(self, mapping: Any) -> Any:
        """MSET, all keys in one slot (redis-py raises RedisClusterException otherwise, before sending)."""
        self._check_mset(mapping)
        return super().mset(mapping)

    def _execute_pipeline_by_slot(self, command: str, slots_to_args: Any) -> list:
        # redis-py's helper for mget_nonatomic and mset_nonatomic: one
        # command per slot, here all in one cluster pipeline.
        pipe = self.pipeline(transaction=False)
        for slot_args in slots_to_args.values():
            pipe.execute_command(command, *slot_args)
        return pipe.execute()

    # DEL, EXISTS, TOUCH, UNLINK: the engine splits them by slot, in parallel.
    def delete(self, *keys: Any) -> Any:
        return self.execute_command("DEL", *keys)

    def exists(self, *keys: Any) -> Any:
        return self.execute_command("EXISTS", *keys)

    def touch(self, *keys: Any) -> Any:
        return self.execute_command("TOUCH", *keys)

    def unlink(self, *keys: Any) -> Any:
        return self.execute_command("UNLINK", *keys)

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

    def _return_dedicated(self, conn: Any) -> None:
        conn.close()  # a WATCH connection to one node: not kept

    def pubsub(self, node: Optional[ClusterNode] = None, host: Optional[str] = None, port: Optional[int] = None,
               **kwargs: Any) -> Any:
        """A ClusterPubSub (cpipe.cluster_pubsub): SUBSCRIBE on one node (given, or the
        default node; PUBLISH reaches every node), SSUBSCRIBE on each channel's slot owner."""
        from .cluster_pubsub import ClusterPubSub

        if node is None and host is not None and port is not None:
            node = self.get_node(host, port)
            if node is None:
                raise RedisClusterException(f"Node {host}:{port} doesn't exist in the cluster")
        return ClusterPubSub(self, node or self.get_default_node(), **kwargs)

    def monitor(self, target_node: Optional[ClusterNode] = None) -> Any:
        return self.get_redis_connection(target_node or self.get_default_node()).monitor()

    # -- lifetime ----------------------------------------------------------------------

    def close(self) -> None:
        """Close every node's connections; commands afterwards raise ConnectionError."""
        self._closed = True
        h, self._h = getattr(self, "_h", 0), 0
        if h:
            self._native.cluster_close(h)
        nodes = getattr(self, "nodes_manager", None)
        if nodes is not None:
            nodes.close()

    def __enter__(self) -> "RedisCluster":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass
