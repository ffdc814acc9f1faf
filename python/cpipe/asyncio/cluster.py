"""`cpipe.asyncio.RedisCluster`: a `redis.asyncio.cluster.RedisCluster` routed by the engine.

    rc = cpipe.asyncio.RedisCluster(host="127.0.0.1", port=7000)
    await rc.set("k", "v"); await rc.get("k")
    async with rc.pipeline() as p:
        p.set("a", 1).get("b")
        await p.execute()

Everything but the sending is cpipe.RedisCluster's (cpipe/cluster_core.py):
the same options, routing, target_nodes and merging. A command is handed to
the engine's router without waiting (cluster_submit): the engine runs it in
a goroutine (routing, redirects, a lost node's retry) and its completion
comes back through the running loop's queue (cpipe/asyncio/_loop.py), so
the loop never blocks on the network. The router's connections belong to
no loop: the client can be used from any loop, one after another.

Limits: a blocking command (BLPOP ...) runs on a connection of its own but
cannot be cancelled early (cancelling the task stops waiting for it; the
command still runs until answered or timed out). At most
engine.MaxOutstanding (2**20) commands per loop may be unanswered: past
that, submitting raises ConnectionError rather than queueing without bound.
"""
from __future__ import annotations

import asyncio
from typing import Any, Optional

import redis.asyncio.cluster as _arc
from redis.exceptions import RedisClusterException

from .._replies import EMPTY_RESPONSE, NEVER_DECODE, never_decoded, wire_args
from ..cluster_core import ClusterCore, Empty
from ..errors import DataError, ResponseError
from ._loop import loop_queue
from .pipeline import Pipeline

ClusterNode = _arc.ClusterNode

# cluster_submit's modes (cluster_export.go CP_CLUSTER_*).
_ONE, _PIPELINE, _TRANSACTION = 0, 1, 2

__all__ = ["RedisCluster", "ClusterPipeline", "ClusterNode"]


