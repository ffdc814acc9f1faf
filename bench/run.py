"""Benchmark cpipe beside redis-py (hiredis), credis and redis-benchmark, against one real server.

    PYTHONPATH=python .venv/bin/python bench/run.py                        # all cases, 3 repetitions
    PYTHONPATH=python .venv/bin/python bench/run.py --scale 0.1 --repeat 1 # a quick check
    .venv/bin/python bench/run.py --write bench/RESULTS.md                 # what `make bench` runs
    bench/run.py --list ; bench/run.py --cases seq,pipe_hset
    bench/run.py --cases seq --repeat 1 --port 6379 --json out.json      # an existing server; raw records

One redis-server is started on a free loopback port for the whole run and
every client and redis-benchmark measure against it (or, with --port, the
server already listening on 127.0.0.1:PORT is used and left running). Cases live in
bench/cases_*.py (see bench/harness.py for the registry); each is repeated
--repeat times, and medians and ratios of medians are reported.
"""
from __future__ import annotations

import argparse
import datetime
import glob
import importlib
import json
import os
import shlex
import shutil
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(1, REPO)

import harness  # noqa: E402
import report  # noqa: E402
from tests._servers import real_server_binary, start_real_server  # noqa: E402


def load_cases() -> list:
    for path in sorted(glob.glob(os.path.join(HERE, "cases_*.py"))):
        importlib.import_module(os.path.splitext(os.path.basename(path))[0])
    return sorted(harness.CASES.values(), key=lambda c: (c.order, c.name))


def parse_args(argv: list) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=3, help="repetitions per case; the median is reported (3)")
    ap.add_argument("--scale", type=float, default=1.0, help="multiply every command count by this (1.0)")
    ap.add_argument("--cases", default="", help="comma-separated case names (default: all)")
    ap.add_argument("--write", metavar="PATH", help="also write a Markdown report to PATH")
    ap.add_argument("--json", metavar="PATH",
                    help="also write every case's records (all repetitions) and target ratios as JSON to PATH")
    ap.add_argument("--port", type=int,
                    help="measure against the server already on 127.0.0.1:PORT instead of starting one "
                         "(it is left running; bench/compare_versions.py shares one server this way)")
    ap.add_argument("--first-repetition", type=int, default=0, metavar="K",
                    help="number the repetitions from K: cases rotate their clients' order by the "
                         "repetition number, so a driver running --repeat 1 many times passes its round (0)")
    ap.add_argument("--timeout", type=float, default=300.0,
                    help="time bound of one repetition of a case, in seconds (300)")
    ap.add_argument("--max-seconds", type=float, default=3600.0,
                    help="hard bound on the whole run: past it the server is killed and the run exits (3600)")
    ap.add_argument("--list", action="store_true", help="list the cases and exit")
    ap.add_argument("-q", "--quiet", action="store_true", help="no per-load lines while running")
    args = ap.parse_args(argv)
    if args.repeat < 1:
        ap.error("--repeat must be >= 1")
    if not 0 < args.scale <= 10:
        ap.error("--scale must be in (0, 10]")
    if args.port is not None and not 0 < args.port < 65536:
        ap.error("--port must be in 1..65535")
    if args.first_repetition < 0:
        ap.error("--first-repetition must be >= 0")
    return args


def check_clients() -> list:
    """Warnings about the comparison clients (printed and written to the report)."""
    warnings = []
    try:
        from redis.utils import HIREDIS_AVAILABLE
        if not HIREDIS_AVAILABLE:
            warnings.append("redis-py is NOT using hiredis (redis-py >= 6 needs hiredis >= 3.2): "
                            "its figures are for the pure-Python parser")
    except ImportError:
        warnings.append("redis-py is not installed")
    for mod in ("credis", "psutil"):
        try:
            importlib.import_module(mod)
        except ImportError:
            warnings.append(f"{mod} is not installed (pip install -r requirements-bench.txt)")
    return warnings


class ExistingServer:
    """The server given by --port: measured like a started one, but never stopped by this run."""

    def __init__(self, port: int, binary: str) -> None:
        import redis

        self.port, self.args = port, [binary]
        try:
            with redis.Redis(host="127.0.0.1", port=port, protocol=2, socket_timeout=10) as r:
                pid = int(r.info("server")["process_id"])
        except (redis.RedisError, OSError, KeyError, ValueError) as e:
            raise SystemExit(f"--port {port}: no Redis server answering INFO on 127.0.0.1:{port} ({e})")
        # Its CPU per operation is read from /proc, so only a server on this machine counts.
        self.pid = pid if os.path.exists(f"/proc/{pid}/stat") else None

    def stop(self) -> None:
        pass


