"""Pipelines and transactions: redis-py's `Pipeline`, sent by the engine.

A `cpipe.Pipeline` is a `redis.client.Pipeline`: its command methods queue
`(args, options)` on `command_stack` exactly as redis-py's do, and `watch`,
`multi`, `unwatch`, `discard`, `Script` and `Redis.transaction` are
redis-py's. What differs is where the bytes go:

- each command is encoded when it is queued, onto the pipeline's native
  Batch (the plain forms of the hot methods in C, with no Python frame),
  which keeps no Python object per command; `command_stack` is read back
  from it when asked for (see "queueing" below);
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

from ._hot import C_METHOD_FORMS, HOT_NAMES, StagedHotCommands, install_c_method
from ._replies import (
    EMPTY_RESPONSE,
    NEVER_DECODE,
    callback_options,
    decode_reply,
    find_callback,
    never_decoded,
    wire_args,
)
from .errors import AuthenticationError, ConnectionError, DataError, ExecAbortError, ProtocolError, ResponseError, TimeoutError, WatchError

# A queued hot command's options: shared, never written to. The empty tuple,
# not {}: the garbage collector never untracks a tuple holding a dict, so
# every (args, {}) of a big pipeline would stay tracked and trigger full
# collections while it is built (an empty tuple answers `in` like {}).
_NO_OPTIONS: Any = ()


class DedicatedConnection:
    """One engine connection used by one pipeline at a time (WATCH ... EXEC).

    What `pipe.connection` is after WATCH. Like redis-py's connection it has
    `is_connected`, `connect()` and `disconnect()`; unlike it, it is never
    connected again once closed: a new connection would not hold the WATCH
    (the pipeline then raises WatchError and reset() closes it). No
    __slots__: one per WATCH, and tests patch its methods as redis-py's.
    """

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

    @property
    def is_connected(self) -> bool:
        """False once closed or failed (the engine connects on the first command)."""
        return self._close is not None and not self.broken

    def connect(self) -> None:
        """redis-py's: a live connection stays as it is; a closed one is not
        replaced (what it watched is gone with it)."""
        if not self.is_connected:
            raise ConnectionError("this WATCH connection was closed; its pipeline must be reset")

    def disconnect(self, *args: Any, **kwargs: Any) -> None:
        """Close it, as redis-py's disconnect(): the server drops its WATCH."""
        self.broken = True
        self.close()


_COMMAND_NUMBER = re.compile(r"pipeline command (\d+)")


def renumbered(error: DataError) -> DataError:
    """A refused argument's message, numbered as the caller queued it: the
    engine counted the MULTI that a transaction sends first."""
    message = _COMMAND_NUMBER.sub(lambda m: f"pipeline command {int(m.group(1)) - 1}", str(error), count=1)
    return type(error)(message)


class _LazyStack:
    """A pipeline's command_stack, built when first read: redis-py's
    raise_first_error reads it only for an error."""

    __slots__ = ("_pipeline", "_stack")

    def __init__(self, pipeline: "Pipeline") -> None:
        self._pipeline = pipeline
        self._stack: Optional[list] = None

    def __getitem__(self, i: int) -> tuple:
        if self._stack is None:
            self._stack = self._pipeline.command_stack
        return self._stack[i]


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


