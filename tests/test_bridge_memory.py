"""A memory loop over every bridge path: if C leaks a reference or a buffer
per call, RSS grows with the number of calls; here it must stay flat.

The loop runs each path many times after a warm-up and compares RSS; a leak
of even a few dozen bytes per call shows as megabytes over these counts.
"""
from __future__ import annotations

import gc

import cpipe
import pytest

ROUNDS = 4
PER_ROUND = 20_000


def rss_kib() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


def exercise(client: cpipe.Client, pool: cpipe.Pool, decoded: cpipe.Client, n: int) -> None:
    value = b"v" * 100
    for i in range(n):
        staged = pool.phset("mem:ph", i % 64, value)  # FutureCore, StageCore.hset
        pool.fire_and_forget("SET", "mem:ff", value)  # StageCore.forget: a record per call
        client.call("SET", "mem:k", value)
        client.call("GET", "mem:k")
        client.hgetall("mem:h")  # ClientMethod (bridge_hot.c), as get/set below
        client.set("mem:k2", value)
        client.get("mem:k2")
        try:
            client.hget("mem:k", "f")  # WRONGTYPE through ClientMethod's recover path
        except cpipe.ResponseError:
            pass
        decoded.call("GET", "mem:k")
        try:
            client.call("HGET", "mem:k", "f")  # WRONGTYPE: an error reply raised
        except cpipe.ResponseError:
            pass
        try:
            client.call("SET", "mem:k", None)  # DataError before sending
        except cpipe.DataError:
            pass
        try:
            decoded.call("GET", "mem:bin")  # undecodable reply
        except UnicodeDecodeError:
            pass
        if i % 100 == 0:
            p = client.pipeline()
            for j in range(50):
                p.set(f"mem:p{j}", j)
                p.hget("mem:k", "x")  # error replies in place
            p.execute(raise_on_error=False)
            futures = [pool.submit("GET", "mem:k") for _ in range(50)]
            gets = [pool.phget(name="mem:ph", key=j) for j in range(20)]
            wrong = pool.phset("mem:k", "f", "v")  # WRONGTYPE: the future holds the error
            try:
                pool.fire_and_forget("SET", "mem:ff", None)  # refused by StageCore.forget
            except cpipe.DataError:
                pass
            gets[0].add_done_callback(lambda f: f.result())  # Condition, lists, a callback
            pool.flush()
            assert all(f.result() == value for f in futures)
            assert all(f.result() in (None, value) for f in gets)
            assert isinstance(wrong.exception(), cpipe.ResponseError)
            assert staged.result() in (0, 1)


@pytest.mark.parametrize("kind", ["real"])
def test_bridge_does_not_leak(real_server, kind):
    client = cpipe.Client(host="127.0.0.1", port=real_server.port)
    decoded = cpipe.Client(host="127.0.0.1", port=real_server.port, decode_responses=True)
    pool = cpipe.Pool(host="127.0.0.1", port=real_server.port, size=2)
    try:
        client.hset("mem:h", mapping={f"f{i}": i for i in range(20)})
        client.set("mem:bin", b"\xff\xfe")
        exercise(client, pool, decoded, PER_ROUND)  # warm-up: allocator pools, caches
        gc.collect()
        before = rss_kib()
        for _ in range(ROUNDS):
            exercise(client, pool, decoded, PER_ROUND)
        gc.collect()
        grown = rss_kib() - before
        calls = ROUNDS * PER_ROUND * 11
        # 8 MiB over ~880,000 calls would be ~10 bytes a call: any real leak
        # of an object or a reply buffer per call is far above that.
        assert grown < 8 * 1024, f"RSS grew by {grown} KiB over {calls} bridge calls"
    finally:
        client.close()
        decoded.close()
        pool.close()
