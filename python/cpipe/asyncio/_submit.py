"""Handing requests to the engine from an event loop, without blocking it.

`LoopEngine` is what an asyncio client and a WATCH pipeline's dedicated
connection share: one engine handle whose commands complete into the
running loop's LoopQueue (see _loop), the backlog for submissions that must
wait (to connect, or for room), the closing of a cancelled blocking
command's connection, and the release of the connections of a loop that
died. Its four primitives return futures:

    _run(callback, *args)   one command; callback(reply) is the result
    _run_raw(callback, *args)   the same, the reply read as bytes (NEVER_DECODE)
    _run_many(commands)     a batch sent as one request; replies in order,
                            error replies in place
    _run_many_raw(commands)

In a forked child they are the AsyncFallback's instead (see _use_fallback).
"""
from __future__ import annotations

import asyncio
import collections
import functools
import threading
import time
import weakref
from typing import Any, Callable, Optional, Union

from .._config import EngineConfig
from .._engine import BLOCKING
from ..errors import ConnectionError, TimeoutError
from ._loop import LoopQueue, loop_queue


def _no_loop_queue() -> None:
    return None


def _call_on_loop(lq: LoopQueue, fn: Callable[..., Any], *args: Any) -> None:
    """Run fn on lq's loop, from another thread, unless that loop has gone:
    then nobody awaits the command any more."""
    loop = lq.loop
    if loop is None:
        return
    try:
        loop.call_soon_threadsafe(fn, *args)
    except RuntimeError:  # the loop was closed
        pass