class Pipeline(StagedHotCommands, RaiseAnyFirstError, redis.client.Pipeline):
    """redis-py's Pipeline on cpipe's engine; see the module docstring."""

    def __init__(self, client: Any, transaction: bool = True, shard_hint: Any = None) -> None:
        self._client = client
        self.connection_pool = client.connection_pool
        self.connection: Optional[DedicatedConnection] = None
        self.response_callbacks = client.response_callbacks
        self.transaction = transaction
        self.shard_hint = shard_hint
        self._watching = self._explicit = False
        self._wire: list[tuple] = []
        self._batch = self._new_batch()
        self._stage = self._batch.add if self._batch is not None else None
        self._general_at: dict[int, tuple] = {}
        self._general = False
        self.scripts: set = set()
        self._event_dispatcher = getattr(client, "_event_dispatcher", None)

    def __repr__(self) -> str:
        return f"<{type(self).__module__}.{type(self).__name__} of {self._client!r}>"

    def get_encoder(self) -> Any:
        return self._client.get_encoder()

    # -- queueing -----------------------------------------------------------
    #
    # What the engine is sent is kept as commands are queued, encoded: the
    # batch (_batch, a native Batch), which keeps only each command's name
    # besides its bytes. A command queued by redis-py's methods also has its
    # (args, options) in _general_at, by position, and sets _general.
    # redis-py's command_stack of (args, options) is built from both when
    # asked for (the hot commands' arguments then read back as bytes).
    #
    # Without a batch (a client that cannot send one: cluster, client-side
    # cache, fork fallback) or after giving it up (_unbatch: a command it
    # refused), the commands are argument tuples in _wire instead, sent
    # with execute_many as before; so a bad argument still raises at
    # execute(), naming the command by its position, with nothing sent.

    def _new_batch(self) -> Any:
        client = self._client
        if getattr(client, "_exec_batch", None) is None:
            return None
        if not _c_methods:
            _install_c_methods(client._native)
        return client._native.Batch(client._max_bulk)

    def _restage(self) -> None:
        """_stage (the hot methods' way in): the batch's add, except in immediate mode."""
        batch = self._batch
        self._stage = batch.add if batch is not None and (self._explicit or not self._watching) else None

    # redis-py's code sets these two; each changes whether commands are queued.
    @property  # type: ignore[override]
    def watching(self) -> bool:
        return self._watching

    @watching.setter
    def watching(self, value: bool) -> None:
        self._watching = value
        self._restage()

    @property  # type: ignore[override]
    def explicit_transaction(self) -> bool:
        return self._explicit

    @explicit_transaction.setter
    def explicit_transaction(self, value: bool) -> None:
        self._explicit = value
        self._restage()

    def _unbatch(self) -> None:
        """Give up the batch: its commands become argument tuples in _wire."""
        batch = self._batch
        if batch is None:
            return
        self._batch = None
        self._restage()
        general = self._general_at
        commands = batch.commands()
        for i, (args, _) in general.items():
            if i < len(commands):
                commands[i] = wire_args(args)
        self._wire = commands

    def _unstage(self, *args: Any) -> None:
        """A hot command the batch refused: queued as a tuple, for execute() to refuse."""
        self._unbatch()
        self._wire.append(args)

    def _queue(self, wire: tuple) -> None:
        batch = self._batch
        if batch is not None:
            try:
                batch.add(*wire)
                return
            except Exception:
                self._unbatch()
        self._wire.append(wire)

    def _cmd(self, *args: Any) -> Any:
        if self._watching and not self._explicit:
            return self.immediate_execute_command(*args)
        self._queue(args)
        return self

    def pipeline_execute_command(self, *args: Any, **options: Any) -> "Pipeline":
        self._general_at[len(self)] = (args, options)
        self._general = True
        self._queue(wire_args(args))
        return self

    def _commands(self) -> list:
        """What is queued, as argument tuples (the batch's read back)."""
        batch = self._batch
        return batch.commands() if batch is not None else self._wire

    @property
    def command_stack(self) -> list:  # type: ignore[override]
        general = self._general_at
        if not general:
            return [(args, _NO_OPTIONS) for args in self._commands()]
        return [general.get(i) or (args, _NO_OPTIONS) for i, args in enumerate(self._commands())]

    @command_stack.setter
    def command_stack(self, stack: list) -> None:
        self._wire, self._general_at, self._general = [], {}, False
        self._batch = None  # argument tuples from here until reset()
        self._restage()
        for args, options in stack:
            if options:
                self.pipeline_execute_command(*args, **options)
            else:
                self._wire.append(args)

    def __len__(self) -> int:
        batch = self._batch
        return len(batch) if batch is not None else len(self._wire)

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
        if raw:
            reply = never_decoded(name, reply, self._client._encoding)
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
        if not len(self) and not self._watching:
            return []
        try:
            if self.scripts:
                self.load_scripts()
            if self._batch is not None and not self._batch_sendable():
                self._unbatch()
            if self.transaction or self._explicit:
                return self._run_transaction(raise_on_error)
            return self._run_pipeline(raise_on_error)
        finally:
            self.reset()

    def _batch_sendable(self) -> bool:
        """Whether the batch can go as it is: to the client's engine, or a dedicated connection of it."""
        client = self._client
        if getattr(client, "_exec_batch", None) is None:
            return False
        return self.connection is None or bool(self.connection.handle)

    def _send(self, wire: list, raw: bool) -> list:
        """Argument tuples on the pipeline's own connection (after WATCH) or
        the client's shared one; their replies, errors in place.

        raw: read the replies undecoded (a NEVER_DECODE command in a decoding
        client's batch; _convert decodes the others).
        """
        return self._deliver(wire, raw, False)  # type: ignore[no-any-return]

    def _send_batch(self, raw: bool, multi: bool) -> tuple[list, int]:
        """_send for the batch (inside MULTI ... EXEC when multi): its replies
        and how many are errors."""
        return self._deliver(self._batch, raw, multi)  # type: ignore[no-any-return]

    def _deliver(self, wire: Any, raw: bool, multi: bool) -> Any:
        conn = self.connection
        client = self._client
        staged = not isinstance(wire, list)
        try:
            if conn is not None:
                if staged:
                    replies = client._native.execute_batch(conn.handle, None if raw else client._encoding, wire, multi)
                else:
                    replies = conn.execute_many_raw(wire) if raw else conn.execute_many(wire)
            else:
                def primitive() -> tuple[Any, tuple]:
                    # Looked up at each try: fresh credentials reopen the client.
                    if staged:
                        return (client._exec_batch_raw if raw else client._exec_batch), (wire, multi)
                    return (client._exec_many_raw if raw else client._exec_many), (wire,)

                run, args = primitive()
                try:
                    replies = run(*args)
                except AuthenticationError:
                    # A reconnect's AUTH refused: nothing of the batch ran.
                    if not client._fresh_credentials(getattr(run, "args", (0,))[0]):
                        raise
                    run, args = primitive()
                    replies = run(*args)
            if client._protocol_pending:
                client._settle_protocol(conn.handle if conn is not None else 0)
            return replies
        except (ConnectionError, TimeoutError) as e:
            if conn is not None:
                conn.broken = True
            if self.watching:
                raise WatchError(f"A {type(e).__name__} occurred while watching one or more keys") from e
            raise

    def _needs_raw(self, stack: Any) -> bool:
        if self._client._encoding is None or not self._general:
            return False
        return any(NEVER_DECODE in options for _, options in stack)

    def _run_pipeline(self, raise_on_error: bool) -> list:
        stack = self.command_stack if self._general else None
        raw = self._needs_raw(self._general_at.values())
        if self._batch is not None:
            replies, errors = self._send_batch(raw, False)
        else:
            replies = self._send(self._wire, raw)
            errors = 1  # not counted: raise_first_error looks
        self._convert(stack, replies, raw)  # before raising: EMPTY_RESPONSE replaces an error
        if raise_on_error and errors:
            # Only an error makes it read the commands: a hot batch's are built then.
            self.raise_first_error(stack if stack is not None else _LazyStack(self), replies)
        return replies

    def _run_transaction(self, raise_on_error: bool) -> list:
        if self._batch is not None and any(EMPTY_RESPONSE in options for _, options in self._general_at.values()):
            self._unbatch()  # not sent in a transaction (_transaction_wire): the batch holds it
        if self._batch is not None:
            raw = self._needs_raw(self._general_at.values())
            replies, errors = self._send_batch(raw, True)
            if errors or self._general:
                stack: Any = self.command_stack
                exec_reply = self._unpack_exec(stack, len(stack), replies)
            else:  # no queueing error, nothing in place of a reply: EXEC's is the list
                stack = _LazyStack(self)
                exec_reply = self._unpack_exec(None, len(self), replies)
            if raise_on_error:
                self.raise_first_error(stack, exec_reply)
            self._convert(stack, exec_reply, raw)
            return exec_reply
        stack = self.command_stack
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

    def _unpack_exec(self, stack: Optional[list], sent: int, replies: list) -> list:
        """EXEC's replies, one per queued command, from [MULTI, QUEUED..., EXEC]'s.

        Raises as redis-py does: the first queueing error when EXEC was
        aborted, WatchError when a watched key changed. An EMPTY_RESPONSE
        command's value and each queueing error take their command's place.
        stack None: a batch whose replies hold no error and whose commands
        were all sent, so there is nothing to put in place.
        """
        errors: list = []
        if stack is not None:
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
        queued_count = sent if stack is None else len(stack)
        if len(exec_reply) != queued_count:
            # Only a server out of step with its client answers EXEC so.
            raise ProtocolError(f"EXEC answered {len(exec_reply)} replies instead of {queued_count}")
        return exec_reply

    def _convert(self, stack: Optional[list], replies: list, raw: bool) -> None:
        """Each reply through its command's callback, in place; errors stay as they are."""
        callbacks = self.response_callbacks
        if not self._general:
            # Hot commands only: the callbacks of the names queued, looked up once.
            batch = self._batch
            active = {}
            for name in (batch.names_used() if batch is not None else HOT_NAMES):
                cb = find_callback(callbacks, name)
                if cb is not None:
                    active[name] = cb
            if not active:
                return
            get = active.get
            names = batch.names() if batch is not None else [args[0] for args in self._wire]
            for i, name in enumerate(names):
                cb = get(name)
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
            if encoding is not None:
                if NEVER_DECODE in options:
                    r = never_decoded(args[0], r, encoding)
                else:
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
        self._batch = self._new_batch()
        self.scripts = set()
        conn, self.connection = self.connection, None
        if conn is not None:
            if self._watching and not conn.broken:
                try:
                    conn.execute("UNWATCH")
                except (ConnectionError, TimeoutError):
                    conn.broken = True
            if conn.broken:
                conn.close()
            else:
                self._client._return_dedicated(conn)
        self._watching = self._explicit = False
        self._restage()

    def __del__(self) -> None:
        try:
            self.reset()
        except Exception:
            pass


# The hot methods whose plain form the bridge stages itself (a StagedMethod:
# no Python frame per queued command; _hot.C_METHOD_FORMS); the others keep
# their Python methods.
_c_methods: list = []


def _install_c_methods(native: Any) -> None:
    """Pipeline's hot methods in C, installed with the first batch: the
    bridge is only loaded then (importing cpipe never starts Go). Each
    shows its Python method's signature and doc, and hands it every call
    that is not the plain form."""
    for attr, name, nmin, nmax in C_METHOD_FORMS:
        python_method = getattr(StagedHotCommands, attr)  # its own, or HotCommands'
        method = native.staged_method(name, nmin, nmax, python_method)
        _c_methods.append(install_c_method(Pipeline, attr, method, python_method))
