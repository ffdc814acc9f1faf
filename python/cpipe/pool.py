"""A pool of connections shared by any number of threads, with futures."""
from __future__ import annotations

import itertools
import os
import threading
import weakref
from concurrent.futures import Future
from functools import partial
from typing import Any, Optional

from . import _engine
from ._options import pool_size
from .client import Client
from .errors import ConnectionError, ForkError, UnreadReplyError
from ._staging import Stager
from .futures import future_class, resolve

# How long the completion thread waits in the engine per poll; it only
# bounds how quickly the thread notices close().
_POLL_SECONDS = 0.2


def _deliver_completions(poll: Any, q: int, enc: Any, futures: dict, done: threading.Condition,
                         stop: threading.Event, unread: "_UnreadErrors", stager: Stager) -> None:
    """Deliver completions to futures, in batches, until the pool closes.

    Futures still registered when the pool closes are failed by close(),
    not here: close() is the one step every submission is ordered against.
    A fire_and_forget command is registered as its (index, args) tuple
    instead of a future: only its error is kept. A staged batch (_staging)
    is registered as the list of its items.
    """
    pop = futures.pop
    while not stop.is_set():
        batch = poll(q, enc, _POLL_SECONDS)
        for tag, value in batch:
            fut = pop(tag, None)
            if fut is None:
                continue
            cls = fut.__class__
            if cls is list:
                stager.batch_done(fut, value)
            elif cls is tuple:
                if isinstance(value, BaseException):
                    unread.add(fut, value)
            else:
                resolve(fut, value)
        stager.retry_deferred()
        if batch and not futures and not stager.pending():
            with done:
                done.notify_all()
        # Not kept until the next completion: a dropped future must go now.
        batch = fut = value = None


def _adding_and_starting(pool_ref: "weakref.ref[Pool]", add: Any) -> Any:
    """StageCore's slow path: Stager.add, then the completion thread started
    if it is not running yet (what Pool.phset does after add). The fast path
    never has to start it: it only stages while batches are in flight, which
    only this path sends. The pool is held weakly: the completion thread
    holds the stager, and a dropped pool must stay collectable."""
    def add_and_start(item: Any, command: tuple) -> bool:
        try:
            return bool(add(item, command))
        finally:
            pool = pool_ref()
            if pool is not None and pool._dispatcher is None:
                pool._start_dispatcher()
    return add_and_start


def _forgetting(pool_ref: "weakref.ref[Pool]") -> Any:
    """StageCore.forget's slow path: Pool._forget, the pool held weakly (as
    in _adding_and_starting)."""
    def forget(record: tuple, args: tuple) -> None:
        pool = pool_ref()
        if pool is None:
            raise ConnectionError("the pool is closed")
        pool._forget(record, args)
    return forget


class _UnreadErrors:
    """The errors of fire_and_forget commands, until flush() raises them:
    the first `limit` kept whole, the rest counted."""

    def __init__(self, limit: int) -> None:
        self.limit, self.count = limit, 0
        self.kept: list[tuple[int, tuple, BaseException]] = []

    def add(self, sent: tuple, error: BaseException) -> None:
        self.count += 1
        if len(self.kept) < self.limit:
            self.kept.append((sent[0], sent[1], error))

    def take(self) -> Optional[UnreadReplyError]:
        if not self.count:
            return None
        error = UnreadReplyError(self.kept, self.count)
        self.kept, self.count = [], 0
        return error


