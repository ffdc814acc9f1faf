"""Pipelines and transactions: order, callbacks, errors in place or raised,
MULTI/EXEC atomicity, EXECABORT, and a 1,000,000-command pipeline."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading

import pytest

import cpipe

from ._subproc import child_env


def test_replies_in_order(client):
    pipe = client.pipeline(transaction=False)
    for i in range(500):
        pipe.add_command("SET", f"k{i}", i)
        pipe.add_command("GET", f"k{i}")
        pipe.add_command("INCR", "n")
        pipe.add_command("ECHO", f"e{i}")
    replies = pipe.execute()
    assert len(replies) == 2000
    for i in range(500):
        assert replies[4 * i:4 * i + 4] == [b"OK", str(i).encode(), i + 1, f"e{i}".encode()]


def test_callbacks_applied_in_pipeline(client):
    pipe = client.pipeline(transaction=False)
    pipe.set("s", "v")
    pipe.hset("h", mapping={"a": "1", "b": "2"})
    pipe.hgetall("h")
    pipe.get("s")
    pipe.exists("s", "h", "missing")
    pipe.ping()
    pipe.hgetall("missing")
    pipe.incr("n")
    assert pipe.execute() == [True, 2, {b"a": b"1", b"b": b"2"}, b"v", 2, True, {}, 1]


def test_pipeline_methods_chain_and_len(client):
    pipe = client.pipeline(transaction=False)
    assert pipe.set("a", 1).incr("a").get("a") is pipe
    assert len(pipe) == 3
    assert pipe.execute() == [True, 2, b"2"]
    assert len(pipe) == 0


def test_callbacks_with_decode_responses(server, make_client):
    c = make_client(server, decode_responses=True)
    c.call("DEL", "h")
    pipe = c.pipeline(transaction=False)
    pipe.hset("h", "ä", "ö").hgetall("h").get("missing")
    assert pipe.execute() == [1, {"ä": "ö"}, None]


def test_errors_in_place_without_raise(client):
    client.call("SET", "str", "text")
    pipe = client.pipeline(transaction=False)
    pipe.set("a", 1)
    pipe.incr("str")
    pipe.hgetall("str")
    pipe.get("a")
    pipe.add_command("NOSUCHCOMMAND")
    pipe.incr("a")
    replies = pipe.execute(raise_on_error=False)
    assert len(replies) == 6
    assert replies[0] is True and replies[3] == b"1" and replies[5] == 2
    assert isinstance(replies[1], cpipe.ResponseError)
    assert "not an integer" in str(replies[1])
    assert isinstance(replies[2], cpipe.ResponseError)
    assert str(replies[2]).startswith("WRONGTYPE")
    assert isinstance(replies[4], cpipe.ResponseError)
    assert "unknown command" in str(replies[4])
    assert client.call("GET", "a") == b"2"


def test_errors_raised_after_whole_batch(client):
    client.call("SET", "str", "text")
    pipe = client.pipeline(transaction=False)
    pipe.set("before", 1)
    pipe.incr("str")
    pipe.set("after", 2)
    pipe.incr("str")
    pipe.echo("last")
    with pytest.raises(cpipe.ResponseError) as exc:
        pipe.execute()  # raise_on_error defaults to True
    msg = str(exc.value)
    assert "Command # 2 (INCRBY str 1)" in msg and "not an integer" in msg, msg
    # every command was sent and its reply read: the connection is in step
    assert client.call("GET", "before") == b"1"
    assert client.call("GET", "after") == b"2"
    assert client.call("ECHO", "next") == b"next"
    assert client.call("GET", "str") == b"text"


def test_error_message_matches_redis_py_first_error(client, redis_py):
    client.call("SET", "str", "text")
    rp = redis_py.pipeline(transaction=False)
    rp.get("str").incr("str").get("str")
    with pytest.raises(Exception) as expected:
        rp.execute()
    pipe = client.pipeline(transaction=False)
    pipe.get("str").incr("str").get("str")
    with pytest.raises(cpipe.ResponseError) as got:
        pipe.execute()
    # the same message: the second command with its arguments, and the server's text
    # (incr() sends INCRBY name 1, in both clients)
    assert str(got.value) == str(expected.value)
    assert type(got.value) is type(expected.value)
    assert str(got.value).startswith("Command # 2 (INCRBY str 1)")
    assert str(got.value).endswith("value is not an integer or out of range")
    assert str(expected.value).endswith("value is not an integer or out of range")


def test_empty_pipeline(client):
    assert client.pipeline(transaction=False).execute() == []
    assert client.pipeline(transaction=True).execute() == []
    assert client.execute() == []
    assert client.call("PING") == b"PONG"


def test_pipeline_context_manager(client):
    with client.pipeline(transaction=False) as pipe:
        pipe.set("a", 1).get("a")
        assert pipe.execute() == [True, b"1"]
        pipe.set("b", 2)
    # leaving the block discards what was queued and not executed
    assert len(pipe) == 0
    assert client.call("EXISTS", "b") == 0


def test_pipeline_reused_after_execute(client):
    pipe = client.pipeline(transaction=False)
    pipe.incr("n")
    assert pipe.execute() == [1]
    assert pipe.execute() == []
    pipe.incr("n")
    assert pipe.execute() == [2]


def test_pipeline_of_raw_tuples_and_lists_via_execute_command(client, redis_py):
    pipe = client.pipeline(transaction=False)
    pipe.execute_command("SET", "k", "v")
    pipe.execute_command("HSET", "h", "f", "x")
    pipe.execute_command("HGETALL", "h")
    pipe.execute_command("GET", "k")
    ours = pipe.execute()
    client.call("FLUSHALL")
    rp = redis_py.pipeline(transaction=False)
    rp.execute_command("SET", "k", "v")
    rp.execute_command("HSET", "h", "f", "x")
    rp.execute_command("HGETALL", "h")
    rp.execute_command("GET", "k")
    assert ours == rp.execute()


# -- transactions ------------------------------------------------------------

def test_transaction_replies(client):
    pipe = client.pipeline(transaction=True)
    pipe.set("a", 1).incr("a").hset("h", "f", "v").hgetall("h").get("missing")
    assert pipe.execute() == [True, 2, 1, {b"f": b"v"}, None]
    assert client.call("GET", "a") == b"2"


def test_transaction_runtime_error_in_place(client):
    client.call("SET", "str", "text")
    pipe = client.pipeline(transaction=True)
    pipe.set("a", 1).incr("str").incr("a")
    replies = pipe.execute(raise_on_error=False)
    assert replies[0] is True and replies[2] == 2
    assert isinstance(replies[1], cpipe.ResponseError)
    # the rest of the transaction still ran, as Redis does
    assert client.call("GET", "a") == b"2"
    pipe.set("b", 1).incr("str")
    with pytest.raises(cpipe.ResponseError, match="Command # 2 \\(INCRBY str 1\\)"):
        pipe.execute()
    assert client.call("GET", "b") == b"1"
    assert client.call("ECHO", "in step") == b"in step"


def test_transaction_execabort(client, redis_py):
    pipe = client.pipeline(transaction=True)
    pipe.set("a", 1)
    pipe.add_command("GET")  # wrong number of arguments: refused while queueing
    pipe.set("b", 2)
    with pytest.raises(cpipe.ResponseError) as exc:
        pipe.execute()
    assert "wrong number of arguments" in str(exc.value)
    assert "Command # 2 (GET)" in str(exc.value)
    # EXECABORT: nothing in the transaction ran, the connection is usable
    assert client.call("EXISTS", "a", "b") == 0
    assert client.call("SET", "c", "3") == b"OK"
    assert client.call("GET", "c") == b"3"
    # redis-py raises for the same transaction too, and also applies nothing
    rp = redis_py.pipeline(transaction=True)
    rp.set("a", 1).execute_command("GET").set("b", 2)
    with pytest.raises(Exception, match="wrong number of arguments"):
        rp.execute()
    assert client.call("EXISTS", "a", "b") == 0


def test_transaction_execabort_raw(client):
    # Without the pipeline's wrapper: MULTI/.../EXEC as plain commands.
    client.add_command("MULTI")
    client.add_command("SET", "a", "1")
    client.add_command("NOSUCHCOMMAND")
    client.add_command("EXEC")
    replies = client.execute()
    assert replies[0] == b"OK" and replies[1] == b"QUEUED"
    assert isinstance(replies[2], cpipe.ResponseError)
    assert isinstance(replies[3], cpipe.ExecAbortError)
    assert "Transaction discarded" in str(replies[3])
    assert client.call("EXISTS", "a") == 0


def _check_atomic(run_transaction, hammer, rounds=150):
    """run_transaction() returns (first, last) reads of a key that hammer()
    keeps incrementing from elsewhere; in a transaction they must be equal."""
    stop = threading.Event()
    errors = []

    def hammering():
        try:
            while not stop.is_set():
                hammer()
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    t = threading.Thread(target=hammering)
    t.start()
    try:
        seen = set()
        for _ in range(rounds):
            first, last = run_transaction()
            assert first == last
            seen.add(first)
    finally:
        stop.set()
        t.join(30)
    assert not t.is_alive()
    assert errors == []
    return seen


def test_transaction_is_atomic_against_another_client(server, make_client):
    c = make_client(server)
    other = make_client(server)
    c.call("SET", "ctr", 0)

    def transaction():
        pipe = c.pipeline(transaction=True)
        pipe.get("ctr")
        for i in range(50):
            pipe.set(f"junk{i}", i)
        pipe.get("ctr")
        r = pipe.execute()
        return r[0], r[-1]

    def hammer():
        pipe = other.pipeline(transaction=False)
        for _ in range(50):
            pipe.incr("ctr")
        assert all(isinstance(x, int) for x in pipe.execute())

    seen = _check_atomic(transaction, hammer)
    assert len(seen) > 1  # the counter really moved between transactions


def test_transaction_atomic_on_shared_autopipelined_connection(server, make_client):
    # One connection, coalescing two threads' commands: the MULTI...EXEC block
    # must still be written contiguously (an INCR inside it would get QUEUED).
    c = make_client(server, autopipeline=True)
    c.call("SET", "ctr", 0)

    def transaction():
        pipe = c.pipeline(transaction=True)
        pipe.get("ctr")
        for i in range(20):
            pipe.echo(i)
        pipe.get("ctr")
        r = pipe.execute()
        assert r[1:-1] == [str(i).encode() for i in range(20)]
        return r[0], r[-1]

    def hammer():
        reply = c.call("INCR", "ctr")
        assert isinstance(reply, int), reply

    _check_atomic(transaction, hammer, rounds=300)


def test_command_after_transaction_is_not_queued(client):
    pipe = client.pipeline(transaction=True)
    pipe.set("a", 1)
    pipe.execute()
    # if EXEC had not been sent, this would reply QUEUED
    assert client.call("GET", "a") == b"1"
    assert client.call("MULTI") == b"OK"
    assert client.call("DISCARD") == b"OK"


# -- a very large pipeline ----------------------------------------------------

MILLION_SCRIPT = textwrap.dedent('''
    import gc, json, resource, sys, time
    import cpipe

    def status_kib(field):
        # VmHWM is the peak RSS of this process image; ru_maxrss is not enough
        # on Linux, since after fork+exec it starts at the parent's peak.
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])

    def maxrss_kib():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    N = 1_000_000
    port = int(sys.argv[1])
    c = cpipe.Client(host="127.0.0.1", port=port, socket_timeout=120)
    c.call("FLUSHALL")
    out = {"base_rss_kib": status_kib("VmRSS"), "base_maxrss_kib": maxrss_kib()}

    t = time.monotonic()
    pipe = c.pipeline(transaction=False)
    for _ in range(N):
        pipe.add_command("INCR", "million")
    replies = pipe.execute()
    out["incr_seconds"] = time.monotonic() - t
    out["incr_hwm_kib"] = status_kib("VmHWM")
    out["incr_maxrss_kib"] = maxrss_kib()
    out["incr_count"] = len(replies)
    out["incr_ok"] = replies == list(range(1, N + 1))
    out["final"] = int(c.call("GET", "million"))
    del replies, pipe
    gc.collect()

    t = time.monotonic()
    pipe = c.pipeline(transaction=False)
    for i in range(N):
        pipe.add_command("SET", b"m:%d" % i, b"v%d" % i)
    replies = pipe.execute()
    out["set_seconds"] = time.monotonic() - t
    out["set_hwm_kib"] = status_kib("VmHWM")
    out["set_maxrss_kib"] = maxrss_kib()
    out["set_count"] = len(replies)
    out["set_ok"] = replies.count(b"OK") == N
    out["spot"] = [c.call("GET", b"m:%d" % i).decode() for i in (0, 123456, N - 1)]
    out["dbsize"] = c.call("DBSIZE")
    c.call("FLUSHALL")
    c.close()
    print(json.dumps(out))
''')


def test_million_command_pipeline(server, tmp_path):
    env = child_env()
    script = tmp_path / "million.py"
    script.write_text(MILLION_SCRIPT)
    proc = subprocess.run([sys.executable, str(script), str(server.port)],
                          capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    n = 1_000_000
    assert out["incr_count"] == n and out["incr_ok"] and out["final"] == n
    assert out["set_count"] == n and out["set_ok"]
    assert out["spot"] == ["v0", "v123456", f"v{n - 1}"]
    assert out["dbsize"] == n + 1
    mib = 1024  # KiB per MiB
    growth_incr = (out["incr_hwm_kib"] - out["base_rss_kib"]) / mib
    growth_set = (out["set_hwm_kib"] - out["base_rss_kib"]) / mib
    print(f"\n1M pipeline: INCR {out['incr_seconds']:.2f}s, SET {out['set_seconds']:.2f}s; "
          f"peak RSS growth (VmHWM - base VmRSS) INCR {growth_incr:.0f} MiB, SET {growth_set:.0f} MiB; "
          f"ru_maxrss {out['base_maxrss_kib'] / mib:.0f} -> {out['incr_maxrss_kib'] / mib:.0f} "
          f"-> {out['set_maxrss_kib'] / mib:.0f} MiB")
    assert 0 < growth_incr < 1536
    assert 0 < growth_set < 1536
    assert out["set_maxrss_kib"] >= out["set_hwm_kib"]  # getrusage agrees the peak was reached


def test_watch_conflict_raises_watch_error(server, make_client):
    c = make_client(server)
    other = make_client(server)
    c.call("SET", "watched", "0")
    assert c.call("WATCH", "watched") == b"OK"
    other.call("SET", "watched", "changed")
    pipe = c.pipeline(transaction=True)
    pipe.set("watched", "mine").set("side-effect", 1)
    with pytest.raises(cpipe.WatchError):
        pipe.execute()
    assert c.call("GET", "watched") == b"changed"
    assert c.call("EXISTS", "side-effect") == 0
    # without a conflict the same transaction runs
    assert c.call("WATCH", "watched") == b"OK"
    pipe.set("watched", "mine").set("side-effect", 1)
    assert pipe.execute() == [True, True]
    assert c.call("GET", "watched") == b"mine"


def test_watch_connection_disconnected_is_closed_and_never_reconnected(server, make_client):
    # redis-py's pipe.connection has is_connected, connect() and disconnect();
    # a WATCH connection that was disconnected already lost its WATCH, so
    # reset() sends no UNWATCH, and the pipeline never reconnects it.
    c = make_client(server)
    c.set("a", 0)
    pipe = c.pipeline()
    pipe.watch("a")
    leased = pipe.connection
    assert leased.is_connected
    leased.connect()  # connected: nothing to do
    leased.disconnect()
    assert not leased.is_connected
    with pytest.raises(cpipe.ConnectionError):
        leased.connect()
    pipe.reset()
    assert pipe.watching is False and pipe.connection is None
    assert not leased.is_connected  # closed, not a spare for the next WATCH
    pipe.watch("a")
    assert pipe.connection is not leased and pipe.connection.is_connected
    pipe.connection.disconnect()
    with pytest.raises(cpipe.WatchError):  # a command after the loss: the WATCH is gone
        pipe.get("a")
    assert pipe.connection is None and pipe.watching is False
    assert c.get("a") == b"0"  # the client itself is unaffected
