"""The synchronous client: redis-py's names and return values on the Go engine."""
from __future__ import annotations

import sys
from functools import partial
from typing import TYPE_CHECKING, Any, Callable, Optional
from urllib.parse import parse_qs, unquote, urlparse

from .commands import RESPONSE_CALLBACKS, CoreCommands
from . import _engine
from ._config import EngineConfig
from ._options import InvalidOptionError, check_client_options, integer
from .errors import DataError, ForkError

if TYPE_CHECKING:
    from .pipeline import Pipeline


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


def _url_bool(value: str) -> bool:
    word = value.strip().lower()
    if word in ("1", "true", "yes", "y", "on"):
        return True
    if word in ("0", "false", "no", "n", "off"):
        return False
    raise ValueError(value)


# The query options a URL may carry, and how each is read; the client's
# constructor then checks the values themselves (range, finiteness).
_URL_OPTIONS: dict[str, Callable[[str], Any]] = {
    "db": int,
    "socket_timeout": float,
    "socket_connect_timeout": float,
    "max_queued": int,
    "client_name": str,
    "encoding": str,
    "decode_responses": _url_bool,
    "autopipeline": _url_bool,
}


def parse_url(url: str) -> dict[str, Any]:
    """Options from redis://[[user]:pass@]host[:port][/db][?opt=value] or unix://path?db=N.

    Raises ValueError naming the part of the URL that is wrong.
    """
    u = urlparse(url)
    opts: dict[str, Any] = {}
    if u.scheme == "unix":
        opts["unix_socket_path"] = unquote(u.path)
    elif u.scheme == "redis":
        if u.hostname:
            opts["host"] = unquote(u.hostname)
        try:
            port = u.port
        except ValueError as exc:  # not a number, or outside 0..65535
            raise InvalidOptionError(f"invalid port in {url!r}: {exc}") from None
        if port is not None:
            opts["port"] = port  # 0 included: the constructor refuses it by name
        path = u.path.lstrip("/")
        if path:
            try:
                opts["db"] = int(path)
            except ValueError:
                raise InvalidOptionError(f"invalid database number {path!r} in {url!r}") from None
    else:
        raise ValueError(f"unsupported URL scheme {u.scheme!r}: use redis:// or unix://")
    if u.username:
        opts["username"] = unquote(u.username)
    if u.password is not None:
        opts["password"] = unquote(u.password)
    for name, values in parse_qs(u.query).items():
        read = _URL_OPTIONS.get(name)
        if read is None:
            raise InvalidOptionError(
                f"unsupported option {name!r} in connection URL (cpipe reads {', '.join(_URL_OPTIONS)})")
        try:
            opts[name] = read(values[-1])
        except ValueError:
            raise InvalidOptionError(f"Invalid value for {name!r} in connection URL: {values[-1]!r}") from None
    return opts


def command_and_callback(args: tuple) -> tuple[tuple, Optional[Callable[..., Any]]]:
    """redis-py's execute_command conventions: the reply callback is looked
    up by the full name ('CONFIG GET'), and a multi-word name is sent as
    separate words."""
    name = args[0]
    if isinstance(name, bytes):
        name = name.decode("utf-8", "replace")
    name = str(name)
    callback = RESPONSE_CALLBACKS.get(name.upper())
    if " " in name:
        args = (*name.split(), *args[1:])
    return args, callback


