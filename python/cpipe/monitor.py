"""MONITOR on the engine: `client.monitor()` of cpipe.Redis and cpipe.Pool.

`Monitor` is a `redis.client.Monitor`: `next_command()` (its parsing of
the server's lines into dicts), `listen()` and the context manager are
redis-py's. The connection is an engine Subscriber in MONITOR mode, a
connection of its own: the engine connects, sends MONITOR and checks the
+OK on `__enter__` (or on the first `next_command()`), then its goroutine
reads the server's lines into the same bounded queue a PubSub uses
(MAX_QUEUED_LINES lines; at the bound it stops reading, and the server's
`client-output-buffer-limit normal` applies, 0 = none by default: the
server buffers until the consumer catches up). A MONITOR connection is not
replaced when lost: `next_command()` raises ConnectionError.
"""
from __future__ import annotations

import collections
from typing import Any

import redis.client

# Lines queued in the engine at most; the bytes bound is the engine's default.
MAX_QUEUED_LINES = 100_000
# Lines one engine call returns at most.
BATCH = 1024


class _MonitorLines:
    """What redis-py's Monitor reads through `self.connection`: one line per read_response()."""

    def __init__(self, native: Any, config: Any, encoder: Any) -> None:
        self._native = native
        self._config = config
        self.encoder = encoder
        self._sub = 0
        self._lines: collections.deque = collections.deque()

    def start(self) -> None:
        if self._sub:
            return
        native = self._native
        h = native.open(self._config)  # names the server and options; never connects
        try:
            sub = native.sub_open(h, MAX_QUEUED_LINES, 0, True, -1, 0.0)
        finally:
            native.close(h)
        try:
            native.sub_start(sub)  # connects, sends MONITOR, checks +OK
        except BaseException:
            native.sub_close(sub)
            raise
        self._sub = sub

    def read_response(self, timeout: Any = None, **kwargs: Any) -> Any:
        """The next line (bytes); None once closed."""
        self.start()
        lines = self._lines
        while not lines:
            batch = self._native.sub_poll(self._sub, None, timeout, BATCH, False)
            if batch is None:
                return None
            if not batch and timeout is not None:
                return None
            lines.extend(batch)
        return lines.popleft()

    def disconnect(self, *args: Any, **kwargs: Any) -> None:
        sub, self._sub = self._sub, 0
        self._lines.clear()
        if sub:
            self._native.sub_close(sub)


class Monitor(redis.client.Monitor):
    """redis-py's Monitor on an engine connection of its own (see the module docstring)."""

    def __init__(self, client: Any) -> None:
        # Not redis-py's __init__: it takes a connection from the pool.
        self.connection_pool = client.connection_pool
        self.connection = _MonitorLines(client._native, client._config, client.connection_pool.get_encoder())

    def __enter__(self) -> "Monitor":
        # redis-py 5.0's __enter__ sends MONITOR itself; 8's calls _start_monitor.
        self.connection.start()
        return self

    def _start_monitor(self) -> None:
        self.connection.start()

    def __exit__(self, *args: Any) -> None:
        self.connection.disconnect()

    def close(self) -> None:
        self.connection.disconnect()

    def __del__(self) -> None:
        try:
            self.connection.disconnect()
        except Exception:
            pass


def make_monitor(client: Any) -> Any:
    """client.monitor(): cpipe's Monitor, or redis-py's own in a forked child."""
    from . import _engine

    if getattr(client, "_fallback", None) is not None or _engine.forked_child():
        return redis.client.Monitor(client.connection_pool)
    return Monitor(client)


class _AsyncMonitorLines(_MonitorLines):
    """The asyncio twin: connecting and waiting run in the loop's default executor."""

    async def start_async(self) -> None:
        if not self._sub:
            await _in_executor(self.start)

    async def read_response(self, timeout: Any = None, **kwargs: Any) -> Any:  # type: ignore[override]
        await self.start_async()
        lines = self._lines
        while not lines:
            sub = self._sub
            if not sub:
                return None
            # Waits with the GIL released, off the loop; a short slice so a
            # cancelled next_command leaves no long wait behind.
            batch = await _in_executor(self._native.sub_poll, sub, None, 0.1 if timeout is None else timeout, BATCH, False)
            if batch is None:
                return None
            if not batch and timeout is not None:
                return None
            lines.extend(batch)
        return lines.popleft()

    async def disconnect(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        _MonitorLines.disconnect(self)


async def _in_executor(fn: Any, *args: Any) -> Any:
    import asyncio

    return await asyncio.get_running_loop().run_in_executor(None, fn, *args)


def make_async_monitor(client: Any) -> Any:
    """asyncio client.monitor(): cpipe's Monitor, or redis-py's own in a forked child."""
    import redis.asyncio.client

    from . import _engine

    if getattr(client, "_fallback", None) is not None or _engine.forked_child():
        return redis.asyncio.client.Monitor(client.connection_pool)

    class AsyncMonitor(redis.asyncio.client.Monitor):
        """redis-py's asyncio Monitor on an engine connection of its own."""

        def __init__(self) -> None:
            self.connection_pool = client.connection_pool
            self.lines = _AsyncMonitorLines(client._native, client._config, client.connection_pool.get_encoder())
            self.connection = self.lines  # type: ignore[assignment]  # what redis-py's next_command reads

        async def connect(self) -> None:
            await self.lines.start_async()

        async def __aenter__(self) -> "AsyncMonitor":
            await self.lines.start_async()
            return self

        async def __aexit__(self, *args: Any) -> None:
            await self.lines.disconnect()

    return AsyncMonitor()
