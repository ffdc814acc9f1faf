"""MULTI/EXEC pipelines from many threads on one auto-pipelined connection
stay atomic: their bytes are never interleaved with other callers'."""
from __future__ import annotations

import threading

import pytest

import cpipe

from ._helpers import run_threads

WRITERS = 16
TX_PER_WRITER = 300


@pytest.mark.parametrize("kind", ["pool", "client"])
def test_transactions_stay_atomic(server, kind):
    if kind == "pool":
        r = cpipe.Pool(host="127.0.0.1", port=server.port, size=4, socket_timeout=30)
    else:
        r = cpipe.Client(host="127.0.0.1", port=server.port, autopipeline=True, socket_timeout=30)
    try:
        r.delete("tx:a", "tx:b")
        stop = threading.Event()
        snapshots = [0]

        def writer(t: int) -> None:
            for i in range(TX_PER_WRITER):
                p = r.pipeline(transaction=True)
                p.incr("tx:a").incr("tx:b")
                a, b = p.execute()
                # Nobody's INCR a or INCR b ran between ours.
                assert a == b, (t, i, a, b)
                # Plain commands in between, to be coalesced with the transactions.
                assert r.echo(f"{t}:{i}") == f"{t}:{i}".encode()

        def reader(t: int) -> None:
            while not stop.is_set():
                a, b = r.mget("tx:a", "tx:b")
                assert a == b, (a, b)  # never between a transaction's two INCRs
                snapshots[0] += 1

        readers = threading.Thread(target=run_threads, args=(reader, 4, 300), daemon=True)
        readers.start()
        try:
            run_threads(writer, WRITERS, timeout=300)
        finally:
            stop.set()
        readers.join(30)
        assert not readers.is_alive()
        total = str(WRITERS * TX_PER_WRITER).encode()
        assert r.mget("tx:a", "tx:b") == [total, total]
        assert snapshots[0] > 0
    finally:
        r.close()


def test_failing_transactions_do_not_disturb_others(server):
    r = cpipe.Pool(host="127.0.0.1", port=server.port, size=2, socket_timeout=30)
    try:
        r.delete("txe:n")
        r.set("txe:str", "not a number")

        def work(t: int) -> None:
            for i in range(200):
                if (t + i) % 3 == 0:
                    # Runs, with one command failing inside EXEC.
                    p = r.pipeline(transaction=True)
                    p.incr("txe:str").echo(f"{t}:{i}")
                    replies = p.execute(raise_on_error=False)
                    assert isinstance(replies[0], cpipe.ResponseError)
                    assert replies[1] == f"{t}:{i}".encode()
                elif (t + i) % 3 == 1:
                    # Refused while queueing: EXECABORT, nothing runs.
                    p = r.pipeline(transaction=True)
                    p.incr("txe:n").execute_command("NO-SUCH-COMMAND")
                    with pytest.raises(cpipe.ResponseError):
                        p.execute()
                else:
                    p = r.pipeline(transaction=True)
                    p.incr("txe:n").echo(f"{t}:{i}")
                    n, e = p.execute()
                    assert isinstance(n, int) and e == f"{t}:{i}".encode()

        run_threads(work, 12, timeout=120)
        expected = sum(1 for t in range(12) for i in range(200) if (t + i) % 3 == 2)
        assert r.get("txe:n") == str(expected).encode()
    finally:
        r.close()
