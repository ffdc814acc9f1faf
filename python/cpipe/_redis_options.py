"""redis-py's constructor options, as cpipe takes them.

`cpipe.Redis(...)` accepts what `redis.Redis(...)` accepts. Each option is
either honoured by the engine, accepted because its effect is already how
the engine behaves, or refused with a clear error when it asks for something
the engine does not do yet: an option is never silently ignored when its
value would change behaviour. The table below is the one place that says
which is which, for every redis-py release from 5.0 (options a release
lacks simply never arrive).
"""
from __future__ import annotations

from typing import Any, Callable, Optional

import redis

from ._options import InvalidOptionError

# redis-py's placeholder default for some options (lib_name, keepalive
# options, ...): "not given". Compared by identity when redis-py has it.
try:
    from redis.utils import SENTINEL as _REDIS_SENTINEL
except ImportError:  # redis-py 5.0
    _REDIS_SENTINEL = object()


def _refuse_unless(ok: Callable[[Any], bool], why: str) -> Callable[[str, Any], None]:
    def check(name: str, value: Any) -> None:
        if not ok(value):
            raise InvalidOptionError(f"{name}={value!r} is not supported by cpipe: {why}")
    return check


def _accept(name: str, value: Any) -> None:
    """Accepted: the engine already behaves as this option asks, or the option is metadata."""


def _error_handler(name: str, value: Any) -> None:
    """encoding_errors=: the name of a codec error handler ("strict", "replace", ...)."""
    import codecs

    if not isinstance(value, str):
        raise InvalidOptionError(f"{name} must be the name of a codec error handler (str), not {value!r}")
    try:
        codecs.lookup_error(value)
    except LookupError:
        raise InvalidOptionError(f"{name}={value!r} is not a codec error handler Python knows") from None


def _unset(value: Any) -> bool:
    return value is None or value is _REDIS_SENTINEL


def _check_cache_config(name: str, value: Any) -> None:
    if value is not None:
        try:
            from .cache import check_cache_config
        except ImportError as exc:  # redis-py before 5.1 has no redis.cache to build on
            raise InvalidOptionError(
                f"cache_config= needs a redis-py with redis.cache (5.1 or later); this is redis-py "
                f"{redis.__version__}") from exc
        check_cache_config(value)


_MAINT = "cpipe's engine does not handle maintenance notifications (push frames it drops)"

# Options handled by the constructor itself are not here (host, port, db,
# username, password, timeouts, encoding, decode_responses, client_name,
# unix_socket_path, connection_pool, retry*, max_connections,
# single_connection_client, credential_provider, protocol).
PASSIVE_OPTIONS: dict[str, Callable[[str, Any], None]] = {
    # The engine sizes its own read buffers.
    "socket_read_size": _accept,
    # The engine's TCP connections always use keepalive (Go's default period).
    "socket_keepalive": _accept,
    "socket_keepalive_options": _refuse_unless(
        lambda v: _unset(v) or not v, "the engine does not set per-socket keepalive options"),
    # Handled by the constructor too (the bridge decodes with it).
    "encoding_errors": _error_handler,
    # The engine peeks at a connection idle for more than 1 ms before it is
    # reused, which finds a dead one at least as soon as a PING would.
    "health_check_interval": _refuse_unless(
        lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0,
        "health_check_interval must be a number of seconds >= 0"),
    # Metadata redis-py sends with CLIENT SETINFO; cpipe does not send it.
    "lib_name": _accept,
    "lib_version": _accept,
    "driver_info": _accept,
    "event_dispatcher": _accept,
    "redis_connect_func": _refuse_unless(_unset, "the engine connects by itself; there is no connect hook"),
    # redis-py 8.1's: RESP2-era reply shapes (True, its default) or its
    # unified ones; the callback table follows it (_replies.reply_callbacks).
    "legacy_responses": _refuse_unless(
        lambda v: isinstance(v, bool), "legacy_responses must be True or False"),
    # Client-side caching is cpipe's own (cpipe.cache): cache_config= is read
    # by the constructor; a ready-made redis-py cache object cannot be used.
    "cache": _refuse_unless(_unset, "pass cache_config=CacheConfig(...) instead: cpipe's cache is its own "
                                    "(cpipe.cache.ClientCache), not a redis-py CacheInterface object"),
    "cache_config": _check_cache_config,
    # redis-py's default ("auto") enables them only where the server sends
    # them; cpipe never asks for them.
    "maint_notifications_config": _refuse_unless(
        lambda v: _unset(v) or getattr(v, "enabled", None) in ("auto", False), _MAINT),
    "oss_cluster_maint_notifications_handler": _refuse_unless(_unset, _MAINT),
    # ssl= and the ssl_* options are cpipe._tls's (taken out of the options
    # before these checks: cpipe._tls.split_options).
}


