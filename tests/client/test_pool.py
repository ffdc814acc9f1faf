"""Pool: many threads on a few connections, futures, flush, pipelines,
blocking commands, close()."""
from __future__ import annotations

import concurrent.futures
import threading
import time

import pytest

import cpipe


POOL_SIZE = 4  # the `pool` fixture's (tests/client/conftest.py)


def _run_threads(target, n, timeout=120):
    errors = []

    def wrapped(i):
        try:
            target(i)
        except BaseException as e:  # noqa: BLE001 - reported by the caller
            errors.append((i, e))

    threads = [threading.Thread(target=wrapped, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + timeout
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    assert not any(t.is_alive() for t in threads), "threads still running: a hang"
    assert errors == [], errors[:3]


def test_pool_repr_and_size(pool):
    assert pool.size == 4
    assert "size=4" in repr(pool)
    with pytest.raises(ValueError):
        cpipe.Pool(host="127.0.0.1", port=6379, size=0)


def test_sixteen_threads_hammer_one_pool(pool):
    per_thread = 1500

    def work(t):
        for i in range(per_thread):
            key = f"t{t}:k{i}"
            value = f"{t}-{i}-" + "x" * (i % 50)
            assert pool.call("SET", key, value) == b"OK"
            assert pool.call("GET", key) == value.encode()
            assert pool.call("INCR", f"t{t}:n") == i + 1
            if i % 100 == 0:
                assert pool.hset(f"t{t}:h", str(i), i) == 1
                assert pool.hget(f"t{t}:h", str(i)) == str(i).encode()

    _run_threads(work, 16)
    check = pool.pipeline(transaction=False)
    for t in range(16):
        check.add_command("GET", f"t{t}:n")
        check.add_command("HLEN", f"t{t}:h")
    assert check.execute() == [str(per_thread).encode(), per_thread // 100] * 16


def test_threads_mix_pipelines_and_calls(pool):
    def work(t):
        for round_ in range(30):
            pipe = pool.pipeline(transaction=False)
            for i in range(100):
                pipe.add_command("RPUSH", f"l{t}", f"{round_}:{i}")
            replies = pipe.execute()
            assert replies == list(range(round_ * 100 + 1, round_ * 100 + 101))
            assert pool.call("LINDEX", f"l{t}", -1) == f"{round_}:99".encode()
            tx = pool.pipeline(transaction=True)
            tx.incr(f"c{t}").get(f"c{t}")
            assert tx.execute() == [round_ + 1, str(round_ + 1).encode()]

    _run_threads(work, 8)
    for t in range(8):
        assert pool.call("LLEN", f"l{t}") == 3000


def test_submit_futures(pool):
    futs = [pool.submit("INCR", "sub") for _ in range(10000)]
    assert all(isinstance(f, concurrent.futures.Future) for f in futs)
    results = [f.result(timeout=60) for f in futs]
    # each INCR got its own reply; together they are exactly 1..N
    assert sorted(results) == list(range(1, 10001))
    assert pool.call("GET", "sub") == b"10000"


def test_submit_replies_match_their_commands(pool):
    futs = {i: pool.submit("ECHO", f"echo-{i}") for i in range(5000)}
    for i, f in futs.items():
        assert f.result(timeout=60) == f"echo-{i}".encode()


def test_submit_from_many_threads(pool):
    def work(t):
        futs = [(i, pool.submit("SET", f"s{t}:{i}", i)) for i in range(1000)]
        for _, f in futs:
            assert f.result(timeout=60) == b"OK"
        gets = [(i, pool.submit("GET", f"s{t}:{i}")) for i in range(1000)]
        for i, f in gets:
            assert f.result(timeout=60) == str(i).encode()

    _run_threads(work, 16)


def test_phset_phget(pool):
    sets = [pool.phset("ph", f"f{i}", f"v{i}") for i in range(3000)]
    assert [f.result(timeout=60) for f in sets] == [1] * 3000
    again = pool.phset("ph", "f0", "new")
    assert again.result(timeout=10) == 0
    gets = [pool.phget("ph", f"f{i}") for i in range(1, 3000)]
    assert [f.result(timeout=60) for f in gets] == [f"v{i}".encode() for i in range(1, 3000)]
    assert pool.phget("ph", "f0").result(timeout=10) == b"new"
    assert pool.phget("ph", "absent").result(timeout=10) is None


def test_future_error_reply(pool):
    pool.call("SET", "str", "x")
    f = pool.submit("INCR", "str")
    exc = f.exception(timeout=10)
    assert isinstance(exc, cpipe.ResponseError) and "not an integer" in str(exc)
    with pytest.raises(cpipe.ResponseError):
        f.result(0)
    assert pool.submit("GET", "str").result(10) == b"x"


def test_future_protocol(pool):
    done = threading.Event()
    seen = []
    f = pool.submit("ECHO", "cb")
    f.add_done_callback(lambda fut: (seen.append(fut.result()), done.set()))
    assert done.wait(10)
    assert seen == [b"cb"]
    assert f.done() and not f.cancelled()
    assert f.cancel() is False
    futs = [pool.submit("PING") for _ in range(100)]
    finished, pending = concurrent.futures.wait(futs, timeout=30)
    assert not pending and len(finished) == 100
    assert all(f.result() == b"PONG" for f in concurrent.futures.as_completed(futs, timeout=10))


def test_submit_bad_argument_raises_at_once(pool):
    with pytest.raises(cpipe.DataError):
        pool.submit("SET", "k", None)
    with pytest.raises(cpipe.DataError):
        pool.phset("h", "f", {"no": 1})
    assert pool.flush(5) is True  # no orphaned future
    assert pool.call("EXISTS", "k", "h") == 0


def test_flush(pool):
    futs = [pool.phset("fl", f"f{i}", i) for i in range(20000)]
    assert pool.flush(timeout=60) is True
    assert all(f.done() for f in futs)
    assert pool.call("HLEN", "fl") == 20000
    assert pool.flush(1) is True  # nothing outstanding


def test_flush_timeout_with_blocking_command(pool):
    f = pool.submit("BLPOP", "never-pushed", 2)
    t = time.monotonic()
    assert pool.flush(timeout=0.3) is False
    assert time.monotonic() - t < 2
    assert not f.done()
    assert pool.flush(timeout=10) is True
    assert f.result(0) is None


def test_decode_responses_futures(server):
    with cpipe.Pool(host="127.0.0.1", port=server.port, size=2, decode_responses=True) as p:
        p.phset("dh", "ä", "ö").result(10)
        assert p.phget("dh", "ä").result(10) == "ö"


def test_blocking_command_does_not_stall_others(pool):
    # As many BLPOPs as the pool has connections, from threads and futures.
    blockers = [pool.submit("BLPOP", f"bq{i}", 5) for i in range(4)]
    thread_results = []
    blocking_threads = [threading.Thread(target=lambda i=i: thread_results.append(pool.blpop([f"bt{i}"], 5)))
                        for i in range(2)]
    for t in blocking_threads:
        t.start()
    time.sleep(0.2)

    def work(t):
        for i in range(300):
            assert pool.call("INCR", f"nb{t}") == i + 1

    _run_threads(work, 8, timeout=30)
    # everyone else finished while all the BLPOPs were still waiting
    assert not any(f.done() for f in blockers)
    assert all(t.is_alive() for t in blocking_threads)
    # and the blocked ones get their values when they arrive
    for i in range(4):
        pool.call("RPUSH", f"bq{i}", f"item{i}")
    for i in range(2):
        pool.call("RPUSH", f"bt{i}", f"titem{i}")
    assert [f.result(10) for f in blockers] == [[f"bq{i}".encode(), f"item{i}".encode()] for i in range(4)]
    for t in blocking_threads:
        t.join(10)
        assert not t.is_alive()
    assert sorted(tuple(r) for r in thread_results) == [(b"bt0", b"titem0"), (b"bt1", b"titem1")]


def test_blocking_longer_than_socket_timeout(server):
    with cpipe.Pool(host="127.0.0.1", port=server.port, size=2, socket_timeout=0.5) as p:
        t = time.monotonic()
        assert p.call("BLPOP", "nothing-here", 1.5) is None
        assert time.monotonic() - t >= 1.4
        assert p.submit("BLPOP", "nothing-here", 1).result(10) is None


def test_pipeline_from_pool(pool):
    pipe = pool.pipeline(transaction=False)
    for i in range(5000):
        pipe.set(f"pp{i}", i)
    pipe.get("pp4999")
    pipe.hset("pph", "a", "b").hgetall("pph")
    replies = pipe.execute()
    assert replies[:5000] == [True] * 5000
    assert replies[5000:] == [b"4999", 1, {b"a": b"b"}]


def test_close_fails_pending_futures(server):
    p = cpipe.Pool(host="127.0.0.1", port=server.port, size=2, socket_timeout=10)
    assert p.call("PING") == b"PONG"
    pending = [p.submit("BLPOP", f"never{i}", 10) for i in range(3)]
    time.sleep(0.2)
    assert not any(f.done() for f in pending)
    t = time.monotonic()
    p.close()
    for f in pending:
        exc = f.exception(timeout=5)
        assert isinstance(exc, cpipe.ConnectionError), exc
    assert time.monotonic() - t < 5
    with pytest.raises(cpipe.ConnectionError):
        p.submit("PING")
    with pytest.raises(cpipe.ConnectionError):
        p.call("PING")
    with pytest.raises(cpipe.ConnectionError):
        p.phget("h", "f")
    p.close()  # idempotent


def test_close_while_threads_are_using_the_pool(server):
    p = cpipe.Pool(host="127.0.0.1", port=server.port, size=2, socket_timeout=10)
    stop = threading.Event()
    outcomes = []

    def work(t):
        n = 0
        while not stop.is_set():
            try:
                p.call("INCR", f"cw{t}")
                n += 1
            except cpipe.ConnectionError:
                outcomes.append(("closed", n))
                return
        outcomes.append(("stopped", n))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    time.sleep(0.3)
    p.close()
    for t in threads:
        t.join(10)
    stop.set()
    assert not any(t.is_alive() for t in threads)
    assert len(outcomes) == 6 and all(kind == "closed" for kind, _ in outcomes), outcomes


def test_pool_context_manager(server):
    with cpipe.Pool(host="127.0.0.1", port=server.port, size=3) as p:
        assert p.call("PING") == b"PONG"
        f = p.submit("ECHO", "x")
        assert f.result(10) == b"x"
    with pytest.raises(cpipe.ConnectionError):
        p.call("PING")


def test_flush_wakes_when_a_failed_submit_was_the_last_pending(pool):
    """flush() waiting while the only pending submit fails to encode must
    return at once, not sleep out its timeout (or hang forever without one)."""
    release = threading.Event()

    class SlowBadInt(int):
        def __str__(self):  # the bridge calls str() on int subclasses while encoding
            release.wait(10)
            raise ValueError("refused while encoding")

    outcome = {}

    def submitter():
        try:
            pool.submit("SET", "never-written", SlowBadInt(5))
        except ValueError as e:
            outcome["error"] = e

    t = threading.Thread(target=submitter)
    t.start()
    time.sleep(0.2)  # the future is registered; its submit is still encoding
    threading.Timer(0.3, release.set).start()
    start = time.monotonic()
    assert pool.flush(timeout=5) is True
    waited = time.monotonic() - start
    t.join(10)
    assert isinstance(outcome.get("error"), ValueError)
    assert waited < 2.0, f"flush() slept {waited:.1f}s after the last pending command was gone"
    assert pool.call("EXISTS", "never-written") == 0


@pytest.mark.parametrize("first", ["submit", "phset"])
def test_dropped_pool_releases_connections_and_thread(server, redis_py, first):
    """A Pool dropped without close() is closed when collected, like a Client:
    its connections and its completion thread go away (also when phset, the
    C fast path whose slow path starts the thread, came first)."""
    import gc

    base_clients = len(redis_py.client_list())
    base_threads = {t.ident for t in threading.enumerate()}
    for _ in range(3):
        p = cpipe.Pool(host="127.0.0.1", port=server.port, size=2)
        if first == "submit":
            assert p.submit("PING").result(10) == b"PONG"  # starts the completion thread
        else:
            assert p.phset("dropped", "f", "v").result(10) in (0, 1)
        del p
    gc.collect()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        extra_threads = [t for t in threading.enumerate()
                         if t.ident not in base_threads and t.name == "cpipe-pool-completions"]
        if not extra_threads and len(redis_py.client_list()) == base_clients:
            break
        time.sleep(0.05)
    assert len(redis_py.client_list()) == base_clients
    assert extra_threads == []


def test_undecodable_reply_fails_only_its_future(server):
    """With decode_responses, a value that is not valid UTF-8 must fail its
    own future (UnicodeDecodeError, as redis-py raises), not kill the
    completion thread and leave every other future pending forever."""
    raw = cpipe.Client(host="127.0.0.1", port=server.port)
    raw.call("SET", "undecodable", b"\xff\xfe")
    raw.call("SET", "fine", "ok")
    raw.close()
    with cpipe.Pool(host="127.0.0.1", port=server.port, size=2, decode_responses=True) as p:
        before = p.submit("GET", "fine")
        bad = p.submit("GET", "undecodable")
        after = p.submit("GET", "fine")
        assert before.result(5) == "ok"
        assert isinstance(bad.exception(5), UnicodeDecodeError)
        assert after.result(5) == "ok"
        assert p.submit("ECHO", "later").result(5) == "later"
        assert p.flush(5) is True
        # the synchronous path raises for that command only
        with pytest.raises(UnicodeDecodeError):
            p.call("GET", "undecodable")
        assert p.call("GET", "fine") == "ok"


def test_pipeline_with_blocking_command_does_not_stall_others(server):
    """A pipeline holding a BLPOP must not park other threads' commands behind
    it on a shared connection (single blocking commands get a side connection;
    the bridge's execute_many never flags a batch as blocking)."""
    with cpipe.Pool(host="127.0.0.1", port=server.port, size=1, socket_timeout=10) as p:
        p.call("PING")
        started = threading.Event()
        outcome = {}

        def blocked_pipeline():
            pipe = p.pipeline(transaction=False)
            pipe.blpop(["never-filled-pipe"], 3)
            started.set()
            outcome["replies"] = pipe.execute()

        t = threading.Thread(target=blocked_pipeline)
        t.start()
        assert started.wait(5)
        time.sleep(0.2)
        start = time.monotonic()
        for i in range(50):
            assert p.call("INCR", "not-stalled") == i + 1
        assert p.submit("ECHO", "x").result(10) == b"x"
        others = time.monotonic() - start
        still_blocked = t.is_alive()
        t.join(10)
        assert outcome.get("replies") == [None]
        assert still_blocked and others < 1.5, f"other commands waited {others:.1f}s behind the pipeline's BLPOP"


def test_callbacks_may_raise_or_close_the_pool(server):
    p = cpipe.Pool(host="127.0.0.1", port=server.port, size=2, socket_timeout=10)
    try:
        def bad_callback(_):
            raise RuntimeError("callback failure must not kill the completion thread")

        f = p.submit("PING")
        f.add_done_callback(bad_callback)
        assert f.result(10) == b"PONG"
        assert p.submit("ECHO", "still").result(10) == b"still"
        # close() from a callback, i.e. on the completion thread itself
        pending = p.submit("BLPOP", "never-filled-cb", 10)
        trigger = p.submit("PING")
        trigger.add_done_callback(lambda _: p.close())
        assert trigger.result(10) == b"PONG"
        assert isinstance(pending.exception(timeout=5), cpipe.ConnectionError)
        with pytest.raises(cpipe.ConnectionError):
            p.call("PING")
    finally:
        p.close()


def test_idle_pool_does_not_spin(server):
    """An idle pool's completion thread waits in the engine; it does not burn
    a core polling."""
    with cpipe.Pool(host="127.0.0.1", port=server.port, size=2) as p:
        assert p.submit("PING").result(10) == b"PONG"  # the completion thread runs
        time.sleep(0.2)
        cpu0, wall0 = time.process_time(), time.monotonic()
        time.sleep(1.5)
        cpu = time.process_time() - cpu0
        wall = time.monotonic() - wall0
        assert cpu < 0.25 * wall, f"idle pool used {cpu:.2f}s CPU in {wall:.2f}s"
        assert p.submit("ECHO", "awake").result(10) == b"awake"


def test_futures_complete_after_the_handle_is_reopened(pool):
    # connection_pool.disconnect() (libraries call it) reopens the engine
    # handle; futures submitted afterwards must still reach the completion
    # thread, which polls the queue the pool opened first.
    assert pool.submit("PING").result(5) == b"PONG"
    pool.connection_pool.disconnect()
    assert pool.submit("PING").result(5) == b"PONG"
    assert pool.phset("h", "f", "v").result(5) == 1
    assert pool.flush(5) is True
