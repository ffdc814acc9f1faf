"""Exception hierarchy, named as in redis-py so `except` clauses carry over."""
from __future__ import annotations


class RedisError(Exception):
    """Base of every error cpipe raises."""


class ConnectionError(RedisError):  # noqa: A001 - same name as redis-py on purpose
    """The connection could not be made, or broke; the connection was closed."""


class TimeoutError(RedisError):  # noqa: A001
    """A read or write did not finish within socket_timeout; the connection was closed."""


class AuthenticationError(ConnectionError):
    """The server refused AUTH while connecting."""


class ResponseError(RedisError):
    """The server answered with an error reply; the connection stays usable."""


class DataError(RedisError):
    """A bad argument; raised before anything is sent."""


class ProtocolError(ConnectionError):
    """The server sent bytes that are not valid RESP; the connection was closed."""


class ForkError(RedisError):
    """The Go engine was used in a forked child, where it cannot run."""
