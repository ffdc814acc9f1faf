"""Failures: a server killed mid-pipeline, a dead server, restarts, stalls
(socket_timeout), malformed replies, a connection closed mid-reply.

Servers that misbehave on purpose are fakes on 127.0.0.1 (tests/client/_fake.py);
servers that die are real ones started for the test.
"""
from __future__ import annotations

import threading
import time

import pytest
import redis

import cpipe

from ._fake import FakeConn, FakeServer
from ._subproc import run_python


def _in_thread(fn, *args):
    """Start fn in a thread; returns (thread, outcome dict with 'result' or 'error')."""
    outcome: dict = {}

    def run():
        try:
            outcome["result"] = fn(*args)
        except BaseException as e:  # noqa: BLE001 - inspected by the test
            outcome["error"] = e
        outcome["end"] = time.monotonic()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, outcome


# -- a real server that dies --------------------------------------------------

def test_server_killed_while_pipeline_waits(make_client):
    from tests._servers import start_real_server

    srv = start_real_server("--enable-debug-command", "yes")
    try:
        c = make_client(srv, socket_timeout=30)
        assert c.call("PING") == b"PONG"
        started = threading.Event()

        def big_pipeline():
            pipe = c.pipeline(transaction=False)
            pipe.add_command("DEBUG", "SLEEP", "3")  # the server is busy: replies cannot all be in yet
            for i in range(300_000):
                pipe.add_command("SET", f"k{i}", "v" * 20)
            started.set()
            return pipe.execute()

        t, outcome = _in_thread(big_pipeline)
        assert started.wait(30)
        time.sleep(0.5)
        killed_at = time.monotonic()
        srv.proc.kill()
        t.join(15)
        assert not t.is_alive(), "pipeline hung after the server died"
        assert "result" not in outcome
        assert isinstance(outcome["error"], cpipe.ConnectionError), outcome
        assert outcome["end"] - killed_at < 5
        srv.restart()
        assert c.call("PING") == b"PONG"
        assert c.call("SET", "after", "1") == b"OK"
    finally:
        srv.stop()


def test_server_killed_under_continuous_pipelines(dedicated_server, make_client):
    c = make_client(dedicated_server, socket_timeout=30)
    stop = threading.Event()

    def loop():
        rounds = 0
        while not stop.is_set():
            pipe = c.pipeline(transaction=False)
            for i in range(20_000):
                pipe.add_command("INCR", f"n{i % 7}")
            replies = pipe.execute()
            assert len(replies) == 20_000
            rounds += 1
        return rounds

    t, outcome = _in_thread(loop)
    time.sleep(0.7)
    killed_at = time.monotonic()
    dedicated_server.proc.kill()
    t.join(15)
    stop.set()
    assert not t.is_alive(), "hung after the server died"
    assert isinstance(outcome.get("error"), cpipe.ConnectionError), outcome
    assert outcome["end"] - killed_at < 5


def test_server_killed_with_pool_futures_in_flight(dedicated_server):
    p = cpipe.Pool(host="127.0.0.1", port=dedicated_server.port, size=3, socket_timeout=30)
    try:
        futs = [p.submit("BLPOP", f"q{i}", 20) for i in range(3)]
        futs += [p.submit("INCR", "x") for _ in range(1000)]
        time.sleep(0.3)
        dedicated_server.proc.kill()
        deadline = time.monotonic() + 10
        for f in futs[:3]:
            exc = f.exception(timeout=max(0.1, deadline - time.monotonic()))
            assert isinstance(exc, cpipe.ConnectionError), exc
        for f in futs[3:]:  # each either got its reply before the kill, or failed
            exc = f.exception(timeout=max(0.1, deadline - time.monotonic()))
            assert exc is None or isinstance(exc, cpipe.ConnectionError), exc
        assert p.flush(5)
        dedicated_server.restart()
        # Recovers: idle connections that missed the kill may fail once each
        # (see test_idle_connection_closed_by_server_is_replaced), no more.
        failures = 0
        for _ in range(p.size + 1):
            try:
                assert p.call("PING") == b"PONG"
                break
            except cpipe.ConnectionError:
                failures += 1
        assert failures <= p.size
        for i in range(50):
            assert p.call("ECHO", i) == str(i).encode()
        assert p.submit("ECHO", "back").result(10) == b"back"
    finally:
        p.close()