def check_passive_options(owner: str, options: dict[str, Any]) -> None:
    """Check every option not handled by name; an unknown one is a TypeError, as Python's."""
    for name, value in options.items():
        check = PASSIVE_OPTIONS.get(name)
        if name == "legacy_responses" and not redis_has_legacy_responses():
            check = None  # this redis-py (before 8.1) has no such option: refused as it refuses it
        if check is not None:
            check(name, value)
        else:
            raise TypeError(f"{owner}() got an unexpected keyword argument {name!r}")


def check_protocol(protocol: Any) -> None:
    """protocol= as redis-py takes it: None (redis-py's default), 2 or 3, or "2"/"3"."""
    if protocol is None or (protocol in (2, 3, "2", "3") and not isinstance(protocol, bool)):
        return
    raise InvalidOptionError(f"protocol must be 2, 3 or None (redis-py's default), not {protocol!r}")


def redis_has_legacy_responses() -> bool:
    """Whether the running redis-py takes legacy_responses= (8.1 on)."""
    try:
        from redis._parsers.response_callbacks import get_response_callbacks  # noqa: F401
    except ImportError:
        return False
    return True


def default_protocol() -> int:
    """The RESP version redis-py speaks when protocol=None: 3 from the
    releases whose callbacks follow the protocol (get_response_callbacks,
    redis-py 8.1) and set DEFAULT_RESP_VERSION to 3; 2 before."""
    try:
        from redis._parsers.response_callbacks import get_response_callbacks  # noqa: F401
        from redis.utils import DEFAULT_RESP_VERSION
    except ImportError:
        return 2
    return 3 if DEFAULT_RESP_VERSION in (3, "3") else 2


def wire_protocol(protocol: Any) -> int:
    """The RESP version the engine asks for, for a checked protocol= value."""
    if protocol is None:
        return default_protocol()
    return int(protocol)


def credentials(provider: Any, username: Optional[str], password: Optional[str]) -> tuple:
    """(username, password) from a redis-py CredentialProvider.

    The engine replays AUTH with these after every reconnect; when a
    reconnect's AUTH is refused the client asks the provider again
    (EngineClient._fresh_credentials), so rotated credentials are taken up.
    """
    if provider is None:
        return username, password
    creds = provider.get_credentials()
    if len(creds) == 1:
        return None, creds[0]
    return creds[0], creds[1]


# What a redis.ConnectionPool's connection_kwargs may hold, mapped to the
# names of cpipe's constructor. Anything else goes through the same checks
# as a constructor option.
_POOL_RENAMES = {"path": "unix_socket_path"}
POOL_CONNECTION_OPTIONS = frozenset((
    "host", "port", "db", "password", "socket_timeout", "socket_connect_timeout", "username",
    "decode_responses", "encoding", "client_name", "unix_socket_path",
    "retry", "retry_on_timeout", "retry_on_error", "credential_provider", "protocol",
))


