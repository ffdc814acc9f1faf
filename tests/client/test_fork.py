"""The fork rule, strict form: a client made with fork_fallback=False, used
in a child forked after the Go engine started, gets ForkError at once, never
a hang; spawn/forkserver children and children forked before the engine
loaded work normally; the parent is unaffected. (The default, serving such a
child through redis-py's connection, is tested in
tests/faults/test_fork_fallback.py.)"""
from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time

import pytest

import cpipe

from ._subproc import run_python

CHILD_DEADLINE = 20.0


def _fork_and_run(fn) -> tuple[int, str]:
    """Run fn() in a forked child; returns (exit status, text fn returned).

    The child never returns into pytest: it always leaves with os._exit.
    A child still alive after CHILD_DEADLINE is killed and the test fails."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        code = 0
        try:
            os.close(r)
            text = fn()
        except BaseException as e:  # noqa: BLE001 - reported to the parent
            text = f"unexpected {type(e).__name__}: {e}"
            code = 3
        try:
            os.write(w, text.encode("utf-8", "replace"))
        finally:
            os._exit(code)
    os.close(w)
    deadline = time.monotonic() + CHILD_DEADLINE
    status = None
    while time.monotonic() < deadline:
        done, st = os.waitpid(pid, os.WNOHANG)
        if done:
            status = st
            break
        time.sleep(0.01)
    if status is None:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(r)
        pytest.fail(f"forked child did not finish within {CHILD_DEADLINE}s: a hang")
    chunks = []
    while True:
        b = os.read(r, 65536)
        if not b:
            break
        chunks.append(b)
    os.close(r)
    return os.waitstatus_to_exitcode(status), b"".join(chunks).decode()


@pytest.fixture
def strict_client(server):
    c = cpipe.Client(host="127.0.0.1", port=server.port, socket_timeout=10, fork_fallback=False)
    c.flushall()
    yield c
    c.close()


def _describe_call(fn):
    try:
        result = fn()
    except cpipe.ForkError as e:
        return f"ForkError: {e}"
    except cpipe.RedisError as e:
        return f"{type(e).__name__}: {e}"
    return f"returned {result!r}"


def test_forked_child_gets_fork_error(strict_client):
    client = strict_client
    assert client.call("SET", "parent", "1") == b"OK"
    t = time.monotonic()
    code, text = _fork_and_run(lambda: _describe_call(lambda: client.call("PING")))
    assert code == 0, text
    assert text.startswith("ForkError: "), text
    assert "fork" in text and ("spawn" in text or "forkserver" in text), text
    assert time.monotonic() - t < CHILD_DEADLINE
    assert issubclass(cpipe.ForkError, cpipe.RedisError)
    # the parent is unaffected
    assert client.call("GET", "parent") == b"1"


@pytest.mark.parametrize("what", ["pipeline", "execute", "new-client", "command-method"])
def test_forked_child_every_entry_point(strict_client, server, what):
    client = strict_client
    client.call("PING")
    actions = {
        "pipeline": lambda: client.pipeline(transaction=False).set("x", 1).execute(),
        "execute": lambda: (client.add_command("PING"), client.execute()),
        "new-client": lambda: cpipe.Client(host="127.0.0.1", port=server.port, fork_fallback=False),
        "command-method": lambda: client.get("parent"),
    }
    code, text = _fork_and_run(lambda: _describe_call(actions[what]))
    assert code == 0 and text.startswith("ForkError: "), text
    assert client.call("PING") == b"PONG"
    assert client.call("EXISTS", "x") == 0


def test_forked_child_with_pool(server):
    p = cpipe.Pool(host="127.0.0.1", port=server.port, size=2, fork_fallback=False)
    try:
        assert p.submit("PING").result(10) == b"PONG"  # the completion thread runs
        code, text = _fork_and_run(lambda: "|".join([
            _describe_call(lambda: p.submit("PING")),
            _describe_call(lambda: p.phset("h", "f", "v")),
            _describe_call(lambda: p.call("PING")),
            _describe_call(lambda: p.flush(1)),
        ]))
        assert code == 0, text
        parts = text.split("|")
        assert len(parts) == 4 and all(s.startswith("ForkError: ") for s in parts), text
        # the parent's pool still works, futures and all
        assert [p.submit("ECHO", i).result(10) for i in range(10)] == [str(i).encode() for i in range(10)]
    finally:
        p.close()


def test_fork_while_pool_lock_is_held(server):
    """Fork at the moment a parent thread holds the pool's completion lock
    (the completion thread takes it after each batch): the child's submit and
    flush must still raise ForkError, not wait on a lock no one will release."""
    p = cpipe.Pool(host="127.0.0.1", port=server.port, size=2, fork_fallback=False)
    try:
        assert p.submit("PING").result(10) == b"PONG"
        held, release = threading.Event(), threading.Event()

        def holder():  # a thread that will not exist in the child
            with p._done:
                held.set()
                release.wait(30)

        t = threading.Thread(target=holder)
        t.start()
        assert held.wait(10)
        try:
            code, text = _fork_and_run(lambda: "|".join([
                _describe_call(lambda: p.submit("PING")),
                _describe_call(lambda: p.flush()),
                _describe_call(lambda: p.close()),
            ]))
        finally:
            release.set()
            t.join(10)
        assert code == 0, text
        parts = text.split("|")
        assert parts[0].startswith("ForkError: ") and parts[1].startswith("ForkError: "), text
        assert parts[2] == "returned None", text
        assert p.submit("ECHO", "parent").result(10) == b"parent"
    finally:
        p.close()


def test_forked_child_close_does_not_touch_parent_connection(client):
    client.call("SET", "k", "v")
    code, text = _fork_and_run(lambda: (client.close(), "closed")[1])
    assert (code, text) == (0, "closed")
    assert client.call("GET", "k") == b"v"


def _child_uses_inherited_client(client, queue):
    queue.put(_describe_call(lambda: client.call("PING")))


def _child_makes_own_client(port, queue):
    c = cpipe.Client(host="127.0.0.1", port=port, socket_timeout=10)
    try:
        c.call("SET", f"from-{os.getpid()}", "child")
        queue.put(("ok", os.getpid(), c.call("GET", f"from-{os.getpid()}")))
    except BaseException as e:  # noqa: BLE001
        queue.put(("error", os.getpid(), repr(e)))
    finally:
        c.close()


def _join(proc, timeout=60):
    proc.join(timeout)
    if proc.is_alive():
        proc.kill()
        proc.join(5)
        pytest.fail(f"child {proc.name} did not finish within {timeout}s")
    return proc.exitcode


def test_multiprocessing_fork_context(strict_client):
    client = strict_client
    client.call("PING")
    ctx = multiprocessing.get_context("fork")
    q = ctx.Queue()
    proc = ctx.Process(target=_child_uses_inherited_client, args=(client, q))
    proc.start()
    assert _join(proc) == 0
    text = q.get(timeout=5)
    assert text.startswith("ForkError: "), text
    assert client.call("PING") == b"PONG"


@pytest.mark.parametrize("method", ["spawn", "forkserver"])
def test_multiprocessing_spawn_and_forkserver_work(client, server, method):
    client.call("PING")  # the parent's engine is running
    ctx = multiprocessing.get_context(method)
    q = ctx.Queue()
    procs = [ctx.Process(target=_child_makes_own_client, args=(server.port, q)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        assert _join(p, timeout=120) == 0
    results = sorted(q.get(timeout=10) for _ in procs)
    for kind, pid, value in results:
        assert (kind, value) == ("ok", b"child"), results
        assert client.call("GET", f"from-{pid}") == b"child"


def test_fork_before_engine_loaded_is_fine(server):
    """import cpipe alone does not start Go, so a child forked then can use it."""
    proc = run_python('''
        import os, sys
        import cpipe, cpipe._engine as engine
        assert not engine.is_loaded()
        cpipe.Client, cpipe.Pool, cpipe.Pipeline, cpipe.ResponseError  # classes, still no engine
        assert not engine.is_loaded(), "touching the API started the Go runtime"
        port = int(sys.argv[1])
        pid = os.fork()
        if pid == 0:
            try:
                c = cpipe.Client(host="127.0.0.1", port=port, socket_timeout=10)
                ok = c.call("ECHO", "child") == b"child"
                c.close()
                os._exit(0 if ok else 1)
            except BaseException as e:
                print("child error", repr(e), flush=True)
                os._exit(2)
        _, status = os.waitpid(pid, 0)
        c = cpipe.Client(host="127.0.0.1", port=port, socket_timeout=10)
        print(os.waitstatus_to_exitcode(status), c.call("ECHO", "parent").decode(), engine.is_loaded())
    ''', str(server.port), timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == ["0", "parent", "True"], proc.stdout


def test_forked_child_exits_normally_with_clients_alive(server):
    """A forked child that just exits (running finalizers and __del__ on the
    inherited Client and Pool) must exit promptly and cleanly, and leave the
    parent's connections alone."""
    proc = run_python('''
        import os, sys, time
        import cpipe
        port = int(sys.argv[1])
        c = cpipe.Client(host="127.0.0.1", port=port, socket_timeout=10)
        p = cpipe.Pool(host="127.0.0.1", port=port, size=2, socket_timeout=10)
        c.call("SET", "fk", "v"); p.submit("PING").result(10)
        pid = os.fork()
        if pid == 0:
            try:
                c.call("PING")
            except cpipe.ForkError:
                pass
            sys.exit(0)   # normal interpreter shutdown: __del__, atexit
        deadline = time.monotonic() + 20
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            if time.monotonic() > deadline:
                os.kill(pid, 9); print("child hung"); sys.exit(1)
            time.sleep(0.01)
        print(os.waitstatus_to_exitcode(status), c.call("GET", "fk").decode(),
              p.submit("ECHO", "pool-ok").result(10).decode())
        p.close(); c.close()
    ''', str(server.port), timeout=60)
    assert proc.returncode == 0, (proc.stdout, proc.stderr[-2000:])
    assert proc.stdout.split() == ["0", "v", "pool-ok"], proc.stdout
