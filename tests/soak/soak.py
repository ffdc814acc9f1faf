"""Soak: many threads and an asyncio loop verify every reply while the
reference server injects random faults. By hand, not in CI (`make soak`).

    python tests/soak/soak.py --seconds 600 [--faults extra-bytes,stall] [--seed N]

A reference server (python -m cpipe.server --enable-faults) is started on a
free loopback port. After a short warm-up without faults (so the baseline
below includes the Go runtime's threads and warm allocators), 32 threads
run random checked operations through a shared auto-pipelined Client, a
Pool(size=4) (calls and submit futures) and one plain Client each, and one
asyncio loop runs tasks on a cpipe.asyncio.Client, while the fault thread
injects faults. At the end: operations done, faults injected, errors by
class, wrong replies, and growth of RSS, open fds and threads between the
start and the end (clients closed, gc run).

Faults by default: CLOSE-MID-REPLY, STALL, REFUSE, DELAY, MALFORMED and
EXTRA-BYTES (a reply followed by bytes that are not RESP). EXTRA and
EXTRA-LATER (a stray *valid* reply) are left out of the default, though
--faults can still pick them: RESP2 replies carry no request id, so a
well-formed reply that nobody asked for, arriving while other requests are
in flight on the same connection, is indistinguishable from the reply to the
oldest of them. No RESP2 client can detect that case, and a run with EXTRA
reports wrong replies whatever the client. What cpipe guarantees instead: a
stray reply (or any byte) is caught, and the connection closed, when it is
left over in the read buffer after the last awaited reply, or when it lands
on an idle connection (seen before the connection's next request); and the
commands that make a server send unrequested replies (SUBSCRIBE and the
rest of the family, MONITOR, CLIENT REPLY, ...) are refused on shared
connections. Junk, unlike a valid reply, fails wherever it lands, so
EXTRA-BYTES tests the whole path: a ProtocolError for the requests in
flight, never a wrong reply.

Exit status 1 when any reply was wrong, an unexpected exception was raised,
a worker hung, or a fault could not be injected; growth is reported only.
"""
from __future__ import annotations

import argparse
import gc
import os
import sys
import threading
import time
import traceback

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import cpipe  # noqa: E402

from tests._servers import start_reference_server  # noqa: E402
from tests.server.rawclient import RawClient, parse  # noqa: E402
from tests.soak.injector import DEFAULT_KINDS, KINDS, Injector  # noqa: E402
from tests.soak.tally import Tally  # noqa: E402
from tests.soak.workloads import run_asyncio, run_thread  # noqa: E402

HOST = "127.0.0.1"
WARM_UP_SECONDS = 3.0
#: How long past the deadline workers may take to notice it and return.
GRACE = 30.0
PROGRESS_EVERY = 10.0
CLIENT_KINDS = ("shared", "shared", "pool", "plain")  # thread t uses [t % 4]


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=600.0, help="length of the faulted run")
    ap.add_argument("--threads", type=int, default=32)
    ap.add_argument("--async-tasks", type=int, default=8, help="tasks on the one asyncio loop")
    ap.add_argument("--faults", default=",".join(DEFAULT_KINDS),
                    help=f"comma-separated kinds to inject, of {','.join(KINDS)} (default "
                         f"{','.join(DEFAULT_KINDS)}: see the docstring on extra); 'none' for none")
    ap.add_argument("--socket-timeout", type=float, default=1.0,
                    help="clients' socket_timeout: how long a STALL takes to become TimeoutError")
    ap.add_argument("--seed", type=int, default=None)
    args = ap.parse_args(argv)
    kinds = () if args.faults.strip().lower() == "none" else tuple(
        k.strip().lower() for k in args.faults.split(",") if k.strip())
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown:
        ap.error(f"unknown fault kind(s) {', '.join(unknown)}; choose from {', '.join(KINDS)}")
    args.kinds = kinds
    if args.seed is None:
        args.seed = int.from_bytes(os.urandom(4), "big")
    return args


