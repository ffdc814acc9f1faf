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

_queues: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LoopQueue]" = weakref.WeakKeyDictionary()


def loop_queue(loop: asyncio.AbstractEventLoop) -> "LoopQueue":
    lq = _queues.get(loop)
    if lq is None:
        lq = _queues[loop] = LoopQueue(loop)
    return lq


def _cleanup(native_mod: Any, q: int, rfd: int, wfd: int) -> None:
    """The loop is gone: close its queue and, if nothing is in flight, its pipe.

    The engine writes to wfd when completions arrive. A command still in
    flight (abandoned when the loop stopped) could complete later and write
    into whatever file reused wfd's number, so then the pipe is left open.
    """
    in_flight = native_mod.outstanding(q)
    native_mod.queue_close(q)
    if in_flight:
        return
    for fd in (rfd, wfd):
        try:
            os.close(fd)
        except OSError:
            pass


class LoopQueue:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._native = native()
        # Only a weak reference: _queues maps loop -> LoopQueue, and a strong
        # one back would keep every loop (and its pipe and queue) alive forever.
        self._loop_ref = weakref.ref(loop)
        self.rfd, self.wfd = os.pipe()
        os.set_blocking(self.rfd, False)
        os.set_blocking(self.wfd, False)
        self.q = self._native.queue_open(self.wfd)
        # tag -> (future, callback); the reply of a cancelled future is still
        # read by the engine and simply dropped here.
        self.pending: dict[int, tuple[asyncio.Future, Optional[Callable[[Any], Any]]]] = {}
        self._seq = itertools.count(1)
        self._encodings: list[Optional[str]] = []
        self._enc_tuple: tuple = ()
        loop.add_reader(self.rfd, self._wake)
        weakref.finalize(loop, _cleanup, self._native, self.q, self.rfd, self.wfd)

    @property
    def loop(self) -> Optional[asyncio.AbstractEventLoop]:
        return self._loop_ref()

    def encoding_index(self, encoding: Optional[str]) -> int:
        try:
            return self._encodings.index(encoding)
        except ValueError:
            if len(self._encodings) > _ENC_MASK:
                raise ValueError("too many distinct reply encodings on one event loop") from None
            self._encodings.append(encoding)
            self._enc_tuple = tuple(self._encodings)
            return len(self._encodings) - 1

    def new_tag(self, enc_index: int) -> int:
        return (next(self._seq) << _ENC_BITS) | enc_index

    def _wake(self) -> None:
        try:
            os.read(self.rfd, 4096)  # drain before polling: a later completion writes again
        except BlockingIOError:
            pass
        pop = self.pending.pop
        for tag, value in self._native.poll(self.q, self._enc_tuple, 0.0):
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
