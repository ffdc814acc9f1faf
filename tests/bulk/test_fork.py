"""bulk() in a child forked after the parent used the engine: served by a
pipeline per batch on redis-py's connection (the Go runtime does not survive
fork), with the same counts and errors."""
from __future__ import annotations

import os
import warnings

import cpipe


def test_bulk_in_a_forked_child(real_server):
    c = cpipe.Redis(port=real_server.port)
    c.flushall()
    c.set("str", "v")
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report through the pipe, never return into pytest
        code = 1
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                with c.bulk(batch=100, raise_on_error=False) as b:
                    for i in range(1000):
                        b.set(f"f{i}", i)
                    b.lpush("str", "x")
            os.write(write, f"{b.acknowledged} {b.error_count} {b.errors[0][0]}".encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write)
    got = os.read(read, 100).decode()
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0
    assert got == "1001 1 1000"
    assert c.dbsize() == 1001
    c.close()
