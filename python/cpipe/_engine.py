"""Lazy loading of the Go engine, and the fork rule.

Loading the shared library starts a Go runtime in this process. That is done
on first use, not at `import cpipe`, so importing cpipe (or running the pure
Python reference server) never starts Go. A Go runtime does not survive
fork() without exec: a child that called into it could hang forever, so a
forked child never calls Go. Its clients (new ones, and those inherited from
the parent, moved over by an at-fork hook) run on redis-py's connection
instead (see _fallback), or raise ForkError when created with
fork_fallback=False.
"""
from __future__ import annotations

import os
import threading
import weakref
from typing import TYPE_CHECKING, Any, Callable, Iterable, Optional, Protocol, Sequence, Union

from . import errors

if TYPE_CHECKING:
    from ._config import EngineConfig
    from . import _native
    from ._native import Arg, Encoding


class NativeModule(Protocol):
    """What the rest of cpipe uses of `cpipe._native`, for the type checker.

    A module cannot be named as a type, so `native()` is declared to return
    this; the module's own types are in _native.pyi (what each function
    does is documented there), and mypy checks in _load that the module
    matches this protocol, so the two cannot drift apart.
    """

    CP_CLOSED: int
    QUEUED: int
    BLOCKING: int
    DEFAULT_MAX_BULK: int

    def configure(self, error_factory: Callable[[str], BaseException], connection_error: type[BaseException],
                  timeout_error: type[BaseException], authentication_error: type[BaseException],
                  protocol_error: type[BaseException], data_error: type[BaseException],
                  fork_error: type[BaseException], /) -> None: ...
    def mark_forked(self) -> None: ...
    def open(self, config: "EngineConfig", /) -> int: ...
    def close(self, handle: int, /) -> None: ...
    def protocol(self, handle: int, /) -> int: ...
    def execute(self, handle: int, encoding: "Encoding", max_bulk: int, /, *command: "Arg") -> Any: ...
    def execute_many(self, handle: int, encoding: "Encoding", max_bulk: int,
                     commands: Iterable[Sequence["Arg"]], /) -> list[Any]: ...
    def submit(self, handle: int, queue: int, tag: int, wait: bool, max_bulk: int, /,
               *command: "Arg") -> Union[int, bytes]: ...
    def submit_many(self, handle: int, queue: int, tag: int, wait: bool, max_bulk: int,
                    commands: Iterable[Sequence["Arg"]], /) -> Union[int, bytes]: ...
    def stage(self, buffer: bytearray, max_bulk: int, /, *command: "Arg") -> bool: ...
    @property
    def FutureCore(self) -> type: ...  # noqa: N802 - the native module's class
    @property
    def StageCore(self) -> type: ...  # noqa: N802 - the native module's class
    def configure_futures(self, cls: type, running: str, finished: str, condition: type,
                          wake: Callable[[Any], None], future: type, /) -> None: ...
    def resolve(self, fut: Any, value: Any, /) -> None: ...
    def resolve_batch(self, items: list[Any], replies: list[Any],
                      forgotten: Callable[[tuple, BaseException], None], /) -> None: ...
    def submit_staged(self, handle: int, queue: int, tag: int, wait: bool, buffer: bytearray, n: int, /
                      ) -> Union[int, bytes]: ...
    Batch: type["_native.Batch"]
    def execute_batch(self, handle: int, encoding: "Encoding", batch: "_native.Batch", multi: bool, /
                      ) -> tuple[list[Any], int]: ...
    def staged_method(self, name: str, nmin: int, nmax: int, fallback: Callable[..., Any], /) -> Any: ...
    def prepare(self, max_bulk: int, commands: Iterable[Sequence["Arg"]], batch: bool, /) -> bytes: ...
    def submit_prepared(self, handle: int, queue: int, tag: int, prepared: bytes, /) -> int: ...
    def poll(self, queue: int, encoding: Union["Encoding", list["Encoding"]], timeout: float, /
             ) -> list[tuple[int, Any]]: ...
    def outstanding(self, queue: int, /) -> int: ...
    def queue_open(self, notify_fd: int, /) -> int: ...
    def queue_close(self, queue: int, /) -> None: ...
    def cancel(self, handle: int, queue: int, tag: int, /) -> bool: ...
    def encode(self, *command: "Arg") -> bytes: ...
    def sentinel_configure(self, master_not_found: type[BaseException], slave_not_found: type[BaseException],
                           /) -> None: ...
    def sentinel_open(self, handles: tuple[int, ...], min_other_sentinels: int, force_master_ip: Optional[str],
                      /) -> int: ...
    def sentinel_target(self, sentinel: int, service_name: str, replica: bool, /) -> int: ...
    def sentinel_release(self, resolver: int, /) -> None: ...
    def sentinel_close(self, sentinel: int, /) -> None: ...
    def sentinel_discover(self, sentinel: int, service_name: str, replicas: bool, /) -> list[Any]: ...
    def cluster_configure(self, cluster_exception: type[BaseException], cross_slot_transaction: type[BaseException],
                          cluster_down: type[BaseException], /) -> None: ...
    def cluster_open(self, handle: int, seeds: str, refresh_every: float, replica_reads: int, /) -> int: ...
    def cluster_execute(self, cluster: int, encoding: "Encoding", max_bulk: int, node: Optional[str], slot: int, /,
                        *command: "Arg") -> Any: ...
    def cluster_execute_many(self, cluster: int, encoding: "Encoding", max_bulk: int, transaction: bool,
                             commands: Iterable[Sequence["Arg"]], /) -> list[Any]: ...
    def cluster_submit(self, cluster: int, queue: int, tag: int, max_bulk: int, mode: int, node: Optional[str],
                       slot: int, commands: Iterable[Sequence["Arg"]], /) -> int: ...
    def cluster_nodes(self, cluster: int, refresh: bool, /) -> list[Any]: ...
    def cluster_close(self, cluster: int, /) -> None: ...
    def bulk_open(self, handle: int, max_bulk: int, batch: int, batch_bytes: int, max_pending: int,
                  max_pending_bytes: int, max_errors: int, keep_replies: bool, blocking: bool,
                  lost: Callable[[str, str, int, int, int], BaseException], /) -> Any: ...
    def bulk_command(self, writer: Any, name: str, nmin: int, nmax: int, fallback: Callable[..., Any], /
                     ) -> Callable[..., Any]: ...


