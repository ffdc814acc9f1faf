"""Pipelines: queue command methods, send them in one round trip."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Optional

from .commands import CoreCommands
from .errors import ExecAbortError, ProtocolError, ResponseError, WatchError

if TYPE_CHECKING:
    from .client import Client


class Pipeline(CoreCommands):
    """The client's command methods, queued; `execute()` sends them all at once.

    The whole batch is one request to the engine, written contiguously on one
    connection, so with transaction=True the MULTI ... EXEC block is atomic
    even on a shared, auto-pipelined connection.
    """

    def __init__(self, client: "Client", transaction: bool = False) -> None:
        self._client = client
        self.transaction = transaction
        self._commands: list[tuple] = []
        self._callbacks: list[Optional[Callable[[Any], Any]]] = []
        self._has_callbacks = False

    def _run(self, callback: Optional[Callable[[Any], Any]], *args: Any) -> "Pipeline":
        self._commands.append(args)
        self._callbacks.append(callback)
        if callback is not None:
            self._has_callbacks = True
        return self

    def execute_command(self, *args: Any, **options: Any) -> "Pipeline":
        from .client import command_and_callback

        args, cb = command_and_callback(args)
        if cb is not None and options:
            return self._run(lambda r, cb=cb, o=options: cb(r, **o), *args)
        return self._run(cb, *args)

    def add_command(self, *args: Any) -> "Pipeline":
        return self._run(None, *args)

    def __len__(self) -> int:
        return len(self._commands)

    def __bool__(self) -> bool:
        return True

    def reset(self) -> None:
        self._commands, self._callbacks, self._has_callbacks = [], [], False

    def execute(self, raise_on_error: bool = True) -> list:
        """Send everything queued; one reply per command, in order.

        With raise_on_error, the first error reply is raised (after all
        replies were read, so the connection stays in step); otherwise error
        replies are returned in place as exception objects.
        """
        batch = self._take()
        if batch is None:
            return []
        return self._finish(batch, self._client._exec_many(batch[0]), raise_on_error)

    def _take(self) -> Optional[tuple]:
        """Empty the queue; returns (wire commands, commands, callbacks, has_callbacks)."""
        commands, callbacks, has_callbacks = self._commands, self._callbacks, self._has_callbacks
        self.reset()
        if not commands:
            return None
        wire = [("MULTI",), *commands, ("EXEC",)] if self.transaction else commands
        return wire, commands, callbacks, has_callbacks

    def _finish(self, batch: tuple, replies: list, raise_on_error: bool) -> list:
        """Replies as the command methods promise them: callbacks applied, errors raised or in place."""
        _, commands, callbacks, has_callbacks = batch
        if self.transaction:
            replies = self._unwrap_transaction(commands, replies)
        first_error = None
        if has_callbacks:
            for i, (reply, cb) in enumerate(zip(replies, callbacks)):
                if isinstance(reply, Exception):
                    if first_error is None:
                        first_error = i
                elif cb is not None:
                    replies[i] = cb(reply)
        else:
            for i, reply in enumerate(replies):
                if isinstance(reply, Exception):
                    first_error = i
                    break
        if raise_on_error and first_error is not None:
            self._raise(first_error, commands[first_error], replies[first_error])
        return replies

    def _unwrap_transaction(self, commands: list[tuple], replies: list) -> list:
        exec_reply = replies[-1]
        queued = replies[1:-1]
        if isinstance(exec_reply, ExecAbortError):
            # A command was refused while queueing: report that one.
            for i, r in enumerate(queued):
                if isinstance(r, Exception):
                    self._raise(i, commands[i], r)
            raise exec_reply
        if isinstance(exec_reply, Exception):
            raise exec_reply
        if exec_reply is None:
            raise WatchError("Watched variable changed.")
        if not isinstance(exec_reply, list) or len(exec_reply) != len(commands):
            # Only a server out of step with its client answers EXEC so.
            raise ProtocolError(f"EXEC answered {exec_reply!r:.80} instead of {len(commands)} replies")
        return exec_reply

    @staticmethod
    def _raise(index: int, command: tuple, error: Exception) -> None:
        name = command[0].decode("utf-8", "replace") if isinstance(command[0], bytes) else str(command[0])
        msg = f"Command # {index + 1} ({name}) of pipeline caused error: {error}"
        raise type(error)(msg) if isinstance(error, ResponseError) else error

    def __enter__(self) -> "Pipeline":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.reset()
