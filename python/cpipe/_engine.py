"""Lazy loading of the Go engine, and the fork rule.

Loading the shared library starts a Go runtime in this process. That is done
on first use, not at `import cpipe`, so importing cpipe (or running the pure
Python reference server) never starts Go. A Go runtime does not survive
fork() without exec: a child that called into it could hang forever, so in a
forked child every call raises ForkError instead.
"""
from __future__ import annotations

import os
import threading
from types import ModuleType

from . import errors

# The bits native.submit and native.submit_many return when they queued the
# request (bridge.c SUBMIT_*); a prepared request's first byte has BLOCKING.
QUEUED = 1
BLOCKING = 2  # a blocking command (BLPOP, ...): cancelling it closes its connection

_lock = threading.Lock()
_module: ModuleType | None = None


def native() -> ModuleType:
    """The configured `cpipe._native` module, loaded on first call."""
    mod = _module
    if mod is not None:
        return mod
    return _load()


def _load() -> ModuleType:
    global _module
    with _lock:
        if _module is None:
            try:
                from . import _native as mod  # starts the Go runtime
            except ImportError as exc:
                raise ImportError(
                    "cpipe's native engine is not built: install with `pip install .` "
                    "(it builds the Go library), or run `make build` in a checkout"
                ) from exc
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
            os.register_at_fork(after_in_child=mod.mark_forked)
            _module = mod
    return _module


def is_loaded() -> bool:
    return _module is not None
