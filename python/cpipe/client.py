"""The synchronous client: a `redis.Redis` whose commands run on the Go engine.

`cpipe.Redis` is a subclass of `redis.Redis`: every command method, Lock,
Script, `transaction()` and the response callbacks are redis-py's own, and
only `execute_command` (and the few hot methods in _hot) differ: they hand
the command to the engine instead of to a redis-py connection.
"""
from __future__ import annotations

import dataclasses
import sys
import threading
from functools import partial
from typing import Any, Callable, Optional

import redis
from redis.client import CaseInsensitiveDict

from . import _engine
from ._config import EngineConfig
from ._connection_pool import EngineConnectionPool
from ._hot import C_METHOD_FORMS, HotCommands, install_c_method
from ._options import check_client_options, integer
from ._redis_options import (
    POOL_CONNECTION_OPTIONS,
    check_passive_options,
    check_protocol,
    credentials,
    options_from_pool,
    options_from_url,
    wire_protocol,
)
from ._tls import split_options as split_tls_options
from ._tls import tls_settings
from ._replies import (
    EMPTY_RESPONSE,
    NEVER_DECODE,
    callback_options,
    find_callback,
    never_decoded,
    reply_callbacks,
    use_resp2_callbacks,
    wire_args,
)
from .errors import AuthenticationError, ConnectionError, DataError, ForkError, ResponseError, TimeoutError

# Errors a configured redis-py Retry retries, as redis-py's default does.
_RETRYABLE = (ConnectionError, TimeoutError)


def _init_commands(db: int, username: Optional[str], password: Optional[str],
                   client_name: Optional[str]) -> list[tuple]:
    """Commands the engine replays after every (re)connect."""
    init: list[tuple] = []
    if password is not None:
        init.append(("AUTH", username, password) if username else ("AUTH", password))
    if db:
        init.append(("SELECT", db))
    if client_name:
        init.append(("CLIENT", "SETNAME", client_name))
    return init


def _make_retry(retry: Any, retry_on_timeout: bool, retry_on_error: Any) -> Any:
    """A redis-py Retry when the caller asked for retries, else None.

    cpipe does not retry by default (redis-py 6+ retries 3 times): a command
    whose reply was lost may have run, and running an INCR twice is worse
    than an error. The engine reconnects for the next command either way.
    """
    if retry is None and not retry_on_timeout and not retry_on_error:
        return None
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    if retry is None:
        retry = Retry(NoBackoff(), 1)
    errors = tuple(retry_on_error or ())
    if retry_on_timeout:
        errors += (TimeoutError,)
    if errors and hasattr(retry, "update_supported_errors"):
        retry.update_supported_errors(list(errors))
    return retry


