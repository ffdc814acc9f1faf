"""asyncio pipelines and transactions: redis.asyncio's `Pipeline`, sent by the engine.

A `cpipe.asyncio.Pipeline` is a `redis.asyncio.client.Pipeline`: its command
methods queue `(args, options)` on `command_stack` as redis-py's do and
return the pipeline, so calls chain; `watch`, `unwatch`, `multi`,
`discard`, `reset`, Script and `Redis.transaction` are redis-py's. As in
cpipe.Pipeline (the sync one, whose reply conversion this one shares):

- `await execute()` hands the whole batch to the engine as one request,
  written contiguously on one connection, so MULTI ... EXEC stays atomic
  even on the shared, auto-pipelined connection;
- after `await watch(...)` the pipeline is in immediate mode on a
  connection of its own (a DedicatedConnection, completing into the same
  loop queue) until `execute()`, `reset()` or `unwatch()`;
- if that connection fails while keys are watched, the watch is lost with
  it: WatchError, as redis-py raises, so the caller's transaction loop
  retries.
"""
from __future__ import annotations

import asyncio
import operator
from typing import Any, Optional

import redis.asyncio.client

from .._replies import EMPTY_RESPONSE, NEVER_DECODE, callback_options, find_callback, never_decoded, wire_args
from ..errors import ConnectionError, DataError, ResponseError, TimeoutError, WatchError
from ..pipeline import _NO_OPTIONS, RaiseAnyFirstError, renumbered
from ..pipeline import Pipeline as _SyncPipeline
from ._hot import AsyncHotCommands
from ._submit import DedicatedConnection

_CONNECTION_ERRORS = (ConnectionError, TimeoutError)
_first = operator.itemgetter(0)


def _watch_lost(e: BaseException) -> WatchError:
    return WatchError(f"A {type(e).__name__} occurred while watching one or more keys")


