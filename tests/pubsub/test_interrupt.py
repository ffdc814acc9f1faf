"""Ctrl-C reaches a thread blocked in get_message; close() wakes any reader."""
from __future__ import annotations

import os
import signal
import threading
import time

import pytest

import cpipe

from ._util import drain


@pytest.fixture(autouse=True)
def python_sigint_handler():
    """Python's own SIGINT handler for the test: a library tested earlier in
    the session (an rq or huey worker) may have left its own installed."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def _sigint_soon(delay: float) -> threading.Timer:
    t = threading.Timer(delay, os.kill, (os.getpid(), signal.SIGINT))
    t.start()
    return t


def test_ctrl_c_interrupts_a_blocked_get_message(real_server):
    assert threading.current_thread() is threading.main_thread()
    ps = cpipe.Redis(port=real_server.port).pubsub()
    ps.subscribe("int:a")
    drain(ps, 1)
    timer = _sigint_soon(0.3)
    with pytest.raises(KeyboardInterrupt):
        ps.get_message(timeout=None)
    timer.join()
    # Still usable: the subscriber was not touched by the interruption.
    cpipe.Redis(port=real_server.port).publish("int:a", "after")
    assert drain(ps, 1)[0]["data"] == b"after"
    ps.close()


def test_ctrl_c_interrupts_listen(real_server):
    ps = cpipe.Redis(port=real_server.port).pubsub(ignore_subscribe_messages=True)
    ps.subscribe("int:b")
    timer = _sigint_soon(0.3)
    with pytest.raises(KeyboardInterrupt):
        for _ in ps.listen():
            pass
    timer.join()
    ps.close()


def test_close_wakes_a_blocked_listen_in_another_thread(real_server):
    ps = cpipe.Redis(port=real_server.port).pubsub()
    ps.subscribe("int:c")
    got = []
    t = threading.Thread(target=lambda: got.extend(ps.listen()))
    t.start()
    time.sleep(0.3)
    ps.close()
    t.join(5)
    assert not t.is_alive()
    assert [m["type"] for m in got] == ["subscribe"]
