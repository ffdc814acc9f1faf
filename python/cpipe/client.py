"""The synchronous client: redis-py's names and return values on the Go engine."""
from __future__ import annotations

import sys
from functools import partial
from typing import TYPE_CHECKING, Any, Callable, Optional
from urllib.parse import parse_qs, unquote, urlparse

from ._engine import native
from .commands import RESPONSE_CALLBACKS, CoreCommands
from .errors import DataError

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


def parse_url(url: str) -> dict[str, Any]:
    """Options from redis://[[user]:pass@]host[:port][/db][?opt=value] or unix://path?db=N."""
    u = urlparse(url)
    opts: dict[str, Any] = {}
    query = {k: v[-1] for k, v in parse_qs(u.query).items()}
    if u.scheme == "unix":
        opts["unix_socket_path"] = unquote(u.path)
    elif u.scheme == "redis":
        if u.hostname:
            opts["host"] = unquote(u.hostname)
        if u.port:
            opts["port"] = u.port
        path = u.path.lstrip("/")
        if path:
            try:
                opts["db"] = int(path)
            except ValueError:
                raise ValueError(f"invalid database number {path!r} in {url!r}") from None
    else:
        raise ValueError(f"unsupported URL scheme {u.scheme!r}: use redis:// or unix://")
    if u.username:
        opts["username"] = unquote(u.username)
    if u.password is not None:
        opts["password"] = unquote(u.password)
    for key, conv in (("db", int), ("socket_timeout", float), ("socket_connect_timeout", float),
                      ("client_name", str), ("decode_responses", lambda v: v.lower() in ("1", "true", "yes"))):
        if key in query:
            opts[key] = conv(query[key])
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

    The engine does not connect here; the first command does.
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
        proto_max_bulk_len: Optional[int] = None,
    ) -> None:
        if not isinstance(port, int) or not 0 < port < 65536:
            raise DataError(f"port must be an int in 1..65535, not {port!r}")
        if not isinstance(db, int) or db < 0:
            raise DataError(f"db must be a non-negative int, not {db!r}")
        self._native = native()
        # The longest argument sent: a longer one is refused before anything
        # is sent, as the server would refuse it (its proto-max-bulk-len).
        if proto_max_bulk_len is None:
            proto_max_bulk_len = self._native.DEFAULT_MAX_BULK
        elif (isinstance(proto_max_bulk_len, bool) or not isinstance(proto_max_bulk_len, int)
              or not 0 < proto_max_bulk_len <= sys.maxsize):
            raise DataError(f"proto_max_bulk_len must be a positive int, not {proto_max_bulk_len!r}")
        self._max_bulk = proto_max_bulk_len
        if autopipeline is None:
            autopipeline = self._autopipeline_default
        self.host, self.port, self.db = host, port, db
        self.decode_responses = decode_responses
        self.encoding = encoding
        self.autopipeline = autopipeline
        self._socket_timeout = float(socket_timeout or 0)
        self._encoding = encoding if decode_responses else None
        self._h = self._native.open(
            host, port, unix_socket_path,
            float(socket_connect_timeout or 0), self._socket_timeout,
            _init_commands(db, username, password, client_name),
            self._size, bool(autopipeline), int(max_queued),
        )
        self._setup()

    def _setup(self) -> None:
        """Per-kind state, once the engine handle exists."""

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
        h, self._h = getattr(self, "_h", 0), 0
        if h:
            self._native.close(h)

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
