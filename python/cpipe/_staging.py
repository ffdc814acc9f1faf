"""Staged submissions: what makes Pool.phset, phget and fire_and_forget cheap.

A command submitted on its own costs a cgo call, an engine Request, a
completion and a tagged dict entry: about 2.5 µs, several times what the
server spends on an HSET. These three calls instead encode their command at
once onto a shared bytearray (native.stage: a bad argument raises there,
before anything is sent) and send what has accumulated as one engine request
(native.submit_staged) whose replies come back as one list, in order.

When a batch leaves (the rules that keep a future from waiting forever):
  * at once, while fewer than `max_inflight` batches are in flight: a lone
    call is sent as soon as it is made, as before;
  * otherwise when a batch in flight completes: the completion thread sends
    what was staged meanwhile (Nagle's rule, with the reply as the clock);
  * by the caller itself when the stage reaches MAX_COMMANDS or MAX_BYTES,
    which bounds the memory staged commands take;
  * by flush(), which sends what is staged before it waits.
So "something is staged" implies "a batch is in flight or being sent", and
every staged command is sent without anyone having to wait for it first.

Everything here runs under `lock` (callers' threads and the completion
thread). Items are the futures (CommandFuture) or fire_and_forget records
((index, args) tuples) of the staged commands, in order.

The state lives in a native StageCore (cpipe/bridge_stage.c), which is also
the lock: Pool.phset/phget are its C fast path, which stages a command and
makes its future without taking the lock when no locked section is under
way and nothing has to be sent (batches in flight, bounds not reached, no
deferred request); that step runs no Python code, so under the GIL it is
atomic against every section here. Anything else goes through `add`.
"""
from __future__ import annotations

import threading
from typing import Any, Callable

from .errors import ConnectionError
from .futures import resolve, resolve_batch

# Bounds of one staged batch (StageCore's defaults); at either one the caller sends it.
MAX_COMMANDS = 4096
MAX_BYTES = 1 << 20


