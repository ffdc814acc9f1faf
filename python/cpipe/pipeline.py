"""Pipelines and transactions: redis-py's `Pipeline`, sent by the engine.

A `cpipe.Pipeline` is a `redis.client.Pipeline`: its command methods queue
`(args, options)` on `command_stack` exactly as redis-py's do, and `watch`,
`multi`, `unwatch`, `discard`, `Script` and `Redis.transaction` are
redis-py's. What differs is where the bytes go:

- `execute()` hands the whole batch to the engine as one request, written
  contiguously on one connection, so MULTI ... EXEC stays atomic even on a
  shared, auto-pipelined connection;
- after `watch()` the pipeline is in immediate mode on a connection of its
  own (a `DedicatedConnection`, off the shared set) until `execute()`,
  `reset()` or `unwatch()`: WATCH state belongs to one connection, and a
  shared connection would mix other callers' commands into it.

If the dedicated connection fails while keys are watched, the watch is
lost with it: the pipeline raises WatchError, as redis-py does, so the
caller's transaction loop retries.
"""
from __future__ import annotations

import re
from typing import Any, Callable, Optional

import redis.client

from ._hot import HOT_NAMES, HotCommands
from ._replies import (
    EMPTY_RESPONSE,
    NEVER_DECODE,
    callback_options,
    decode_reply,
    find_callback,
    wire_args,
)
from .errors import AuthenticationError, ConnectionError, DataError, ExecAbortError, ProtocolError, ResponseError, TimeoutError, WatchError

# A queued hot command's options: shared, never written to. The empty tuple,
# not {}: the garbage collector never untracks a tuple holding a dict, so
# every (args, {}) of a big pipeline would stay tracked and trigger full
# collections while it is built (an empty tuple answers `in` like {}).
_NO_OPTIONS: Any = ()


class DedicatedConnection:
    """One engine connection used by one pipeline at a time (WATCH ... EXEC)."""

    __slots__ = ("execute", "execute_raw", "execute_many", "execute_many_raw", "_close", "broken", "reused",
                 "handle")

    def __init__(self, execute: Callable[..., Any], execute_raw: Callable[..., Any],
                 execute_many: Callable[[list], list], execute_many_raw: Callable[[list], list],
                 close: Callable[[], None], handle: int = 0) -> None:
        self.execute = execute
        self.execute_raw = execute_raw
        self.execute_many = execute_many
        self.execute_many_raw = execute_many_raw
        self._close = close
        self.broken = False  # failed once: never handed out again
        self.reused = False  # an idle spare: the server may have closed it meanwhile
        self.handle = handle  # the engine's (0: a fork fallback's), for the protocol it speaks

    def close(self) -> None:
        close, self._close = self._close, None
        if close is not None:
            close()


_COMMAND_NUMBER = re.compile(r"pipeline command (\d+)")


def renumbered(error: DataError) -> DataError:
    """A refused argument's message, numbered as the caller queued it: the
    engine counted the MULTI that a transaction sends first."""
    message = _COMMAND_NUMBER.sub(lambda m: f"pipeline command {int(m.group(1)) - 1}", str(error), count=1)
    return type(error)(message)


class _HotStack:
    """A hot-only batch's commands as redis-py's raise_first_error reads them: (args, options)."""

    __slots__ = ("_wire",)

    def __init__(self, wire: list) -> None:
        self._wire = wire

    def __getitem__(self, i: int) -> tuple:
        return self._wire[i], _NO_OPTIONS

    def __len__(self) -> int:
        return len(self._wire)


class RaiseAnyFirstError:
    """raise_first_error as redis-py's (the first error reply, annotated with
    its command), and also for an error in place that is not an error reply
    (a reply that could not be decoded, UnicodeDecodeError): with
    raise_on_error, the first error raises, whatever it is."""

    __slots__ = ()

    def raise_first_error(self, commands: Any, response: Any) -> None:
        # One pass in C over the reply types: a big pipeline without errors costs no Python loop.
        if not any(issubclass(t, Exception) for t in set(map(type, response))):
            return
        first = next(r for r in response if isinstance(r, Exception))
        if isinstance(first, ResponseError):
            super().raise_first_error(commands, response)  # type: ignore[misc]
        raise first


