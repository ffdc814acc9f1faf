"""Pub/Sub on the engine for asyncio: `client.pubsub()` of cpipe.asyncio.Redis.

`PubSub` is a `redis.asyncio.client.PubSub` (subscribe with handlers,
`handle_message`, `listen()`, `get_message()`, `run()` are redis-py's), on
the same engine Subscriber as the sync one (see cpipe.pubsub for the
bounded queue, the re-subscription and the reconnect notice). The loop is
never blocked: the engine writes one byte to a pipe when messages arrive
after the queue was drained, the loop's reader callback sets an event,
and `parse_response` then takes a whole batch without waiting. Commands
(SUBSCRIBE ..., which may connect) run in the loop's default executor.
"""
from __future__ import annotations

import asyncio
import functools
import inspect
import os
from typing import Any, AsyncIterator, Callable, Optional

import redis.asyncio.client
from redis.utils import str_if_bytes

from .. import _engine
from ..pubsub import (DEFAULT_BATCH, DEFAULT_RECONNECT_TIMEOUT, EngineSubscriberConnection,
                      EngineSubscriberState, as_server_reply, command_name, forget_pending_unsubscribes,
                      init_engine_state, is_reconnect_notice, metrics_enabled, push_frame, push_frame_class,
                      reconnect_notice, track, without_engine_options)

# redis-py 8's pub/sub metric (a coroutine in redis.asyncio), as its handle_message records it.
_record: Any = getattr(redis.asyncio.client, "record_pubsub_message", None)
_RECEIVE = getattr(getattr(redis.asyncio.client, "PubSubDirection", None), "RECEIVE", None)
# redis-py 8.2's aclose runs its teardown, _aclose, shielded from cancellation.
_SHIELDED_ACLOSE = hasattr(redis.asyncio.client.PubSub, "_aclose")


