"""redis-py's reply conventions, shared by the sync and asyncio clients and pipelines.

redis-py's command methods pass options to `execute_command` that are not
sent: `keys=` (for its client-side cache), `NEVER_DECODE` (read this reply
as bytes even when the client decodes), `EMPTY_RESPONSE` (the value to
return instead of raising when the server answers with an error), and
callback options such as `withscores`. This module applies them exactly as
redis-py's `parse_response` does, and picks the callback table redis-py
would for the same protocol= and legacy_responses= settings.
"""
from __future__ import annotations

from typing import Any, Callable, Optional

from redis._parsers import helpers as _helpers
from redis.utils import str_if_bytes  # noqa: F401 - re-exported for pipelines

NEVER_DECODE = "NEVER_DECODE"
EMPTY_RESPONSE = "EMPTY_RESPONSE"
# Options that steer how a reply is read, never passed to a callback.
_READ_OPTIONS = ("keys", NEVER_DECODE, EMPTY_RESPONSE)

_dict_get = dict.get
# redis-py 8.2 reads INFO with NEVER_DECODE and decodes it itself (decode_info);
# before, a NEVER_DECODE INFO stayed bytes.
DECODES_RAW_INFO = hasattr(_helpers, "decode_info")


def reply_callbacks(protocol: Any = 2, legacy_responses: bool = True) -> dict[str, Callable[..., Any]]:
    """redis-py's response callbacks for a client made with protocol= and
    legacy_responses=, from the running redis-py.

    redis-py 8.1 builds the table with get_response_callbacks(protocol,
    legacy): protocol=None means RESP3 on the wire but RESP2-era ("legacy")
    shapes, protocol=3 RESP3 shapes (zrange withscores gives lists, ...).
    5.0 to 8.0 merge _RedisCallbacks with _RedisCallbacksRESP3 for
    protocol=3 and with _RedisCallbacksRESP2 otherwise.
    """
    try:
        from redis._parsers.response_callbacks import get_response_callbacks
    except ImportError:
        from redis._parsers import helpers

        extra = helpers._RedisCallbacksRESP3 if protocol in (3, "3") else helpers._RedisCallbacksRESP2
        return {**helpers._RedisCallbacks, **extra}
    return get_response_callbacks(user_protocol=protocol, legacy_responses=legacy_responses)


def resp2_callbacks() -> dict[str, Callable[..., Any]]:
    """redis-py's response callbacks for RESP2 replies (protocol=2)."""
    return reply_callbacks(2, True)


def use_resp2_callbacks(callbacks: Any, protocol: Any, legacy_responses: bool) -> None:
    """Switch a client's table, in place, to RESP2 replies: the server refused
    HELLO 3, so the replies meant for `protocol`'s callbacks arrive as RESP2.

    In place, so pipelines holding the table see it; entries the user set
    (set_response_callback) stay as they are. The shapes are then redis-py's
    with protocol=2 (for protocol=None with legacy shapes: the same ones).
    """
    meant = reply_callbacks(protocol, legacy_responses)
    now = reply_callbacks(2, legacy_responses)
    for name, cb in meant.items():
        if callbacks.get(name) is cb and now.get(name) is not cb:
            if name in now:
                callbacks[name] = now[name]
            else:
                del callbacks[name]
    for name, cb in now.items():
        if name not in meant and name not in callbacks:
            callbacks[name] = cb


def find_callback(callbacks: dict, name: Any) -> Optional[Callable[..., Any]]:
    """The callback for a command name as redis-py looks it up (case-insensitively).

    `callbacks` is a redis-py CaseInsensitiveDict, whose keys are stored
    upper-case: the common upper-case name costs one plain dict lookup.
    """
    cb = _dict_get(callbacks, name)
    if cb is None:
        if isinstance(name, bytes):
            name = name.decode("utf-8", "replace")
        if isinstance(name, str) and not name.isupper():
            cb = _dict_get(callbacks, name.upper())
    return cb


def callback_options(options: dict) -> dict:
    """The options a callback receives: all but the ones that steer reading."""
    if "keys" in options or NEVER_DECODE in options or EMPTY_RESPONSE in options:
        return {k: v for k, v in options.items() if k not in _READ_OPTIONS}
    return options


def wire_args(args: tuple) -> tuple:
    """A multi-word command name ('CONFIG GET') sent as separate words, as redis-py does."""
    if not args:
        return args  # the bridge refuses it, naming the problem
    name = args[0]
    if isinstance(name, str) and " " in name:
        return (*name.split(), *args[1:])
    return args


def never_decoded(name: Any, reply: Any, encoding: Any) -> Any:
    """A NEVER_DECODE reply of a decoding client (encoding not None), as
    redis-py's parse_response leaves it: read as bytes, except INFO's text,
    which redis-py 8.2 reads raw only so that bytes the encoding cannot
    decode (an error name in `INFO errorstats`) are replaced instead of
    failing the whole reply."""
    if name != "INFO" or encoding is None or not isinstance(reply, bytes) or not DECODES_RAW_INFO:
        return reply
    try:
        return decode_reply(reply, encoding)
    except UnicodeDecodeError:
        return reply.decode(encoding if isinstance(encoding, str) else encoding[0], "replace")


def decode_reply(value: Any, encoding: Any) -> Any:
    """A raw reply decoded as the engine decodes for decode_responses=True
    (encoding: a codec name, strict, or a (codec, errors) pair: a client's
    encoding_errors=).

    Used when a batch mixes NEVER_DECODE commands with others: the batch is
    read raw and the others are decoded here.
    """
    codec, errors = (encoding, "strict") if isinstance(encoding, str) else encoding
    return _decoded(value, codec, errors)


def _decoded(value: Any, codec: str, errors: str) -> Any:
    if isinstance(value, bytes):
        return value.decode(codec, errors)
    if isinstance(value, list):
        return [_decoded(v, codec, errors) for v in value]
    if isinstance(value, dict):  # a RESP3 map
        return {_decoded(k, codec, errors): _decoded(v, codec, errors) for k, v in value.items()}
    return value