class Stager:
    """A Pool's staged commands, and its staged batches in flight."""

    def __init__(self, native: Any, futures: dict, tags: Any, unread: Any, max_inflight: int) -> None:
        # The lock and the state the C fast path (StageCore.hset/hget, which
        # Pool.phset/phget become) reads: buf, items, deferred, inflight,
        # closed, max_bulk. `with self.lock` keeps the fast path out too.
        self.core = native.StageCore(max_inflight, MAX_COMMANDS, MAX_BYTES)
        self.core.slow = self.add
        self.lock = self.core
        self.h = self.q = 0
        self._stage: Callable[..., bool] = native.stage
        self._submit_staged = native.submit_staged
        self._submit_prepared = native.submit_prepared
        self._outstanding = native.outstanding
        self._futures = futures
        self._tags = tags
        self._unread = unread
        # (items, error) of batches _send_locked could not hand over, failed
        # once the lock is released: a future's callbacks may stage again.
        self._failed: list[tuple[list, BaseException]] = []

    # The StageCore's fields, under their old names.
    buf = property(lambda self: self.core.buf)
    items = property(lambda self: self.core.items, lambda self, v: setattr(self.core, "items", v))
    deferred = property(lambda self: self.core.deferred, lambda self, v: setattr(self.core, "deferred", v))
    inflight = property(lambda self: self.core.inflight, lambda self, v: setattr(self.core, "inflight", v))
    closed = property(lambda self: self.core.closed, lambda self, v: setattr(self.core, "closed", v))
    max_inflight = property(lambda self: self.core.max_inflight)
    max_bulk = property(lambda self: self.core.max_bulk, lambda self, v: setattr(self.core, "max_bulk", v))

    def add(self, item: Any, command: tuple) -> bool:
        """Stage one command with its item; False for a blocking command,
        which is not staged (the caller submits it on its own)."""
        c = self.core
        try:
            with c:
                if c.closed:
                    raise ConnectionError("the pool is closed")
                if not self._stage(c.buf, c.max_bulk, *command):
                    return False
                items = c.items
                items.append(item)
                if (c.inflight < c.max_inflight or len(items) >= c.max_commands
                        or len(c.buf) >= c.max_bytes):
                    self._send_locked()
        finally:
            if self._failed:
                self._fail_unsent()
        if c.deferred:
            self._send_deferred(raising=True)
        return True

    def pending(self) -> bool:
        """Whether commands are staged or deferred, not yet with the engine."""
        c = self.core
        return bool(c.items or c.deferred)

    def send_all(self) -> None:
        """flush()'s first step: everything staged or deferred goes to the engine now."""
        try:
            with self.lock:
                if self.items:
                    self._send_locked()
        finally:
            if self._failed:
                self._fail_unsent()
        self._send_deferred(raising=True)

    def batch_done(self, items: list, value: Any) -> None:
        """The completion thread's part for a staged batch: its items get
        their replies (or the batch's error), then what was staged meanwhile
        is sent."""
        if value.__class__ is list and len(value) == len(items):
            resolve_batch(items, value, self._unread.add)
        else:
            error = value if isinstance(value, BaseException) else ConnectionError(
                f"a staged batch of {len(items)} commands got {type(value).__name__} instead of its replies")
            for item in items:
                self._complete(item, error)
        with self.lock:
            self.inflight -= 1
            if self.items and not self.closed:
                try:
                    self._send_locked()
                except BaseException:  # noqa: BLE001 - each staged command gets the error
                    pass
        if self._failed:
            self._fail_unsent()
        self.retry_deferred()

    def retry_deferred(self) -> None:
        """The completion thread's, after each poll: a request the engine
        could not take without waiting is sent once waiting can only be for
        a connect (nothing outstanding). The completion thread must not wait
        for room otherwise: it is the one that makes room, by collecting."""
        if self.deferred and self._outstanding(self.q) == 0:
            self._send_deferred(raising=False)

    def close(self) -> None:
        """Fail what was never sent; later calls raise ConnectionError."""
        with self.lock:
            self.closed = True
            items, self.items = self.items, []
            self.buf.clear()
            deferred, self.deferred = self.deferred, []
        error = ConnectionError("the pool was closed before the command was sent")
        for item in items:
            self._complete(item, error)
        for tag, _, batch in deferred:
            self._futures.pop(tag, None)
            for item in batch:
                self._complete(item, error)

    def _send_locked(self) -> None:
        """Hand the staged batch to the engine without waiting; what the
        engine could only take by waiting (no connection yet, no room) is
        deferred, to be sent by _send_deferred outside the lock."""
        items, self.items = self.items, []
        tag = next(self._tags)
        self._futures[tag] = items
        try:
            sent = self._submit_staged(self.h, self.q, tag, False, self.buf, len(items))
        except BaseException as e:
            # Nothing of the batch was queued: each of its commands fails
            # with the reason (_fail_unsent, once the lock is released), and
            # the caller that sent it sees it raised.
            self._futures.pop(tag, None)
            self.buf.clear()
            self._failed.append((items, e))
            raise
        self.buf.clear()
        if sent.__class__ is bytes:
            self.deferred.append((tag, sent, items))
        self.inflight += 1

    def _fail_unsent(self) -> None:
        """Fail the commands of the batches _send_locked could not hand
        over, with no lock held: a future's callbacks run here, and one may
        call phset again (the lock is not reentrant)."""
        while True:
            with self.lock:
                if not self._failed:
                    return
                items, error = self._failed.pop(0)
            for item in items:
                self._complete(item, error)

    def _send_deferred(self, raising: bool) -> None:
        """Send the deferred requests, waiting in the engine (GIL released)
        with no lock held, so the completion thread keeps collecting."""
        while True:
            with self.lock:
                if not self.deferred or self.closed:
                    return
                tag, prepared, items = self.deferred.pop(0)
            try:
                self._submit_prepared(self.h, self.q, tag, prepared)
            except BaseException as e:
                with self.lock:
                    self.inflight -= 1
                self._futures.pop(tag, None)
                for item in items:
                    self._complete(item, e)
                if raising:
                    raise
                return

    def _complete(self, item: Any, value: Any) -> None:
        if item.__class__ is tuple:  # fire_and_forget: only an error is kept
            if isinstance(value, BaseException):
                self._unread.add(item, value)
        else:
            resolve(item, value)
