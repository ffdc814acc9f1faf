"""Streamed bulk writes: `client.bulk()`.

    with client.bulk(batch=1000) as b:
        for i in range(1_000_000):
            b.hset(f"user:{i}", "name", "x")
    b.acknowledged      # 1000000

A `Bulk` has redis-py's command methods (and `execute_command`), on a
connection of its own. Each command is encoded into a C buffer at once
(bad arguments raise `DataError` then, before anything is sent); every
`batch` commands (or `batch_bytes` bytes) the buffer goes to the engine,
whose goroutines write it and read the replies while Python goes on adding
commands: encoding, sending and the server's work overlap. Replies are
counted, not built into Python objects (`replies=False`, the default); error
replies are kept with their command's index and arguments.

Memory is bounded: when `max_pending` commands or `max_pending_bytes`
bytes are handed over and not yet answered, the next hand-over waits, with
the GIL released, until replies make room (a single command larger than the
byte bound is sent alone). Python's own buffer holds at most one batch.

Leaving the `with` block (or `finish()`) hands the rest over and waits for
every reply; then, with `raise_on_error=True` (the default), the first error
reply is raised as redis-py raises a pipeline's (`ResponseError`, annotated
"Command # N (...) of bulk caused error: ..."). `errors` holds
`(index, args, exception)` for the first `max_errors` error replies
(index from 0, in the order commands were added; args as bytes, or None when
unknown, or only the name when the command's encoding is over 4 KiB);
`error_count` counts them all.

A lost connection (killed, a server restart, a timeout) is never replaced:
commands sent and not answered may have run, and resending them could apply
a write twice. Every later call raises `BulkConnectionError` (a
`redis.ConnectionError`; `BulkTimeoutError` is also a `TimeoutError`) whose
`acknowledged` attribute, also in its message, is how many commands were
answered: those ran; resume from there. With a real Redis the server may have
run a few commands past it whose replies were lost with the connection.

An exception raised inside the block (not a BaseException such as
KeyboardInterrupt) stops the bulk: commands still in Python's buffer are
dropped, the ones handed over are waited for (so `acknowledged` is exact),
and the exception propagates. KeyboardInterrupt closes the connection at once.

A Bulk is used by one thread at a time.
"""
from __future__ import annotations

from typing import Any, Iterable, Optional

from redis.commands import CoreCommands, RedisModuleCommands

from . import _engine
from ._hot import HotCommands
from ._replies import callback_options, find_callback, wire_args
from .errors import ConnectionError, DataError, ResponseError, TimeoutError

#: Defaults of client.bulk()'s bounds.
DEFAULT_BATCH = 1000
DEFAULT_MAX_PENDING = 100_000
DEFAULT_MAX_PENDING_BYTES = 16 << 20
DEFAULT_MAX_ERRORS = 1000


class BulkConnectionError(ConnectionError):
    """The bulk connection was lost; `acknowledged` commands were answered (the resume point)."""

    def __init__(self, message: str, acknowledged: int = 0, sent: int = 0, queued: int = 0) -> None:
        super().__init__(message)
        self.acknowledged = acknowledged
        self.sent = sent
        self.queued = queued


class BulkTimeoutError(BulkConnectionError, TimeoutError):
    """The server stopped answering the bulk connection for socket_timeout."""


def _lost(kind: str, message: str, acknowledged: int, sent: int, queued: int) -> BulkConnectionError:
    """The bridge's factory for a lost bulk connection (see bridge_bulk.c)."""
    cls = BulkTimeoutError if kind == "timeout" else BulkConnectionError
    if "acknowledged" not in message:
        message = f"bulk connection lost after {acknowledged} commands were acknowledged ({sent} sent): {message}"
    return cls(message, acknowledged, sent, queued)


def _positive(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"bulk(): {name} must be a positive int, not {value!r}")
    return value


def _describe(args: Optional[tuple]) -> str:
    if not args:
        return "?"
    text = " ".join(a.decode("utf-8", "replace") if isinstance(a, bytes) else str(a) for a in args)
    return text if len(text) <= 100 else text[:97] + "..."


