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
    p = r.pipeline(transaction=False)  # inside MULTI a BLPOP would not block
    p.set(key + ":marker", "1")
    p.blpop([key], 0)
    return p.execute()


def pipeline_raw(r: ca.Client, key: str):
    p = r.pipeline(transaction=False)
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


# -- the classification itself, read back from a prepared request ------------

def classified(*command):
    """(blocks, seconds it may wait or -1 for forever) as the bridge decides:
    a prepared request's header holds the flags (byte 0) and the wait
    (a double at byte 16)."""
    import struct

    from cpipe._engine import BLOCKING, native

    mod = native()
    prepared = mod.prepare(mod.DEFAULT_MAX_BULK, [command], False)
    blocks = bool(prepared[0] & BLOCKING)
    return blocks, struct.unpack_from("d", prepared, 16)[0] if blocks else None


@pytest.mark.parametrize("command,want", [
    (("BLPOP", "a", "b", 2.5), (True, 2.5)),
    ((b"brpop", "a", 0), (True, -1)),
    ((memoryview(b"BRPOPLPUSH"), "a", "b", "3"), (True, 3.0)),
    ((bytearray(b"blmove"), "a", "b", "LEFT", "RIGHT", b"0.25"), (True, 0.25)),
    (("BzPopMin", "z", 4), (True, 4.0)),
    (("BZPOPMAX", "z", 0), (True, -1)),
    (("BLMPOP", 1.5, 2, "a", "b", "LEFT"), (True, 1.5)),
    ((b"BZMPOP", 0, 1, "z", "MIN", "COUNT", 5), (True, -1)),
    (("WAIT", 1, 1500), (True, 1.5)),
    (("wait", 0, 0), (True, -1)),
    (("WAITAOF", 1, 0, 250), (True, 0.25)),
    (("WAITAOF", 1, 0, 0), (True, -1)),
    (("XREAD", "COUNT", 10, "BLOCK", 2000, "STREAMS", "s", "$"), (True, 2.0)),
    ((b"xread", b"block", 0, "STREAMS", "s", "$"), (True, -1)),
    (("XREAD", "STREAMS", "BLOCK", "0"), (False, None)),  # a stream named BLOCK
    (("XREAD", "COUNT", 5, "STREAMS", "s", "0"), (False, None)),
    (("XREADGROUP", "GROUP", "BLOCK", "c", "STREAMS", "s", ">"), (False, None)),  # a group named BLOCK
    (("XREADGROUP", "GROUP", "g", "c", "NOACK", "BLOCK", 100, "STREAMS", "s", ">"), (True, 0.1)),
    (("BLPOP", "a", "soon"), (True, -1)),  # unreadable: the server refuses it; no read timeout meanwhile
    (("BLPOP",), (True, -1)),
    (("BLPOPX", "a", 1), (False, None)),
    (("LPOP", "a"), (False, None)),
    (("HSET", "BLPOP", "WAIT", 1), (False, None)),
    (("CLIENT", "REPLY", "ON"), (False, None)),
])
def test_classification(command, want):
    assert classified(*command) == want


def test_pipeline_waits_as_long_as_its_longest_wait():
    import struct

    from cpipe._engine import native

    mod = native()

    def wait_of(*cmds):
        return struct.unpack_from("d", mod.prepare(mod.DEFAULT_MAX_BULK, list(cmds), True), 16)[0]

    assert wait_of(("GET", "a"), ("BLPOP", "a", 1), ("WAIT", 0, 3000), ("SET", "a", 1)) == 3.0
    assert wait_of(("BLPOP", "a", 0), ("BLPOP", "a", 5)) == -1
    assert wait_of(("BLPOP", "a", 5), ("XREAD", "BLOCK", 0, "STREAMS", "s", "$")) == -1


@pytest.mark.parametrize("command", [
    (b"BLMPOP", 1.2, 1, "{k}:empty", "LEFT"),
    ("bzmpop", 1.2, 1, "{k}:empty", "MIN"),
    (memoryview(b"WAIT"), 1, 1200),
    ("XREAD", "BLOCK", 1200, "STREAMS", "{k}:stream", "$"),
])
def test_sync_wait_outlasts_socket_timeout(real_server, command):
    """A blocking command's read timeout is stretched by its own wait, in
    the command's units: with socket_timeout=0.4, waits of 1.2 s succeed."""
    c = cpipe.Client(host="127.0.0.1", port=real_server.port, socket_timeout=0.4)
    try:
        start = time.monotonic()
        reply = c.call(*command)
        took = time.monotonic() - start
        assert reply in (None, 0, []), reply
        assert took >= 1.0, f"returned after {took:.2f}s"
        assert c.call("ECHO", "in step") == b"in step"
    finally:
        c.close()
