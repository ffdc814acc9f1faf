"""A cheap concurrent.futures.Future for commands handed to the engine.

A plain Future builds a Condition (an RLock and several bound methods) and
two lists up front: about ten objects the cyclic GC then walks again and
again while a few hundred thousand submissions are in flight. CommandFuture
keeps its state in C (cpipe._native.FutureCore, see cpipe/bridge_future.c):
the Condition and lists are made only when someone waits on it or adds a
callback, done()/result()/exception() of a finished future are C calls, and
a future holding a plain reply is not tracked by the GC. Future's own
methods (wait, as_completed, add_done_callback, result while pending) work
on it unchanged, through FutureCore's `_state`, `_condition`, ... descriptors.

It starts RUNNING: the command has already been sent, so, like a call an
executor has started, it cannot be cancelled (`cancel()` returns False).
That leaves the completion thread as the only writer of its state, which is
what makes the lock-free completion in `resolve` safe: a waiter creates
`_condition` before it checks the state, and resolve sets FINISHED before
it looks for a condition (both under the GIL).

The class needs the native module, which is loaded with the engine (never
at `import cpipe`): `future_class(native)` builds it once.
"""
from __future__ import annotations

import threading
from concurrent.futures import Future
from concurrent.futures._base import FINISHED, RUNNING  # noqa: PLC2701 - the states Future itself uses
from typing import Any, Callable, Optional

_class: Optional[type] = None
_native: Any = None


def future_class(native: Any) -> type:
    """CommandFuture, built on native.FutureCore (once per process)."""
    global _class, _native
    if _class is None:
        class CommandFuture(native.FutureCore, Future):  # type: ignore[misc, name-defined]
            """A Future for a command already sent (see cpipe.futures)."""

            # Over the one Python adds: handing out the dict (vars(), copy)
            # makes the future tracked by the GC, as setting an attribute does.
            __dict__ = native.FutureCore._instance_dict

        CommandFuture.__module__ = __name__
        CommandFuture.__qualname__ = "CommandFuture"
        native.configure_futures(CommandFuture, RUNNING, FINISHED, threading.Condition, _wake, Future)
        _native, _class = native, CommandFuture
    return _class


def new_future() -> Future:
    """A new CommandFuture (the native module is loaded: future_class ran)."""
    assert _class is not None, "cpipe.futures.future_class() was not called"
    fut: Future = _class()
    return fut


def _wake(fut: Future) -> None:
    """Someone waits on fut or added a callback: tell them it is done.
    Called by the native resolve once the state is FINISHED."""
    cond = fut._condition  # type: ignore[attr-defined]
    with cond:
        for waiter in fut._waiters:  # type: ignore[attr-defined]
            if fut._exception is not None:  # type: ignore[attr-defined]
                waiter.add_exception(fut)
            else:
                waiter.add_result(fut)
        cond.notify_all()
    fut._invoke_callbacks()  # type: ignore[attr-defined]


def resolve(fut: Future, value: Any) -> None:
    """Complete fut with a reply, or an exception instance."""
    _native.resolve(fut, value)


def resolve_batch(items: list, replies: list, forgotten: Callable[[tuple, BaseException], None]) -> None:
    """resolve() for a staged batch's items and their replies, in one C loop.
    An item that is a fire_and_forget record (a tuple) hands only an error
    to `forgotten`."""
    _native.resolve_batch(items, replies, forgotten)


def resolve_after_fork(fut: Future, value: Any) -> None:
    """Complete a future a forked child inherited. The threads that waited on
    it exist only in the parent, and one may have held its lock at the fork:
    forget both before completing it (its callbacks still run here)."""
    fut._condition = threading.Condition()  # type: ignore[attr-defined]
    fut._waiters = []  # type: ignore[attr-defined]
    resolve(fut, value)
