"""Expiry to the millisecond and blocking timeouts, measured on the
reference server alone (Redis itself rounds blocking timeouts to its 100 ms
cron, so these are stricter than the differential tests)."""
import time

from .rawclient import RawClient, parse


def test_expiry_is_exact_to_the_millisecond(thread_server):
    with RawClient(thread_server.port) as c:
        target = int(time.time() * 1000) + 250
        assert c.call("SET", "k", "v", "PXAT", str(target)) == b"+OK\r\n"
        seen_value = seen_gone = 0
        while True:
            before = time.time() * 1000
            reply = c.call("GET", "k")
            after = time.time() * 1000
            if reply == b"$1\r\nv\r\n":
                # the server's clock said <= target when it answered
                assert before < target + 1, (before, target)
                seen_value += 1
            else:
                assert reply == b"$-1\r\n"
                # the server's clock said > target
                assert after >= target + 1, (after, target)
                seen_gone += 1
                if seen_gone > 20:
                    break
        assert seen_value > 10


def test_pttl_counts_down(thread_server):
    with RawClient(thread_server.port) as c:
        c.call("SET", "k", "v", "PX", "1000")
        first = parse(c.call("PTTL", "k"))
        time.sleep(0.2)
        second = parse(c.call("PTTL", "k"))
        assert 990 <= first <= 1000
        assert first - 260 <= second <= first - 195


def test_blocking_timeout_is_on_time(thread_server):
    with RawClient(thread_server.port) as c:
        for timeout in ("0.05", "0.3"):
            start = time.monotonic()
            assert c.call("BLPOP", "nothing", timeout) == b"*-1\r\n"
            took = time.monotonic() - start
            assert float(timeout) <= took < float(timeout) + 0.05, took


def test_many_waiters_served_in_arrival_order(thread_server):
    port = thread_server.port
    waiters = [RawClient(port) for _ in range(10)]
    try:
        for i, w in enumerate(waiters):
            w.send("BRPOP", "q", "0")
            time.sleep(0.02)
        with RawClient(port) as p:
            for i in range(10):
                # each push is taken at once by the next waiter: length 1
                assert p.call("LPUSH", "q", f"item{i}") == b":1\r\n"
        for i, w in enumerate(waiters):
            assert w.read_reply() == b"*2\r\n$1\r\nq\r\n$5\r\nitem%d\r\n" % i
    finally:
        for w in waiters:
            w.close()


def test_waiter_disconnect_then_timeout_fires_harmlessly(thread_server):
    port = thread_server.port
    w = RawClient(port)
    w.send("BLPOP", "q", "0.1")
    time.sleep(0.02)
    w.close()
    time.sleep(0.2)  # the timer of the gone client fires into nothing
    with RawClient(port) as c:
        assert c.call("RPUSH", "q", "x") == b":1\r\n"
        assert c.call("LPOP", "q") == b"$1\r\nx\r\n"
        info = parse(c.call("INFO", "clients")).decode()
        assert "blocked_clients:0" in info
