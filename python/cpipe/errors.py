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


class ProtocolError(ConnectionError):
    """The server sent bytes that are not valid RESP; the connection was closed."""


class ForkError(RedisError):
    """The Go engine was used in a forked child, where it cannot run."""


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
