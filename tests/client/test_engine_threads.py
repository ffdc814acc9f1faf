"""The engine keeps a Go P for every live Python thread that uses it.

A thread that returns from the engine keeps its P while it runs Python or
waits for the GIL (cpipe/bridge_threads.c), so with Go's default of one P
per CPU, threads entering the engine waited for each other's Ps: 8 threads
through one Pool ran at half the rate. These tests check the rule itself
(counts and GOMAXPROCS, in a fresh process each); bench/ measures the rate.
Up to one thread per CPU, and again once the threads are gone, Go's default
(a P per CPU) is kept: more Ps slowed the asyncio client.
"""
from __future__ import annotations

import subprocess
import sys
import textwrap

from tests.client._subproc import REPO, child_env

_THREADS = 12

_CODE = """
import os, sys, threading, time
import cpipe, cpipe._engine as engine

port, n = int(sys.argv[1]), int(sys.argv[2])
pool = cpipe.Pool(host="127.0.0.1", port=port, size=4)
pool.ping()
native = engine.native()
before = native.engine_threads()
inside, release = threading.Barrier(n + 1), threading.Event()

def work(i):
    pool.set(f"threads:{i}", i)
    inside.wait(30)
    release.wait(30)

threads = [threading.Thread(target=work, args=(i,)) for i in range(n)]
for t in threads:
    t.start()
inside.wait(30)
during = native.engine_threads()
release.set()
for t in threads:
    t.join(30)
# join() returns before the OS thread runs its exit destructors, where the count drops.
import time
deadline = time.monotonic() + 10
while native.engine_threads()[0] != before[0] and time.monotonic() < deadline:
    time.sleep(0.01)
after = native.engine_threads()
time.sleep(1.2)  # GOMAXPROCS stays raised at least a second
pool.ping()      # the next call by a counted thread relaxes it
relaxed = native.engine_threads()
assert pool.mget([f"threads:{i}" for i in range(n)]) == [str(i).encode() for i in range(n)]
print(*before, *during, *after, *relaxed, len(os.sched_getaffinity(0)))
"""


def _run(port: int, env_procs: str | None = None) -> list[int]:
    # In the child's environment from its start: a library's Go runtime
    # reads the environment the process began with, not os.environ's later edits.
    env = child_env()
    env.pop("GOMAXPROCS", None)
    if env_procs is not None:
        env["GOMAXPROCS"] = env_procs
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(_CODE), str(port), str(_THREADS)],
                         capture_output=True, text=True, timeout=60, env=env, cwd=REPO)
    assert out.returncode == 0, out.stderr
    return [int(x) for x in out.stdout.split()]


def test_each_live_thread_gets_a_p(real_server):
    b_live, b_procs, d_live, d_procs, a_live, a_procs, r_live, r_procs, cpus = _run(real_server.port)
    assert b_live == 1  # the main thread
    assert b_procs == cpus  # up to a thread per CPU, Go's default is kept
    assert d_live == b_live + _THREADS
    assert d_procs >= d_live + cpus
    # A thread's exit gives its place back; once the threads are gone, the next
    # call after a second puts Go's default back.
    assert a_live == b_live == r_live
    assert r_procs == cpus


def test_gomaxprocs_from_the_environment_is_kept(real_server):
    b_live, b_procs, d_live, d_procs, a_live, a_procs, r_live, r_procs, cpus = _run(real_server.port, env_procs="3")
    assert d_live == b_live + _THREADS  # still counted
    assert (b_procs, d_procs, a_procs, r_procs) == (3, 3, 3, 3)
