"""Many threads on one auto-pipelined Pool or Client: every caller gets its
own reply, in order, under load and across a server restart."""
from __future__ import annotations

import threading
import time

import pytest

import cpipe
from tests._servers import start_real_server

from ._helpers import run_threads

THREADS = 32
COMMANDS_PER_THREAD = 10_000
# Each step of the cycle below is one command.
CYCLE = 10


def _make(kind: str, port: int, **options):
    options.setdefault("socket_timeout", 30)
    if kind == "pool4":
        return cpipe.Pool(host="127.0.0.1", port=port, size=4, **options)
    return cpipe.Client(host="127.0.0.1", port=port, autopipeline=True, **options)


def mixed_program(r, t: int, n: int) -> None:
    """n mixed commands on keys of thread t, each reply checked against a
    local model of those keys (values carry thread id and sequence)."""
    p = f"mt{t}:"
    counter = 0
    list_items: list[bytes] = []
    appended = 0
    last_value = None
    for i in range(n):
        v = f"{t}:{i}"
        step = i % CYCLE
        if step == 0:
            assert r.set(p + "s", v) is True
            last_value = v.encode()
        elif step == 1:
            assert r.get(p + "s") == last_value, (t, i)
        elif step == 2:
            counter += 1
            assert r.incr(p + "n") == counter, (t, i)
        elif step == 3:
            assert r.hset(p + "h", str(i), v) == 1, (t, i)
        elif step == 4:
            assert r.hget(p + "h", str(i - 1)) == f"{t}:{i - 1}".encode(), (t, i)
        elif step == 5:
            list_items.insert(0, v.encode())
            assert r.lpush(p + "l", v) == len(list_items), (t, i)
        elif step == 6:
            assert r.lrange(p + "l", 0, 1) == list_items[:2], (t, i)
        elif step == 7:
            appended += len(v) + 1
            assert r.append(p + "a", v + ",") == appended, (t, i)
        elif step == 8:
            assert r.call("ECHO", v) == v.encode(), (t, i)
        else:
            assert r.exists(p + "s", p + "missing", p + "h") == 2, (t, i)
    # The final state agrees with the model.
    assert r.hlen(p + "h") == n // CYCLE
    assert r.llen(p + "l") == len(list_items)
    assert r.strlen(p + "a") == appended
    assert r.get(p + "n") == str(counter).encode()


@pytest.mark.parametrize("kind", ["pool4", "client"])
def test_32_threads_mixed_commands(server, kind):
    r = _make(kind, server.port)
    try:
        r.flushall()
        run_threads(lambda t: mixed_program(r, t, COMMANDS_PER_THREAD), THREADS, timeout=300)
        assert r.dbsize() == THREADS * 5
    finally:
        r.close()


# ------------------------------------------------------------ server restart


class Misrouted(AssertionError):
    pass


def _check_own(reply, t: int, i: int, *, exact: bool) -> None:
    """reply must be b"t:j" with j == i (exact) or j < i, or None (not exact)."""
    if reply is None and not exact:
        return
    if not isinstance(reply, bytes):
        raise Misrouted(f"thread {t} seq {i}: got {reply!r}")
    rt, _, rj = reply.decode().partition(":")
    if int(rt) != t or (int(rj) != i if exact else int(rj) >= i):
        raise Misrouted(f"thread {t} seq {i}: got {reply!r}")


def restart_program(r, t: int, i: int) -> None:
    """One command whose reply identifies the caller it belongs to."""
    p = f"rs{t}:"
    v = f"{t}:{i}"
    step = i % 6
    if step == 0:
        _check_own(r.call("ECHO", v), t, i, exact=True)
    elif step == 1:
        _check_own(r.call("SET", p + "s", v, "GET"), t, i, exact=False)
    elif step == 2:
        _check_own(r.call("GET", p + "s"), t, i, exact=False)
    elif step == 3:
        n = r.call("RPUSH", p + "l", v)
        if not isinstance(n, int) or n < 1:
            raise Misrouted(f"thread {t} seq {i}: RPUSH got {n!r}")
    elif step == 4:
        items = r.call("LRANGE", p + "l", -1, -1)
        # Empty when the server restarted since our last successful RPUSH.
        if not isinstance(items, list) or len(items) > 1:
            raise Misrouted(f"thread {t} seq {i}: LRANGE got {items!r}")
        if items:
            _check_own(items[0], t, i, exact=False)
    else:
        got = r.hget(p + "h", "f")
        _check_own(got, t, i, exact=False)
        n = r.call("HSET", p + "h", "f", v)
        if n not in (0, 1):
            raise Misrouted(f"thread {t} seq {i}: HSET got {n!r}")


