"""Issue 7, "already passing" class: many threads with random close().

64 threads mix SET/GET, HSET/HGET, INCR, ECHO, pipelines, MULTI/EXEC and
BLPOP on one shared client while another thread closes it and puts a new
one in its place every 0.5 s (an auto-pipelined Client and a Pool(size=4)
in turn). Every reply is checked against the calling thread's own unique
values (tests/soak/workloads.py's plans): a call may fail with cpipe's
ConnectionError when its client is closed under it, but no reply may be
wrong, no other exception may escape, no thread may hang, and the closed
clients leave no connection open on the server.
"""
from __future__ import annotations

import threading
import time

import cpipe
from tests.autopipeline._helpers import run_threads
from tests.soak.tally import Tally
from tests.soak.workloads import run_thread

THREADS = 64
SECONDS = 10.0
REPLACE_EVERY = 0.5


def _connections(redis_py) -> int:
    return len(redis_py.client_list())


def test_64_threads_while_the_shared_client_is_replaced(real_server):
    import redis

    observer = redis.Redis(host="127.0.0.1", port=real_server.port)
    before = _connections(observer)
    port = real_server.port

    def new_client(n: int):
        if n % 2:
            return cpipe.Pool(host="127.0.0.1", port=port, size=4, socket_timeout=10)
        return cpipe.Client(host="127.0.0.1", port=port, autopipeline=True, socket_timeout=10)

    current = [new_client(0)]
    tally = Tally()
    deadline = time.monotonic() + SECONDS
    replaced = [0]

    def replacer() -> None:
        n = 0
        while time.monotonic() + REPLACE_EVERY < deadline and n < 10 * SECONDS / REPLACE_EVERY:
            time.sleep(REPLACE_EVERY)
            n += 1
            old, current[0] = current[0], new_client(n)
            old.close()
            replaced[0] += 1

    rt = threading.Thread(target=replacer, daemon=True)
    rt.start()
    try:
        run_threads(lambda t: run_thread("close", f"t{t}-replaced", "replaced", lambda: current[0],
                                         tally, deadline, seed=t), THREADS, timeout=SECONDS + 60)
        rt.join(10)
        assert not rt.is_alive()
    finally:
        current[0].close()
    assert tally.wrong == 0, f"{tally.wrong} wrong replies (printed above)"
    assert not tally.unexpected, f"exceptions other than cpipe's: {dict(tally.unexpected)}"
    assert set(tally.errors) <= {"ConnectionError"}, dict(tally.errors)
    assert replaced[0] >= SECONDS / REPLACE_EVERY / 2, replaced[0]
    # The closes hit calls in flight, and work went on between them.
    assert tally.errors["ConnectionError"] > 0
    assert tally.ops > THREADS * replaced[0], (tally.ops, replaced[0])
    deadline = time.monotonic() + 10
    while _connections(observer) > before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _connections(observer) == before, "closed clients left connections open"
    observer.close()
