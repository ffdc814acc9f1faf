"""A pool of connections shared by any number of threads, with futures."""
from __future__ import annotations

import itertools
import os
import threading
from concurrent.futures import Future
from functools import partial
from typing import Any, Optional

from . import _engine
from ._options import pool_size
from .client import Client
from .errors import ConnectionError, ForkError
from .futures import CommandFuture, resolve

# How long the completion thread waits in the engine per poll; it only
# bounds how quickly the thread notices close().
_POLL_SECONDS = 0.2


def _deliver_completions(poll: Any, q: int, enc: Any, futures: dict, done: threading.Condition,
                         stop: threading.Event) -> None:
    """Deliver completions to futures, in batches, until the pool closes.

    Futures still registered when the pool closes are failed by close(),
    not here: close() is the one step every submission is ordered against.
    """
    pop = futures.pop
    while not stop.is_set():
        batch = poll(q, enc, _POLL_SECONDS)
        for tag, value in batch:
            fut = pop(tag, None)
            if fut is not None:
                resolve(fut, value)
        if batch and not futures:
            with done:
                done.notify_all()


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

    _autopipeline_default = True

    def __init__(self, host: str = "localhost", port: int = 6379, size: int = 10, **client_options: Any) -> None:
        self._size = pool_size(size)
        self.size = size
        # tag -> future, for every submission not yet completed. submit adds
        # before it hands the command to the engine, so that close(), which
        # fails whatever is left, cannot miss one the engine accepted.
        self._futures: dict[int, CommandFuture] = {}
        self._tags = itertools.count(1)
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
        self._q = self._native.queue_open(-1)  # this pool's completion queue

    def _use_fork_fallback(self) -> None:
        from ._fallback import submit_now

        super()._use_fork_fallback()
        self.submit = partial(submit_now, self._fallback)  # type: ignore[method-assign]

    def _adopt_after_fork(self) -> None:
        if not self._fork_fallback:
            return
        from ._fallback import orphan_futures

        # Parent threads (the completion thread, any waiter) are not in this
        # process and may have held these locks at the fork: start afresh.
        self._done = threading.Condition()
        self._dispatcher = None
        self._pid = os.getpid()
        super()._adopt_after_fork()
        # After the fallback is in place: a done-callback may submit more.
        orphan_futures(self._futures)

    # -- asynchronous commands ----------------------------------------------

    def submit(self, *args: Any) -> Future:
        """Send a command without waiting; the Future gets its raw reply."""
        tag = next(self._tags)
        fut = CommandFuture()
        futures = self._futures
        futures[tag] = fut
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
        return fut

    def phset(self, name: Any, key: Any, value: Any) -> Future:
        """gopipe's pooled HSET: a Future of the number of fields added."""
        return self.submit("HSET", name, key, value)

    def phget(self, name: Any, key: Any) -> Future:
        """gopipe's pooled HGET: a Future of the value (None if missing)."""
        return self.submit("HGET", name, key)

    def flush(self, timeout: Optional[float] = None) -> bool:
        """Wait until every submitted command has its reply; False on timeout."""
        if self._fallback is not None:
            return True  # the fallback completes each future before submit returns
        if os.getpid() != self._pid:
            # After fork no completion thread runs here, and _done may have
            # been held by a parent thread at the fork: waiting could hang.
            raise ForkError(_engine.FORK_MESSAGE)
        with self._done:
            return self._done.wait_for(lambda: not self._futures, timeout)

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
                    args=(self._native.poll, self._q, self._encoding, self._futures, self._done, self._stop),
                    name="cpipe-pool-completions", daemon=True,
                )
                t.start()
                self._dispatcher = t  # only once started: close() may join it

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
            if fut is not None:
                resolve(fut, ConnectionError("the pool was closed before the reply arrived"))
        with self._done:
            self._done.notify_all()

    def __repr__(self) -> str:
        return f"<Pool {self.host}:{self.port} db={self.db} size={self.size}>"
