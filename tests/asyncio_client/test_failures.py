"""Failures seen from asyncio: a server killed mid-flight, a server that
stalls (socket_timeout, max_queued); the event loop is never blocked."""
from __future__ import annotations

import asyncio
import time

import pytest

import cpipe
import cpipe.asyncio as ca
from tests.autopipeline._helpers import StallServer

from ._run import run


async def _ticker(ticks: list, stop: asyncio.Event) -> None:
    """Counts loop iterations ~every 10 ms: proof the loop is not blocked."""
    while not stop.is_set():
        ticks.append(time.monotonic())
        await asyncio.sleep(0.01)


def _max_gap(ticks: list) -> float:
    return max((b - a for a, b in zip(ticks, ticks[1:])), default=0.0)


@pytest.mark.parametrize("kind", ["client", "pool"])
def test_server_killed_mid_flight_then_restarted(dedicated_server, loop_kind, kind):
    srv = dedicated_server

    async def main():
        cls = ca.Pool if kind == "pool" else ca.Client
        opts = {"size": 3} if kind == "pool" else {}
        r = cls(host="127.0.0.1", port=srv.port, socket_timeout=10, **opts)
        try:
            assert await r.ping() is True
            blocked = [asyncio.ensure_future(r.blpop([f"kill:q{i}"], 20)) for i in range(10)]
            stop = asyncio.Event()

            async def stream(t: int) -> tuple[int, int]:
                ok = failed = 0
                i = 0
                while not stop.is_set():
                    try:
                        assert await r.echo(f"{t}:{i}") == f"{t}:{i}".encode()
                        ok += 1
                    except cpipe.ConnectionError:
                        failed += 1
                        await asyncio.sleep(0.005)
                    i += 1
                return ok, failed

            streams = [asyncio.ensure_future(stream(t)) for t in range(20)]
            await asyncio.sleep(0.3)
            assert not any(b.done() for b in blocked)
            srv.proc.kill()  # no goodbye: the sockets just close
            done, pending = await asyncio.wait(blocked, timeout=5)
            assert not pending, "blocked commands still pending after the server died"
            for b in done:
                assert isinstance(b.exception(), cpipe.ConnectionError), b.exception()
            await asyncio.sleep(0.1)
            await asyncio.to_thread(srv.restart)  # off the loop: it waits for the port
            await asyncio.sleep(0.3)
            stop.set()
            outcomes = await asyncio.gather(*streams)
            assert sum(f for _, f in outcomes) > 0, "the kill failed nothing in flight"
            assert all(ok > 0 for ok, _ in outcomes)

            # After the restart: a connection may need one failure to notice
            # (documented), then everything works.
            for _ in range(10):
                try:
                    if await r.ping():
                        break
                except cpipe.ConnectionError:
                    pass
            for _ in range(5):
                res = await asyncio.gather(*(r.echo(str(i)) for i in range(500)), return_exceptions=True)
                if all(not isinstance(x, BaseException) for x in res):
                    break
                assert all(isinstance(x, cpipe.ConnectionError) for x in res if isinstance(x, BaseException))
            res = await asyncio.gather(*(r.echo(str(i)) for i in range(2000)))
            assert res == [str(i).encode() for i in range(2000)]
            assert await r.set("kill:k", "v") is True and await r.get("kill:k") == b"v"
            assert await r.blpop(["kill:none"], 0.2) is None
        finally:
            await r.aclose()

    run(loop_kind, main(), timeout=60)


def test_connection_refused_is_connection_error(loop_kind):
    from tests._servers import free_port

    async def main():
        r = ca.Client(host="127.0.0.1", port=free_port(), socket_connect_timeout=2)
        try:
            for _ in range(3):
                with pytest.raises(cpipe.ConnectionError):
                    await r.ping()
            p = r.pipeline()
            p.ping()
            with pytest.raises(cpipe.ConnectionError):
                await p.execute()
        finally:
            await r.aclose()

    run(loop_kind, main(), timeout=30)


def test_stalled_server_times_out_without_blocking_the_loop(loop_kind):
    async def main():
        with StallServer() as stall:
            r = ca.Client(host="127.0.0.1", port=stall.port, socket_timeout=1)
            ticks: list = []
            stop = asyncio.Event()
            ticker = asyncio.ensure_future(_ticker(ticks, stop))
            try:
                t0 = time.monotonic()
                res = await asyncio.gather(*(r.get(f"k{i}") for i in range(50)), return_exceptions=True)
                assert all(isinstance(x, cpipe.TimeoutError) for x in res), res[:3]
                assert time.monotonic() - t0 < 10
                p = r.pipeline()
                p.get("a").get("b")
                with pytest.raises(cpipe.TimeoutError):
                    await p.execute()
            finally:
                stop.set()
                await ticker
                await r.aclose()
            assert len(ticks) > 50 and _max_gap(ticks) < 0.5, (len(ticks), _max_gap(ticks))

    run(loop_kind, main(), timeout=30)