class LoopEngine:
    """An engine handle used from one event loop at a time.

    The owner sets `_native`, `_h` (0: not open yet), `_config` (an EngineConfig),
    `_closed`, `_encoding`, `_max_bulk` and `_socket_timeout`, then calls
    `_setup()`.

    A handle belongs to the loop that first used it; another running loop
    gets RuntimeError. When that loop is closed or collected, the handle's
    connections are closed with it (commands still in flight there are
    dropped, blocking ones included), and the next loop that uses it gets a
    new handle, which connects again.
    """

    _native: Any
    _h: int
    _config: EngineConfig
    _closed: bool
    _encoding: Any  # None, a codec name, or (codec, errors)
    _max_bulk: int
    _socket_timeout: float

    def _setup(self) -> None:
        # The loop's queue, weakly: a client must not keep a dead loop alive
        # (see _loop). _bound_q names the queue whose loop owns our connections.
        self._lq_ref: Callable[[], Optional[LoopQueue]] = _no_loop_queue
        self._bound_q = 0
        self._life_lock = threading.RLock()  # re-entrant: a loop's finalizer may run inside _bind
        self._enc_index = 0  # the reply encoding's index in the loop queue
        self._raw_index = 0  # the index of "no decoding" (NEVER_DECODE)
        # Submissions waiting to connect or for room, sent in order by one worker.
        self._backlog: collections.deque = collections.deque()
        self._backlog_lock = threading.Lock()
        self._draining = False
        self._max_wait = self._socket_timeout

    def _use_fallback(self, fb: Any) -> None:
        """In a forked child: the primitives on redis-py's asyncio connection."""
        self._run = fb.run  # type: ignore[method-assign]
        self._run_raw = fb.run_raw  # type: ignore[method-assign]
        self._run_many = fb.run_many  # type: ignore[method-assign]
        self._run_many_raw = fb.run_many_raw  # type: ignore[method-assign]

    def _reset_locks_after_fork(self) -> None:
        # A parent thread may have held these at the fork; it is not here to release them.
        self._life_lock = threading.RLock()
        self._backlog_lock = threading.Lock()

    @property
    def _lq(self) -> Optional[LoopQueue]:
        return self._lq_ref()

    # -- the loop -------------------------------------------------------------

    def _bind(self) -> LoopQueue:
        """Bind to the running loop: on first use, or when the loop we were
        bound to has been closed or collected (its connections were closed
        with it; a new handle connects on first use)."""
        loop = asyncio.get_running_loop()
        with self._life_lock:
            lq = self._lq_ref()
            if lq is not None:
                if lq.loop is loop:
                    return lq
                old = lq.loop
                if old is not None and not old.is_closed():
                    raise RuntimeError("this cpipe.asyncio client belongs to another event loop; create one per loop")
                lq.clients.discard(self)
            if self._bound_q:
                # The old loop's finalizer may not have run yet (or ever,
                # while something holds it): close its connections now.
                self._drop_loop_connections()
            if not self._h and not self._closed:
                self._h = self._native.open(self._config)
            lq = loop_queue(loop)
            self._enc_index = lq.encoding_index(self._encoding)
            self._raw_index = lq.encoding_index(None)
            lq.clients.add(self)
            self._bound_q = lq.q
            self._lq_ref = weakref.ref(lq)
            return lq

    def _loop_gone(self, q: int) -> None:
        """The finalizer of queue q's loop (any thread): close our connections
        if they still belong to that loop."""
        with self._life_lock:
            if self._bound_q == q:
                self._lq_ref = _no_loop_queue
                self._drop_loop_connections()

    def _drop_loop_connections(self) -> None:
        # Blocking commands of the dead loop would otherwise stay armed on the
        # server for good; everything in flight there is failed and dropped.
        self._bound_q = 0
        h, self._h = self._h, 0
        if h:
            self._native.close(h)

    # -- submitting -------------------------------------------------------------

    def _run(self, callback: Optional[Callable[[Any], Any]], *args: Any) -> "asyncio.Future[Any]":
        return self._send(callback, False, False, args)

    def _run_raw(self, callback: Optional[Callable[[Any], Any]], *args: Any) -> "asyncio.Future[Any]":
        return self._send(callback, True, False, args)

    def _run_many(self, commands: Any) -> "asyncio.Future[list]":
        return self._send(None, False, True, commands)

    def _run_many_raw(self, commands: Any) -> "asyncio.Future[list]":
        return self._send(None, True, True, commands)

    def _send(self, callback: Optional[Callable[[Any], Any]], raw: bool, many: bool,
              payload: Any) -> "asyncio.Future[Any]":
        """Hand one request to the engine (one command's args, or a batch of
        commands when many); its future completes on the running loop.

        The bridge says whether the request blocks on the server (BLPOP, a
        pipeline holding one, XREAD BLOCK, ...): cancelling such a future
        closes its connection."""
        loop = asyncio.get_running_loop()
        lq = self._lq_ref()
        if lq is None or lq.loop is not loop:
            lq = self._bind()
        fut = loop.create_future()
        tag = lq.new_tag(self._raw_index if raw else self._enc_index)
        lq.pending[tag] = (fut, callback)
        native = self._native
        try:
            status: Union[int, bytes]
            if self._backlog:
                status = native.prepare(self._max_bulk, payload if many else (payload,), many)
            elif many:
                status = native.submit_many(self._h, lq.q, tag, False, self._max_bulk, payload)
            else:
                status = native.submit(self._h, lq.q, tag, False, self._max_bulk, *payload)
            if isinstance(status, bytes):
                # Not queued: a prepared request (encoded and classified
                # once, bad input already refused), sent later, in order.
                self._defer(loop, lq, tag, functools.partial(native.submit_prepared, self._h, lq.q, tag, status))
                status = status[0]
        except BaseException:
            del lq.pending[tag]
            raise
        if status & BLOCKING:
            fut.add_done_callback(functools.partial(self._abandon_if_cancelled, lq, tag))
        return fut

    def _abandon_if_cancelled(self, lq: LoopQueue, tag: int, fut: "asyncio.Future[Any]") -> None:
        # A cancelled BLPOP must not stay armed on the server: it would pop
        # the next element pushed, and nobody would receive it.
        if fut.cancelled():
            self._close_blocked(lq, tag, 0.001)

    def _close_blocked(self, lq: LoopQueue, tag: int, retry_in: float) -> None:
        """Close the connection a cancelled blocking command waits on.

        Until the engine has put the command on a connection (it may still
        be in the backlog, or waiting for a free blocking connection) there
        is nothing to close: look again, less and less often, for as long
        as the command has not completed (its entry leaves lq.pending then).
        """
        if not self._h or tag not in lq.pending or self._native.cancel(self._h, lq.q, tag):
            return
        loop = lq.loop
        if loop is not None and not loop.is_closed():
            loop.call_later(retry_in, self._close_blocked, lq, tag, min(retry_in * 2, 0.05))

    def _defer(self, loop: asyncio.AbstractEventLoop, lq: LoopQueue, tag: int, submit: Callable[[], Any]) -> None:
        """Queue a submission that must connect or wait for room, off the loop.

        One worker thread sends the backlog in order, and while it is not
        empty every new command joins it, so commands still reach the
        server in the order they were issued.
        """
        with self._backlog_lock:
            self._backlog.append((lq, tag, submit, time.monotonic()))
            if self._draining:
                return
            self._draining = True
        loop.run_in_executor(None, self._drain_backlog)

    def _drain_backlog(self) -> None:
        while True:
            with self._backlog_lock:
                if not self._backlog:
                    self._draining = False
                    return
                lq, tag, submit, issued = self._backlog[0]
            try:
                entry = lq.pending.get(tag)
                if entry is not None and entry[0].cancelled():
                    # Cancelled before it was sent: send nothing (a blocking
                    # command would otherwise wait on the server for nobody).
                    _call_on_loop(lq, lq.pending.pop, tag, None)
                # A command waits behind the ones before it; its own wait is
                # still bounded, as a sync caller's is, by the timeouts.
                elif self._max_wait and time.monotonic() - issued > self._max_wait:
                    raise TimeoutError(f"no room to send the command within socket_timeout={self._max_wait:g}s")
                else:
                    submit()  # waits with the GIL released
            except BaseException as exc:  # e.g. ConnectionError: fail that command only
                _call_on_loop(lq, self._fail_pending, lq, tag, exc)
            with self._backlog_lock:
                self._backlog.popleft()

    @staticmethod
    def _fail_pending(lq: LoopQueue, tag: int, exc: BaseException) -> None:
        entry = lq.pending.pop(tag, None)
        if entry is not None and not entry[0].done():
            entry[0].set_exception(exc)

    # -- closing ------------------------------------------------------------------

    async def _close_handle(self) -> None:
        """Close the handle off the loop (closing waits for the engine's connections)."""
        h, self._h = self._h, 0
        if h:
            await asyncio.get_running_loop().run_in_executor(None, self._native.close, h)

    def _close_handle_now(self) -> None:
        """Close the handle from a finalizer (no loop to wait on)."""
        h, self._h = getattr(self, "_h", 0), 0
        if h:
            try:
                self._native.close(h)
            except Exception:
                pass


