"""RESP2 reply encoding and the error type command handlers raise.

Handlers return the encoded reply (bytes) rather than Python values: the
hot path then only joins and writes, and MULTI/EXEC can concatenate the
queued replies as they are.

Wire grammar (RESP2 replies):
    +<simple string>\\r\\n      -<error>\\r\\n      :<integer>\\r\\n
    $<len>\\r\\n<bytes>\\r\\n    $-1\\r\\n (null bulk)
    *<count>\\r\\n<count replies>   *-1\\r\\n (null array)
"""
from __future__ import annotations

OK = b"+OK\r\n"
PONG = b"+PONG\r\n"
QUEUED = b"+QUEUED\r\n"
NULL = b"$-1\r\n"
NULL_ARRAY = b"*-1\r\n"
EMPTY_ARRAY = b"*0\r\n"
ZERO = b":0\r\n"
ONE = b":1\r\n"
MINUS_ONE = b":-1\r\n"
MINUS_TWO = b":-2\r\n"

# Small integers are common replies (counts, 0/1 flags): encode them once.
_INTS = [b":%d\r\n" % i for i in range(1024)]


class CommandError(Exception):
    """Raised by a handler; the message (bytes, without '-') is the reply."""

    __slots__ = ("msg",)

    def __init__(self, msg: bytes):
        self.msg = msg


# Error messages, verbatim from Redis 7.0.
WRONGTYPE = b"WRONGTYPE Operation against a key holding the wrong kind of value"
SYNTAX = b"ERR syntax error"
NOT_INTEGER = b"ERR value is not an integer or out of range"
NOT_FLOAT = b"ERR value is not a valid float"
NO_SUCH_KEY = b"ERR no such key"
OVERFLOW = b"ERR increment or decrement would overflow"
OUT_OF_RANGE_INDEX = b"ERR index out of range"
NAN_OR_INF = b"ERR increment would produce NaN or Infinity"
MUST_BE_POSITIVE = b"ERR value is out of range, must be positive"
NOAUTH = b"NOAUTH Authentication required."


def wrongtype() -> CommandError:
    return CommandError(WRONGTYPE)


def integer(n: int) -> bytes:
    if 0 <= n < 1024:
        return _INTS[n]
    return b":%d\r\n" % n


def bulk(b: bytes) -> bytes:
    return b"$%d\r\n%s\r\n" % (len(b), b)


def bulk_or_null(b: bytes | None) -> bytes:
    if b is None:
        return NULL
    return b"$%d\r\n%s\r\n" % (len(b), b)


def array(items) -> bytes:
    """Array of bulk strings; None items become null bulks."""
    parts = [b"*%d\r\n" % len(items)]
    append = parts.append
    for b in items:
        if b is None:
            append(NULL)
        else:
            append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(parts)


def array_of_replies(replies) -> bytes:
    """Array whose elements are already-encoded replies."""
    return b"*%d\r\n" % len(replies) + b"".join(replies)


def simple(s: bytes) -> bytes:
    return b"+" + s + b"\r\n"


def error(msg: bytes) -> bytes:
    """Error reply; newlines inside become spaces, as Redis 7 does."""
    if b"\r" in msg or b"\n" in msg:
        msg = msg.replace(b"\r\n", b"  ").replace(b"\r", b" ").replace(b"\n", b" ")
    return b"-" + msg + b"\r\n"