def test_dead_server_fails_fast_and_reconnects_after_restart(dedicated_server, make_client):
    c = make_client(dedicated_server, socket_timeout=5)
    assert c.call("SET", "k", "v") == b"OK"
    dedicated_server.proc.kill()
    dedicated_server.proc.wait(10)
    for _ in range(3):
        t = time.monotonic()
        with pytest.raises(cpipe.ConnectionError):
            c.call("GET", "k")
        assert time.monotonic() - t < 1.0
    t = time.monotonic()
    with pytest.raises(cpipe.ConnectionError):
        c.pipeline(transaction=False).set("a", 1).get("a").execute()
    assert time.monotonic() - t < 1.0
    dedicated_server.restart()
    assert c.call("PING") == b"PONG"
    assert c.call("GET", "k") is None  # a new, empty server
    assert c.pipeline(transaction=False).set("a", 1).get("a").execute() == [True, b"1"]


def test_client_created_while_server_down(dedicated_server):
    dedicated_server.proc.kill()
    dedicated_server.proc.wait(10)
    c = cpipe.Client(host="127.0.0.1", port=dedicated_server.port)  # does not connect yet
    try:
        t = time.monotonic()
        with pytest.raises(cpipe.ConnectionError, match="refused"):
            c.call("PING")
        assert time.monotonic() - t < 1.0
        dedicated_server.restart()
        assert c.call("PING") == b"PONG"
    finally:
        c.close()


def test_pool_dead_server_fails_fast(dedicated_server):
    p = cpipe.Pool(host="127.0.0.1", port=dedicated_server.port, size=4)
    try:
        assert p.call("PING") == b"PONG"
        dedicated_server.proc.kill()
        dedicated_server.proc.wait(10)
        t = time.monotonic()
        for _ in range(5):
            with pytest.raises(cpipe.ConnectionError):
                p.call("PING")
        assert isinstance(p.submit("PING").exception(timeout=5), cpipe.ConnectionError)
        assert time.monotonic() - t < 3.0
        dedicated_server.restart()
        assert p.call("PING") == b"PONG"
    finally:
        p.close()


@pytest.mark.parametrize("how", ["client-kill", "server-restart"])
def test_idle_connection_closed_by_server_is_replaced(dedicated_server, make_client, how):
    """A connection the server closed while it was idle (restart, CLIENT KILL,
    the server's `timeout` setting) must not fail the next command: nothing of
    that command was sent, so the engine can reconnect and send it safely, as
    go-redis (conn health check) and redis-py (retry) do."""
    c = make_client(dedicated_server)
    assert c.call("SET", "k", "v") == b"OK"
    if how == "client-kill":
        cid = c.call("CLIENT", "ID")
        r = redis.Redis(host="127.0.0.1", port=dedicated_server.port)
        try:
            assert r.client_kill_filter(_id=cid) == 1
        finally:
            r.close()
    else:
        dedicated_server.restart()
    time.sleep(0.2)  # the FIN has arrived long before the next command
    assert c.call("PING") == b"PONG"


def test_pool_survives_server_restart_between_commands(dedicated_server):
    """The same for a pool: after a restart, no command may fail."""
    p = cpipe.Pool(host="127.0.0.1", port=dedicated_server.port, size=4)
    try:
        warm = [threading.Thread(target=lambda: [p.call("INCR", "w") for _ in range(200)]) for _ in range(8)]
        for t in warm:
            t.start()
        for t in warm:
            t.join(30)
        assert p.call("GET", "w") == b"1600"
        dedicated_server.restart()
        time.sleep(0.2)
        failures = []
        for i in range(20):
            try:
                p.call("ECHO", i)
            except cpipe.ConnectionError as e:
                failures.append(e)
        assert failures == []
    finally:
        p.close()


# -- socket_timeout on a server that stalls -----------------------------------

def _stall_first_connection(late_reply_after=None):
    def behaviour(index: int, conn: FakeConn) -> None:
        if index == 0:
            reqs = conn.requests()
            if reqs and late_reply_after is not None:
                time.sleep(late_reply_after)
                conn.send(b"".join(conn.answer(r) for r in reqs))  # too late: must not be read by anyone
            conn.wait_eof()
        else:
            conn.serve_properly()
    return behaviour


@pytest.mark.parametrize("late", [None, 1.0], ids=["never-answers", "answers-late"])
def test_socket_timeout_then_new_connection_in_step(late):
    with FakeServer(_stall_first_connection(late)) as fake:
        c = cpipe.Client(host="127.0.0.1", port=fake.port, socket_timeout=0.5)
        try:
            t = time.monotonic()
            with pytest.raises(cpipe.TimeoutError):
                c.call("ECHO", "first")
            elapsed = time.monotonic() - t
            assert 0.45 <= elapsed < 3.0, elapsed
            # the timed-out connection was closed by the client
            assert fake.wait_closed(0)
            if late:
                time.sleep(late)  # the late reply has been sent by now
            assert c.call("ECHO", "second") == b"second"
            assert fake.accepts == 2
            assert c.call("ECHO", "third") == b"third"
            assert c.call("SET", "k", "v") == b"OK" and c.call("GET", "k") == b"v"
            assert fake.accepts == 2
        finally:
            c.close()


