"""The asyncio client: a `redis.asyncio.Redis` whose commands run on the Go engine.

`cpipe.asyncio.Redis` is a subclass of `redis.asyncio.Redis`: every command
method, `transaction()`, `lock()` (redis-py's asyncio Lock), Script, the
scan_iter family, `async with` and the response callbacks are redis-py's
own. `execute_command` (and the hot methods of _hot) differ: they hand the
command to the engine, which writes it without blocking the event loop
(coalescing whatever was issued in the same loop iteration), reads the
reply in its own threads and wakes the loop once per batch of replies (see
_submit and _loop).

As in redis-py, a command method returns a coroutine: nothing is sent
until it is awaited (or made a task), and a cancelled command's reply is
still read and dropped, so the connection never falls out of step.
"""
from __future__ import annotations

import asyncio
import inspect
import sys
import threading
from typing import Any, Callable, Optional

import redis.asyncio

from .._options import pool_size
from .._replies import EMPTY_RESPONSE, NEVER_DECODE, callback_options, find_callback, never_decoded, wire_args
from ..client import EngineClient
from ..errors import AuthenticationError, ConnectionError, DataError, ResponseError, TimeoutError
from ._connection_pool import AsyncEngineConnectionPool
from ._hot import AsyncHotCommands
from ._submit import DedicatedConnection, LoopEngine

# Errors a configured redis-py Retry retries, as redis-py's default does.
_RETRYABLE = (ConnectionError, TimeoutError)
# Idle WATCH connections a client keeps for the next WATCH.
_MAX_SPARES = 4

_dict_get = dict.get


def _async_retry(retry: Any) -> Any:
    """The client's Retry as a redis.asyncio Retry (EngineClient makes a sync one for retry_on_*)."""
    if retry is None or inspect.iscoroutinefunction(retry.call_with_retry):
        return retry
    from redis.asyncio.retry import Retry

    return Retry(retry._backoff, retry._retries, tuple(retry._supported_errors))


