"""cpipe's exceptions are redis-py's, so `except redis.exceptions.X` catches them.

Every class redis-py has is re-exported as it is (`cpipe.ResponseError is
redis.exceptions.ResponseError`). Only what redis-py lacks is cpipe's own,
each a subclass of the matching redis-py class.
"""
from __future__ import annotations

from typing import Callable

from redis.exceptions import (  # noqa: A004 - the same names as redis-py on purpose
    AskError,
    AuthenticationError,
    AuthenticationWrongNumberOfArgsError,
    BusyLoadingError,
    ClusterCrossSlotError,
    ClusterDownError,
    ConnectionError,
    DataError,
    ExecAbortError,
    MasterDownError,
    ModuleError,
    MovedError,
    NoPermissionError,
    NoScriptError,
    OutOfMemoryError,
    ReadOnlyError,
    RedisError,
    ResponseError,
    TimeoutError,
    TryAgainError,
    WatchError,
)

try:  # redis-py 8.2 and later: "ERR max number of clients reached" at connect
    from redis.exceptions import MaxClientsReachedError
except ImportError:  # older: redis-py's parser gives a plain ConnectionError
    MaxClientsReachedError = None  # type: ignore[assignment,misc]


class ProtocolError(ConnectionError):
    """The server sent bytes that are not valid RESP; the connection was closed."""


class ForkError(RedisError):
    """The Go engine was used in a forked child, where it cannot run."""


class UnreadReplyError(ResponseError):
    """Commands sent with Pool.fire_and_forget were refused by the server.

    Raised by flush(). `errors` holds (index, command, exception) for the
    first ones (index: the n-th fire_and_forget call of the pool, from 0;
    at most Pool.MAX_KEPT_ERRORS are kept), `count` how many failed in all.
    The message is the first error's, named as redis-py names a pipeline's.
    """

    def __init__(self, errors: list, count: int) -> None:
        index, command, error = errors[0]
        words = " ".join(str(a) for a in command[:4]) + (" ..." if len(command) > 4 else "")
        more = f" ({count - 1} more failed)" if count > 1 else ""
        super().__init__(f"Command # {index + 1} ({words}) of fire_and_forget caused error: {error}{more}")
        self.errors, self.count = errors, count


# What `cpipe` exports (see cpipe/__init__.py).
__all__ = [
    "AskError",
    "AuthenticationError",
    "AuthenticationWrongNumberOfArgsError",
    "BusyLoadingError",
    "ClusterCrossSlotError",
    "ClusterDownError",
    "ConnectionError",
    "DataError",
    "ExecAbortError",
    "ForkError",
    "UnreadReplyError",
    "MasterDownError",
    "ModuleError",
    "MovedError",
    "NoPermissionError",
    "NoScriptError",
    "OutOfMemoryError",
    "ProtocolError",
    "ReadOnlyError",
    "RedisError",
    "ResponseError",
    "TimeoutError",
    "TryAgainError",
    "WatchError",
]
if MaxClientsReachedError is not None:
    __all__.append("MaxClientsReachedError")


def _redis_py_parse_error() -> Callable[[str], Exception]:
    """redis-py's own error-reply parser: message (str) -> exception instance.

    `BaseParser.parse_error` is a classmethod on `redis._parsers.base` in every
    redis-py from 5.0 (where the parsers moved there) to 8.x, with the table
    `EXCEPTION_CLASSES` of the running version: which codes it maps (8.x adds
    MOVED, ASK, ...) follows redis-py itself. If a release moves it, this is
    the one place to follow it.
    """
    from redis._parsers.base import BaseParser

    return BaseParser.parse_error


_parse_error = _redis_py_parse_error()


def error_from_reply(message: str) -> Exception:
    """The exception for an error reply, the class and message redis-py gives."""
    try:
        return _parse_error(message)
    except Exception:  # noqa: BLE001 - e.g. "MOVED" without a slot; still an error reply
        return ResponseError(message)
