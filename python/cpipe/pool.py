"""A pool of connections shared by any number of threads, with futures."""
from __future__ import annotations

import itertools
import os
import threading
from concurrent.futures import Future
from typing import Any, Optional

from .client import Client
from .errors import ConnectionError, ForkError
from .futures import CommandFuture, resolve


# How long the completion thread waits in the engine per poll; it only
# bounds how quickly the thread notices close().
_POLL_SECONDS = 0.2


def _deliver_completions(poll: Any, q: int, enc: Any, futures: dict, done: threading.Condition,
                         stop: threading.Event) -> None:
    """Deliver completions to futures, in batches, until the pool closes."""
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
    # Closed: nothing more will complete.
    for tag in list(futures):
        fut = futures.pop(tag, None)
        if fut is not None and not fut.done():
            resolve(fut, ConnectionError("the pool was closed before the reply arrived"))
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
    """

    _autopipeline_default = True

    def __init__(self, host: str = "localhost", port: int = 6379, size: int = 10, **client_options: Any) -> None:
        if not isinstance(size, int) or size < 1:
            raise ValueError(f"size must be a positive int, not {size!r}")
        self._size = size
        super().__init__(host, port, **client_options)
        self.size = size
        self._futures: dict[int, Future] = {}
        self._tags = itertools.count(1)
        self._done = threading.Condition()
        self._dispatcher: Optional[threading.Thread] = None
        self._stop = threading.Event()
        self._submit = self._native.submit
        self._q = self._native.queue_open(-1)  # this pool's completion queue
        self._pid = os.getpid()  # a forked child must not touch _done (see flush)

    # -- asynchronous commands ----------------------------------------------

    def submit(self, *args: Any) -> Future:
        """Send a command without waiting; the Future gets its raw reply."""
        tag = next(self._tags)
        fut = CommandFuture()
        self._futures[tag] = fut
        try:
            self._submit(self._h, self._q, tag, True, self._max_bulk, *args)
        except BaseException:
            del self._futures[tag]
            if not self._futures and os.getpid() == self._pid:  # a flush() may wait on this one
                with self._done:
                    self._done.notify_all()
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
        if os.getpid() != self._pid:
            # After fork no completion thread runs here, and _done may have
            # been held by a parent thread at the fork: waiting could hang.
            raise ForkError("cpipe cannot be used in a child created by fork() after the parent used it: "
                            "create the Pool after forking")
        with self._done:
            return self._done.wait_for(lambda: not self._futures, timeout)

    def _start_dispatcher(self) -> None:
        with self._done:
            if self._dispatcher is None:
                # The thread gets what it needs, not the pool: a pool that is
                # dropped without close() must still be collectable, and
                # its __del__ then stops the thread.
                t = threading.Thread(
                    target=_deliver_completions,
                    args=(self._native.poll, self._q, self._encoding, self._futures, self._done, self._stop),
                    name="cpipe-pool-completions", daemon=True,
                )
                self._dispatcher = t
                t.start()

    def close(self) -> None:
        stop = getattr(self, "_stop", None)
        if stop is not None:
            stop.set()
        super().close()
        q, self._q = getattr(self, "_q", 0), 0
        if q:
            self._native.queue_close(q)
        t = getattr(self, "_dispatcher", None)
        if t is not None and t is not threading.current_thread():
            t.join(2 * _POLL_SECONDS + 1)

    def __repr__(self) -> str:
        return f"<Pool {self.host}:{self.port} db={self.db} size={self.size}>"
