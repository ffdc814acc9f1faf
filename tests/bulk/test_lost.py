"""A bulk connection lost mid-load: the exception says how many commands
were acknowledged, and that matches what the server has; nothing is resent."""
from __future__ import annotations

import time

import pytest
import redis

import cpipe
from cpipe.bulk import BulkConnectionError


def test_server_closes_after_n_replies_exact_count(fault_server):
    """All 3001 replies were read before the next write met the closed
    connection: the count is exact and is what the server has."""
    c = cpipe.Redis(port=fault_server.port, socket_timeout=30)
    c.flushall()
    with pytest.raises(BulkConnectionError) as info:
        with c.bulk(batch=250) as b:
            # On the bulk connection itself: close after 3000 more replies.
            b.execute_command("CPIPE.FAULT", "CLOSE-AFTER", 3000)
            for i in range(3000):
                b.set(f"k{i}", i)
            b.flush()
            deadline = time.monotonic() + 30
            while b.acknowledged < 3001 and time.monotonic() < deadline:
                time.sleep(0.01)
            for i in range(3000, 20_000):
                b.set(f"k{i}", i)
    e = info.value
    assert isinstance(e, redis.ConnectionError)
    assert e.acknowledged == 3001 == b.acknowledged  # the fault's +OK and 3000 SETs
    assert "after 3001 commands were acknowledged" in str(e)
    assert c.dbsize() == 3000  # exactly the acknowledged SETs ran: the resume point
    assert c.get("k2999") == b"2999" and c.exists("k3000") == 0
    c.close()


def test_server_closes_mid_stream(fault_server):
    """Closed while commands keep streaming: the server's kernel resets the
    connection (its unread requests), which can also drop replies it had
    written. Every acknowledged command ran; nothing past `sent` did."""
    c = cpipe.Redis(port=fault_server.port, socket_timeout=30)
    c.flushall()
    with pytest.raises(BulkConnectionError) as info:
        with c.bulk(batch=250) as b:
            b.execute_command("CPIPE.FAULT", "CLOSE-AFTER", 3000)
            for i in range(50_000):
                b.set(f"k{i}", i)
    e = info.value
    assert e.acknowledged - 1 <= c.dbsize() == 3000 <= e.sent
    c.close()


def test_client_kill_mid_load(real_server):
    c = cpipe.Redis(port=real_server.port, socket_timeout=30)
    c.flushall()
    killed = False
    with pytest.raises(BulkConnectionError) as info:
        with c.bulk(batch=500) as b:
            b.client_setname("bulk-victim")
            for i in range(2_000_000):
                b.set(f"k{i}", i)
                if i == 100_000:
                    victim = [x for x in c.client_list() if x["name"] == "bulk-victim"]
                    c.client_kill_filter(_id=victim[0]["id"])
                    killed = True
    assert killed
    e = info.value
    keys = c.dbsize()
    # Every acknowledged command ran. The server may also have run commands
    # whose replies it had not written when it dropped the connection.
    assert 0 < e.acknowledged - 1 <= keys <= e.sent
    assert e.acknowledged < 2_000_001
    # Nothing reconnects and resends behind the caller's back.
    with pytest.raises(redis.ConnectionError):
        b.set("again", 1)
    assert c.exists("again") == 0
    c.close()


def test_server_stops_answering_times_out(fault_server):
    c = cpipe.Redis(port=fault_server.port, socket_timeout=0.5)
    with pytest.raises(BulkConnectionError) as info:
        with c.bulk(batch=10) as b:
            b.execute_command("CPIPE.FAULT", "CLOSE-AFTER", 100000)  # no-op fault: arms nothing harmful
            b.execute_command("CPIPE.FAULT", "STALL")
            for i in range(100):
                b.set(f"t{i}", i)
    assert isinstance(info.value, redis.TimeoutError)
    assert info.value.acknowledged == 2  # the two +OKs; the stalled reply and the rest never came
    c.close()
