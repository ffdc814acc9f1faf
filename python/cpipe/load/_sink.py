"""Where commands go: the ONE place that knows how they reach the server.

The loader hands over batches, either RESP bytes (`send(data, n)`) or, when
`wants_argv` is true, argv tuples (`send_argv(cmds)`), and reads `sent`,
`acknowledged` and `errors` [(index, exception)] back. `finish()` waits
until everything sent is acknowledged. A lost connection raises
LoadConnectionError whose `acknowledged` is the resume point.

Two implementations behind that one interface:
- BulkSink: `client.bulk(replies=False)` (cpipe.bulk): the engine writes
  and counts replies while the loader reads the next rows.
- PipelineSink: for a client without bulk() (a forked child's fallback
  client has no send_raw): one pipeline round trip per batch, and RESP
  input split back into argv. Correct, and much slower.
"""
from __future__ import annotations

from typing import Any, Sequence

import redis


class LoadDataError(Exception):
    """The engine refused raw bytes (bad framing, or the input ended
    mid-command): nothing of that chunk was sent."""


class LoadConnectionError(redis.ConnectionError):
    """The connection was lost; `acknowledged` commands are known to be done."""

    def __init__(self, message: str, acknowledged: int) -> None:
        super().__init__(message)
        self.acknowledged = acknowledged


def _has_bulk(client: Any) -> bool:
    return callable(getattr(client, "bulk", None))


def open_sink(client: Any, batch: int) -> "Sink":
    from .. import _engine

    if _has_bulk(client) and not _engine.forked_child() and getattr(client, "_fallback", None) is None:
        return BulkSink(client, batch)
    return PipelineSink(client, batch)


class Sink:
    wants_argv = False
    kind = ""

    def __init__(self, client: Any, batch: int) -> None:
        self.client = client
        self.batch = batch
        self.sent = 0
        self.acknowledged = 0
        self.errors: list = []  # (index of the command, the error reply's text)

    def send(self, data: bytes, n: int) -> int:
        raise NotImplementedError

    # True: send(data, -1) takes raw bytes cut anywhere and counts them (the engine).
    counts_raw = False

    def send_argv(self, cmds: Sequence[Sequence[Any]]) -> None:
        raise NotImplementedError

    add: Any = None  # a C function queueing one command, when the sink has one

    @property
    def error_count(self) -> int:
        return len(self.errors)

    def sync(self) -> None:
        """Refresh sent, acknowledged and errors."""

    def lost(self, e: BaseException) -> LoadConnectionError:
        return LoadConnectionError(str(e), self.acknowledged)

    def finish(self) -> None:
        """Wait until every command sent is acknowledged."""

    def close(self) -> None:
        """Give up (after a failure): release the connection."""


class BulkSink(Sink):
    """client.bulk(replies=False): the engine writes and counts replies while
    Python reads on. Rows go in through the bulk's C `add` (one call per
    command, encoding into the engine's buffer); RESP input through send_raw."""

    kind = "bulk"
    counts_raw = True
    # Error replies itemised (with their line); beyond it they are only counted.
    MAX_ERRORS = 10_000

    def __init__(self, client: Any, batch: int) -> None:
        super().__init__(client, batch)
        self._bulk = client.bulk(batch=batch, replies=False, raise_on_error=False, max_errors=self.MAX_ERRORS)
        self._bulk.__enter__()
        self.add = self._bulk._cmd  # the writer's C method, once opened
        self._error_count = 0
        self._open = True

    @property
    def error_count(self) -> int:
        return self._error_count

    def sync(self) -> None:
        b = self._bulk
        self.sent, self.acknowledged, self._error_count = b.sent, b.acknowledged, b.error_count
        errs = b.errors
        if len(errs) > len(self.errors):
            # The loader names the command by its input line; bulk's own
            # "Command # N (...) of bulk caused error: " prefix is dropped.
            self.errors.extend((i, str(e).split(" of bulk caused error: ", 1)[-1])
                               for i, _args, e in errs[len(self.errors):])

    def lost(self, e: BaseException) -> LoadConnectionError:
        self._open = False
        ack = getattr(e, "acknowledged", None)
        try:
            self.sync()
        except redis.RedisError:
            pass
        if ack is not None:
            self.acknowledged = ack
        return LoadConnectionError(str(e), self.acknowledged)

    def send(self, data: bytes, n: int) -> int:
        """n = -1: the engine counts the commands (data cut anywhere); returns the count."""
        try:
            counted = self._bulk.send_raw(data, n)
        except (redis.ConnectionError, redis.TimeoutError) as e:
            raise self.lost(e) from e
        except redis.DataError as e:
            raise LoadDataError(str(e)) from e
        self.sync()
        return counted

    def send_argv(self, cmds: Sequence[Sequence[Any]]) -> None:
        add = self.add
        try:
            for c in cmds:
                add(*c)
        except (redis.ConnectionError, redis.TimeoutError) as e:
            raise self.lost(e) from e
        self.sync()

    def finish(self) -> None:
        if not self._open:
            return
        self._open = False
        try:
            self._bulk.finish()
        except (redis.ConnectionError, redis.TimeoutError) as e:
            raise self.lost(e) from e
        except redis.DataError as e:  # raw input ended mid-command: the complete ones are answered
            self.sync()
            raise LoadDataError(str(e)) from e
        self.sync()

    def close(self) -> None:
        if self._open:
            self._open = False
            try:
                self._bulk._abort(RuntimeError("cpipe-load gave up"))
            except redis.RedisError:
                pass


class PipelineSink(Sink):
    """One pipeline (execute_many) round trip per batch: only where bulk() cannot run."""

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
                self.errors.append((base + i, str(r)))
        self.acknowledged = self.sent

    def send(self, data: bytes, n: int) -> int:
        from ._resp import split_commands

        cmds = split_commands(data)
        assert len(cmds) == n, (len(cmds), n)
        self.send_argv(cmds)
        return n