def main(argv: list) -> int:
    args = parse_args(argv)
    cases = load_cases()
    if args.list:
        for c in cases:
            targets = "; ".join(f"{t.num}/{t.den} {t.describe()}" for t in c.targets) or "no target"
            print(f"{c.name:<12} {c.title}  [{targets}]")
        return 0
    if args.cases:
        wanted = [w.strip() for w in args.cases.split(",") if w.strip()]
        unknown = [w for w in wanted if w not in harness.CASES]
        if unknown:
            print(f"unknown case(s): {', '.join(unknown)}; known: {', '.join(c.name for c in cases)}", file=sys.stderr)
            return 2
        cases = [c for c in cases if c.name in wanted]

    command = " ".join(shlex.quote(a) for a in [os.path.relpath(sys.executable, os.getcwd())
                                                if sys.executable.startswith(os.getcwd()) else sys.executable,
                                                os.path.relpath(os.path.abspath(__file__), os.getcwd()), *argv])
    if os.environ.get("PYTHONPATH"):
        command = f"PYTHONPATH={shlex.quote(os.environ['PYTHONPATH'])} {command}"
    command = f"cd {REPO} && {command}" if os.getcwd() != REPO else command
    warnings = check_clients()
    for w in warnings:
        print("WARNING:", w, file=sys.stderr)

    server_bin = real_server_binary()
    bench_bin = shutil.which("redis-benchmark") or (
        os.path.join(os.path.dirname(server_bin), "redis-benchmark")
        if os.path.exists(os.path.join(os.path.dirname(server_bin), "redis-benchmark")) else None)
    # Only the Markdown report shows the machine (it takes a second to probe).
    env = report.environment(server_bin, bench_bin, REPO) if args.write else {}
    started = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")
    if args.port is not None:
        server = ExistingServer(args.port, server_bin)
        server_pid = server.pid
    else:
        server = start_real_server()
        server_pid = server.proc.pid
    print(f"server: {server.args[0]} on 127.0.0.1:{server.port}; redis-benchmark: {bench_bin}")
    print(f"repeat={args.repeat} scale={args.scale:g} cases={','.join(c.name for c in cases)}")

    # The hard bound: if a case wedges past every softer bound, stop everything.
    def watchdog() -> None:
        print(f"\nRUN EXCEEDED --max-seconds={args.max_seconds:.0f}: "
              f"{'exiting' if args.port is not None else 'killing the server and exiting'}",
              file=sys.stderr, flush=True)
        harness.run_end()
        server.stop()
        os._exit(3)

    dog = threading.Timer(args.max_seconds, watchdog)
    dog.daemon = True
    dog.start()
    t0 = time.monotonic()
    load0 = os.getloadavg()[0]
    results = []
    try:
        for c in cases:
            print(f"\n{c.name}: {c.title}", flush=True)
            results.append(harness.run_case(
                c, lambda: harness.Context("127.0.0.1", server.port, args.scale, server_bin, bench_bin,
                                           args.timeout, verbose=not args.quiet, server_pid=server_pid),
                args.repeat, first_repetition=args.first_repetition))
    finally:
        dog.cancel()
        harness.run_end()
        server.stop()
    seconds = time.monotonic() - t0
    load = (load0, os.getloadavg()[0])

    print(report.text_report(results))
    print(f"\n{seconds:.0f} s; load average {load[0]:.2f} -> {load[1]:.2f} on {os.cpu_count()} CPUs (noisy: "
          "compare ratios, not rates)")
    if args.write:
        md = report.markdown_report(results, env, command, args.repeat, args.scale, started, seconds, load)
        if warnings:
            md = md.replace("## Machine", "\n".join(f"> **Warning:** {w}" for w in warnings) + "\n\n## Machine", 1)
        with open(args.write, "w") as f:
            f.write(md)
        print(f"wrote {args.write}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report.json_report(results, command, args.repeat, args.scale, started, seconds, load),
                      f, indent=1)
        print(f"wrote {args.json}")
    return 1 if any(r.errors for r in results) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