class Pool(Client):
    """`size` connections shared safely by any number of Python threads.

    Command methods borrow a connection with the GIL released while they
    wait. With autopipeline (on by default) concurrent callers' commands are
    coalesced into shared writes; blocking commands (BLPOP, ...) always get a
    connection of their own. `submit`, `phset` and `phget` return a
    concurrent.futures.Future at once; `flush()` waits for all of them.
    Pipelines from a pool are sent on one connection.

    Every method may be called from any thread at any time, close() too:
    once closed, each raises ConnectionError, and every future submit
    returned completes (with its reply, or ConnectionError if close() came
    first). size is an int in 1..10000.
    """

    # fire_and_forget errors kept whole until flush(); more are only counted.
    MAX_KEPT_ERRORS = 1000

    _autopipeline_default = True
    _reconnects_after_close = False  # close() ends a Pool: its futures have all been failed

    def __init__(self, host: str = "localhost", port: int = 6379, size: int = 10, **client_options: Any) -> None:
        self._size = pool_size(size)
        self.size = size
        # tag -> future, for every submission not yet completed. submit adds
        # before it hands the command to the engine, so that close(), which
        # fails whatever is left, cannot miss one the engine accepted.
        # A fire_and_forget command is there as its (index, args) instead.
        self._futures: dict[int, Any] = {}
        self._tags = itertools.count(1)
        self._forgotten = itertools.count()  # fire_and_forget's index
        self._unread = _UnreadErrors(self.MAX_KEPT_ERRORS)
        self._done = threading.Condition()  # guards _closing, _dispatcher; flush waits on it
        self._closing = False
        self._dispatcher: Optional[threading.Thread] = None
        self._stop = threading.Event()
        self._q = 0
        self._pid = os.getpid()  # a forked child must not touch _done (see flush)
        super().__init__(host, port, **client_options)

    def _setup(self) -> None:
        super()._setup()
        self._submit = self._native.submit
        if not self._q:
            # This pool's completion queue, kept when the handle is reopened
            # (connection_pool.disconnect(), rotated credentials): the
            # completion thread polls this one queue for the pool's life.
            self._q = self._native.queue_open(-1)
            self._stager = Stager(self._native, self._futures, self._tags, self._unread, self._size)
            core = self._stager.core
            core.slow = _adding_and_starting(weakref.ref(self), self._stager.add)
            core.forget_slow, core.counter = _forgetting(weakref.ref(self)), self._forgotten
            self._fast_staging()
        stager = self._stager
        stager.h, stager.q, stager.max_bulk = self._h, self._q, self._max_bulk
        self._future_class = future_class(self._native)

    def _use_fork_fallback(self) -> None:
        from ._fallback import forget_now, submit_now

        super()._use_fork_fallback()
        self.submit = partial(submit_now, self._fallback)  # type: ignore[method-assign]
        self.phset = partial(self.submit, "HSET")  # type: ignore[method-assign]
        self.phget = partial(self.submit, "HGET")  # type: ignore[method-assign]
        self.fire_and_forget = partial(  # type: ignore[method-assign]
            forget_now, self._fallback, self._unread, self._forgotten)

    def _adopt_after_fork(self) -> None:
        if not self._fork_fallback:
            return
        from ._fallback import orphan_futures

        # Parent threads (the completion thread, any waiter) are not in this
        # process and may have held these locks at the fork: start afresh.
        self._done = threading.Condition()
        self._dispatcher = None
        self._pid = os.getpid()
        # Sent by the parent: their replies, errors included, went there.
        self._unread = _UnreadErrors(self.MAX_KEPT_ERRORS)
        super()._adopt_after_fork()
        for tag, sent in list(self._futures.items()):
            if sent.__class__ is tuple:
                del self._futures[tag]
        # Staged in the parent and not sent yet: the parent sends them, and
        # their replies go there; the child's copies are orphans like the rest.
        stager = getattr(self, "_stager", None)
        if stager is not None:
            staged = [stager.items] + [items for _, _, items in stager.deferred]
            stager.items, stager.deferred = [], []
            for i, items in enumerate(staged):
                self._futures[-1 - i] = items
        # After the fallback is in place: a done-callback may submit more.
        orphan_futures(self._futures)

    # -- asynchronous commands ----------------------------------------------

    def submit(self, *args: Any) -> Future:
        """Send a command without waiting; the Future gets its raw reply."""
        fut = self._future_class()
        self._submit_alone(fut, args)
        return fut

    def _submit_alone(self, item: Any, args: tuple) -> None:
        """One command as its own engine request, registered as item."""
        tag = next(self._tags)
        futures = self._futures
        futures[tag] = item
        try:
            self._submit(self._h, self._q, tag, True, self._max_bulk, *args)
        except BaseException:
            # close() may have failed and removed it already.
            futures.pop(tag, None)
            if not futures:
                self._wake_flush()
            raise
        if self._dispatcher is None:
            self._start_dispatcher()

    def fire_and_forget(self, *args: Any) -> None:
        """Send a command whose reply nobody reads (a loader's writes).

        No future is made: the reply is dropped when it arrives, and an
        error reply is kept until flush() raises it (UnreadReplyError, with
        every kept error). A bad argument raises here, before anything is
        sent. Commands are staged and sent in batches (cpipe._staging); it
        counts for flush() like a submitted command.
        """
        self._forget((next(self._forgotten), args), args)

    def _forget(self, record: tuple, args: tuple) -> None:
        """fire_and_forget's command with its record, (index, args); also
        the slow path of the C fast path (StageCore.forget)."""
        if not self._stager.add(record, args):
            self._submit_alone(record, args)  # a blocking command: never in a batch
        elif self._dispatcher is None:
            self._start_dispatcher()

    def phset(self, name: Any, key: Any, value: Any) -> Future:
        """gopipe's pooled HSET: a Future of the number of fields added.

        Staged and sent in batches with other phset/phget/fire_and_forget
        calls (cpipe._staging): a lone call still leaves at once. A Pool's
        phset/phget are in fact the C fast path (StageCore.hset/hget, see
        _fast_staging), which does what this does; this method is what a
        subclass overriding the other one still reaches.
        """
        fut = self._future_class()
        self._stager.add(fut, ("HSET", name, key, value))
        if self._dispatcher is None:
            self._start_dispatcher()
        return fut

    def phget(self, name: Any, key: Any) -> Future:
        """gopipe's pooled HGET: a Future of the value (None if missing); staged as phset is."""
        fut = self._future_class()
        self._stager.add(fut, ("HGET", name, key))
        if self._dispatcher is None:
            self._start_dispatcher()
        return fut

    def flush(self, timeout: Optional[float] = None) -> bool:
        """Wait until every submitted command has its reply; False on timeout.

        Then raises UnreadReplyError if fire_and_forget commands failed since
        the last flush (their errors are handed over once).
        """
        if self._fallback is not None:
            done = True  # the fallback completes each command before it returns
        elif os.getpid() != self._pid:
            # After fork no completion thread runs here, and _done may have
            # been held by a parent thread at the fork: waiting could hang.
            raise ForkError(_engine.FORK_MESSAGE)
        else:
            stager = self._stager
            if stager.pending():
                stager.send_all()
            with self._done:
                done = self._done.wait_for(lambda: not self._futures and not stager.pending(), timeout)
        with self._done:
            error = self._unread.take()
        if error is not None:
            raise error
        return done

    def _wake_flush(self) -> None:
        if os.getpid() == self._pid:
            with self._done:
                self._done.notify_all()

    def _start_dispatcher(self) -> None:
        with self._done:
            if self._dispatcher is None and not self._closing:
                # The thread gets what it needs, not the pool: a pool that is
                # dropped without close() must still be collectable, and
                # its __del__ then stops the thread.
                t = threading.Thread(
                    target=_deliver_completions,
                    args=(self._native.poll, self._q, self._encoding, self._futures, self._done, self._stop,
                          self._unread, self._stager),
                    name="cpipe-pool-completions", daemon=True,
                )
                t.start()
                self._dispatcher = t  # only once started: close() may join it

    def _fast_staging(self) -> None:
        """phset/phget/fire_and_forget become StageCore's C calls, which make
        the future (or record) and stage the command in one step (what they
        cannot stage goes through _adding_and_starting, _forgetting). A
        subclass's own phset, phget or fire_and_forget is left alone."""
        core = self._stager.core
        if type(self).phset is Pool.phset:
            self.phset = core.hset  # type: ignore[method-assign]
        if type(self).phget is Pool.phget:
            self.phget = core.hget  # type: ignore[method-assign]
        if type(self).fire_and_forget is Pool.fire_and_forget:
            self.fire_and_forget = core.forget  # type: ignore[method-assign]

    # -- lifetime -----------------------------------------------------------

    def close(self) -> None:
        """Close the connections; commands in flight fail with ConnectionError."""
        if getattr(self, "_fallback", None) is not None or os.getpid() != getattr(self, "_pid", 0):
            super().close()  # nothing of the engine's to stop in this process
            return
        done = getattr(self, "_done", None)
        if done is None:  # __init__ failed before the pool existed
            super().close()
            return
        with done:
            self._closing = True
            t = self._dispatcher
        stager = getattr(self, "_stager", None)
        if stager is not None:
            stager.close()  # what was staged and never sent fails now
        self._stop.set()
        super().close()  # the engine fails what is in flight into the queue
        q, self._q = self._q, 0
        if q:
            self._native.queue_close(q)  # wakes the completion thread's poll
        if t is not None and t is not threading.current_thread():
            t.join(2 * _POLL_SECONDS + 1)
        self._fail_unresolved()

    def _fail_unresolved(self) -> None:
        """Fail every future still registered: after close() nothing else will."""
        futures = self._futures
        for tag in list(futures):
            fut = futures.pop(tag, None)
            if fut is None:
                continue
            error = ConnectionError("the pool was closed before the reply arrived")
            for item in (fut if fut.__class__ is list else (fut,)):
                if item.__class__ is tuple:
                    self._unread.add(item, error)
                else:
                    resolve(item, error)
        with self._done:
            self._done.notify_all()

    def __repr__(self) -> str:
        return f"<Pool {self.host}:{self.port} db={self.db} size={self.size}>"
