"""Streamed bulk writes for asyncio: `async with client.bulk() as b: b.hset(...)`.

The same `Bulk` as cpipe.bulk's (see its docstring), with these rules so
the event loop never blocks:

- command methods are plain calls, not coroutines: `b.hset(...)` encodes
  and queues at once (a full batch is handed to the engine when it has
  room, without waiting);
- when the engine's bound (max_pending commands / max_pending_bytes) is
  reached, commands stay in the bulk's own buffer; once that buffer also
  holds max_pending commands or max_pending_bytes bytes, the next command
  raises BufferError, queueing nothing. `await b.flush()` hands the buffer
  over, waiting for room in a worker thread: call it every so often in a
  long loop (every `batch` commands costs nothing when there is room);
- connecting, `await b.flush()`, `await b.send_raw(...)` and leaving the
  block (`await b.finish()`: wait for every reply, raise the first error
  reply) run their waits in the loop's default executor.
"""
from __future__ import annotations

import asyncio
from typing import Any

from .. import _engine
from ..bulk import Bulk as SyncBulk
from ..errors import ConnectionError, ForkError


class Bulk(SyncBulk):
    """cpipe.bulk.Bulk for asyncio; see the module docstring."""

    _blocking = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._lock = asyncio.Lock()  # one engine wait at a time, in order

    async def _run(self, fn: Any, *args: Any) -> Any:
        async with self._lock:
            return await asyncio.get_running_loop().run_in_executor(None, fn, *args)

    def _open(self) -> None:
        client = self._client
        if getattr(client, "_fallback", None) is not None or _engine.forked_child():
            raise ForkError("an asyncio bulk needs cpipe's engine, which cannot run in a forked child")
        if client._closed:
            raise ConnectionError("the client is closed")
        super()._open()

    async def __aenter__(self) -> "Bulk":
        if self._writer is None:
            await self._run(self._open)
        return self

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            await self.finish()  # type: ignore[misc]
            return
        await self._run(self._abort, exc)

    def __enter__(self) -> "Bulk":
        raise TypeError("use `async with client.bulk() as b:` on an asyncio client")

    async def finish(self) -> None:  # type: ignore[override]
        """Hand everything over, wait for every reply (in a worker thread), close; raise the first error reply."""
        if self._writer is None:
            await self._run(self._open)
        await self._run(SyncBulk.finish, self)

    close = finish  # type: ignore[assignment]

    async def flush(self) -> None:  # type: ignore[override]
        """Hand the buffered commands to the engine, waiting for room in a worker thread."""
        if self._writer is None:
            await self._run(self._open)
        await self._run(self._writer.flush, True)

    async def send_raw(self, data: Any, commands: int = -1) -> int:  # type: ignore[override]
        """As cpipe.bulk.Bulk.send_raw; the wait for room runs in a worker thread."""
        if self._writer is None:
            await self._run(self._open)
        return await self._run(self._writer.send_raw, data, commands)

    def _cmd(self, *args: Any) -> None:
        if self._writer is None:
            raise RuntimeError("enter the bulk first: `async with client.bulk() as b:`")
        self._writer.add(*args)
