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


class ExecAbortError(ResponseError):
    """EXEC was refused because a queued command had an error."""


class NoScriptError(ResponseError):
    pass


class ReadOnlyError(ResponseError):
    pass


class OutOfMemoryError(ResponseError):
    pass


class NoPermissionError(ResponseError):
    pass


class BusyLoadingError(ConnectionError):
    pass


# Error-reply prefixes that redis-py maps to their own classes; for these the
# prefix is dropped from the message, as redis-py does.
_PREFIX_CLASSES = {
    "ERR": ResponseError,
    "EXECABORT": ExecAbortError,
    "NOSCRIPT": NoScriptError,
    "READONLY": ReadOnlyError,
    "OOM": OutOfMemoryError,
    "NOPERM": NoPermissionError,
    "LOADING": BusyLoadingError,
    "WRONGPASS": AuthenticationError,
    "NOAUTH": AuthenticationError,
}


# Whole "ERR ..." messages that redis-py maps to other classes (exact match).
_ERR_MESSAGES = {
    "max number of clients reached": ConnectionError,
    "invalid password": AuthenticationError,
    "Client sent AUTH, but no password is set": AuthenticationError,
    "AUTH <password> called without any password configured for the default user. "
    "Are you sure your configuration is correct?": AuthenticationError,
}


def error_from_reply(message: str) -> RedisError:
    """The exception for an error reply, named and worded as redis-py does."""
    code, _, rest = message.partition(" ")
    cls = _PREFIX_CLASSES.get(code)
    if cls is None:
        return ResponseError(message)
    if cls is ResponseError:
        cls = _ERR_MESSAGES.get(rest, ResponseError)
    return cls(rest)


class WatchError(RedisError):
    """A WATCHed key changed, so the transaction was not run."""
