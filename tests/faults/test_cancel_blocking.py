"""Issue 7, item 3: a cancelled asyncio blocking command must not stay
blocked on the server, whatever the spelling of its name (bytes, any case)
and also inside a pipeline; which commands block is decided by the bridge
alone. Cancelling closes the command's own connection, so elements pushed
later are not swallowed and connections do not pile up.
"""
from __future__ import annotations

import asyncio
import time

import pytest

import cpipe
import cpipe.asyncio as ca
from tests.asyncio_client._run import LOOP_KINDS, run


@pytest.fixture(params=LOOP_KINDS)
def loop_kind(request) -> str:
    return request.param


@pytest.fixture
def ctl(real_server):
    c = cpipe.Client(host="127.0.0.1", port=real_server.port, socket_timeout=10)
    yield c
    c.close()


def blocked_clients(ctl: cpipe.Client) -> int:
    return int(ctl.info("clients")["blocked_clients"])


async def wait_until(predicate, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


def pipeline_blpop(r: ca.Client, key: str):
    p = r.pipeline()
    p.set(key + ":marker", "1")
    p.blpop([key], 0)
    return p.execute()


def pipeline_raw(r: ca.Client, key: str):
    p = r.pipeline()
    p.execute_command(b"brpop", key, 0)
    return p.execute()


# name -> (coroutine factory blocking on key, whether it pops from a list)
BLOCKERS = {
    "bytes-BLPOP": (lambda r, k: r.call(b"BLPOP", k, 0), True),
    "lower-blpop": (lambda r, k: r.call("blpop", k, 0), True),
    "bytearray-BRPOP": (lambda r, k: r.call(bytearray(b"BrPop"), k, 0), True),
    "BLMOVE": (lambda r, k: r.call(b"BLMOVE", k, k + ":dst", "LEFT", "RIGHT", 0), True),
    "BLMPOP": (lambda r, k: r.call(b"blmpop", 0, 1, k, "LEFT"), True),
    "xread-block": (lambda r, k: r.execute_command("xread", "block", 0, "STREAMS", k + ":s", "$"), False),
    "XREADGROUP-BLOCK": (lambda r, k: r.call(b"xreadgroup", "GROUP", "g", "c", "BLOCK", 0, "STREAMS", k + ":s", ">"),
                         False),
    "WAIT": (lambda r, k: r.call(b"wait", 1, 0), False),
    "pipeline-blpop": (pipeline_blpop, True),
    "pipeline-bytes-brpop": (pipeline_raw, True),
}


@pytest.mark.parametrize("name", list(BLOCKERS))
def test_cancelled_blocking_command_leaves_the_server(real_server, ctl, loop_kind, name):
    block, pops = BLOCKERS[name]
    key = f"cancel:{name}:{loop_kind}"
    ctl.delete(key, key + ":s")
    if name == "XREADGROUP-BLOCK":
        ctl.call("XGROUP", "CREATE", key + ":s", "g", "$", "MKSTREAM")
    before = blocked_clients(ctl)

    async def main():
        r = ca.Client(host="127.0.0.1", port=real_server.port, socket_timeout=5)
        try:
            task = asyncio.ensure_future(block(r, key))
            assert await wait_until(lambda: blocked_clients(ctl) == before + 1), "never blocked"
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert await wait_until(lambda: blocked_clients(ctl) == before), \
                "the cancelled command still waits on the server"
            # The client still works, and its connections are in step.
            assert await r.echo("after") == b"after"
            assert await r.blpop([key + ":none"], 0.1) is None
        finally:
            await r.aclose()

    run(loop_kind, main(), timeout=30)
    if pops:
        for i in range(5):
            ctl.rpush(key, f"e{i}")
        time.sleep(0.1)
        assert ctl.lrange(key, 0, -1) == [f"e{i}".encode() for i in range(5)], \
            "a cancelled blocking command swallowed pushed elements"
    ctl.delete(key, key + ":s", key + ":marker")


def test_many_cancellations_do_not_pile_up(real_server, ctl, loop_kind):
    """64 cancelled BLPOP key 0 (bytes names), then a new blpop(timeout=0.2)
    returns on time and the server's connection count has come back."""
    connected_before = int(ctl.info("clients")["connected_clients"])

    async def main():
        r = ca.Pool(host="127.0.0.1", port=real_server.port, size=2, socket_timeout=5)
        try:
            assert await r.echo("warm") == b"warm"
            for round_ in range(2):
                keys = [f"pile:{loop_kind}:{round_}:{i}" for i in range(64)]
                tasks = [asyncio.ensure_future(r.call(b"BLPOP", k, 0)) for k in keys]
                assert await wait_until(lambda: blocked_clients(ctl) >= 64, 10), blocked_clients(ctl)
                for t in tasks:
                    t.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                assert await wait_until(lambda: blocked_clients(ctl) == 0, 10)
                start = time.monotonic()
                assert await r.blpop([f"pile:{loop_kind}:fresh"], 0.2) is None
                took = time.monotonic() - start
                assert took < 2.0, f"blpop(timeout=0.2) took {took:.1f}s after the cancellations"
                for k in keys[:5]:
                    ctl.rpush(k, "kept")
                assert [ctl.llen(k) for k in keys[:5]] == [1] * 5
                ctl.delete(*keys)
            grown = int(ctl.info("clients")["connected_clients"]) - connected_before
            assert grown <= 6, f"{grown} more server connections after the cancellations"
        finally:
            await r.aclose()

    run(loop_kind, main(), timeout=60)


def test_blocking_classification_is_the_bridges(real_server):
    """The asyncio client keeps no list of blocking commands of its own."""
    import cpipe.asyncio.client as mod

    assert not hasattr(mod, "_BLOCKING")


def test_cancelled_while_still_in_the_backlog(real_server, ctl, loop_kind):
    """A fresh client's first commands wait in the backlog (it must connect
    first); a blocking one cancelled there, or just after it is handed to
    the engine, must not end up waiting on the server either."""
    keys = [f"backlog:{loop_kind}:{i}" for i in range(8)]
    ctl.delete(*keys)

    async def main():
        for i, key in enumerate(keys):
            r = ca.Client(host="127.0.0.1", port=real_server.port, socket_timeout=5)
            try:
                first = r.call("ECHO", "first")  # must connect: it waits in the backlog
                blocker = r.call(b"BLPOP", key, 0)  # queued behind it
                for _ in range(i % 4):  # cancel at different moments
                    await asyncio.sleep(0)
                blocker.cancel()
                assert await first == b"first"
                assert await wait_until(lambda: blocked_clients(ctl) == 0), "a cancelled BLPOP waits on the server"
                assert await r.echo("after") == b"after"
            finally:
                await r.aclose()

    run(loop_kind, main(), timeout=60)
    for key in keys:
        ctl.rpush(key, "kept")
    time.sleep(0.1)
    assert [ctl.llen(k) for k in keys] == [1] * len(keys), "a cancelled BLPOP swallowed an element"
    ctl.delete(*keys)