# The bits native.submit and native.submit_many return when they queued the
# request (bridge.c SUBMIT_*); a prepared request's first byte has BLOCKING.
QUEUED = 1
BLOCKING = 2  # a blocking command (BLPOP, ...): cancelling it closes its connection

_lock = threading.Lock()
_module: Optional[NativeModule] = None
_loaded_pid = 0  # the process whose Go runtime the loaded module runs on
# Every live client, so that a forked child can move them off the engine.
# Only the fork hook reads it: the parent pays one add per client made.
_clients: "weakref.WeakSet[Any]" = weakref.WeakSet()

FORK_MESSAGE = (
    "cpipe's Go engine cannot run in a child created by fork() after the parent started it: "
    "the Go runtime does not survive fork. Create clients after forking (gunicorn without "
    "--preload, multiprocessing start method 'spawn' or 'forkserver'), or leave "
    "fork_fallback=True (the default) to serve such a child through redis-py's connection."
)


def native() -> NativeModule:
    """The configured `cpipe._native` module, loaded on first call."""
    mod = _module
    if mod is not None:
        return mod
    return _load()


def _load() -> NativeModule:
    global _module, _loaded_pid
    with _lock:
        if _module is None:
            try:
                from . import _native as mod  # starts the Go runtime
            except ImportError as exc:
                raise ImportError(
                    "cpipe's native engine is not built: install with `pip install .` "
                    "(it builds the Go library), or run `make build` in a checkout"
                ) from exc
            from . import _fallback  # noqa: F401 - imported now, so the fork hook imports nothing

            mod.configure(
                errors.error_from_reply,
                errors.ConnectionError,
                errors.TimeoutError,
                errors.AuthenticationError,
                errors.ProtocolError,
                errors.DataError,
                errors.ForkError,
            )
            if (mod.QUEUED, mod.BLOCKING) != (QUEUED, BLOCKING):
                raise ImportError("cpipe._native does not match this cpipe: rebuild it (make inplace)")
            from . import futures

            futures.future_class(mod)  # the futures' class is built on the module's FutureCore
            os.register_at_fork(before=_before_fork, after_in_child=_after_fork_in_child)
            _loaded_pid = os.getpid()
            _module = mod
    return _module


def _before_fork() -> None:
    """In the parent, just before fork(): each client that asked for RESP3
    and has connected learns what its server speaks now, while Go may still
    be called, so a forked child's fallback (redis-py's connections) asks
    for the same protocol its callbacks expect."""
    for client in list(_clients):
        if getattr(client, "_protocol_pending", False):
            try:
                client._settle_protocol()
            except Exception:  # a fork must never fail for this
                pass


def _after_fork_in_child() -> None:
    from . import _fallback

    assert _module is not None
    _module.mark_forked()
    _fallback.after_fork_in_child(list(_clients))


def is_loaded() -> bool:
    return _module is not None


def forked_child() -> bool:
    """True in a process forked after this one's ancestor started the engine."""
    return _module is not None and os.getpid() != _loaded_pid


def track(client: Any) -> None:
    _clients.add(client)