class EngineClient:
    """What the sync and asyncio clients share: options, the engine handle, the pool facade.

    The constructor takes redis-py's options (see _redis_options for how
    each is treated) plus cpipe's own:
    autopipeline: coalesce concurrent callers' commands into shared writes
      (default: off for Redis, on for Pool and asyncio).
    max_queued: commands queued per connection before callers wait (0: the
      engine's default).
    fork_fallback: in a process forked after its parent started the engine,
      serve this client through redis-py's connection, with one
      ForkFallbackWarning (True, the default), or raise ForkError (False).
    proto_max_bulk_len: the longest argument sent; a longer one is refused
      before anything is sent, as the server would refuse it.
    The engine does not connect here; the first command does. Options are
    checked first (InvalidOptionError, a DataError and a ValueError, naming
    the option).
    """

    _size = 1
    _autopipeline_default = False
    # Idle dedicated (WATCH) connections, set up by each client kind.
    _spares: list
    _spares_lock: threading.Lock
    # The `connection_pool` facade's class (asyncio: a redis.asyncio.ConnectionPool).
    _connection_pool_class: Any = EngineConnectionPool

    def __init__(
        self,
        host: str = "localhost",
        port: int = 6379,
        db: int = 0,
        password: Optional[str] = None,
        socket_timeout: Optional[float] = None,
        socket_connect_timeout: Optional[float] = 5.0,
        *,
        username: Optional[str] = None,
        decode_responses: bool = False,
        encoding: str = "utf-8",
        client_name: Optional[str] = None,
        unix_socket_path: Optional[str] = None,
        connection_pool: Any = None,
        max_connections: Optional[int] = None,
        single_connection_client: bool = False,
        retry: Any = None,
        retry_on_timeout: bool = False,
        retry_on_error: Any = None,
        credential_provider: Any = None,
        protocol: Any = None,
        autopipeline: Optional[bool] = None,
        max_queued: int = 0,
        fork_fallback: bool = True,
        proto_max_bulk_len: Optional[int] = None,
        **redis_py_options: Any,
    ) -> None:
        # The instance dict, made now by this one thread: other threads add
        # attributes later (pubsub tracking, lazily made helpers), and two
        # threads making it at once corrupt memory on CPython 3.11: a
        # collection inside the lazy build may switch threads, the other
        # thread builds a second dict over the same attribute storage, and
        # freeing either leaves the other pointing at freed memory.
        self.__dict__
        if connection_pool is not None:
            # Built from the pool's options, as redis-py would connect with
            # them; the pool's own connections are never used for commands.
            pooled = options_from_pool(connection_pool)
            redis_py_options.update({k: v for k, v in pooled.items() if k not in POOL_CONNECTION_OPTIONS and k != "max_connections"})
            host = pooled.get("host", host)
            port = pooled.get("port", port)
            db = pooled.get("db", db)
            username = pooled.get("username", username)
            password = pooled.get("password", password)
            socket_timeout = pooled.get("socket_timeout", socket_timeout)
            socket_connect_timeout = pooled.get("socket_connect_timeout", socket_connect_timeout)
            decode_responses = pooled.get("decode_responses", decode_responses)
            encoding = pooled.get("encoding", encoding)
            client_name = pooled.get("client_name", client_name)
            unix_socket_path = pooled.get("unix_socket_path", unix_socket_path)
            retry = pooled.get("retry", retry)
            retry_on_timeout = pooled.get("retry_on_timeout", retry_on_timeout)
            retry_on_error = pooled.get("retry_on_error", retry_on_error)
            credential_provider = pooled.get("credential_provider", credential_provider)
            protocol = pooled.get("protocol", protocol)
            max_connections = pooled.get("max_connections", max_connections)
        # Checked before anything else, so a bad option never starts Go.
        owner = type(self).__name__
        ssl_on, ssl_given = split_tls_options(redis_py_options)
        check_passive_options(owner, redis_py_options)
        check_protocol(protocol)
        port, db, socket_timeout, socket_connect_timeout, max_queued, encoding = check_client_options(
            port, db, socket_timeout, socket_connect_timeout, max_queued, encoding)
        if proto_max_bulk_len is not None:
            proto_max_bulk_len = integer("proto_max_bulk_len", proto_max_bulk_len, 1, sys.maxsize)
        if max_connections is not None:
            integer("max_connections", max_connections, 1)
        tls, ssl_options = tls_settings(ssl_on, ssl_given, unix_socket_path)
        username, password = credentials(credential_provider, username, password)
        # Asked again when a reconnect's AUTH is refused (_fresh_credentials).
        self._credential_provider = credential_provider
        self._credentials_lock = threading.Lock()
        if autopipeline is None:
            autopipeline = self._autopipeline_default
        self.host, self.port, self.db = host, port, db
        self.decode_responses = bool(decode_responses)
        self.encoding = encoding
        self.autopipeline = autopipeline
        self._socket_timeout = socket_timeout or 0.0
        # What the bridge decodes replies with: None (bytes), the codec name
        # (strict), or (codec, errors) for redis-py's encoding_errors=.
        encoding_errors = redis_py_options.get("encoding_errors", "strict")
        self._encoding: Any = None
        if decode_responses:
            self._encoding = encoding if encoding_errors == "strict" else (encoding, encoding_errors)
        self._fork_fallback = bool(fork_fallback)
        # protocol= as given (what redis-py keeps in connection_kwargs and
        # picks its callbacks by); the engine asks for wire_protocol's.
        self._protocol = protocol
        self._legacy_responses = redis_py_options.get("legacy_responses", True)
        wire = wire_protocol(protocol)
        # Until the first connect says whether the server took HELLO 3.
        self._protocol_pending = wire == 3
        self._retry = _make_retry(retry, retry_on_timeout, retry_on_error)
        self._closed = False
        self._fallback: Any = None
        # What redis-py's connection needs (the pool facade, a forked child).
        self._connect_options = {
            "host": host, "port": port, "unix_socket_path": unix_socket_path, "db": db,
            "username": username, "password": password, "client_name": client_name,
            "socket_timeout": socket_timeout, "socket_connect_timeout": socket_connect_timeout,
            "decode_responses": bool(decode_responses), "encoding": encoding, "encoding_errors": encoding_errors,
            "protocol": protocol, "legacy_responses": self._legacy_responses,
            # TLS: redis-py's connections (a forked child's, the pool
            # facade's) get the same ssl_* options, as SSLConnection.
            "ssl": tls is not None, "ssl_options": ssl_options,
        }
        # What the engine is opened with, kept to reopen (asyncio: after the loop died).
        self._config = EngineConfig(
            host=host, port=port, unix_socket_path=unix_socket_path,
            connect_timeout=socket_connect_timeout or 0.0, socket_timeout=self._socket_timeout,
            init_commands=tuple(_init_commands(db, username, password, client_name)),
            size=self._size, autopipeline=bool(autopipeline), max_queued=max_queued,
            protocol=wire, tls=tls,
            resolver=getattr(self, "_sentinel_resolver", 0),  # set by cpipe.sentinel before __init__
        )
        # What redis-py's own methods and helpers read of a client.
        self.response_callbacks = CaseInsensitiveDict(
            reply_callbacks(protocol, self._legacy_responses))  # type: ignore[arg-type]  # typed dict[str, str]
        self.connection_pool = self._connection_pool_class(self, self._connect_options, self._size)
        if self._retry is not None:
            # In the facade's kwargs, as in a redis-py pool's: a client made
            # from it (client(), from_pool()) runs under the same Retry.
            self.connection_pool.set_retry(self._retry)
        self.auto_close_connection_pool = False
        self.connection = None
        self._single_connection_client = bool(single_connection_client)
        self.single_connection_lock = threading.RLock()
        self._event_dispatcher = redis_py_options.get("event_dispatcher")
        if self._event_dispatcher is None:
            try:
                from redis.event import EventDispatcher

                self._event_dispatcher = EventDispatcher()
            except ImportError:  # redis-py 5.0
                pass
        self._native = _engine.native()
        self._client_cache: Any = None
        if redis_py_options.get("cache_config") is not None and not _engine.forked_child():
            # Client-side caching (cpipe.cache): every shared handle opened
            # through self._native tracks the keys it reads.
            from .cache import ClientCache

            self._client_cache = ClientCache(redis_py_options["cache_config"], self._native)
            self._native = self._client_cache.tracked_native(self._native)
        self._max_bulk = proto_max_bulk_len or self._native.DEFAULT_MAX_BULK
        if _engine.forked_child():
            if not self._fork_fallback:
                raise ForkError(_engine.FORK_MESSAGE)
            self._h = 0
            self._use_fork_fallback()
        else:
            self._h = self._native.open(self._config)
            self._setup()
        _engine.track(self)

    def _setup(self) -> None:
        """Per-kind state, once the engine handle exists."""

    def _use_fork_fallback(self) -> None:
        """Per-kind state in a forked child: the primitives on redis-py's connection."""
        raise NotImplementedError

    def _adopt_after_fork(self) -> None:
        """In a forked child (at-fork hook): move this inherited client off the engine."""
        if not self._fork_fallback:
            return  # strict: every call raises ForkError
        self._use_fork_fallback()
        if self._closed:
            self._fallback.close()

    def _take_spare(self, fresh: bool) -> Any:
        """An idle dedicated (WATCH) connection, marked reused, or None (always None when fresh)."""
        with self._spares_lock:
            if self._spares and not fresh:
                conn = self._spares.pop()
                conn.reused = True
                return conn
        return None

    def _reconnect_engine(self) -> None:
        """connection_pool.disconnect(): close the engine's connections; the next command reconnects."""

    def _fresh_credentials(self, refused: Any) -> bool:
        """After an AUTH refused on a (re)connect of handle `refused`: ask the
        credential_provider again, as redis-py does on every connect. New
        credentials go into the commands every later connect replays, and
        the engine's connections are reopened with them. True when the
        refused command may run again: nothing of it reached the server
        (the connect failed first), and the handle is a new one, made by
        this call or by another thread's that was refused at the same time.
        """
        if self._credential_provider is None or self._fallback is not None:
            return False
        with self._credentials_lock:
            if refused != self._h:
                return True  # reopened since: try the new handle
            username, password = credentials(self._credential_provider, None, None)
            options = self._connect_options
            if (username, password) == (options["username"], options["password"]):
                return False  # refused with what the provider says now: the caller's error
            options["username"], options["password"] = username, password
            self._config = dataclasses.replace(self._config, init_commands=tuple(
                _init_commands(options["db"], username, password, options["client_name"])))
            self._reopen_for_credentials()
            return True

    def _reopen_for_credentials(self) -> None:
        """Reopen the engine handle with self._config (each client kind)."""
        self._reconnect_engine()

    def get_cache(self) -> Any:
        """The client-side cache (cpipe.cache.ClientCache) when made with cache_config=, else None."""
        return getattr(self, "_client_cache", None)

    def _settle_protocol(self, handle: int = 0) -> None:
        """After a command, while RESP3 was asked for and no connect has
        answered yet: learn what the engine speaks (of the client's handle,
        or of `handle`, a dedicated connection's). A server that refused
        HELLO 3 sends RESP2 from now on, so the callbacks become redis-py's
        RESP2 ones, and the client's later handles ask for RESP2 at once."""
        if self._fallback is not None:
            self._protocol_pending = False  # redis-py's connections speak what was asked
            return
        spoken = self._native.protocol(self._h) if self._h else 0
        if not spoken and handle:
            spoken = self._native.protocol(handle)
        if not spoken:
            return  # not connected yet (the command failed first)
        self._protocol_pending = False
        if spoken == 2:
            use_resp2_callbacks(self.response_callbacks, self._protocol, self._legacy_responses)
            self._config = dataclasses.replace(self._config, protocol=2)
            self._connect_options["protocol"] = 2  # a forked child's redis-py connections too

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> Any:
        """A client from redis://[[user]:pass@]host[:port][/db][?option=value] or unix://path.

        The URL is read by redis-py's own parser, so its query options
        (socket_timeout, health_check_interval, ...) mean what they mean to
        redis-py; cpipe's own (autopipeline, max_queued) are read too.
        Query options override kwargs, as in redis-py.
        """
        return cls(**options_from_url(url, **kwargs))

    @classmethod
    def from_pool(cls, connection_pool: Any) -> Any:
        """A client with a redis.ConnectionPool's options (redis-py's from_pool)."""
        return cls(connection_pool=connection_pool)

    def get_encoder(self) -> Any:
        return self.connection_pool.get_encoder()

    def get_connection_kwargs(self) -> dict:
        return self.connection_pool.connection_kwargs

    def set_response_callback(self, command: str, callback: Callable[..., Any]) -> None:
        """Set a custom response callback (redis-py's)."""
        self.response_callbacks[command] = callback

    # redis-py's get_retry/set_retry read and write the pool's connection
    # kwargs; cpipe's commands run under self._retry, so these use that.
    def get_retry(self) -> Any:
        """The redis-py Retry commands run under; None: no retries (cpipe's default)."""
        return self._retry

    def set_retry(self, retry: Any) -> None:
        """Run later commands under `retry`; the pool facade's connections (PubSub) take it too."""
        self._retry = retry
        self.connection_pool.set_retry(retry)

    def __repr__(self) -> str:
        return f"<{type(self).__module__}.{type(self).__name__} {self.host}:{self.port} db={self.db}>"


