"""A CommandFuture's instance dict is one dict, whichever threads touch it.

The Pool's completion thread (futures.resolve) and a waiting thread
(Future.result, through the lazy _condition) both read `fut.__dict__`.
CPython 3.11 builds an instance dict lazily; a garbage collection during
that build may run a finalizer that switches threads, and the other thread
then builds a second dict over the same attribute storage. When one of the
two dicts is freed, the other points at freed memory: the intermittent
"Fatal Python error: Segmentation fault ... Garbage-collecting" that
tests/client/test_pool.py hit about one run in eight.

This test forces that interleaving: a finalizer that runs resolve() in
another thread fires in the collection the dict's allocation starts.
"""
import gc
import threading

from cpipe.futures import CommandFuture, resolve


def _one_future_one_dict() -> bool:
    fut = CommandFuture()
    seen = {}
    go, done = threading.Event(), threading.Event()

    def completion_thread():
        go.wait(5)
        resolve(fut, b"reply")
        seen["dict"] = fut.__dict__
        done.set()

    t = threading.Thread(target=completion_thread)
    t.start()

    class SwitchThreadsWhenCollected:
        def __del__(self):
            go.set()
            done.wait(5)

    trap = SwitchThreadsWhenCollected()
    trap.cycle = trap
    del trap
    # Take the dict free list's dicts: the next dict comes from the GC allocator.
    keep = [{} for _ in range(200)]
    threshold = gc.get_threshold()
    gc.set_threshold(1)
    try:
        fut._condition  # a waiter's first touch of the future's dict
    finally:
        gc.set_threshold(*threshold)
    go.set()
    t.join(10)
    del keep
    return fut.__dict__ is seen["dict"] and fut.result(timeout=1) == b"reply"


def test_waiter_and_completion_thread_share_one_dict():
    bad = sum(not _one_future_one_dict() for _ in range(50))
    assert bad == 0, f"{bad} of 50 futures ended with two instance dicts"