class Bulk(HotCommands, RedisModuleCommands, CoreCommands):
    """Streamed bulk writes on a connection of its own; see the module docstring."""

    _blocking = True  # command methods may wait for room (asyncio: False)
    _event_dispatcher: Any = None  # what redis-py's command mixins expect of a client

    def __init__(self, client: Any, batch: int = DEFAULT_BATCH, replies: bool = False, *,
                 raise_on_error: bool = True, max_pending: int = DEFAULT_MAX_PENDING,
                 max_pending_bytes: int = DEFAULT_MAX_PENDING_BYTES, batch_bytes: Optional[int] = None,
                 max_errors: int = DEFAULT_MAX_ERRORS) -> None:
        self.batch = _positive("batch", batch)
        self.max_pending = _positive("max_pending", max_pending)
        self.max_pending_bytes = _positive("max_pending_bytes", max_pending_bytes)
        self.max_errors = _positive("max_errors", max_errors)
        if batch > max_pending:
            raise ValueError(f"bulk(): batch ({batch}) must not exceed max_pending ({max_pending})")
        # A batch is handed over at this size too, so several fit the byte bound.
        self.batch_bytes = _positive("batch_bytes", batch_bytes) if batch_bytes is not None \
            else max(1, min(1 << 20, max_pending_bytes // 4))
        self.keep_replies = bool(replies)
        self.raise_on_error = bool(raise_on_error)
        self._client = client
        self.response_callbacks = client.response_callbacks
        self._writer: Any = None
        self._errors: list = []
        self._replies: list = []
        self._options_at: dict[int, dict] = {}  # keep_replies: a command's callback options, by index
        self._finished = False

    def __repr__(self) -> str:
        return f"<{type(self).__module__}.{type(self).__name__} of {self._client!r}>"

    def get_encoder(self) -> Any:
        return self._client.get_encoder()

    # -- lifetime ----------------------------------------------------------

    def _open(self) -> None:
        """Connect the bulk connection (in the client's way: AUTH, SELECT, HELLO ...)."""
        if self._writer is not None:
            return
        client = self._client
        if getattr(client, "_fallback", None) is not None or _engine.forked_child():
            self._writer = PipelineWriter(client, self.batch, self.keep_replies, self.max_errors)
        else:
            if client._closed:
                if not client._reconnects_after_close:
                    raise ConnectionError("the pool is closed")
                client._reopen()
            self._writer = client._native.bulk_open(
                client._h, client._max_bulk, self.batch, self.batch_bytes, self.max_pending,
                self.max_pending_bytes, self.max_errors, self.keep_replies, self._blocking, _lost)
        self._cmd = self._writer.add  # type: ignore[method-assign]  # the hot path: one C call

    def __enter__(self) -> "Bulk":
        self._open()
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self.finish()
            return
        self._abort(exc)

    def _abort(self, exc: Any) -> None:
        """The block raised: drop the buffered commands and, unless it was a
        BaseException (KeyboardInterrupt), wait for the handed-over ones."""
        writer = self._writer
        if writer is None:
            return
        try:
            if isinstance(exc, Exception):
                writer.discard()
                try:
                    writer.finish()
                except Exception:
                    pass  # the block's exception is the one to see; acknowledged tells the rest
        finally:
            self._collect()
            writer.close()
            self._finished = True

    def finish(self) -> None:
        """Hand everything over, wait for every reply, close the connection; raise the first error reply."""
        if self._finished:
            return
        self._open()
        try:
            self._writer.finish()
        finally:
            self._collect()
            self._writer.close()
            self._finished = True
        if self.raise_on_error and self._errors:
            raise self._errors[0][2]

    close = finish

    def flush(self) -> None:
        """Hand the buffered commands to the engine now (waiting for room); replies are not waited for."""
        self._open()
        self._writer.flush(True)

    # -- commands ----------------------------------------------------------

    def _cmd(self, *args: Any) -> None:  # replaced by the writer's C method when opened
        self._open()
        self._writer.add(*args)

    def execute_command(self, *args: Any, **options: Any) -> None:
        """Queue any command (redis-py's command methods call this); returns None."""
        if not args:
            raise DataError("execute_command needs a command name")
        self._cmd(*wire_args(args))
        if options and self.keep_replies:
            # What the reply's callback needs (withscores=True ...), by position.
            self._options_at[len(self._writer.names) - 1] = callback_options(options)

    def send_raw(self, data: Any, commands: int = -1) -> int:
        """Send pre-encoded requests (RESP, or inline commands), after the commands added so far.

        data is any bytes-like chunk of a request stream, cut anywhere: a
        command split across two calls counts in the call that completes it.
        The engine counts the commands as the server will (so replies are
        matched); commands >= 0 must equal that count, or DataError and
        nothing is sent. Bytes the server would refuse (a bad RESP header,
        a bulk length over 512 MiB) raise DataError, nothing sent. Returns
        the commands the chunk completed. If the stream ends mid-command,
        finish() raises DataError after the complete ones are answered.
        """
        self._open()
        return self._writer.send_raw(data, commands)

    def add_commands(self, commands: Iterable[tuple]) -> None:
        """Queue many commands, each a tuple of arguments."""
        add = self._cmd
        for args in commands:
            add(*args)

    # -- results -----------------------------------------------------------

    def _stats(self) -> tuple:
        if self._writer is None:
            return (0,) * 9
        return self._writer.stats()

    @property
    def queued(self) -> int:
        """Commands added (sent or not)."""
        s = self._stats()
        return s[0] + s[6]

    @property
    def sent(self) -> int:
        """Commands written to the server."""
        return self._stats()[1]

    @property
    def acknowledged(self) -> int:
        """Commands the server answered (ok or error): they ran."""
        return self._stats()[2]

    @property
    def error_count(self) -> int:
        """Error replies so far, including those beyond max_errors."""
        return self._stats()[3]

    @property
    def pending_bytes(self) -> int:
        """Bytes handed to the engine and not yet answered (at most max_pending_bytes)."""
        return self._stats()[4]

    @property
    def peak_pending_bytes(self) -> int:
        """The most pending_bytes has been."""
        return self._stats()[5]

    @property
    def buffered(self) -> int:
        """Commands in Python's buffer, not handed to the engine yet."""
        return self._stats()[6]

    @property
    def errors(self) -> list:
        """[(index, args, exception)] for the first max_errors error replies."""
        self._collect()
        return self._errors

    @property
    def replies(self) -> Optional[list]:
        """replies=True: every reply so far, in order, converted as the client converts (errors in place)."""
        if not self.keep_replies:
            return None
        self._collect()
        return self._replies

    def _collect(self) -> None:
        writer = self._writer
        if writer is None:
            return
        for index, args, exc in writer.take_errors():
            if isinstance(exc, ResponseError) and exc.args:
                exc.args = (f"Command # {index + 1} ({_describe(args)}) of bulk caused error: {exc.args[0]}",
                            *exc.args[1:])
            self._errors.append((index, args, exc))
        if self.keep_replies:
            got = writer.take_replies(self._client._encoding)
            if got:
                names = writer.names
                callbacks = self.response_callbacks
                start = len(self._replies)
                for i, reply in enumerate(got, start):
                    name = names[i] if i < len(names) else None
                    cb = None if name is None or isinstance(reply, Exception) else find_callback(callbacks, name)
                    if cb is not None:
                        options = self._options_at.pop(i, None)
                        reply = cb(reply, **options) if options else cb(reply)
                    self._replies.append(reply)


class PipelineWriter:
    """The writer's interface in a forked child, where the Go engine cannot
    run: a pipeline per batch on the client's redis-py fallback connection.
    Nothing overlaps (each batch waits for its replies), but the counts,
    errors and replies are the same; send_raw needs the engine."""

    def __init__(self, client: Any, batch: int, keep: bool, max_errors: int) -> None:
        self._client, self._batch, self._max_errors = client, batch, max_errors
        self._buf: list = []
        self.names: Optional[list] = [] if keep else None
        self._replies: list = []
        self._errors: list = []
        self._counts = [0, 0, 0, 0]  # queued, sent, acknowledged, error replies
        self._lost: Optional[BulkConnectionError] = None

    def add(self, *args: Any) -> None:
        if self._lost is not None:
            raise self._lost
        if not args:
            raise DataError("a command needs at least its name")
        self._buf.append(args)
        if self.names is not None:
            self.names.append(args[0])
        if len(self._buf) >= self._batch:
            self.flush(True)

    def flush(self, wait: bool) -> bool:
        if self._lost is not None:
            raise self._lost
        buf, self._buf = self._buf, []
        if not buf:
            return True
        c = self._counts
        c[0] += len(buf)
        try:
            replies = self._client._exec_many(buf)
        except (ConnectionError, TimeoutError) as e:
            c[1] += len(buf)
            self._lost = _lost("timeout" if isinstance(e, TimeoutError) else "connection", str(e), c[2], c[1], c[0])
            raise self._lost from e
        for i, reply in enumerate(replies):
            if isinstance(reply, ResponseError):
                c[3] += 1
                if len(self._errors) < self._max_errors:
                    self._errors.append((c[2] + i, tuple(a if isinstance(a, bytes) else str(a).encode()
                                                         for a in buf[i]), reply))
        c[1] += len(buf)
        c[2] += len(buf)
        if self.names is not None:
            self._replies.extend(replies)
        return True

    def send_raw(self, data: Any, commands: int) -> int:
        from .errors import ForkError

        raise ForkError("send_raw needs cpipe's engine, which cannot run in a forked child")

    def finish(self) -> None:
        self.flush(True)

    def discard(self) -> None:
        self._buf = []

    def stats(self) -> tuple:
        c = self._counts
        return (c[0], c[1], c[2], c[3], 0, 0, len(self._buf), 0, 0)

    def take_errors(self) -> list:
        out, self._errors = self._errors, []
        return out

    def take_replies(self, encoding: Any) -> list:
        out, self._replies = self._replies, []
        return out

    def close(self) -> None:
        self._buf = []


__all__ = ["Bulk", "BulkConnectionError", "BulkTimeoutError"]
