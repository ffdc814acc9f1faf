"""Run a coroutine to completion, bounded in time, on a given loop kind.

pytest-asyncio is not used: each test is a plain function that calls
`run(loop_kind, coro)`. loop_kind is "asyncio" (asyncio.run) or "uvloop"
(uvloop.run); uvloop must be installed (CI installs it), a missing uvloop
fails the test instead of skipping it.
"""
from __future__ import annotations

import asyncio
from typing import Any, Awaitable

LOOP_KINDS = ["asyncio", "uvloop"]


def run(loop_kind: str, coro: Awaitable[Any], timeout: float = 60.0) -> Any:
    bounded = asyncio.wait_for(coro, timeout)
    if loop_kind == "asyncio":
        return asyncio.run(bounded)
    if loop_kind == "uvloop":
        import uvloop  # an ImportError here fails the test, on purpose

        return uvloop.run(bounded)
    raise ValueError(loop_kind)


def loop_is(loop_kind: str) -> bool:
    """Inside a running loop: is it really the kind we asked for?"""
    loop = asyncio.get_running_loop()
    module = type(loop).__module__
    return module.startswith("uvloop") if loop_kind == "uvloop" else module.startswith("asyncio")