class EngineClient(CoreCommands):
    """What the sync and asyncio clients share: options, the engine handle, URLs.

    The engine does not connect here; the first command does. Options are
    checked first (InvalidOptionError, a DataError and a ValueError, naming
    the option): timeouts are None or positive finite seconds, port an int in
    1..65535, db and max_queued (0: the engine's default) ints >= 0.
    fork_fallback: in a process forked after its parent started the engine,
    serve this client through redis-py's connection, with one
    ForkFallbackWarning (True, the default), or raise ForkError (False).
    """

    _size = 1
    _autopipeline_default = False

    def __init__(
        self,
        host: str = "localhost",
        port: int = 6379,
        db: int = 0,
        username: Optional[str] = None,
        password: Optional[str] = None,
        socket_timeout: Optional[float] = None,
        socket_connect_timeout: Optional[float] = 5.0,
        decode_responses: bool = False,
        encoding: str = "utf-8",
        client_name: Optional[str] = None,
        unix_socket_path: Optional[str] = None,
        autopipeline: Optional[bool] = None,
        max_queued: int = 0,
        fork_fallback: bool = True,
        proto_max_bulk_len: Optional[int] = None,
    ) -> None:
        # Checked before anything else, so a bad option never starts Go.
        port, db, socket_timeout, socket_connect_timeout, max_queued, encoding = check_client_options(
            port, db, socket_timeout, socket_connect_timeout, max_queued, encoding)
        # The longest argument sent: a longer one is refused before anything
        # is sent, as the server would refuse it (its proto-max-bulk-len).
        if proto_max_bulk_len is not None:
            proto_max_bulk_len = integer("proto_max_bulk_len", proto_max_bulk_len, 1, sys.maxsize)
        if autopipeline is None:
            autopipeline = self._autopipeline_default
        self.host, self.port, self.db = host, port, db
        self.decode_responses = decode_responses
        self.encoding = encoding
        self.autopipeline = autopipeline
        self._socket_timeout = socket_timeout or 0.0
        self._encoding = encoding if decode_responses else None
        self._fork_fallback = bool(fork_fallback)
        self._closed = False
        self._fallback: Any = None
        # What redis-py's connection needs in a forked child (see _fallback).
        self._connect_options = {
            "host": host, "port": port, "unix_socket_path": unix_socket_path, "db": db,
            "username": username, "password": password, "client_name": client_name,
            "socket_timeout": socket_timeout, "socket_connect_timeout": socket_connect_timeout,
            "decode_responses": bool(decode_responses), "encoding": encoding,
        }
        # What the engine is opened with, kept to reopen (asyncio: after the loop died).
        self._config = EngineConfig(
            host=host, port=port, unix_socket_path=unix_socket_path,
            connect_timeout=socket_connect_timeout or 0.0, socket_timeout=self._socket_timeout,
            init_commands=tuple(_init_commands(db, username, password, client_name)),
            size=self._size, autopipeline=bool(autopipeline), max_queued=max_queued,
        )
        self._native = _engine.native()
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

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> Any:
        """A client from redis://[[user]:pass@]host[:port][/db]; kwargs override the URL."""
        return cls(**{**parse_url(url), **kwargs})

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.host}:{self.port} db={self.db}>"


class Client(EngineClient):
    """A Redis client on one connection (a pool of one).

    Thread-safe: callers from several threads share the connection; with
    autopipeline=True their commands are coalesced into shared writes,
    otherwise they take turns.
    """

    def _setup(self) -> None:
        # Bound C functions: a raw call costs no Python frame.
        self._exec = partial(self._native.execute, self._h, self._encoding, self._max_bulk)
        self._exec_many = partial(self._native.execute_many, self._h, self._encoding, self._max_bulk)
        self.call = self._exec
        self._queue: list[tuple] = []  # gopipe-style add_command/execute

    def _use_fork_fallback(self) -> None:
        from ._fallback import SyncFallback

        fb = self._fallback = SyncFallback(self._connect_options, self._size)
        self._exec = fb.execute
        self._exec_many = fb.execute_many
        self.call = fb.execute
        if not hasattr(self, "_queue"):
            self._queue = []

    # -- the primitives every command method uses --------------------------

    def call(self, *args: Any) -> Any:  # replaced per instance by the bound C function
        """Send any command and return its raw reply."""
        return self._exec(*args)

    def _run(self, callback: Optional[Callable[[Any], Any]], *args: Any) -> Any:
        if callback is None:
            return self._exec(*args)
        return callback(self._exec(*args))

    def execute_command(self, *args: Any, **options: Any) -> Any:
        """redis-py's generic entry point: the reply converted as redis-py converts it."""
        if not args:
            raise DataError("execute_command needs a command name")
        args, callback = command_and_callback(args)
        reply = self._exec(*args)
        return callback(reply, **options) if callback is not None else reply

    # -- pipelines ----------------------------------------------------------

    def pipeline(self, transaction: bool = False) -> "Pipeline":
        from .pipeline import Pipeline

        return Pipeline(self, transaction)

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

    # -- lifetime -----------------------------------------------------------

    def close(self) -> None:
        """Close the connections; later calls raise ConnectionError."""
        self._closed = True
        h, self._h = getattr(self, "_h", 0), 0
        if h:
            self._native.close(h)  # in a forked child: a no-op, the connections are the parent's
        fb = getattr(self, "_fallback", None)
        if fb is not None:
            fb.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass


Redis = Client
