"""A CommandFuture's lazily made Condition is one object, whichever threads make it.

The Pool's completion thread and a waiting thread (Future.result, through
`_condition`) may both be first to touch a future's Condition. Making one
runs Python code (Condition.__init__, and any collection its allocations
start, with its finalizers), so the other thread can run in the middle and
make its own. If both were kept, the waiter would wait on one Condition
while the resolver notified the other: a lost wake-up. (With the state in
the instance dict, as before FutureCore, the same interleaving built two
dicts over one attribute storage: the "Garbage-collecting" segfaults.)

This test forces that interleaving: a finalizer that makes the Condition
and resolves the future in another thread fires in the collection the
waiter's Condition allocation starts.
"""
import gc
import threading

import pytest

from cpipe import _engine
from cpipe.futures import new_future, resolve


@pytest.fixture(scope="module", autouse=True)
def engine_loaded():
    _engine.native()  # builds CommandFuture


def _one_future_one_condition() -> bool:
    fut = new_future()
    seen = {}
    go, done = threading.Event(), threading.Event()

    def completion_thread():
        go.wait(5)
        seen["condition"] = fut._condition
        resolve(fut, b"reply")
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
    threshold = gc.get_threshold()
    gc.set_threshold(1)
    try:
        mine = fut._condition  # a waiter's first touch
    finally:
        gc.set_threshold(*threshold)
    go.set()
    t.join(10)
    return mine is seen["condition"] is fut._condition and fut.result(timeout=1) == b"reply"


def test_waiter_and_completion_thread_share_one_condition():
    bad = sum(not _one_future_one_condition() for _ in range(50))
    assert bad == 0, f"{bad} of 50 futures ended with two Conditions"
