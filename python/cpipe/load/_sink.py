"""Where commands go: the ONE place that knows how they reach the server.

The loader hands over batches, either RESP bytes (`send(data, n)`) or, when
`wants_argv` is true, argv tuples (`send_argv(cmds)`), and reads `sent`,
`acknowledged` and `errors` [(index, exception)] back. `finish()` waits
until everything sent is acknowledged. A lost connection raises
LoadConnectionError whose `acknowledged` is the resume point.

Two implementations behind that one interface:
- BulkSink: `client.bulk(replies=False)` (issue 10): the engine streams
  pre-encoded RESP and counts replies while the loader reads the next rows.
- PipelineSink: a temporary fallback while bulk() is not in this tree:
  one pipeline round trip per batch (the loader waits for each batch's
  replies before reading on), and RESP input is split back into argv.
"""
from __future__ import annotations

from typing import Any, Optional, Sequence

import redis


class LoadConnectionError(redis.ConnectionError):
    """The connection was lost; `acknowledged` commands are known to be done."""

    def __init__(self, message: str, acknowledged: int) -> None:
        super().__init__(message)
        self.acknowledged = acknowledged


def _has_bulk(client: Any) -> bool:
    return callable(getattr(client, "bulk", None))


def open_sink(client: Any, batch: int) -> "Sink":
    return BulkSink(client, batch) if _has_bulk(client) else PipelineSink(client, batch)


class Sink:
    wants_argv = False
    kind = ""

    def __init__(self, client: Any, batch: int) -> None:
        self.client = client
        self.batch = batch
        self.sent = 0
        self.acknowledged = 0
        self.errors: list = []  # (index of the command, exception)

    def send(self, data: bytes, n: int) -> None:
        raise NotImplementedError

    def send_argv(self, cmds: Sequence[Sequence[Any]]) -> None:
        raise NotImplementedError

    def finish(self) -> None:
        """Wait until every command sent is acknowledged."""

    def close(self) -> None:
        """Give up (after a failure): release the connection."""


class BulkSink(Sink):
    kind = "bulk"

    def __init__(self, client: Any, batch: int) -> None:
        super().__init__(client, batch)
        self._cm = client.bulk(batch=batch, replies=False, raise_on_error=False)
        self._bulk = self._cm.__enter__()
        self._open = True

    def _sync(self) -> None:
        b = self._bulk
        self.sent, self.acknowledged = b.sent, b.acknowledged
        if len(b.errors) != len(self.errors):
            self.errors = [(i, e) for i, _cmd, e in b.errors]

    def _lost(self, e: BaseException) -> LoadConnectionError:
        self._open = False
        ack = getattr(e, "acknowledged", None)
        self._sync()
        if ack is not None:
            self.acknowledged = ack
        return LoadConnectionError(str(e), self.acknowledged)

    def send(self, data: bytes, n: int) -> None:
        try:
            self._bulk.send_raw(data, n)
        except (redis.ConnectionError, redis.TimeoutError) as e:
            raise self._lost(e) from e
        self._sync()

    def send_argv(self, cmds: Sequence[Sequence[Any]]) -> None:
        try:
            for c in cmds:
                self._bulk.execute_command(*c)
        except (redis.ConnectionError, redis.TimeoutError) as e:
            raise self._lost(e) from e
        self._sync()

    def finish(self) -> None:
        if not self._open:
            return
        self._open = False
        try:
            self._cm.__exit__(None, None, None)
        except (redis.ConnectionError, redis.TimeoutError) as e:
            raise self._lost(e) from e
        self._sync()

    def close(self) -> None:
        if self._open:
            self._open = False
            try:
                self._cm.__exit__(None, None, None)
            except redis.RedisError:
                pass


class PipelineSink(Sink):
    """TEMPORARY: one pipeline (execute_many) round trip per batch."""

    wants_argv = True
    kind = "pipeline fallback"

    def __init__(self, client: Any, batch: int) -> None:
        super().__init__(client, batch)
        # The raw-reply pipeline primitive: replies in order, error replies
        # as exceptions in place, no per-command Python conversion.
        self._many = client._exec_many_raw

    def send_argv(self, cmds: Sequence[Sequence[Any]]) -> None:
        if not cmds:
            return
        base = self.sent
        self.sent += len(cmds)
        try:
            replies = self._many(cmds)
        except (redis.ConnectionError, redis.TimeoutError) as e:
            # Some of this batch may have run; only whole batches count.
            raise LoadConnectionError(str(e), self.acknowledged) from e
        for i, r in enumerate(replies):
            if isinstance(r, Exception):
                self.errors.append((base + i, r))
        self.acknowledged = self.sent

    def send(self, data: bytes, n: int) -> None:
        from ._resp import split_commands

        cmds = split_commands(data)
        assert len(cmds) == n, (len(cmds), n)
        self.send_argv(cmds)


def first_new_error(sink: Sink, seen: int) -> Optional[tuple]:
    return sink.errors[seen] if len(sink.errors) > seen else None