def test_socket_timeout_on_pipeline():
    with FakeServer(_stall_first_connection()) as fake:
        c = cpipe.Client(host="127.0.0.1", port=fake.port, socket_timeout=0.5)
        try:
            pipe = c.pipeline(transaction=False)
            for i in range(100):
                pipe.add_command("ECHO", f"p{i}")
            t = time.monotonic()
            with pytest.raises(cpipe.TimeoutError):
                pipe.execute()
            assert 0.45 <= time.monotonic() - t < 3.0
            for i in range(100):
                pipe.add_command("ECHO", f"q{i}")
            assert pipe.execute() == [f"q{i}".encode() for i in range(100)]
            assert fake.accepts == 2
        finally:
            c.close()


def test_socket_timeout_on_pool():
    with FakeServer(_stall_first_connection()) as fake:
        p = cpipe.Pool(host="127.0.0.1", port=fake.port, size=1, socket_timeout=0.5)
        try:
            f = p.submit("ECHO", "a")
            exc = f.exception(timeout=5)
            assert isinstance(exc, cpipe.TimeoutError), exc
            assert p.submit("ECHO", "b").result(timeout=5) == b"b"
            assert p.call("ECHO", "c") == b"c"
        finally:
            p.close()


def test_timeout_error_is_not_connection_error():
    # redis-py keeps these apart; so must we (retry policies depend on it)
    assert not issubclass(cpipe.TimeoutError, cpipe.ConnectionError)
    assert not issubclass(cpipe.ConnectionError, cpipe.TimeoutError)


def test_no_socket_timeout_waits_for_slow_reply():
    def behaviour(index, conn):
        reqs = conn.requests()
        time.sleep(1.0)
        conn.send(b"".join(conn.answer(r) for r in reqs))
        conn.serve_properly()

    with FakeServer(behaviour) as fake:
        c = cpipe.Client(host="127.0.0.1", port=fake.port, socket_timeout=None)
        try:
            t, outcome = _in_thread(c.call, "ECHO", "slow")
            t.join(10)
            assert outcome.get("result") == b"slow", outcome
        finally:
            c.close()


# -- malformed replies and connections closed mid-reply ------------------------

MALFORMED = [
    b"?garbage\r\n",
    b"$abc\r\n",
    b"$-5\r\n",
    b"*x\r\n",
    b":12a\r\n",
    b"$99999999999999\r\n",          # beyond proto-max-bulk-len: refuse, do not allocate
    b"+OK\n",                        # LF without CR
    b"$3\r\nabcXY",                  # bulk not followed by CRLF
    b"%-1\r\n",                      # RESP3 has no null map (its null is "_")
    b",1_000\r\n",                   # a RESP3 double the server cannot mean
]


@pytest.mark.parametrize("reply", MALFORMED, ids=[repr(m)[2:-1][:20] for m in MALFORMED])
def test_malformed_reply_is_protocol_error_then_reconnect(reply):
    def behaviour(index, conn):
        if index == 0:
            conn.requests()
            conn.send(reply)
            conn.wait_eof()
        else:
            conn.serve_properly()

    with FakeServer(behaviour) as fake:
        c = cpipe.Client(host="127.0.0.1", port=fake.port, socket_timeout=5)
        try:
            with pytest.raises(cpipe.ProtocolError):
                c.call("ECHO", "a")
            assert c.call("ECHO", "b") == b"b"
            assert fake.accepts == 2
            assert fake.wait_closed(0)
        finally:
            c.close()


@pytest.mark.parametrize("reply", [b"\r\n", b"*2\r\n:1\r\n\r\n", b"*1\r\n*1\r\n\r\n"],
                         ids=["empty-line", "empty-line-in-array", "empty-line-nested"])
def test_empty_reply_line_does_not_crash_the_process(reply):
    """An empty line (CRLF with no type byte) must be a ProtocolError.

    Run in a child process: the engine's RESP reader slices q[1:nl-1] with
    nl == 1, a Go panic that aborts the whole Python process."""
    code = '''
        import sys, cpipe
        from tests.client._fake import FakeServer
        bad = bytes.fromhex(sys.argv[1])
        def behaviour(index, conn):
            if index == 0:
                conn.requests(); conn.send(bad); conn.wait_eof()
            else:
                conn.serve_properly()
        with FakeServer(behaviour) as fake:
            c = cpipe.Client(host="127.0.0.1", port=fake.port, socket_timeout=5)
            try:
                c.call("ECHO", "a")
                print("no error")
            except cpipe.ProtocolError:
                print("ProtocolError")
            print(c.call("ECHO", "b").decode())
            c.close()
    '''
    proc = run_python(code, reply.hex(), timeout=30)
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-1500:])
    assert proc.stdout.split() == ["ProtocolError", "b"]


