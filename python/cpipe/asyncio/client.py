"""asyncio clients on the Go engine: the sync API's methods, as awaitables."""
from __future__ import annotations

import asyncio
import collections
import functools
import threading
import time
import weakref
from typing import Any, AsyncIterator, Callable, Optional, Union

from .._engine import BLOCKING
from .._options import pool_size
from ..client import EngineClient, command_and_callback
from ..errors import TimeoutError
from ..pipeline import Pipeline as _SyncPipeline
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


class Client(EngineClient):
    """An asyncio Redis client; every command method returns an awaitable.

    Commands are handed to the engine without blocking the event loop; the
    engine writes them (coalescing whatever was issued in the same loop
    iteration), reads the replies in its own threads, and wakes the loop
    once per batch of replies. A cancelled command's reply is still read
    and dropped, so the connection never falls out of step.

    A client belongs to the loop that first used it; another running loop
    gets RuntimeError. When that loop is closed or collected, the client's
    connections are closed with it (commands still in flight there are
    dropped, blocking ones included), and the client may then be used on a
    new loop, where it connects again.
    """

    _autopipeline_default = True

    def _setup(self) -> None:
        # The loop's queue, weakly: a client must not keep a dead loop alive
        # (see _loop). _bound_q names the queue whose loop owns our connections.
        self._lq_ref: Callable[[], Optional[LoopQueue]] = _no_loop_queue
        self._bound_q = 0
        self._life_lock = threading.RLock()  # re-entrant: a loop's finalizer may run inside _bind
        self._enc_index = 0
        # Submissions waiting to connect or for room, sent in order by one worker.
        self._backlog: collections.deque = collections.deque()
        self._backlog_lock = threading.Lock()
        self._draining = False
        self._max_wait = self._socket_timeout

    def _use_fork_fallback(self) -> None:
        from .._fallback import AsyncFallback

        fb = self._fallback = AsyncFallback(self._connect_options, self._size)
        self._run = fb.run  # type: ignore[method-assign]
        self._run_many = fb.run_many  # type: ignore[method-assign]
        self.call = fb.call  # type: ignore[method-assign]
        self.aclose = self.close = fb.aclose  # type: ignore[method-assign]

    def _adopt_after_fork(self) -> None:
        # A parent thread may have held these at the fork; it is not here to release them.
        self._life_lock = threading.RLock()
        self._backlog_lock = threading.Lock()
        super()._adopt_after_fork()

    @property
    def _lq(self) -> Optional[LoopQueue]:
        return self._lq_ref()

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

    def _send(self, callback: Optional[Callable[[Any], Any]], submit: Callable[..., Union[int, bytes]],
              *payload: Any) -> tuple:
        """Hand one request to the engine (submit is native.submit or
        native.submit_many); returns (loop queue, future, tag).

        The bridge says whether the request blocks on the server (BLPOP, a
        pipeline holding one, XREAD BLOCK, ...): cancelling such a future
        closes its connection."""
        loop = asyncio.get_running_loop()
        lq = self._lq_ref()
        if lq is None or lq.loop is not loop:
            lq = self._bind()
        fut = loop.create_future()
        tag = lq.new_tag(self._enc_index)
        lq.pending[tag] = (fut, callback)
        try:
            status: Union[int, bytes]
            if self._backlog:
                many = submit is self._native.submit_many
                status = self._native.prepare(self._max_bulk, payload[0] if many else (payload,), many)
            else:
                status = submit(self._h, lq.q, tag, False, self._max_bulk, *payload)
            if isinstance(status, bytes):
                # Not queued: a prepared request (encoded and classified
                # once, bad input already refused), sent later, in order.
                self._defer(loop, lq, tag, functools.partial(self._native.submit_prepared, self._h, lq.q, tag, status))
                status = status[0]
        except BaseException:
            del lq.pending[tag]
            raise
        if status & BLOCKING:
            fut.add_done_callback(functools.partial(self._abandon_if_cancelled, lq, tag))
        return lq, fut, tag

    def _run(self, callback: Optional[Callable[[Any], Any]], *args: Any) -> "asyncio.Future[Any]":
        return self._send(callback, self._native.submit, *args)[1]

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

    def _run_many(self, commands: Any) -> "asyncio.Future[list]":
        return self._send(None, self._native.submit_many, commands)[1]

    def call(self, *args: Any) -> "asyncio.Future[Any]":
        """Send any command; await its raw reply."""
        return self._run(None, *args)

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        args, callback = command_and_callback(args)
        reply = await self._run(None, *args)
        return callback(reply, **options) if callback is not None else reply

    def pipeline(self, transaction: bool = False) -> "Pipeline":
        return Pipeline(self, transaction)  # type: ignore[arg-type]  # the sync Pipeline, sent through _run_many

    # Async versions of the iterator helpers (the sync ones call scan in a loop,
    # until the server hands back cursor 0).
    async def scan_iter(self, match: Any = None, count: Optional[int] = None,
                        _type: Optional[str] = None, **kwargs: Any) -> AsyncIterator[Any]:
        cursor = 0
        while True:
            cursor, data = await self.scan(cursor=cursor, match=match, count=count, _type=_type, **kwargs)
            for item in data:
                yield item
            if cursor == 0:
                return

    async def hscan_iter(self, name: Any, match: Any = None, count: Optional[int] = None,
                         no_values: Optional[bool] = None) -> AsyncIterator[Any]:
        cursor = 0
        while True:
            cursor, data = await self.hscan(name, cursor=cursor, match=match, count=count, no_values=no_values)
            if no_values:
                for item in data:
                    yield item
            else:
                for item in data.items():
                    yield item
            if cursor == 0:
                return

    async def sscan_iter(self, name: Any, match: Any = None, count: Optional[int] = None) -> AsyncIterator[Any]:
        cursor = 0
        while True:
            cursor, data = await self.sscan(name, cursor=cursor, match=match, count=count)
            for item in data:
                yield item
            if cursor == 0:
                return

    async def zscan_iter(self, name: Any, match: Any = None, count: Optional[int] = None,
                         score_cast_func: Callable[[Any], Any] = float) -> AsyncIterator[Any]:
        cursor = 0
        while True:
            cursor, data = await self.zscan(name, cursor=cursor, match=match, count=count,
                                            score_cast_func=score_cast_func)
            for item in data:
                yield item
            if cursor == 0:
                return

    async def aclose(self) -> None:
        """Close the connections; commands still in flight fail with ConnectionError."""
        self._closed = True
        h, self._h = self._h, 0
        if h:
            await asyncio.get_running_loop().run_in_executor(None, self._native.close, h)

    close = aclose

    async def __aenter__(self) -> "Client":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()

    def __del__(self) -> None:
        h = getattr(self, "_h", 0)
        if h:
            try:
                self._native.close(h)
            except Exception:
                pass


Redis = Client


class Pool(Client):
    """An asyncio client over `size` connections; commands spread over them."""

    def __init__(self, host: str = "localhost", port: int = 6379, size: int = 10, **options: Any) -> None:
        self._size = pool_size(size)
        self.size = size
        super().__init__(host, port, **options)


class Pipeline(_SyncPipeline):
    """Queue commands, then `await pipeline.execute()`; an async context manager."""

    async def execute(self, raise_on_error: bool = True) -> list:  # type: ignore[override]
        batch = self._take()
        if batch is None:
            return []
        replies = await self._client._run_many(batch[0])  # type: ignore[attr-defined]  # an asyncio Client
        return self._finish(batch, replies, raise_on_error)

    async def __aenter__(self) -> "Pipeline":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self.reset()