class Redis(AsyncHotCommands, LoopEngine, EngineClient, redis.asyncio.Redis):
    """An asyncio Redis client on one connection (a pool of one), and a `redis.asyncio.Redis`.

    Takes redis-py's options and cpipe's (see EngineClient); autopipeline is
    on by default. A client belongs to the loop that first used it (see
    LoopEngine); `aclose()` may be awaited on any loop. WATCH pipelines and
    blocking commands get a connection of their own.
    """

    _autopipeline_default = True
    _connection_pool_class = AsyncEngineConnectionPool

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._retry = _async_retry(self._retry)
        # What redis-py's async context manager and initialize() read.
        self.single_connection_client = self._single_connection_client
        self._usage_counter = 0
        self._usage_lock = asyncio.Lock()
        self._single_conn_lock = asyncio.Lock()

    def _setup(self) -> None:
        LoopEngine._setup(self)
        if getattr(self, "_client_cache", None) is not None:
            self._client_cache.install_async(self)  # reads through the cache (cpipe.cache)
            self._cmd = self._cached_cmd  # type: ignore[method-assign]
        if not hasattr(self, "_spares"):
            self._spares: list[DedicatedConnection] = []  # idle WATCH connections (see _dedicated)
            self._spares_lock = threading.Lock()

    def _use_fork_fallback(self) -> None:
        from .._fallback import AsyncFallback

        fb = self._fallback = AsyncFallback(self._connect_options, self._size)
        self._use_fallback(fb)
        self.call = fb.call  # type: ignore[method-assign]
        # The parent's idle WATCH connections are the parent's: never touched here.
        self._spares = []
        self._spares_lock = threading.Lock()

    def _adopt_after_fork(self) -> None:
        self._reset_locks_after_fork()
        if not self._fork_fallback:
            return  # strict: every call raises ForkError
        self._use_fork_fallback()
        if self._closed:
            self._fallback.closed = True  # closing needs no loop: nothing of the child's is open yet

    async def _reconnect_engine_async(self) -> None:
        """connection_pool.disconnect(): close the engine's connections; the next command reconnects."""
        if self._closed or not self._h or self._fallback is not None:
            return
        old = self._h
        self._h = self._native.open(self._config)  # connects on first use
        await asyncio.get_running_loop().run_in_executor(None, self._native.close, old)
        await self._close_spares()

    def _reopen_for_credentials(self) -> None:
        # A new handle now (it connects on first use); the old one is closed
        # off the loop, as _reconnect_engine_async does.
        old = self._h
        self._h = self._native.open(self._config)
        asyncio.get_running_loop().run_in_executor(None, self._native.close, old)

    async def initialize(self) -> "Redis":
        """redis-py's: nothing to do, the engine connects on the first command."""
        return self

    # -- the primitives every command method uses --------------------------

    def call(self, *args: Any) -> "asyncio.Future[Any]":  # replaced per instance in a forked child
        """Send any command now; await its raw reply."""
        return self._run(None, *args)

    async def _cmd(self, *args: Any) -> Any:
        """The hot path: one upper-case command name, no options (see _hot).

        Straight to the engine's submission (the callback runs when the reply
        is delivered); with a Retry, or in a forked child, execute_command's way.
        """
        if self._retry is not None or self._fallback is not None or self._protocol_pending:
            return await self.execute_command(*args)
        cb = _dict_get(self.response_callbacks, args[0])  # type: ignore[call-overload]
        h = self._h
        try:
            value = await self._send(cb, False, False, args)
        except AuthenticationError:
            if not self._fresh_credentials(h):
                raise
            return await self.execute_command(*args)
        if cb is not None and hasattr(value, "__await__"):  # an async callback's
            return await value
        return value

    async def _cached_cmd(self, *args: Any) -> Any:
        """_cmd with a client-side cache: through self._run, which looks in the cache first."""
        if self._retry is not None or self._fallback is not None:
            return await self.execute_command(*args)
        cb = _dict_get(self.response_callbacks, args[0])  # type: ignore[call-overload]
        value = await self._run(cb, *args)
        if cb is not None and hasattr(value, "__await__"):  # an async callback's
            return await value
        return value

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        """redis-py's generic entry point: the reply converted as redis-py converts it."""
        if not args:
            raise DataError("execute_command needs a command name")
        run = self._run_raw if NEVER_DECODE in options else self._run
        wire = wire_args(args)
        h = self._h
        try:
            reply = await run(None, *wire)
        except ResponseError:
            if EMPTY_RESPONSE in options:
                return options[EMPTY_RESPONSE]
            raise
        except AuthenticationError:
            if not self._fresh_credentials(h):
                raise
            reply = await run(None, *wire)
        except _RETRYABLE:
            if self._retry is None:
                raise
            reply = await self._with_retry(run, wire)
        if self._protocol_pending:
            self._settle_protocol()
        if options and NEVER_DECODE in options:
            reply = never_decoded(args[0], reply, self._encoding)
        callbacks: Any = self.response_callbacks  # a redis-py CaseInsensitiveDict
        cb = find_callback(callbacks, args[0])
        if cb is None:
            return reply
        value = cb(reply, **callback_options(options)) if options else cb(reply)
        return (await value) if hasattr(value, "__await__") else value

    async def _with_retry(self, run: Callable[..., Any], wire: tuple) -> Any:
        """The command under the configured redis-py Retry, whose first try has just failed.

        The failure is handed to the Retry as its first attempt's, so the
        command runs at most retries + 1 times in all, with its backoff.
        """
        first_failure: list[BaseException] = [sys.exc_info()[1] or ConnectionError("the first try failed")]

        async def attempt() -> Any:
            if first_failure:
                raise first_failure.pop()
            return await run(None, *wire)

        async def failed(error: BaseException) -> None:
            """The engine reconnects by itself: nothing to reset between tries."""

        return await self._retry.call_with_retry(attempt, failed)

    # -- pipelines ----------------------------------------------------------

    def pipeline(self, transaction: bool = True, shard_hint: Any = None) -> Any:
        """A pipeline, redis-py's: transaction=True wraps the batch in MULTI/EXEC."""
        from .pipeline import Pipeline

        return Pipeline(self, transaction, shard_hint)

    def bulk(self, batch: int = 1000, replies: bool = False, **options: Any) -> Any:
        """Streamed bulk writes on a connection of their own: `async with r.bulk() as b: b.hset(...)`.

        Command methods queue without awaiting; see cpipe.asyncio.bulk for
        the memory bound (await b.flush()) and the options.
        """
        from .bulk import Bulk

        return Bulk(self, batch, replies, **options)

    def _dedicated(self, fresh: bool = False) -> DedicatedConnection:
        """A connection of its own (for WATCH): an idle spare (unless fresh) or a new one."""
        conn = self._take_spare(fresh)
        if conn is not None:
            return conn
        if self._closed:
            raise ConnectionError("the client is closed")
        return DedicatedConnection(self)

    async def _return_dedicated(self, conn: DedicatedConnection) -> None:
        """A dedicated connection back, with nothing WATCHed; kept for the next WATCH (a few)."""
        with self._spares_lock:
            if not self._closed and len(self._spares) < _MAX_SPARES:
                self._spares.append(conn)
                return
        await conn.aclose()

    async def _close_spares(self) -> None:
        with self._spares_lock:
            spares, self._spares = self._spares, []
        for conn in spares:
            await conn.aclose()

    # -- pub/sub and MONITOR --------------------------------------------------

    def pubsub(self, **kwargs: Any) -> Any:
        """A PubSub (redis-py's asyncio one) on an engine connection of its own (see cpipe.asyncio.pubsub).

        Takes redis-py's options (ignore_subscribe_messages, ...) and the
        engine's: max_queued_messages, max_queued_bytes, reconnect_timeout,
        on_reconnect, batch.
        """
        from .pubsub import make_pubsub

        if self._event_dispatcher is not None and "event_dispatcher" not in kwargs:
            kwargs["event_dispatcher"] = self._event_dispatcher
        return make_pubsub(self, **kwargs)

    def monitor(self) -> Any:
        """A Monitor (redis-py's asyncio one) on an engine connection of its own (see cpipe.monitor)."""
        from ..monitor import make_async_monitor

        return make_async_monitor(self)

    # -- lifetime -----------------------------------------------------------

    async def aclose(self, close_connection_pool: Optional[bool] = None) -> None:
        """Close the connections; commands still in flight fail with ConnectionError.

        close_connection_pool is accepted for redis-py's signature: the
        connections are the client's own either way.
        """
        self._closed = True
        if self._fallback is not None:
            await self._fallback.aclose()
        await self._close_handle()  # in a forked child _h is 0: the connections are the parent's
        await self._close_spares()
        await redis.asyncio.ConnectionPool.disconnect(self.connection_pool)  # redis-py's own (a forked child's PubSub)
        if getattr(self, "_pubsubs", None):
            from ..pubsub import disconnect_pubsubs

            disconnect_pubsubs(self)  # as redis-py's pool.disconnect() closes a PubSub's connection

    def __del__(self) -> None:  # type: ignore[override]  # redis-py's takes defaulted helpers
        self._close_handle_now()
        for conn in getattr(self, "_spares", ()):
            conn._close_handle_now()


# The constructor takes EngineClient's parameters; introspection shows them.
Redis.__init__.__signature__ = inspect.signature(EngineClient.__init__)  # type: ignore[attr-defined]

Client = Redis


class Pool(Redis):
    """An asyncio client over `size` connections; commands spread over them."""

    def __init__(self, host: str = "localhost", port: int = 6379, size: int = 10, **options: Any) -> None:
        self._size = pool_size(size)
        self.size = size
        super().__init__(host, port, **options)

    def __repr__(self) -> str:
        return f"<cpipe.asyncio.Pool {self.host}:{self.port} db={self.db} size={self.size}>"
