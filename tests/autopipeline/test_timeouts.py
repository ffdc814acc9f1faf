"""A read timeout on a shared, auto-pipelined connection closes it: the
callers whose commands were on it get TimeoutError, and the late reply is
never handed to anyone who comes after (the connection is not reused out
of step)."""
from __future__ import annotations

import threading
import time

import pytest

import cpipe
from tests._servers import start_real_server

from ._helpers import run_threads


@pytest.fixture
def debug_server():
    srv = start_real_server("--enable-debug-command", "yes")
    yield srv
    srv.stop()


@pytest.mark.parametrize("kind", ["client", "pool"])
def test_timeout_never_misroutes_a_late_reply(debug_server, kind):
    if kind == "client":
        r = cpipe.Client(host="127.0.0.1", port=debug_server.port, autopipeline=True, socket_timeout=0.3)
    else:
        r = cpipe.Pool(host="127.0.0.1", port=debug_server.port, size=2, socket_timeout=0.3)
    try:
        stop = threading.Event()
        counts = {"ok": 0, "timeout": 0}
        lock = threading.Lock()

        def echoer(t: int) -> None:
            i = 0
            while not stop.is_set():
                v = f"{t}:{i}"
                try:
                    got = r.echo(v)
                except cpipe.TimeoutError:
                    with lock:
                        counts["timeout"] += 1
                else:
                    assert got == v.encode(), f"{v} got {got!r}"
                    with lock:
                        counts["ok"] += 1
                i += 1

        failure: list = []

        def echoers() -> None:
            try:
                run_threads(echoer, 8, 60)
            except BaseException as e:  # noqa: BLE001 - re-raised below
                failure.append(e)

        threads = [threading.Thread(target=echoers, daemon=True)]
        threads[0].start()
        time.sleep(0.1)
        for _ in range(3):
            # The server goes silent for longer than socket_timeout; its
            # "+OK" comes late, on a connection the client has given up.
            with pytest.raises(cpipe.TimeoutError):
                r.call("DEBUG", "SLEEP", "0.8")
            time.sleep(0.9)
        stop.set()
        threads[0].join(60)
        assert not threads[0].is_alive()
        if failure:
            raise failure[0]
        assert counts["ok"] > 0

        # And everyone is in step afterwards.
        def after(t: int) -> None:
            for i in range(200):
                assert r.echo(f"after{t}:{i}") == f"after{t}:{i}".encode()

        run_threads(after, 8, timeout=60)
    finally:
        r.close()