@pytest.mark.parametrize("size", [1, 2])
def test_max_queued_bound_with_a_stalled_server(loop_kind, size):
    """Past max_queued, commands wait (off the loop) and then fail with
    TimeoutError; the server never holds more than the bound per connection."""
    bound = 4

    async def main():
        with StallServer() as stall:
            if size == 1:
                r = ca.Client(host="127.0.0.1", port=stall.port, max_queued=bound, socket_timeout=1)
            else:
                r = ca.Pool(host="127.0.0.1", port=stall.port, size=size, max_queued=bound, socket_timeout=1)
            ticks: list = []
            stop = asyncio.Event()
            ticker = asyncio.ensure_future(_ticker(ticks, stop))
            try:
                futs = [asyncio.ensure_future(r.get(f"k{i}")) for i in range(40)]
                await asyncio.sleep(0.5)
                assert 0 < stall.total() <= bound * size, stall.per_conn
                assert not any(f.done() for f in futs)
                done, pending = await asyncio.wait(futs, timeout=20)
                assert not pending, f"{len(pending)} commands still waiting: a hang"
                for f in done:
                    assert isinstance(f.exception(), cpipe.TimeoutError), f.exception()
                assert stall.max_per_conn() <= bound, stall.per_conn
                # The server answers again: the client recovers.
                stall.stalled = False
                for _ in range(size + 2):
                    try:
                        if await r.set("k", "v") is True:
                            break
                    except (cpipe.ConnectionError, cpipe.TimeoutError):
                        pass
                got = await asyncio.gather(*(r.echo(f"e{i}") for i in range(200)))
                assert got == [f"e{i}".encode() for i in range(200)]
            finally:
                stop.set()
                await ticker
                await r.aclose()
            assert _max_gap(ticks) < 0.5, _max_gap(ticks)

    run(loop_kind, main(), timeout=60)


def test_waiting_for_room_is_bounded_by_socket_timeout(loop_kind):
    """A command issued while the queue is full waits for room at most about
    socket_timeout, as a sync caller does (tests/autopipeline), however many
    commands were issued: the wait must not grow with the backlog."""
    async def main():
        with StallServer() as stall:
            r = ca.Client(host="127.0.0.1", port=stall.port, max_queued=4, socket_timeout=1)
            t0 = time.monotonic()

            async def one(i):
                with pytest.raises(cpipe.TimeoutError):
                    await r.get(f"k{i}")
                return time.monotonic() - t0

            try:
                waited = await asyncio.gather(*(one(i) for i in range(80)))
            finally:
                await r.aclose()
            assert max(waited) < 3.0, (
                f"the last of 80 commands failed after {max(waited):.1f}s with socket_timeout=1; "
                f"connections opened to the stalled server: {len(stall.per_conn)}")

    run(loop_kind, main(), timeout=60)


def test_timeout_never_misroutes_a_late_reply(loop_kind):
    """The server goes silent longer than socket_timeout while many tasks
    have commands on the connection: they get TimeoutError, and the late
    replies are never handed to commands issued afterwards."""
    from tests._servers import start_real_server

    srv = start_real_server("--enable-debug-command", "yes")

    async def main():
        r = ca.Client(host="127.0.0.1", port=srv.port, socket_timeout=0.3)
        stop = asyncio.Event()

        async def echoer(t: int) -> int:
            i = ok = 0
            while not stop.is_set():
                try:
                    got = await r.echo(f"{t}:{i}")
                except cpipe.TimeoutError:
                    await asyncio.sleep(0.01)
                else:
                    assert got == f"{t}:{i}".encode(), f"{t}:{i} got {got!r}"
                    ok += 1
                i += 1
            return ok

        try:
            tasks = [asyncio.ensure_future(echoer(t)) for t in range(20)]
            await asyncio.sleep(0.1)
            for _ in range(3):
                with pytest.raises(cpipe.TimeoutError):
                    await r.call("DEBUG", "SLEEP", "0.8")
                await asyncio.sleep(0.9)
            stop.set()
            assert sum(await asyncio.gather(*tasks)) > 0
            got = await asyncio.gather(*(r.echo(f"after{i}") for i in range(2000)))
            assert got == [f"after{i}".encode() for i in range(2000)]
        finally:
            await r.aclose()

    try:
        run(loop_kind, main(), timeout=60)
    finally:
        srv.stop()