class DedicatedConnection(LoopEngine):
    """One engine connection of its own, for one pipeline at a time (WATCH ... EXEC).

    A handle of size 1 without auto-pipelining, so nothing of another
    caller's is ever written between a WATCH and its EXEC, that never
    reconnects (EngineConfig.dedicated: a silent reconnect would drop the
    watch); its commands complete into the same loop queue as its client's.
    In a forked child it is a one-connection AsyncFallback.
    """

    def __init__(self, client: Any) -> None:
        self._native = client._native
        self._encoding = client._encoding
        self._max_bulk = client._max_bulk
        self._socket_timeout = client._socket_timeout
        self._closed = False
        self.broken = False  # failed once: never handed out again
        self.reused = False  # an idle spare: the server may have closed it meanwhile
        self._fallback: Any = None
        self._h = 0  # opened by _bind, on the loop that uses it
        self._config = client._config.dedicated()
        self._setup()
        if client._fallback is not None:
            from .._fallback import AsyncFallback

            self._fallback = AsyncFallback(client._connect_options, 1)
            self._use_fallback(self._fallback)

    async def aclose(self) -> None:
        self._closed = True
        if self._fallback is not None:
            await self._fallback.aclose()
        await self._close_handle()

    # What `pipe.connection` is after WATCH: redis-py's connection has these.
    # Unlike it, a closed one is never connected again: a new connection
    # would not hold the WATCH (the pipeline then raises WatchError).

    @property
    def is_connected(self) -> bool:
        """False once closed or failed (the engine connects on the first command)."""
        return not self._closed and not self.broken

    async def connect(self) -> None:
        """redis-py's: a live connection stays as it is; a closed one is not replaced."""
        if not self.is_connected:
            raise ConnectionError("this WATCH connection was closed; its pipeline must be reset")

    async def disconnect(self, nowait: bool = False) -> None:
        """Close it, as redis-py's disconnect(): the server drops its WATCH."""
        self.broken = True
        await self.aclose()

    def __del__(self) -> None:
        self._close_handle_now()
