"""`ClusterPipeline`: cpipe's Pipeline, its batch split by node in the engine.

The queueing, reply conversion, raise_on_error and the transaction unpacking
are cpipe.Pipeline's (redis-py's Pipeline underneath); only where the batch
goes differs. execute() hands the whole batch to the engine in one call
(cpipe/engine/cluster_pipeline.go): it finds each command's node, sends one
request per node, all nodes in parallel, re-sends alone any command answered
MOVED, ASK, TRYAGAIN or CLUSTERDOWN (or whose node was lost), and puts the
replies back in order. A command whose keys span slots fails the whole
pipeline before anything is sent (RedisClusterException).

transaction=True: MULTI ... EXEC on the owner of the commands' one slot;
keys in several slots raise CrossSlotTransactionError before anything is
sent, as redis-py's ClusterPipeline does.

WATCH (keys of one slot, else CrossSlotTransactionError) puts the pipeline
in immediate mode on a connection of its own to that slot's primary, as
cpipe.Pipeline does on one server; the MULTI ... EXEC then goes there too.
If the slot moves meanwhile the server answers MOVED (raised), and
redis-py's transaction() helper does not retry that.
"""
from __future__ import annotations

from typing import Any

from redis.exceptions import RedisClusterException

from .pipeline import Pipeline


class ClusterPipeline(Pipeline):
    def __init__(self, client: Any, transaction: bool = False) -> None:
        super().__init__(client, transaction)

    def _send(self, wire: list, raw: bool) -> list:
        client = self._client
        if self.connection is not None:  # after WATCH: on that connection, as on one server
            return super()._send(wire, raw)
        if self.transaction or self.explicit_transaction:  # type: ignore[truthy-function]  # the flag, not Redis.transaction
            # wire is [MULTI, commands..., EXEC]: the engine adds those two itself,
            # on the node that owns the commands' slot.
            return client._exec_transaction(wire[1:-1], raw)
        return client._exec_many_raw(wire) if raw else client._exec_many(wire)

    def immediate_execute_command(self, *args: Any, **options: Any) -> Any:
        if self.connection is None:
            if not self.watching and args[0] != "WATCH":
                # Nothing watched (load_scripts' SCRIPT EXISTS/LOAD): routed as any command.
                return self._client.execute_command(*args, **options)
            # WATCH: a connection of its own to the keys' one slot's primary.
            node = self._client._watch_node(args)
            self.connection = self._client.get_redis_connection(node)._dedicated(fresh=True)
        return super().immediate_execute_command(*args, **options)

    def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        if kwargs.pop("target_nodes", None) is not None:
            raise RedisClusterException("target_nodes= is not supported in a cluster pipeline: "
                                        "commands are routed by their keys")
        return super().execute_command(*args, **kwargs)