def _proc_status(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def resources() -> dict:
    gc.collect()
    return {"rss_kib": _proc_status("VmRSS"), "fds": len(os.listdir("/proc/self/fd")),
            "os_threads": _proc_status("Threads"), "py_threads": threading.active_count()}


def server_connections(port: int) -> int:
    """Connections the server has open, this one excluded."""
    with RawClient(port, timeout=5) as c:
        info = parse(c.call("INFO", "clients")).decode()
    for line in info.splitlines():
        if line.startswith("connected_clients:"):
            return int(line.split(":")[1]) - 1
    raise RuntimeError("no connected_clients in INFO clients")


def _guarded(target, tally: Tally, who: str):
    """A worker whose own bug is reported, not lost in a dead thread."""
    def run(*args):
        try:
            target(*args)
        except Exception as e:  # noqa: BLE001
            traceback.print_exc()
            tally.unexpected_error(who, "worker", "-", e)
    return run


def run_phase(phase: str, port: int, seconds: float, args, kinds: tuple, tally: Tally, seed: int) -> list:
    """All workers (and the injector, if kinds) until the deadline; returns
    the names of threads still running GRACE seconds after it."""
    timeout = args.socket_timeout
    deadline = time.monotonic() + seconds
    shared = cpipe.Client(host=HOST, port=port, autopipeline=True, socket_timeout=timeout)
    pool = cpipe.Pool(host=HOST, port=port, size=4, socket_timeout=timeout)
    clients = [shared, pool]
    threads = []
    for t in range(args.threads):
        kind = CLIENT_KINDS[t % len(CLIENT_KINDS)]
        if kind == "plain":
            c = cpipe.Client(host=HOST, port=port, socket_timeout=timeout)
            clients.append(c)
        else:
            c = shared if kind == "shared" else pool
        who = f"t{t}-{kind}"
        threads.append(threading.Thread(target=_guarded(run_thread, tally, who), name=who, daemon=True,
                                        args=(phase, who, kind, lambda c=c: c, tally, deadline, seed + t)))
    threads.append(threading.Thread(
        target=_guarded(run_asyncio, tally, "asyncio"), name="asyncio", daemon=True,
        args=(phase, HOST, port, args.async_tasks, timeout, tally, deadline, seed + 10_000)))
    injector_failed = []
    if kinds:
        injector = Injector(port, kinds, tally, deadline, seed + 20_000)

        def inject():
            try:
                injector.run()
            except Exception as e:  # noqa: BLE001
                traceback.print_exc()
                injector_failed.append(e)

        threads.append(threading.Thread(target=inject, name="injector", daemon=True))
    for th in threads:
        th.start()
    next_progress = time.monotonic() + PROGRESS_EVERY
    for th in threads:
        while th.is_alive() and time.monotonic() < deadline + GRACE:
            th.join(0.5)
            if time.monotonic() >= next_progress:
                print(tally.progress(), flush=True)
                next_progress += PROGRESS_EVERY
    hung = [th.name for th in threads if th.is_alive()]
    for c in clients:
        c.close()
    if injector_failed:
        hung.append(f"injector failed: {injector_failed[0]!r}")
    return hung


def _counter(counter) -> str:
    return ", ".join(f"{k}: {v}" for k, v in sorted(counter.items())) or "none"


def _growth(start: dict, end: dict) -> str:
    return (f"RSS {start['rss_kib'] / 1024:.1f} -> {end['rss_kib'] / 1024:.1f} MiB "
            f"({(end['rss_kib'] - start['rss_kib']) / 1024:+.1f}); "
            f"fds {start['fds']} -> {end['fds']} ({end['fds'] - start['fds']:+d}); "
            f"OS threads (Go's included) {start['os_threads']} -> {end['os_threads']} "
            f"({end['os_threads'] - start['os_threads']:+d}); "
            f"Python threads {start['py_threads']} -> {end['py_threads']}")


def report(args, tally: Tally, hung: list, start: dict, end: dict, conns: int, seconds: float) -> int:
    wrong, unexpected = tally.wrong, sum(tally.unexpected.values())
    print(f"\nsoak: {seconds:.0f} s faulted, seed {args.seed}, {args.threads} threads + "
          f"{args.async_tasks} asyncio tasks, socket_timeout {args.socket_timeout}, "
          f"faults: {','.join(args.kinds) or 'none'}")
    print(f"operations done (commands answered and checked): {tally.ops} ({_counter(tally.by_client)})")
    print(f"faults injected: {sum(tally.faults.values())} ({_counter(tally.faults)})")
    print(f"errors seen (cpipe's, expected under faults): {sum(tally.errors.values())} ({_counter(tally.errors)})")
    print(f"wrong replies: {wrong} ({_counter(tally.wrong_by)})")
    print(f"unexpected exceptions: {unexpected} ({_counter(tally.unexpected)})")
    print(f"hung workers: {', '.join(hung) or 'none'}")
    print(f"growth (start -> end, clients closed, gc): {_growth(start, end)}")
    print(f"server connections left open by the clients: {conns}")
    failed = wrong or unexpected or hung
    print(f"verdict: {'FAIL' if failed else 'PASS'} ({wrong} wrong replies, {unexpected} unexpected "
          f"exceptions, {len(hung)} hung workers, {tally.ops} operations checked)")
    return 1 if failed else 0


def _pythonpath_for_server() -> None:
    """The server subprocess imports the same cpipe as this process."""
    parent = os.path.dirname(os.path.dirname(os.path.abspath(cpipe.__file__)))
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if parent not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join([parent] + paths)


def main(argv=None) -> int:
    args = parse_args(argv)
    _pythonpath_for_server()
    srv = start_reference_server("--enable-faults")
    try:
        print(f"reference server on {HOST}:{srv.port}; warm-up {WARM_UP_SECONDS:.0f} s without faults", flush=True)
        warm = Tally()
        hung = run_phase("warm-up", srv.port, WARM_UP_SECONDS, args, (), warm, args.seed)
        if hung or warm.wrong or warm.unexpected:
            print(f"warm-up failed without faults: {warm.progress()}, hung: {hung}")
            return 1
        start = resources()
        print(f"faulted run: {args.seconds:.0f} s, faults {','.join(args.kinds) or 'none'}, "
              f"seed {args.seed}", flush=True)
        tally = Tally()
        t0 = time.monotonic()
        hung = run_phase("run", srv.port, args.seconds, args, args.kinds, tally, args.seed)
        seconds = time.monotonic() - t0
        end = resources()
        conns = server_connections(srv.port)
        for _ in range(20):  # closed connections take a moment to reach the server
            if conns == 0:
                break
            time.sleep(0.1)
            conns = server_connections(srv.port)
        status = report(args, tally, hung, start, end, conns, seconds)
    finally:
        srv.stop()
    sys.stdout.flush()
    if status and hung:
        os._exit(status)  # a hung worker may sit in the engine: do not wait for it
    return status


if __name__ == "__main__":
    sys.exit(main())
