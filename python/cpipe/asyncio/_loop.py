"""One completion queue and one wake-up pipe per event loop.

Every asyncio client on a loop submits to that loop's queue. The engine
completes requests off the loop, in its own threads, and writes one byte to
the pipe when completions arrive after the loop last drained them; the
loop's reader callback then collects the whole batch at once. So there is no
thread per call and no call_soon_threadsafe per reply.
"""
from __future__ import annotations

import asyncio
import itertools
import os
import weakref
from typing import Any, Callable, Optional

from .._engine import native

# A tag carries the index of the client's reply encoding in its low bits, so
# clients with and without decode_responses can share a loop's queue.
_ENC_BITS = 4
_ENC_MASK = (1 << _ENC_BITS) - 1

# loop -> its LoopQueue, weakly both ways. What keeps a LoopQueue alive is
# its loop (the reader callback registered with it): when the loop is closed
# (it drops its readers) or collected, the LoopQueue goes, and its finalizer
# releases the queue, the pipe and the connections of the clients bound to
# it. Nothing here may hold a LoopQueue strongly: its pending futures hold
# the loop, so that would keep every loop alive for good.
_queues: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, weakref.ref[LoopQueue]]" = (
    weakref.WeakKeyDictionary())


def loop_queue(loop: asyncio.AbstractEventLoop) -> "LoopQueue":
    ref = _queues.get(loop)
    lq = ref() if ref is not None else None
    if lq is None:
        lq = LoopQueue(loop)
        _queues[loop] = weakref.ref(lq)
    return lq


def _release(native_mod: Any, q: int, rfd: int, wfd: int, clients: "weakref.WeakSet[Any]") -> None:
    """The loop is closed or gone: free its queue, its pipe, its clients' connections.

    After queue_close the engine never writes to wfd again (Completions.Close
    forgets the fd under the lock every write takes), so the pipe can be
    closed even with commands still in flight: their completions are dropped.
    """
    native_mod.queue_close(q)
    for fd in (rfd, wfd):
        try:
            os.close(fd)
        except OSError:
            pass
    for client in list(clients):
        client._loop_gone(q)


class LoopQueue:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._native = native()
        self._loop_ref = weakref.ref(loop)
        self.rfd, self.wfd = os.pipe()
        os.set_blocking(self.rfd, False)
        os.set_blocking(self.wfd, False)
        self.q = self._native.queue_open(self.wfd)
        # tag -> (future, callback); the reply of a cancelled future is still
        # read by the engine and simply dropped here.
        self.pending: dict[int, tuple[asyncio.Future, Optional[Callable[[Any], Any]]]] = {}
        self._seq = itertools.count(1)
        self._encodings: list[Any] = []
        # The clients bound to this loop: their connections carry this
        # loop's commands, and are closed with it.
        self.clients: "weakref.WeakSet[Any]" = weakref.WeakSet()
        loop.add_reader(self.rfd, self._wake)
        weakref.finalize(self, _release, self._native, self.q, self.rfd, self.wfd, self.clients)

    @property
    def loop(self) -> Optional[asyncio.AbstractEventLoop]:
        return self._loop_ref()

    def encoding_index(self, encoding: Any) -> int:
        try:
            return self._encodings.index(encoding)
        except ValueError:
            if len(self._encodings) > _ENC_MASK:
                raise ValueError("too many distinct reply encodings on one event loop") from None
            self._encodings.append(encoding)  # poll indexes this list by each tag's low bits
            return len(self._encodings) - 1

    def new_tag(self, enc_index: int) -> int:
        return (next(self._seq) << _ENC_BITS) | enc_index

    def _wake(self) -> None:
        try:
            os.read(self.rfd, 4096)  # drain before polling: a later completion writes again
        except BlockingIOError:
            pass
        pop = self.pending.pop
        for tag, value in self._native.poll(self.q, self._encodings, 0.0):
            entry = pop(tag, None)
            if entry is None:
                continue
            fut, callback = entry
            if fut.cancelled():
                continue
            if isinstance(value, BaseException):
                fut.set_exception(value)
            elif callback is None:
                fut.set_result(value)
            else:
                try:
                    fut.set_result(callback(value))
                except Exception as exc:  # a reply the callback could not convert
                    fut.set_exception(exc)
