"""A test-only client: CoreCommands over a plain socket.

Used when the real `cpipe.Client` cannot be built yet (native module not
compiled), so that the command mixins are still checked against a real
server. It is a test tool, not a product: one blocking socket, a small RESP
encoder that follows redis-py's argument rules, and `hiredis.Reader` to parse.
"""
from __future__ import annotations

import socket
from typing import Any, Callable, Optional

import hiredis

from cpipe.commands import RESPONSE_CALLBACKS, CoreCommands
from cpipe.errors import ConnectionError, DataError, ResponseError


def encode_arg(value: Any) -> bytes:
    """One argument as bytes, with redis-py's rules (bool and other types refused)."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, bool):
        raise DataError("Invalid input of type: 'bool'. Convert to a bytes, string, int or float first.")
    if isinstance(value, (int, float)):
        return repr(value).encode()
    if isinstance(value, str):
        return value.encode("utf-8")
    raise DataError(f"Invalid input of type: '{type(value).__name__}'. "
                    "Convert to a bytes, string, int or float first.")


def pack_command(args: tuple | list) -> bytes:
    """`*N\\r\\n` then `$len\\r\\narg\\r\\n` for each argument."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = encode_arg(arg)
        parts.append(b"$%d\r\n" % len(data))
        parts.append(data)
        parts.append(b"\r\n")
    return b"".join(parts)


def _error(err: ResponseError) -> ResponseError:
    # redis-py drops the generic "ERR " prefix and keeps specific codes
    # such as "WRONGTYPE"; do the same so messages compare equal.
    msg = str(err)
    if msg.startswith("ERR "):
        return ResponseError(msg[4:])
    return err


class RawClient(CoreCommands):
    """CoreCommands with `_run` over one socket."""

    kind = "RawClient (tests/commands/rawclient.py: socket + hiredis.Reader)"

    def __init__(self, host: str = "127.0.0.1", port: int = 6379, decode_responses: bool = False) -> None:
        self.decode_responses = decode_responses
        self._sock = socket.create_connection((host, port))
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._reader = self._new_reader()

    def _new_reader(self) -> hiredis.Reader:
        if self.decode_responses:
            return hiredis.Reader(replyError=ResponseError, encoding="utf-8", errors="strict")
        return hiredis.Reader(replyError=ResponseError)

    def close(self) -> None:
        self._sock.close()

    def _send(self, data: bytes) -> None:
        self._sock.sendall(data)

    def _read(self) -> Any:
        while True:
            reply = self._reader.gets()
            if reply is not False:
                return reply
            chunk = self._sock.recv(65536)
            if not chunk:
                raise ConnectionError("server closed the connection")
            self._reader.feed(chunk)

    def _call(self, args: tuple | list) -> Any:
        self._send(pack_command(args))
        reply = self._read()
        if isinstance(reply, ResponseError):
            raise _error(reply)
        return reply

    # -- the contract ------------------------------------------------------
    def _run(self, callback: Optional[Callable[[Any], Any]], *args: Any) -> Any:
        reply = self._call(args)
        if callback is None:
            return reply
        return callback(reply)

    # -- what a client built on the contract would add ---------------------
    def execute_command(self, *args: Any, **options: Any) -> Any:
        """redis-py style: multi-word names are split on the wire, and the
        callback is looked up by the name as given."""
        name = str(args[0])
        wire = [*name.split(), *args[1:]]
        reply = self._call(wire)
        callback = RESPONSE_CALLBACKS.get(name.upper())
        options.pop("keys", None)
        if callback is None:
            return reply
        return callback(reply, **options)

    def pipeline(self) -> "RawPipeline":
        return RawPipeline(self)


class RawPipeline(CoreCommands):
    """Queues (args, callback) and sends them in one write on execute()."""

    def __init__(self, client: RawClient) -> None:
        self._client = client
        self._queue: list[tuple[tuple, Optional[Callable[[Any], Any]]]] = []

    def _run(self, callback: Optional[Callable[[Any], Any]], *args: Any) -> "RawPipeline":
        self._queue.append((args, callback))
        return self

    def __len__(self) -> int:
        return len(self._queue)

    def execute(self) -> list[Any]:
        queue, self._queue = self._queue, []
        if not queue:
            return []
        self._client._send(b"".join(pack_command(args) for args, _ in queue))
        replies = [self._client._read() for _ in queue]
        results = []
        for reply, (_, callback) in zip(replies, queue):
            if isinstance(reply, ResponseError):
                raise _error(reply)
            results.append(reply if callback is None else callback(reply))
        return results

    def __enter__(self) -> "RawPipeline":
        return self

    def __exit__(self, *exc: Any) -> None:
        self._queue = []