class Redis(HotCommands, EngineClient, redis.Redis):
    """A Redis client on one connection (a pool of one), and a `redis.Redis`.

    Thread-safe: callers from several threads share the connection; with
    autopipeline=True their commands are coalesced into shared writes,
    otherwise they take turns. WATCH pipelines and blocking commands get a
    connection of their own.
    """

    def _setup(self) -> None:
        if not _c_methods:
            _install_c_methods(self._native)
        # Bound C functions: a raw call costs no Python frame.
        self._exec = partial(self._native.execute, self._h, self._encoding, self._max_bulk)
        self._exec_raw = partial(self._native.execute, self._h, None, self._max_bulk)
        self._exec_many = partial(self._native.execute_many, self._h, self._encoding, self._max_bulk)
        self._exec_many_raw = partial(self._native.execute_many, self._h, None, self._max_bulk)
        # A pipeline's commands encoded as queued (cpipe.pipeline); None: the
        # pipeline keeps argument tuples and sends them with _exec_many.
        self._exec_batch: Optional[Callable[..., Any]] = partial(self._native.execute_batch, self._h, self._encoding)
        self._exec_batch_raw: Optional[Callable[..., Any]] = partial(self._native.execute_batch, self._h, None)
        self.call = self._exec
        if getattr(self, "_client_cache", None) is not None:
            self._client_cache.install(self)  # reads through the cache, writes drop what they change
            self._exec_batch = self._exec_batch_raw = None  # the cache sees each write a pipeline sends
        self._queue: list[tuple] = []  # gopipe-style add_command/execute
        if not hasattr(self, "_spares"):
            self._spares: list[Any] = []  # idle dedicated connections (see _dedicated)
            self._spares_lock = threading.Lock()

    def _use_fork_fallback(self) -> None:
        from ._fallback import SyncFallback

        fb = self._fallback = SyncFallback(self._connect_options, self._size)
        self._exec = fb.execute
        self._exec_raw = fb.execute_raw
        self._exec_many = fb.execute_many
        self._exec_many_raw = fb.execute_many_raw
        self._exec_batch = self._exec_batch_raw = None
        self.call = fb.execute
        if not hasattr(self, "_queue"):
            self._queue = []
        self._spares = []
        self._spares_lock = threading.Lock()

    def _reconnect_engine(self) -> None:
        if self._closed or not self._h or self._fallback is not None:
            return
        old = self._h
        self._h = self._native.open(self._config)
        self._setup()
        self._native.close(old)
        self._close_spares()

    # -- the primitives every command method uses --------------------------

    def call(self, *args: Any) -> Any:  # replaced per instance by the bound C function
        """Send any command and return its raw reply."""
        return self._exec(*args)

    def _cmd(self, *args: Any) -> Any:
        """The hot path: one upper-case command name, no options (see _hot).
        The plain forms of the hottest methods do this in C (_install_c_methods)."""
        exec_ = self._exec
        try:
            reply = exec_(*args)
        except _RETRYABLE as e:  # AuthenticationError is a ConnectionError
            return self._cmd_recover(exec_, args, e)
        return self._cmd_reply(args[0], reply)

    def _cmd_reply(self, name: Any, reply: Any) -> Any:
        """_cmd's reply once the command ran: the protocol settled, then its callback."""
        if self._protocol_pending:
            self._settle_protocol()
        cb = find_callback(self.response_callbacks, name)
        return reply if cb is None else cb(reply)

    def _cmd_recover(self, exec_: Any, args: tuple, exc: BaseException) -> Any:
        """_cmd after exec_(*args) raised exc: once more with fresh
        credentials, or by the retry policy, else exc raised as it was."""
        try:
            if isinstance(exc, AuthenticationError):
                if not self._fresh_credentials(getattr(exec_, "args", (0,))[0]):
                    raise exc
                reply = self._exec(*args)
            elif isinstance(exc, _RETRYABLE) and self._retry is not None:
                reply = self._with_retry(self._exec, args, exc)
            else:
                raise exc
        finally:
            # Raised, exc's traceback holds this frame: without this the
            # frame would hold exc, a cycle keeping the client (and its
            # connections) alive until the cyclic GC runs.
            exc = None  # type: ignore[assignment]
        return self._cmd_reply(args[0], reply)

    def execute_command(self, *args: Any, **options: Any) -> Any:
        """redis-py's generic entry point: the reply converted as redis-py converts it."""
        if not args:
            raise DataError("execute_command needs a command name")
        exec_ = self._exec_raw if NEVER_DECODE in options else self._exec
        wire = wire_args(args)
        try:
            reply = exec_(*wire)
        except ResponseError:
            if EMPTY_RESPONSE in options:
                return options[EMPTY_RESPONSE]
            raise
        except AuthenticationError:
            if not self._fresh_credentials(getattr(exec_, "args", (0,))[0]):
                raise
            reply = (self._exec_raw if NEVER_DECODE in options else self._exec)(*wire)
        except _RETRYABLE:
            if self._retry is None:
                raise
            reply = self._with_retry(exec_, wire)
        if self._protocol_pending:
            self._settle_protocol()
        if options and NEVER_DECODE in options:
            reply = never_decoded(args[0], reply, self._encoding)
        cb = find_callback(self.response_callbacks, args[0])
        if cb is None:
            return reply
        return cb(reply, **callback_options(options)) if options else cb(reply)

    def _with_retry(self, exec_: Callable[..., Any], args: tuple, failure: Optional[BaseException] = None) -> Any:
        """The command under the configured redis-py Retry, whose first try has just failed.

        The failure (that try's: the exception being handled unless given)
        is handed to the Retry as its first attempt's, so the command runs
        at most retries + 1 times in all, with its backoff.
        """
        first_failure = [failure if failure is not None else sys.exc_info()[1]]
        failure = None  # the list holds it: no cycle through this frame if it is raised again

        def attempt() -> Any:
            if first_failure:
                raise first_failure.pop()
            return exec_(*args)

        return self._retry.call_with_retry(attempt, lambda error: None)

    # -- pipelines ----------------------------------------------------------

    def pipeline(self, transaction: bool = True, shard_hint: Any = None) -> Any:
        """A pipeline, redis-py's: transaction=True wraps the batch in MULTI/EXEC."""
        from .pipeline import Pipeline

        return Pipeline(self, transaction, shard_hint)

    def bulk(self, batch: int = 1000, replies: bool = False, **options: Any) -> Any:
        """Streamed bulk writes on a connection of their own: `with r.bulk() as b: b.hset(...)`.

        Options: raise_on_error, max_pending, max_pending_bytes, batch_bytes,
        max_errors (see cpipe.bulk).
        """
        from .bulk import Bulk

        return Bulk(self, batch, replies, **options)

    def _dedicated(self, fresh: bool = False) -> Any:
        """A connection of its own (for WATCH): an idle spare (unless fresh) or a new one."""
        from .pipeline import DedicatedConnection

        conn = self._take_spare(fresh)
        if conn is not None:
            return conn
        if self._closed:
            if not self._reconnects_after_close:
                raise ConnectionError("the client is closed")
            self._reopen()  # closed like a redis.Redis: connect again
        if self._fallback is not None:
            from ._fallback import SyncFallback

            fb = SyncFallback(self._connect_options, 1)
            return DedicatedConnection(fb.execute, fb.execute_raw, fb.execute_many, fb.execute_many_raw, fb.close)
        native = self._native
        h = native.open(self._config.dedicated())  # its own connection, never silently replaced
        return DedicatedConnection(
            partial(native.execute, h, self._encoding, self._max_bulk),
            partial(native.execute, h, None, self._max_bulk),
            partial(native.execute_many, h, self._encoding, self._max_bulk),
            partial(native.execute_many, h, None, self._max_bulk),
            partial(native.close, h),
            h,
        )

    def _return_dedicated(self, conn: Any) -> None:
        """A dedicated connection back, with nothing WATCHed; kept for the next WATCH (a few)."""
        with self._spares_lock:
            if not self._closed and len(self._spares) < _MAX_SPARES:
                self._spares.append(conn)
                return
        conn.close()

    def _close_spares(self) -> None:
        with self._spares_lock:
            spares, self._spares = self._spares, []
        for conn in spares:
            conn.close()

    def add_command(self, *args: Any) -> None:
        """gopipe style: queue a raw command for `execute()`."""
        if not args:
            raise DataError("add_command needs a command name")
        self._queue.append(args)

    def execute(self, raise_on_error: bool = False) -> list:
        """gopipe style: send the queued commands in one round trip, raw replies in order.

        Error replies are returned in place as ResponseError objects unless
        raise_on_error is true.
        """
        queue, self._queue = self._queue, []
        replies = self._exec_many(queue)
        if raise_on_error:
            for reply in replies:
                if isinstance(reply, Exception):
                    raise reply
        return replies

    # -- pub/sub and MONITOR --------------------------------------------------

    def pubsub(self, **kwargs: Any) -> Any:
        """A PubSub (redis-py's) on an engine connection of its own (see cpipe.pubsub).

        Takes redis-py's options (ignore_subscribe_messages, ...) and the
        engine's: max_queued_messages, max_queued_bytes, reconnect_timeout,
        on_reconnect, batch.
        """
        from .pubsub import make_pubsub

        if self._closed and not self._reconnects_after_close:
            raise ConnectionError("the pool is closed")
        if self._event_dispatcher is not None and "event_dispatcher" not in kwargs:
            kwargs["event_dispatcher"] = self._event_dispatcher
        return make_pubsub(self, **kwargs)

    def monitor(self) -> Any:
        """A Monitor (redis-py's) on an engine connection of its own (see cpipe.monitor)."""
        from .monitor import make_monitor

        if self._closed and not self._reconnects_after_close:
            raise ConnectionError("the pool is closed")
        return make_monitor(self)

    # -- lifetime -----------------------------------------------------------

    # redis-py's close() is not an end: a redis.Redis closed (by a `with`
    # block, a framework's shutdown hook, redis-py's own test fixtures)
    # connects again for its next command. A Pool (cpipe's own API) stays closed.
    _reconnects_after_close = True

    def close(self) -> None:
        """Close the connections; the next command connects again, as with redis-py."""
        self._closed = True
        h, self._h = getattr(self, "_h", 0), 0
        if h:
            self._native.close(h)  # in a forked child: a no-op, the connections are the parent's
        if hasattr(self, "_spares"):
            self._close_spares()
        fb = getattr(self, "_fallback", None)
        if fb is not None:
            fb.close()
        pool = getattr(self, "connection_pool", None)
        if pool is not None:
            redis.ConnectionPool.disconnect(pool)  # redis-py's own (a forked child's PubSub) connections
        if getattr(self, "_pubsubs", None):
            from .pubsub import disconnect_pubsubs

            disconnect_pubsubs(self)  # as redis-py's pool.disconnect() closes a PubSub's connection
        if self._reconnects_after_close and hasattr(self, "_config"):
            self._connect_on_next_command()

    def _connect_on_next_command(self) -> None:
        """Point the primitives at a reopen: the first command after close() connects."""
        def reopening(name: str) -> Callable[..., Any]:
            def first_command(*args: Any) -> Any:
                self._reopen()
                return getattr(self, name)(*args)
            return first_command

        for name in ("_exec", "_exec_raw", "_exec_many", "_exec_many_raw", "call"):
            setattr(self, name, reopening(name))
        # None (the cache or the fork fallback): pipelines send argument tuples, and still will.
        for name in ("_exec_batch", "_exec_batch_raw"):
            if getattr(self, name, None) is not None:
                setattr(self, name, reopening(name))

    def _reopen(self) -> None:
        with _REOPEN_LOCK:
            if not self._closed:
                return  # another thread reopened it
            if _engine.forked_child():
                self._use_fork_fallback()
            else:
                self._h = self._native.open(self._config)
                self._setup()
            self._closed = False

    def __enter__(self) -> "Redis":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self._reconnects_after_close = False  # nothing will use it again
            self.close()
        except Exception:
            pass


# Idle WATCH connections a client keeps for the next WATCH.
_MAX_SPARES = 4
# Reopening after close() is rare: one lock for all clients is enough.
_REOPEN_LOCK = threading.Lock()

Client = Redis

# The plain forms of the hottest methods in C (bridge_hot.c), installed
# with the first client: the bridge is only loaded then (importing cpipe
# never starts Go). A class of cpipe's own that defines a method keeps it;
# a subclass with its own _cmd, or an instance with one (the client-side
# cache), gets the Python method (the descriptor checks at each call).
_c_methods: list = []


def _install_c_methods(native: Any) -> None:
    for attr, name, nmin, nmax in C_METHOD_FORMS:
        python_method = HotCommands.__dict__[attr]
        if getattr(Redis, attr) is not python_method:
            continue
        method = native.client_method(name, nmin, nmax, python_method, find_callback, Redis._cmd)
        _c_methods.append(install_c_method(Redis, attr, method, python_method))