class Pipeline(AsyncHotCommands, RaiseAnyFirstError, redis.asyncio.client.Pipeline):
    """redis.asyncio's Pipeline on cpipe's engine; see the module docstring."""

    def __init__(self, client: Any, transaction: bool = True, shard_hint: Any = None) -> None:
        self._client = client
        self.connection_pool = client.connection_pool
        self.connection: Optional[DedicatedConnection] = None
        self.response_callbacks = client.response_callbacks
        self.is_transaction = transaction
        self.shard_hint = shard_hint
        self.watching = False
        self.command_stack: list[tuple] = []
        # What the engine is sent, kept beside command_stack, and whether a
        # queued command needs more than a hot command's handling (the sync
        # pipeline's conversion reads both).
        self._wire: list[tuple] = []
        self._general = False
        self.scripts: set = set()
        self.explicit_transaction = False
        self._event_dispatcher = getattr(client, "_event_dispatcher", None)

    def __repr__(self) -> str:
        return f"<{type(self).__module__}.{type(self).__name__} of {self._client!r}>"

    def get_encoder(self) -> Any:
        return self._client.get_encoder()

    # -- queueing -----------------------------------------------------------

    def _cmd(self, *args: Any) -> Any:
        if self.watching and not self.explicit_transaction:
            return self.immediate_execute_command(*args)
        self.command_stack.append((args, _NO_OPTIONS))
        self._wire.append(args)
        return self

    def pipeline_execute_command(self, *args: Any, **options: Any) -> "Pipeline":
        self.command_stack.append((args, options))
        self._wire.append(wire_args(args))
        self._general = True
        return self

    def add_command(self, *args: Any) -> "Pipeline":
        """gopipe style: queue a raw command; its reply is returned unconverted."""
        return self.pipeline_execute_command(*args, _raw=True)

    # -- immediate mode (after WATCH) ---------------------------------------

    async def immediate_execute_command(self, *args: Any, **options: Any) -> Any:
        conn = self.connection
        if conn is None:
            if not self.watching and args[0] != "WATCH":
                # Nothing watched (load_scripts' SCRIPT EXISTS/LOAD): no
                # connection state to keep, the client's shared one will do.
                return await self._client.execute_command(*args, **options)
            conn = self.connection = self._client._dedicated()
        name = args[0]
        raw = NEVER_DECODE in options
        wire = wire_args(args)
        try:
            try:
                reply = await (conn._run_raw if raw else conn._run)(None, *wire)
            except ConnectionError:
                if self.watching or not conn.reused:
                    raise
                # A spare that the server closed while it sat idle (timeout,
                # CLIENT KILL, restart); nothing was watched on it yet, so the
                # command runs again on a new connection, once.
                conn.broken = True
                await conn.aclose()
                conn = self.connection = self._client._dedicated(fresh=True)
                reply = await (conn._run_raw if raw else conn._run)(None, *wire)
        except ResponseError:
            if EMPTY_RESPONSE in options:
                return options[EMPTY_RESPONSE]
            raise
        except _CONNECTION_ERRORS as e:
            conn.broken = True
            if self.watching:
                await self.reset()
                raise _watch_lost(e) from e
            raise
        if name in self.UNWATCH_COMMANDS:
            self.watching = False
        elif name == "WATCH":
            self.watching = True
        if raw:
            reply = never_decoded(name, reply, self._client._encoding)
        callbacks: Any = self.response_callbacks  # a redis-py CaseInsensitiveDict
        cb = find_callback(callbacks, name)
        if cb is None:
            return reply
        value = cb(reply, **callback_options(options)) if options else cb(reply)
        return (await value) if hasattr(value, "__await__") else value

    # -- execute ------------------------------------------------------------

    async def execute(self, raise_on_error: bool = True) -> list:
        """Send everything queued in one request; the replies, converted, in order.

        With raise_on_error, the first error reply is raised (annotated with
        its command, as redis-py does) after every reply was read, so the
        connection stays in step; otherwise errors are returned in place.
        """
        stack = self.command_stack
        if not stack and not self.watching:
            return []
        try:
            if self.scripts:
                await self.load_scripts()
            if self.is_transaction or self.explicit_transaction:
                return await self._run_transaction(stack, raise_on_error)
            return await self._run_pipeline(stack, raise_on_error)
        finally:
            await self.reset()

    async def _send(self, wire: list, raw: bool) -> list:
        """The batch on the pipeline's own connection (after WATCH) or the client's shared one.

        raw: read the replies undecoded (a NEVER_DECODE command in a decoding
        client's batch; _convert decodes the others).
        """
        conn = self.connection
        client = self._client
        target = conn if conn is not None else client
        try:
            replies = await (target._run_many_raw(wire) if raw else target._run_many(wire))
            if client._protocol_pending:
                client._settle_protocol(conn._h if conn is not None else 0)
            return replies
        except _CONNECTION_ERRORS as e:
            if conn is not None:
                conn.broken = True
            if self.watching:
                raise _watch_lost(e) from e
            raise

    # Reply conversion is the sync pipeline's (it reads only command_stack
    # entries, _general, response_callbacks and the client's _encoding), but
    # for a batch of hot commands only, where the per-command Python steps
    # are most of the pipeline's cost in Python: those go through C loops
    # (map, set) and touch a reply only when its command has a callback.
    _needs_raw = _SyncPipeline._needs_raw
    _transaction_wire = _SyncPipeline._transaction_wire
    _unpack_exec = _SyncPipeline._unpack_exec

    def _convert(self, stack: list, replies: list, raw: bool) -> None:
        if self._general:
            _SyncPipeline._convert(self, stack, replies, raw)  # type: ignore[arg-type]
            return
        callbacks: Any = self.response_callbacks  # a redis-py CaseInsensitiveDict
        active = {}
        for name in set(map(_first, self._wire)):  # the hot names queued, each looked up once
            cb = find_callback(callbacks, name)
            if cb is not None:
                active[name] = cb
        if not active:
            return
        get = active.get
        for i, args in enumerate(self._wire):
            cb = get(args[0])
            if cb is not None:
                r = replies[i]
                if not isinstance(r, Exception):
                    replies[i] = cb(r)

    async def _run_pipeline(self, stack: list, raise_on_error: bool) -> list:
        raw = self._needs_raw(stack)
        replies = await self._send(self._wire, raw)
        self._convert(stack, replies, raw)  # before raising: EMPTY_RESPONSE replaces an error
        if raise_on_error:
            self.raise_first_error(stack, replies)
        return replies

    async def _run_transaction(self, stack: list, raise_on_error: bool) -> list:
        sent, wire = self._transaction_wire(stack)
        raw = self._needs_raw(sent)
        try:
            replies = await self._send(wire, raw)
        except DataError as e:
            raise renumbered(e) from None
        exec_reply = self._unpack_exec(stack, len(sent), replies)
        if raise_on_error:
            self.raise_first_error(stack, exec_reply)
        self._convert(stack, exec_reply, raw)
        return exec_reply

    # -- state --------------------------------------------------------------

    async def reset(self) -> None:  # type: ignore[override]  # not the RESET command: redis-py's name
        self.command_stack = []
        self._wire = []
        self._general = False
        self.scripts = set()
        conn, self.connection = self.connection, None
        watching, self.watching = self.watching, False
        self.explicit_transaction = False
        if conn is None:
            return
        if watching and not conn.broken:
            try:
                await conn._run(None, "UNWATCH")
            except _CONNECTION_ERRORS:
                conn.broken = True
            except asyncio.CancelledError:
                # The UNWATCH may not have run: this connection may still watch.
                conn.broken = True
                await asyncio.shield(conn.aclose())
                raise
        if conn.broken:
            await conn.aclose()
        else:
            await self._client._return_dedicated(conn)

    def __del__(self) -> None:  # type: ignore[override]  # redis-py's takes defaulted helpers
        # Dropped while watching (no reset): the connection may still watch keys.
        conn = getattr(self, "connection", None)
        if conn is not None:
            conn._close_handle_now()