@pytest.mark.parametrize("kind", ["pool4", "client"])
def test_server_restart_under_load(kind):
    srv = start_real_server()
    r = _make(kind, srv.port, socket_timeout=10)
    target = 3_000          # commands each thread issues at least
    after_restart = 300     # and successes each needs once the server is back
    deadline = time.monotonic() + 60
    done_total = [0]
    lock = threading.Lock()
    restarted = threading.Event()
    conn_errors = [0]
    try:
        run_id_before = r.info("server")["run_id"]

        def restarter() -> None:
            # Restart once the threads are well under way.
            while done_total[0] < THREADS * target // 4 and time.monotonic() < deadline:
                time.sleep(0.01)
            srv.restart()
            restarted.set()

        rt = threading.Thread(target=restarter, daemon=True)
        rt.start()

        def work(t: int) -> None:
            i = ok_after = 0
            while i < target or ok_after < after_restart:
                assert time.monotonic() < deadline, f"thread {t} still at {i} after the deadline"
                was_restarted = restarted.is_set()
                try:
                    restart_program(r, t, i)
                except cpipe.ConnectionError:
                    with lock:
                        conn_errors[0] += 1
                    time.sleep(0.001)  # refused connects fail at once: don't spin
                else:
                    if was_restarted:
                        ok_after += 1
                i += 1
                if i % 100 == 0:
                    with lock:
                        done_total[0] += 100

        run_threads(work, THREADS, timeout=75)
        rt.join(10)
        assert restarted.is_set()
        assert conn_errors[0] > 0, "the restart did not hit any command in flight"
        assert r.info("server")["run_id"] != run_id_before

        # After the restart every connection works again: no error at all now.
        def clean(t: int) -> None:
            for i in range(300):
                restart_program(r, t, 1_000_000 + i)

        run_threads(clean, THREADS, timeout=60)
    finally:
        r.close()
        srv.stop()


def test_futures_across_server_restart():
    """Pool.submit futures in flight when the server dies: each gets its own
    reply or ConnectionError, and new submissions work afterwards."""
    srv = start_real_server()
    pool = cpipe.Pool(host="127.0.0.1", port=srv.port, size=4, socket_timeout=10)
    try:
        assert pool.call("PING") == b"PONG"
        stop = threading.Event()

        def restarter() -> None:
            time.sleep(0.2)
            srv.restart()
            stop.set()

        rt = threading.Thread(target=restarter, daemon=True)
        rt.start()
        futs = []
        i = 0
        deadline = time.monotonic() + 30
        while not stop.is_set() and time.monotonic() < deadline:
            try:
                futs.append((i, pool.submit("ECHO", f"e{i}")))
            except cpipe.ConnectionError:
                pass
            i += 1
            if i % 1000 == 0:
                time.sleep(0.001)
        rt.join(10)
        assert stop.is_set()
        ok = failed = 0
        for j, f in futs:
            exc = f.exception(timeout=30)
            if exc is None:
                assert f.result() == f"e{j}".encode()
                ok += 1
            else:
                assert isinstance(exc, cpipe.ConnectionError), exc
                failed += 1
        assert ok > 0 and failed > 0, (ok, failed)
        # A connection left idle while the server was down only notices on
        # its next use: that one batch fails with ConnectionError (as the
        # README documents) and the connection reconnects. So over many
        # bursts, at most one per connection may see failures.
        failing_bursts = 0
        for b in range(12):
            burst = [(j, pool.submit("ECHO", f"b{b}:{j}")) for j in range(2000)]
            errors = 0
            for j, f in burst:
                exc = f.exception(timeout=30)
                if exc is None:
                    assert f.result() == f"b{b}:{j}".encode()
                else:
                    assert isinstance(exc, cpipe.ConnectionError), exc
                    errors += 1
            failing_bursts += errors > 0
        assert failing_bursts <= pool.size, failing_bursts
    finally:
        pool.close()
        srv.stop()