class Pipeline(HotCommands, RaiseAnyFirstError, redis.client.Pipeline):
    """redis-py's Pipeline on cpipe's engine; see the module docstring."""

    def __init__(self, client: Any, transaction: bool = True, shard_hint: Any = None) -> None:
        self._client = client
        self.connection_pool = client.connection_pool
        self.connection: Optional[DedicatedConnection] = None
        self.response_callbacks = client.response_callbacks
        self.transaction = transaction
        self.shard_hint = shard_hint
        self.watching = False
        self._wire: list[tuple] = []
        self._general_at: dict[int, tuple] = {}
        self._general = False
        self.scripts: set = set()
        self.explicit_transaction = False
        self._event_dispatcher = getattr(client, "_event_dispatcher", None)

    def __repr__(self) -> str:
        return f"<{type(self).__module__}.{type(self).__name__} of {self._client!r}>"

    def get_encoder(self) -> Any:
        return self._client.get_encoder()

    # -- queueing -----------------------------------------------------------
    #
    # What the engine is sent is kept as commands are queued (_wire). A hot
    # command is only its args there; a command queued by redis-py's methods
    # also has its (args, options) in _general_at, by position, and sets
    # _general. redis-py's command_stack of (args, options) is built from
    # both when asked for: a batch of hot commands costs one append each.

    def _cmd(self, *args: Any) -> Any:
        if self.watching and not self.explicit_transaction:
            return self.immediate_execute_command(*args)
        self._wire.append(args)
        return self

    def pipeline_execute_command(self, *args: Any, **options: Any) -> "Pipeline":
        self._general_at[len(self._wire)] = (args, options)
        self._wire.append(wire_args(args))
        self._general = True
        return self

    @property
    def command_stack(self) -> list:  # type: ignore[override]
        general = self._general_at
        if not general:
            return [(args, _NO_OPTIONS) for args in self._wire]
        return [general.get(i) or (args, _NO_OPTIONS) for i, args in enumerate(self._wire)]

    @command_stack.setter
    def command_stack(self, stack: list) -> None:
        self._wire, self._general_at, self._general = [], {}, False
        for args, options in stack:
            if options:
                self.pipeline_execute_command(*args, **options)
            else:
                self._wire.append(args)

    def __len__(self) -> int:
        return len(self._wire)

    def add_command(self, *args: Any) -> "Pipeline":
        """gopipe style: queue a raw command; its reply is returned unconverted."""
        return self.pipeline_execute_command(*args, _raw=True)

    # -- immediate mode (after WATCH) ---------------------------------------

    def immediate_execute_command(self, *args: Any, **options: Any) -> Any:
        conn = self.connection
        if conn is None:
            conn = self.connection = self._client._dedicated()
        name = args[0]
        raw = NEVER_DECODE in options
        try:
            try:
                reply = (conn.execute_raw if raw else conn.execute)(*wire_args(args))
            except ConnectionError:
                if self.watching or not conn.reused:
                    raise
                # A spare that the server closed while it sat idle (timeout,
                # CLIENT KILL, restart); nothing was watched on it yet, so the
                # command runs again on a new connection, once.
                conn.broken = True
                conn.close()
                conn = self.connection = self._client._dedicated(fresh=True)
                reply = (conn.execute_raw if raw else conn.execute)(*wire_args(args))
        except ResponseError:
            if EMPTY_RESPONSE in options:
                return options[EMPTY_RESPONSE]
            raise
        except (ConnectionError, TimeoutError) as e:
            conn.broken = True
            if self.watching:
                self.reset()
                raise WatchError(f"A {type(e).__name__} occurred while watching one or more keys") from e
            raise
        if name in self.UNWATCH_COMMANDS:
            self.watching = False
        elif name == "WATCH":
            self.watching = True
        cb = find_callback(self.response_callbacks, name)
        if cb is None:
            return reply
        return cb(reply, **callback_options(options)) if options else cb(reply)

    # -- execute ------------------------------------------------------------

    def execute(self, raise_on_error: bool = True) -> list:
        """Send everything queued in one request; the replies, converted, in order.

        With raise_on_error, the first error reply is raised (annotated with
        its command, as redis-py does) after every reply was read, so the
        connection stays in step; otherwise errors are returned in place.
        """
        if not self._wire and not self.watching:
            return []
        try:
            if self.scripts:
                self.load_scripts()
            if self.transaction or self.explicit_transaction:
                return self._run_transaction(self.command_stack, raise_on_error)
            return self._run_pipeline(raise_on_error)
        finally:
            self.reset()

    def _send(self, wire: list, raw: bool) -> list:
        """The batch on the pipeline's own connection (after WATCH) or the client's shared one.

        raw: read the replies undecoded (a NEVER_DECODE command in a decoding
        client's batch; _convert decodes the others).
        """
        conn = self.connection
        client = self._client
        try:
            if conn is not None:
                replies = conn.execute_many_raw(wire) if raw else conn.execute_many(wire)
            else:
                exec_many = client._exec_many_raw if raw else client._exec_many
                try:
                    replies = exec_many(wire)
                except AuthenticationError:
                    # A reconnect's AUTH refused: nothing of the batch ran.
                    if not client._fresh_credentials(getattr(exec_many, "args", (0,))[0]):
                        raise
                    replies = (client._exec_many_raw if raw else client._exec_many)(wire)
            if client._protocol_pending:
                client._settle_protocol(conn.handle if conn is not None else 0)
            return replies
        except (ConnectionError, TimeoutError) as e:
            if conn is not None:
                conn.broken = True
            if self.watching:
                raise WatchError(f"A {type(e).__name__} occurred while watching one or more keys") from e
            raise

    def _needs_raw(self, stack: list) -> bool:
        if self._client._encoding is None or not self._general:
            return False
        return any(NEVER_DECODE in options for _, options in stack)

    def _run_pipeline(self, raise_on_error: bool) -> list:
        stack = self.command_stack if self._general else None
        raw = stack is not None and self._needs_raw(stack)
        replies = self._send(self._wire, raw)
        self._convert(stack, replies, raw)  # before raising: EMPTY_RESPONSE replaces an error
        if raise_on_error:
            # Only an error makes it read the commands: a hot batch's are built then.
            self.raise_first_error(stack if stack is not None else _HotStack(self._wire), replies)
        return replies

    def _run_transaction(self, stack: list, raise_on_error: bool) -> list:
        sent, wire = self._transaction_wire(stack)
        raw = self._needs_raw(sent)
        try:
            replies = self._send(wire, raw)
        except DataError as e:
            raise renumbered(e) from None
        exec_reply = self._unpack_exec(stack, len(sent), replies)
        if raise_on_error:
            self.raise_first_error(stack, exec_reply)
        self._convert(stack, exec_reply, raw)
        return exec_reply

    def _transaction_wire(self, stack: list) -> tuple:
        """(the commands sent, MULTI + their wire form + EXEC). redis-py sends no
        command that has EMPTY_RESPONSE in a transaction: its value takes the reply's place."""
        if self._general:
            sent = [cmd for cmd in stack if EMPTY_RESPONSE not in cmd[1]]
            return sent, [("MULTI",), *(wire_args(args) for args, _ in sent), ("EXEC",)]
        return stack, [("MULTI",), *self._wire, ("EXEC",)]

    def _unpack_exec(self, stack: list, sent: int, replies: list) -> list:
        """EXEC's replies, one per queued command, from [MULTI, QUEUED..., EXEC]'s.

        Raises as redis-py does: the first queueing error when EXEC was
        aborted, WatchError when a watched key changed. An EMPTY_RESPONSE
        command's value and each queueing error take their command's place.
        """
        errors = []
        if isinstance(replies[0], ResponseError):
            errors.append((0, replies[0]))
        queued = iter(replies[1:-1])
        for i, (args, options) in enumerate(stack):
            if EMPTY_RESPONSE in options:
                errors.append((i, options[EMPTY_RESPONSE]))
                continue
            r = next(queued)
            if isinstance(r, ResponseError):
                self.annotate_exception(r, i + 1, args)
                errors.append((i, r))
        exec_reply = replies[-1]
        if isinstance(exec_reply, ExecAbortError):
            if errors:
                raise errors[0][1]
            raise exec_reply
        if isinstance(exec_reply, Exception):
            raise exec_reply
        self.watching = False  # EXEC ends every WATCH
        if exec_reply is None:
            raise WatchError("Watched variable changed.")
        if not isinstance(exec_reply, list):
            raise ProtocolError(f"EXEC answered {exec_reply!r:.80} instead of {sent} replies")
        for i, e in errors:
            exec_reply.insert(i, e)
        if len(exec_reply) != len(stack):
            # Only a server out of step with its client answers EXEC so.
            raise ProtocolError(f"EXEC answered {len(exec_reply)} replies instead of {len(stack)}")
        return exec_reply

    def _convert(self, stack: Optional[list], replies: list, raw: bool) -> None:
        """Each reply through its command's callback, in place; errors stay as they are."""
        callbacks = self.response_callbacks
        if not self._general:
            # Hot commands only: the callbacks of the few hot names, looked up once.
            active = {}
            for name in HOT_NAMES:
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
            return
        encoding = self._client._encoding if raw else None
        for i, (args, options) in enumerate(stack):
            r = replies[i]
            if isinstance(r, Exception):
                if EMPTY_RESPONSE in options and isinstance(r, ResponseError):
                    replies[i] = options[EMPTY_RESPONSE]
                continue
            if "_raw" in options:
                continue
            if encoding is not None and NEVER_DECODE not in options:
                r = decode_reply(r, encoding)
            cb = find_callback(callbacks, args[0])
            if cb is None:
                replies[i] = r
            elif options is _NO_OPTIONS:
                replies[i] = cb(r)
            else:
                replies[i] = cb(r, **callback_options(options))

    # -- state --------------------------------------------------------------

    def reset(self) -> None:
        self._wire, self._general_at, self._general = [], {}, False
        self.scripts = set()
        conn, self.connection = self.connection, None
        if conn is not None:
            if self.watching and not conn.broken:
                try:
                    conn.execute("UNWATCH")
                except (ConnectionError, TimeoutError):
                    conn.broken = True
            if conn.broken:
                conn.close()
            else:
                self._client._return_dedicated(conn)
        self.watching = False
        self.explicit_transaction = False

    def __del__(self) -> None:
        try:
            self.reset()
        except Exception:
            pass
