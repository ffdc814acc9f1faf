"""Checks for the numeric client options, shared by every client kind and URLs.

A bad option is refused when the client is made, naming the option and the
value, instead of surfacing later as a confusing failure of every command
(socket_timeout=inf used to time every command out at once; -1 meant
"forever"). The error is a DataError that is also a ValueError, so both
cpipe's and redis-py's habits (`except ValueError`) catch it.
"""
from __future__ import annotations

import math
from typing import Any, Optional

from .errors import DataError

# The engine keeps timeouts as Go durations (int64 nanoseconds).
MAX_TIMEOUT_SECONDS = (2**63 - 1) / 1e9
# A pool opens this many connection slots up front; Redis's default maxclients.
MAX_POOL_SIZE = 10_000
# Commands queued on one connection; the engine takes an int64.
MAX_QUEUED_LIMIT = 2**62


class InvalidOptionError(DataError, ValueError):
    """A client option has a value cpipe cannot use."""


def _is_int(value: Any) -> bool:
    # bool is an int to Python, never a count or a port here.
    return isinstance(value, int) and not isinstance(value, bool)


def timeout(name: str, value: Any) -> Optional[float]:
    """None (no timeout) or a positive, finite number of seconds."""
    if value is None:
        return None
    if not (_is_int(value) or isinstance(value, float)):
        raise InvalidOptionError(f"{name} must be None or a number of seconds, not {value!r}")
    if math.isnan(value) or math.isinf(value) or value <= 0 or value > MAX_TIMEOUT_SECONDS:
        # 0 is refused rather than guessed at: redis-py turns it into a
        # non-blocking socket, where every read that has to wait fails.
        raise InvalidOptionError(
            f"{name} must be None (no timeout) or a positive finite number of seconds "
            f"(at most {MAX_TIMEOUT_SECONDS:.0f}), not {value!r}")
    return float(value)


def integer(name: str, value: Any, low: int, high: Optional[int] = None) -> int:
    """An int (not a bool) in low..high."""
    if not _is_int(value) or value < low or (high is not None and value > high):
        bounds = f"in {low}..{high}" if high is not None else f">= {low}"
        raise InvalidOptionError(f"{name} must be an int {bounds}, not {value!r}")
    return value


def port(value: Any) -> int:
    return integer("port", value, 1, 65535)


def pool_size(value: Any) -> int:
    return integer("size", value, 1, MAX_POOL_SIZE)


def encoding(value: Any) -> str:
    import codecs

    if not isinstance(value, str):
        raise InvalidOptionError(f"encoding must be a codec name (str), not {value!r}")
    try:
        codecs.lookup(value)
    except LookupError:
        raise InvalidOptionError(f"encoding {value!r} is not a codec Python knows") from None
    return value


def check_client_options(port_: Any, db: Any, socket_timeout: Any, socket_connect_timeout: Any,
                         max_queued: Any, encoding_: Any) -> tuple:
    """Every numeric option of EngineClient, checked; returns them normalised."""
    return (
        port(port_),
        integer("db", db, 0),
        timeout("socket_timeout", socket_timeout),
        timeout("socket_connect_timeout", socket_connect_timeout),
        integer("max_queued", max_queued, 0, MAX_QUEUED_LIMIT),
        encoding(encoding_),
    )


def _url_bool(value: str) -> bool:
    word = value.strip().lower()
    if word in ("1", "true", "yes", "y", "on"):
        return True
    if word in ("0", "false", "no", "n", "off"):
        return False
    raise ValueError(value)


# cpipe's own URL query options, and redis-py's that its parser leaves as
# text (decode_responses); the others redis-py's parser has converted.
_CPIPE_URL_OPTIONS = {
    "decode_responses": _url_bool,
    "single_connection_client": _url_bool,
    "autopipeline": _url_bool,
    "fork_fallback": _url_bool,
    "max_queued": int,
    "proto_max_bulk_len": int,
}


def read_url_option(name: str, value: Any) -> Any:
    """A URL query option's value: cpipe's own options are converted from text here."""
    read = _CPIPE_URL_OPTIONS.get(name)
    if read is None or not isinstance(value, str):
        return value
    try:
        return read(value)
    except ValueError:
        raise InvalidOptionError(f"Invalid value for {name!r} in connection URL: {value!r}") from None
