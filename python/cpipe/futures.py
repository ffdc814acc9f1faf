"""A cheap concurrent.futures.Future for commands handed to the engine.

A plain Future builds a Condition (an RLock and several bound methods) and
two lists up front: about ten objects the cyclic GC then walks again and
again while a few hundred thousand submissions are in flight, which made
`phset` several times slower than the engine. CommandFuture creates those
only when someone waits on it or adds a callback.

It starts RUNNING: the command has already been sent, so, like a call an
executor has started, it cannot be cancelled (`cancel()` returns False).
That leaves the completion thread as the only writer of its state, which is
what makes the lock-free completion in `resolve` safe.
"""
from __future__ import annotations

import threading
from concurrent.futures import Future
from concurrent.futures._base import FINISHED, RUNNING  # noqa: PLC2701 - the states Future itself uses
from typing import Any, Callable


class _Lazy:
    """A per-instance attribute made on first access (atomically, under the GIL)."""

    def __init__(self, factory: Callable[[], Any]) -> None:
        self.factory = factory

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: Any, cls: type) -> Any:
        if obj is None:
            return self
        return obj.__dict__.setdefault(self.name, self.factory())


class CommandFuture(Future):
    _condition = _Lazy(threading.Condition)
    _waiters = _Lazy(list)
    _done_callbacks = _Lazy(list)

    def __init__(self) -> None:  # noqa: D107 - deliberately not calling Future.__init__
        self._state = RUNNING
        self._result = None
        self._exception = None
        # Make the instance dict now, while only this thread knows the
        # future. CPython 3.11 builds it lazily, on the first `__dict__`,
        # and a garbage collection inside that build can switch threads:
        # a second thread then builds another dict over the same attribute
        # storage, and when either dict dies the other points at freed
        # memory (the "Garbage-collecting" segfaults). Both the completion
        # thread (resolve) and a waiter (_Lazy) read `__dict__`. About 40 ns.
        self.__dict__


_WATCHED = ("_condition", "_waiters", "_done_callbacks")


def resolve(fut: CommandFuture, value: Any) -> None:
    """Complete fut with a reply, or an exception instance.

    The state is written first, then we look for anyone who may be waiting:
    a waiter creates `_condition` before it checks the state, so either it
    sees FINISHED, or we see its condition and notify under it.
    """
    if isinstance(value, BaseException):
        fut._exception = value
    else:
        fut._result = value
    fut._state = FINISHED
    d = fut.__dict__
    if "_condition" in d or "_waiters" in d or "_done_callbacks" in d:
        _wake(fut)


def _wake(fut: CommandFuture) -> None:
    """Someone waits on fut or added a callback: tell them it is done."""
    cond = fut._condition
    with cond:
        for waiter in fut._waiters:
            if fut._exception is not None:
                waiter.add_exception(fut)
            else:
                waiter.add_result(fut)
        cond.notify_all()
    fut._invoke_callbacks()


def resolve_batch(items: list, replies: list, forgotten: Callable[[tuple, BaseException], None]) -> None:
    """resolve() for a staged batch's items and their replies, in one loop
    (the completion thread's time is the callers' GIL). An item that is a
    fire_and_forget record (a tuple) hands only an error to `forgotten`."""
    for fut, value in zip(items, replies):
        if fut.__class__ is tuple:
            if isinstance(value, BaseException):
                forgotten(fut, value)
            continue
        if isinstance(value, BaseException):
            fut._exception = value
        else:
            fut._result = value
        fut._state = FINISHED
        d = fut.__dict__
        if "_condition" in d or "_waiters" in d or "_done_callbacks" in d:
            _wake(fut)


def resolve_after_fork(fut: CommandFuture, value: Any) -> None:
    """Complete a future a forked child inherited. The threads that waited on
    it exist only in the parent, and one may have held its lock at the fork:
    forget both before completing it."""
    fut.__dict__.pop("_condition", None)
    fut.__dict__.pop("_waiters", None)
    resolve(fut, value)