def options_from_pool(pool: Any) -> dict[str, Any]:
    """Constructor options equal to a redis.ConnectionPool's (or BlockingConnectionPool's).

    The pool itself is not used for commands: cpipe's engine connects with
    the same host, port, db, credentials, timeouts and encoding.
    """
    kwargs = dict(getattr(pool, "connection_kwargs", None) or {})
    connection_class = getattr(pool, "connection_class", None)
    options: dict[str, Any] = {}
    if connection_class is not None:
        import redis.asyncio.connection as rac
        import redis.connection as rc

        ssl_classes = tuple(c for c in (getattr(rc, "SSLConnection", None), getattr(rac, "SSLConnection", None)) if c)
        if issubclass(connection_class, ssl_classes):
            options["ssl"] = True  # redis-py's pool speaks TLS through its connection class
    for name, value in kwargs.items():
        name = _POOL_RENAMES.get(name, name)
        # redis-py keeps bookkeeping of its own there too (maintenance
        # notification handlers, registries, ...): only connection options
        # are read, the ones the constructor knows.
        if name in POOL_CONNECTION_OPTIONS or name in PASSIVE_OPTIONS or name.startswith("ssl"):
            options[name] = value
    max_connections = getattr(pool, "max_connections", None)
    if isinstance(max_connections, int) and max_connections < 2**31:
        options.setdefault("max_connections", max_connections)
    return options


def options_from_url(url: str, **kwargs: Any) -> dict[str, Any]:
    """Constructor options from a URL, read by redis-py's own parser.

    redis-py's query options (socket_timeout, health_check_interval, ...)
    are converted as redis-py converts them; cpipe's own (autopipeline,
    max_queued) as cpipe reads them. kwargs are overridden by the URL's
    query options, as redis-py does.
    """
    from urllib.parse import parse_qs, unquote, urlparse

    from redis.connection import parse_url

    from ._options import read_url_option

    parts = urlparse(url)
    shown = _redacted(url, parts)
    try:
        port = parts.port
    except ValueError as exc:
        raise InvalidOptionError(f"invalid port in connection URL {shown}: {exc}") from None
    if port == 0:  # redis-py would silently use 6379
        raise InvalidOptionError(f"port must be an int in 1..65535, not 0, in connection URL {shown}")
    if parts.scheme == "redis":
        # redis-py silently ignores a database number that is not a number;
        # cpipe refuses it rather than connect to db 0 by surprise.
        path = unquote(parts.path).strip("/")
        if path and not path.isdigit():
            raise InvalidOptionError(f"invalid db (database number) {path!r} in connection URL {shown}")
    for name in parse_qs(parts.query):
        if name not in URL_OPTIONS and not name.startswith("ssl"):
            raise InvalidOptionError(
                f"unknown option {name!r} in connection URL {shown} (not an option of redis-py's or cpipe's)")
    try:
        parsed = parse_url(url)
    except ValueError as exc:
        # redis-py's message names the option but not the value: add the URL.
        what = "invalid port: " if "port" in str(exc).lower() else ""
        raise InvalidOptionError(f"{what}{exc} ({shown})") from None
    parsed.pop("connection_class", None)
    options = dict(kwargs)
    if parts.scheme == "rediss":
        options["ssl"] = True  # redis-py's parser says so with connection_class=SSLConnection
    for name, value in parsed.items():
        options[_POOL_RENAMES.get(name, name)] = read_url_option(name, value)
    return options


# What a URL's query may set: the connection options, redis-py's others and cpipe's own.
URL_OPTIONS = POOL_CONNECTION_OPTIONS | frozenset(PASSIVE_OPTIONS) | frozenset((
    "path", "max_connections", "single_connection_client", "autopipeline", "max_queued",
    "fork_fallback", "proto_max_bulk_len", "size",
))


def _redacted(url: str, parts: Any) -> str:
    """The URL as an error message may show it: without its password."""
    if parts.password:
        return repr(url.replace(f":{parts.password}@", ":***@", 1))
    return repr(url)