class RedisCluster(ClusterCore, _arc.RedisCluster):
    """redis.asyncio's RedisCluster on cpipe's engine (the options of cpipe.RedisCluster)."""

    _node_class = _arc.ClusterNode

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._initialize = False  # redis-py's "discover on first use": the engine does
        self._usage_counter = 0
        self._usage_lock = asyncio.Lock()

    @property
    def _client_class(self) -> Any:  # type: ignore[override]
        from .client import Redis

        return Redis

    async def initialize(self) -> "RedisCluster":
        """redis-py's discovery step: here, load the engine's slot map now."""
        await asyncio.get_running_loop().run_in_executor(None, self.nodes_manager.initialize, True)
        return self

    def __await__(self) -> Any:
        return self.initialize().__await__()

    # -- sending ------------------------------------------------------------------

    async def _submit(self, mode: int, commands: Any, raw: bool, node: Optional[str], slot: int) -> Any:
        loop = asyncio.get_running_loop()
        lq = loop_queue(loop)
        fut = loop.create_future()
        tag = lq.new_tag(lq.encoding_index(None if raw else self._encoding))
        lq.pending[tag] = (fut, None)
        try:
            self._native.cluster_submit(self._h, lq.q, tag, self._max_bulk, mode, node, slot, commands)
        except BaseException:
            del lq.pending[tag]
            raise
        return await fut

    async def _run(self, wire: tuple, options: dict, node: Optional[str], slot: int) -> Any:
        try:
            if NEVER_DECODE in options:
                return never_decoded(wire[0], await self._submit(_ONE, (wire,), True, node, slot), self._encoding)
            return await self._submit(_ONE, (wire,), False, node, slot)
        except ResponseError:
            if EMPTY_RESPONSE in options:
                return Empty(options[EMPTY_RESPONSE])
            raise

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        """redis-py's entry point: routed by the engine, or run on target_nodes and merged."""
        if not args:
            raise DataError("execute_command needs a command name")
        nodes, slot = self._route(args, kwargs.pop("target_nodes", None))
        wire = wire_args(args)
        if nodes is None:
            return self._reply(args[0], await self._run(wire, kwargs, None, slot), kwargs)
        replies = await asyncio.gather(*(self._run(wire, kwargs, n.name, -1) for n in nodes))
        res = {n.name: self._reply(args[0], r, kwargs) for n, r in zip(nodes, replies)}
        return self._merge(args[0], res, kwargs)

    async def _run_many(self, wire: list) -> list:
        return await self._submit(_PIPELINE, wire, False, None, -1)

    async def _run_many_raw(self, wire: list) -> list:
        return await self._submit(_PIPELINE, wire, True, None, -1)

    async def _run_transaction(self, wire: list, raw: bool) -> list:
        return await self._submit(_TRANSACTION, wire, raw, None, -1)

    def _settle_protocol(self, handle: int = 0) -> None:
        pass

    async def _return_dedicated(self, conn: Any) -> None:
        await conn.aclose()  # a WATCH connection to one node: not kept

    # -- multi-key commands --------------------------------------------------------

    async def mset(self, mapping: Any) -> Any:
        self._check_mset(mapping)
        return await self.execute_command("MSET", *[x for kv in mapping.items() for x in kv])

    async def _execute_pipeline_by_slot(self, command: str, slots_to_args: Any) -> list:
        pipe = self.pipeline(transaction=False)
        for slot_args in slots_to_args.values():
            pipe.execute_command(command, *slot_args)
        return await pipe.execute()

    async def delete(self, *keys: Any) -> Any:
        return await self.execute_command("DEL", *keys)

    async def exists(self, *keys: Any) -> Any:
        return await self.execute_command("EXISTS", *keys)

    async def touch(self, *keys: Any) -> Any:
        return await self.execute_command("TOUCH", *keys)

    async def unlink(self, *keys: Any) -> Any:
        return await self.execute_command("UNLINK", *keys)

    def pipeline(self, transaction: Any = None, shard_hint: Any = None) -> "ClusterPipeline":
        if shard_hint:
            raise RedisClusterException("shard_hint is deprecated in cluster mode")
        return ClusterPipeline(self, bool(transaction))

    def pubsub(self, node: Any = None, host: Optional[str] = None, port: Optional[int] = None, **kwargs: Any) -> Any:
        """A ClusterPubSub: SUBSCRIBE on one node (given, or the default node; PUBLISH
        reaches every node), SSUBSCRIBE on each channel's slot owner."""
        from .cluster_pubsub import ClusterPubSub

        if node is None and host is not None and port is not None:
            node = self.get_node(host, port)
            if node is None:
                raise RedisClusterException(f"Node {host}:{port} doesn't exist in the cluster")
        return ClusterPubSub(self, node or self.get_default_node(), **kwargs)

    # -- lifetime ----------------------------------------------------------------------

    async def aclose(self) -> None:
        """Close every node's connections; commands afterwards raise ConnectionError."""
        self._closed = True
        h, self._h = self._h, 0
        if h:
            await asyncio.get_running_loop().run_in_executor(None, self._native.cluster_close, h)
        for client in self.nodes_manager.node_clients():
            await client.aclose()

    async def close(self) -> None:  # type: ignore[override]
        await self.aclose()

    async def __aenter__(self) -> "RedisCluster":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()

    def __del__(self, *args: Any, **kwargs: Any) -> None:
        h, self._h = getattr(self, "_h", 0), 0
        if h:
            try:
                self._native.cluster_close(h)
            except Exception:
                pass


class ClusterPipeline(Pipeline):
    """cpipe.asyncio's Pipeline, its batch split by node in the engine (see
    cpipe.cluster_pipeline: the same rules, WATCH on one slot's primary)."""

    def __init__(self, client: RedisCluster, transaction: bool = False) -> None:
        super().__init__(client, transaction)

    async def _send(self, wire: list, raw: bool) -> list:
        if self.connection is not None:  # after WATCH: on that connection, as on one server
            return await super()._send(wire, raw)
        if self.is_transaction or self.explicit_transaction:
            return await self._client._run_transaction(wire[1:-1], raw)  # the engine adds MULTI/EXEC
        return await (self._client._run_many_raw(wire) if raw else self._client._run_many(wire))

    async def immediate_execute_command(self, *args: Any, **options: Any) -> Any:
        if self.connection is None:
            if not self.watching and args[0] != "WATCH":
                # Nothing watched (load_scripts' SCRIPT EXISTS/LOAD): routed as any command.
                return await self._client.execute_command(*args, **options)
            # WATCH: a connection of its own to the keys' one slot's primary.
            node = self._client._watch_node(args)
            self.connection = self._client.get_redis_connection(node)._dedicated(fresh=True)
        return await super().immediate_execute_command(*args, **options)

    def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        if kwargs.pop("target_nodes", None) is not None:
            raise RedisClusterException("target_nodes= is not supported in a cluster pipeline: "
                                        "commands are routed by their keys")
        return super().execute_command(*args, **kwargs)