@pytest.mark.parametrize("partial", [b"$10\r\nabc", b"*3\r\n:1\r\n", b"+OK", b"$5\r\n"],
                         ids=["bulk", "array", "simple", "bulk-header"])
def test_connection_closed_mid_reply(partial):
    def behaviour(index, conn):
        if index == 0:
            conn.requests()
            conn.send(partial)
            time.sleep(0.1)
            conn.sock.close()
        else:
            conn.serve_properly()

    with FakeServer(behaviour) as fake:
        c = cpipe.Client(host="127.0.0.1", port=fake.port, socket_timeout=5)
        try:
            t = time.monotonic()
            with pytest.raises(cpipe.ConnectionError) as exc:
                c.call("ECHO", "a")
            assert time.monotonic() - t < 3
            assert not isinstance(exc.value, cpipe.TimeoutError)
            assert c.call("ECHO", "b") == b"b"
            assert fake.accepts == 2
        finally:
            c.close()


def test_protocol_error_mid_pipeline_fails_whole_batch_and_reconnects():
    def behaviour(index, conn):
        if index == 0:
            reqs = conn.requests()
            # first reply fine, then garbage
            conn.send(conn.answer(reqs[0]) + b"!nonsense\r\n")
            conn.wait_eof()
        else:
            conn.serve_properly()

    with FakeServer(behaviour) as fake:
        c = cpipe.Client(host="127.0.0.1", port=fake.port, socket_timeout=5)
        try:
            pipe = c.pipeline(transaction=False)
            for i in range(10):
                pipe.add_command("ECHO", f"x{i}")
            with pytest.raises(cpipe.ProtocolError):
                pipe.execute()
            for i in range(10):
                pipe.add_command("ECHO", f"y{i}")
            assert pipe.execute() == [f"y{i}".encode() for i in range(10)]
        finally:
            c.close()


# -- timeouts apply per read, and Ctrl-C -----------------------------------------

def test_socket_timeout_is_per_read_not_per_pipeline(real_server, make_client):
    # A pipeline whose replies keep streaming for longer than socket_timeout
    # is not a timeout.
    timeout = 0.5
    c = make_client(real_server, socket_timeout=timeout)
    pipe = c.pipeline(transaction=False)
    n = 1_500_000
    for i in range(n):
        pipe.add_command("SET", b"pr%d" % (i % 1000), b"v" * 200)
    t = time.monotonic()
    replies = pipe.execute()
    elapsed = time.monotonic() - t
    assert len(replies) == n and replies[-1] == b"OK"
    assert elapsed > 2 * timeout, "the pipeline was too quick to show anything"
    # Not on c: freeing a shared server's keys can take longer than 0.5 s
    # (CI: FLUSHALL timed out there after the pipeline had passed).
    make_client(real_server).call("FLUSHALL")


def test_ctrl_c_during_blocking_call_is_seen_when_it_returns(real_server):
    """The engine installs no SIGINT handler: Python's KeyboardInterrupt is
    raised once the call returns, and the connection is still in step."""
    proc = run_python('''
        import os, signal, sys, threading, time
        import cpipe
        c = cpipe.Client(host="127.0.0.1", port=int(sys.argv[1]), socket_timeout=10)
        c.call("PING")
        threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT)).start()
        t = time.monotonic()
        try:
            c.call("BLPOP", "ctrl-c-list", 1.5)
            print("no-interrupt")
        except KeyboardInterrupt:
            print("KeyboardInterrupt", "%.1f" % (time.monotonic() - t))
        print(c.call("ECHO", "after").decode())
    ''', str(real_server.port), timeout=30)
    assert proc.returncode == 0, proc.stderr[-2000:]
    words = proc.stdout.split()
    assert words[0] == "KeyboardInterrupt" and words[-1] == "after", proc.stdout
    assert float(words[1]) < 5.0


def test_max_clients_reached_is_connection_error():
    """The server answers a connection over maxclients with
    '-ERR max number of clients reached' and closes it; redis-py raises
    ConnectionError. A ResponseError would claim the connection is usable."""
    from tests._servers import start_real_server

    srv = start_real_server("--maxclients", "1")
    holder = redis.Redis(host="127.0.0.1", port=srv.port)
    try:
        assert holder.ping()
        c = cpipe.Client(host="127.0.0.1", port=srv.port, socket_timeout=5)
        try:
            with pytest.raises(cpipe.ConnectionError, match="max number of clients"):
                c.call("PING")
            holder.close()
            time.sleep(0.2)
            assert c.call("PING") == b"PONG"
        finally:
            c.close()
    finally:
        holder.close()
        srv.stop()
