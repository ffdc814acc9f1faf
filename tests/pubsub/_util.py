"""Helpers for the pub/sub tests."""
from __future__ import annotations

import time
from typing import Any, Callable


def wait_until(cond: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    """Poll cond until it is true (bounded); fail naming what was awaited."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def subscribers(r: Any, channel: Any) -> int:
    """How many connections the server has subscribed to channel."""
    return dict(r.pubsub_numsub(channel)).get(channel if isinstance(channel, bytes) else channel.encode(), 0)


def drain(ps: Any, n: int, timeout: float = 10.0) -> list:
    """The next n messages of a sync PubSub (get_message with a bounded wait)."""
    out: list = []
    deadline = time.monotonic() + timeout
    while len(out) < n:
        if time.monotonic() > deadline:
            raise AssertionError(f"got {len(out)} of {n} messages: {out[-3:]}")
        m = ps.get_message(timeout=0.5)
        if m is not None:
            out.append(m)
    return out