class AsyncEngineSubscriberConnection(EngineSubscriberConnection):
    """`pubsub.connection` of an asyncio PubSub: redis.asyncio's disconnect() is awaited."""

    async def disconnect(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        EngineSubscriberConnection.disconnect(self)


class PubSub(EngineSubscriberState, redis.asyncio.client.PubSub):
    """redis-py's asyncio PubSub on an engine subscriber connection.

    It belongs to the loop that first used it, as the client does.
    """

    def __init__(self, client: Any, shard_hint: Any = None, ignore_subscribe_messages: bool = False,
                 encoder: Any = None, push_handler_func: Any = None, event_dispatcher: Any = None, *,
                 max_queued_messages: int = 0, max_queued_bytes: int = 0,
                 reconnect_timeout: Optional[float] = DEFAULT_RECONNECT_TIMEOUT,
                 on_reconnect: Optional[Callable[[dict], Any]] = None, batch: int = DEFAULT_BATCH) -> None:
        redis_kwargs = init_engine_state(self, client, shard_hint, ignore_subscribe_messages, encoder,
                                         push_handler_func, event_dispatcher, max_queued_messages,
                                         max_queued_bytes, reconnect_timeout, on_reconnect, batch)
        self._pipe: Optional[tuple[int, int]] = None
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._arrived: Optional[asyncio.Event] = None
        super().__init__(client.connection_pool, **redis_kwargs)
        if self._push_handler is not None:
            import redis.asyncio.connection

            self._push_frame_class = push_frame_class(redis.asyncio.connection.DefaultParser)

    # -- the engine connection ------------------------------------------------

    def _subscriber(self) -> int:
        """Open the engine subscriber and its wake-up pipe on the running loop (not connected yet)."""
        if self._sub:
            return self._sub
        loop = asyncio.get_running_loop()
        with self._sub_lock:
            if not self._sub:
                rfd, wfd = os.pipe()
                os.set_blocking(rfd, False)
                os.set_blocking(wfd, False)
                native = self._native
                h = native.open(self._config)  # names the server and options; never connects
                try:
                    mm, mb, rt = self._engine_args
                    self._sub = native.sub_open(h, mm, mb, False, wfd, rt)
                except BaseException:
                    os.close(rfd)
                    os.close(wfd)
                    raise
                finally:
                    native.close(h)
                self._pipe = (rfd, wfd)
                self._loop = loop
                self._arrived = asyncio.Event()
                loop.add_reader(rfd, self._wake)
                self.connection = AsyncEngineSubscriberConnection(self)  # type: ignore[assignment]
            return self._sub

    def _wake(self) -> None:
        pipe = self._pipe
        if pipe is None:
            return
        try:
            os.read(pipe[0], 4096)
        except (BlockingIOError, OSError):
            pass
        if self._arrived is not None:
            self._arrived.set()

    def _close_subscriber(self) -> None:
        """Close the engine subscriber (waking a waiting reader) and the pipe."""
        with self._sub_lock:
            sub, self._sub = self._sub, 0
            pipe, self._pipe = self._pipe, None
            loop, self._loop = self._loop, None
        self._buffer.clear()
        if sub:
            self._native.sub_close(sub)  # after this the engine never writes to the pipe
        if self._arrived is not None:
            self._arrived.set()
        if pipe is not None:
            if loop is not None and not loop.is_closed():
                try:
                    loop.remove_reader(pipe[0])
                except Exception:
                    pass
            for fd in pipe:
                try:
                    os.close(fd)
                except OSError:
                    pass

    def _disconnect(self) -> None:
        """Close the connection but keep the subscriptions: the next read or
        command connects again and re-subscribes (redis-py's disconnect())."""
        if self._sub:
            self._disconnected = True
            self._close_subscriber()

    async def _reconnect_if_disconnected(self) -> None:
        if self._disconnected and not self._sub:
            self._disconnected = False
            self._subscriber()
            await self.on_connect(self.connection)  # type: ignore[arg-type]  # redis-py's re-subscription

    async def connect(self) -> None:
        """redis-py's: the engine connects on the first command; this opens its subscriber."""
        await self._reconnect_if_disconnected()
        self._subscriber()

    async def execute_command(self, *args: Any) -> None:
        """Send a pub/sub command (off the loop: it may connect); its confirmation arrives as a message."""
        command_name(args)
        encode = self.encoder.encode
        wire = [encode(a) for a in args]
        await self._reconnect_if_disconnected()
        sub = self._subscriber()
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, functools.partial(self._native.sub_send, sub, self._max_bulk, *wire))

    async def _read(self, block: bool = True, timeout: Optional[float] = 0) -> Any:
        """The next message: a published one as its message dict (built by the
        bridge), anything else as the server sent it; None if none came within
        timeout (block=False)."""
        buf = self._buffer
        if not buf:
            await self._reconnect_if_disconnected()
            sub = self._sub
            if not sub:
                raise RuntimeError("pubsub connection not set: did you forget to call subscribe() or psubscribe()?")
            if not await self._fill(sub, None if block else (timeout or 0.0)):
                return None
        response = buf.popleft()
        if isinstance(response, BaseException):
            raise response
        return response

    async def _pushed(self, response: Any) -> Any:
        """What redis.asyncio's RESP3 parser returns for a message when a push
        handler is set: the handler's result for a push frame (awaited, as
        redis-py awaits it; a plain function's result is taken as is),
        anything else unchanged."""
        frame = push_frame(response, self._reply_encoding, self._push_frame_class)
        if frame is None:
            return response
        result = self._push_handler(frame)  # type: ignore[misc]  # only called when set
        if inspect.isawaitable(result):
            result = await result
        return result

    async def parse_response(self, block: bool = True, timeout: Optional[float] = 0) -> Any:
        """redis-py's: the next message as the server sent it (a list), or None
        (with a RESP3 push handler: what the handler returned for it)."""
        response = await self._read(block, timeout)
        if self._push_handler is not None and response is not None:
            return await self._pushed(response)  # never an engine message dict: those are push frames
        return as_server_reply(response, self._reply_encoding)

    async def get_message(self, ignore_subscribe_messages: bool = False, timeout: Optional[float] = 0.0) -> Any:
        """redis-py's get_message, on _read."""
        response = await self._read(block=(timeout is None), timeout=timeout)
        if response is not None and self._push_handler is not None:
            response = await self._pushed(response)
        if response:
            return await self.handle_message(response, ignore_subscribe_messages)
        return None

    async def listen(self) -> AsyncIterator[Any]:
        """redis-py's listen, on _read."""
        read, handle, buf = self._read, self.handle_message, self._buffer
        if self._push_handler is not None:
            pushed = self._pushed
            while self.subscribed:
                response = await handle(await pushed(await read(True)))
                if response is not None:
                    yield response
            return
        while self.subscribed:
            if buf:  # the batch in hand, without _read's await
                response = buf.popleft()
                if isinstance(response, BaseException):
                    raise response
            else:
                response = await read(True)
            response = await handle(response)
            if response is not None:
                yield response

    async def _fill(self, sub: int, timeout: Optional[float]) -> bool:
        """Take a batch into the buffer, waiting up to timeout (None: until one comes)."""
        native, arrived = self._native, self._arrived
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            if arrived is not None:
                arrived.clear()  # before polling: a byte written after the poll sets it again
            batch = native.sub_poll(sub, self._reply_encoding, 0.0, self._batch, True)
            if batch:
                self._buffer.extend(batch)
                self._metrics = _record is not None and metrics_enabled()
                return True
            if batch is None or arrived is None or self._sub != sub:
                return False  # closed
            if deadline is None:
                await arrived.wait()
                continue
            left = deadline - loop.time()
            if left <= 0:
                return False
            try:
                await asyncio.wait_for(arrived.wait(), left)
            except asyncio.TimeoutError:
                pass

    async def handle_message(self, response: Any, ignore_subscribe_messages: bool = False) -> Any:
        if type(response) is dict:  # a published message: redis-py's handling of one
            kind = response["type"]
            if self._metrics:
                if kind == "smessage":
                    await _record(direction=_RECEIVE, channel=str_if_bytes(response["channel"]), sharded=True)
                else:
                    await _record(direction=_RECEIVE, channel=str_if_bytes(response["channel"]))
            if kind == "message":
                handler = self.channels.get(response["channel"]) if self.channels else None
            elif kind == "pmessage":
                handler = self.patterns.get(response["pattern"])
            else:
                handler = getattr(self, "shard_channels", {}).get(response["channel"])
            if not handler:
                return response
            if inspect.iscoroutinefunction(handler):
                await handler(response)
            else:
                handler(response)
            return None
        if is_reconnect_notice(response):
            notice = reconnect_notice(response)
            self.reconnects += 1
            forget_pending_unsubscribes(self)
            if self.on_reconnect is not None:
                result = self.on_reconnect(notice)
                if asyncio.iscoroutine(result):
                    await result
            if ignore_subscribe_messages or self.ignore_subscribe_messages:
                return None
            return notice
        return await super().handle_message(response, ignore_subscribe_messages)

    async def check_health(self) -> None:
        """The engine watches the connection and reconnects by itself."""

    def queued(self) -> tuple[int, int]:
        """Messages and tape bytes waiting in the engine's queue (plus this object's batch)."""
        stats = self._native.sub_stats(self._sub) if self._sub else None
        if stats is None:
            return len(self._buffer), 0
        return stats[0] + len(self._buffer), stats[1]

    async def aclose(self) -> None:
        """Close the connection and forget every subscription (redis-py's aclose).

        redis-py 8.2's aclose shields its teardown (_aclose, below) from a
        cancel of the caller and waits for it to finish before the caller
        sees the CancelledError; before 8.2 the teardown runs in place.
        """
        if not hasattr(self, "_sub_lock"):
            return
        if _SHIELDED_ACLOSE:
            await super().aclose()
        else:
            await self._aclose()

    async def _aclose(self) -> None:
        """The teardown: the connection's disconnect() (awaited, as redis-py
        awaits its connection's), then the engine subscriber closed and the
        subscriptions forgotten, even when that disconnect failed."""
        async with self._lock:
            conn = self.connection
            try:
                if conn is not None:
                    await conn.disconnect(nowait=True)
            finally:
                self._disconnected = False
                self._close_subscriber()
                self.connection = None
                self.channels, self.pending_unsubscribe_channels = {}, set()
                self.patterns, self.pending_unsubscribe_patterns = {}, set()
                self.shard_channels, self.pending_unsubscribe_shard_channels = {}, set()


def make_pubsub(client: Any, **kwargs: Any) -> Any:
    """client.pubsub(): cpipe's asyncio PubSub, or redis-py's own in a forked child."""
    if getattr(client, "_fallback", None) is not None or _engine.forked_child():
        kwargs = without_engine_options(kwargs)
        return redis.asyncio.client.PubSub(client.connection_pool, **kwargs)
    return track(client, PubSub(client, **kwargs))
