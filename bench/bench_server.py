"""Speed of the reference server (`python -m cpipe.server`) beside the real
redis-server, measured with redis-benchmark in one run.

    PYTHONPATH=python python bench/bench_server.py                  # 3 runs, prints ratios
    PYTHONPATH=python python bench/bench_server.py --write bench/SERVER_RESULTS.md

For each server and each pipeline depth (1 and 16) it runs
    redis-benchmark -p PORT -c 50 -t set,get -n 100000 -q [-P 16]
--runs times (servers alternate, so both see the same background noise),
takes the median requests/second per command, and reports the reference
server's rate as a fraction of the real server's. Targets: >= 40% without
pipelining, >= 20% with -P 16. Not a test: nothing here asserts a speed.
Every load is bounded (fixed request count, --timeout per redis-benchmark).
"""
from __future__ import annotations

import argparse
import datetime
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ["PYTHONPATH"] = os.pathsep.join(
    [os.path.join(ROOT, "python")] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])

from tests._servers import start_real_server, start_reference_server  # noqa: E402

TARGETS = {1: 0.40, 16: 0.20}
COMMANDS = ("SET", "GET")


def bench_cmd(port: int, pipeline: int, requests: int) -> list:
    cmd = ["redis-benchmark", "-p", str(port), "-c", "50", "-t", "set,get", "-n", str(requests), "-q"]
    if pipeline > 1:
        cmd += ["-P", str(pipeline)]
    return cmd


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (Linux /proc), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_once(server, pipeline: int, requests: int, timeout: float) -> dict:
    cpu0 = cpu_seconds(server.proc.pid)
    out = subprocess.run(bench_cmd(server.port, pipeline, requests), capture_output=True, text=True,
                         timeout=timeout, check=True).stdout
    cpu = cpu_seconds(server.proc.pid) - cpu0
    rates = dict(re.findall(r"(SET|GET): ([\d.]+) requests per second", out))
    missing = [c for c in COMMANDS if c not in rates]
    if missing:
        raise RuntimeError(f"redis-benchmark gave no rate for {missing}: {out!r}")
    result = {c: float(rates[c]) for c in COMMANDS}
    # Server CPU per request does not depend on how busy the client is.
    result["cpu_us"] = cpu / (requests * len(COMMANDS)) * 1e6
    return result


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--requests", type=int, default=100_000)
    ap.add_argument("--timeout", type=float, default=300.0, help="bound on one redis-benchmark run (s)")
    ap.add_argument("--parser", default="auto", choices=["auto", "hiredis", "python"])
    ap.add_argument("--write", metavar="PATH", help="also write a Markdown report")
    args = ap.parse_args(argv)
    if shutil.which("redis-benchmark") is None:
        print("redis-benchmark not found (Debian package redis-tools)", file=sys.stderr)
        return 2

    real = start_real_server()
    ref = start_reference_server("--parser", args.parser)
    servers = {"redis-server": real, "cpipe.server": ref}
    samples = {(name, p): {c: [] for c in COMMANDS + ("cpu_us",)} for name in servers for p in TARGETS}
    try:
        for run in range(args.runs):
            order = list(servers) if run % 2 == 0 else list(reversed(servers))
            for pipeline in TARGETS:
                for name in order:
                    rates = run_once(servers[name], pipeline, args.requests, args.timeout)
                    for c in rates:
                        samples[(name, pipeline)][c].append(rates[c])
                    print(f"run {run + 1}/{args.runs}  -P {pipeline:<2} {name:<13} "
                          + "  ".join(f"{c} {rates[c]:>11,.0f}/s" for c in COMMANDS)
                          + f"  server CPU {rates['cpu_us']:.2f} us/req", flush=True)
    finally:
        real.stop()
        ref.stop()

    median = {k: {c: statistics.median(v[c]) for c in v} for k, v in samples.items()}
    rows = []
    for pipeline, target in TARGETS.items():
        for c in COMMANDS:
            r = median[("redis-server", pipeline)][c]
            m = median[("cpipe.server", pipeline)][c]
            rows.append((pipeline, c, r, m, m / r, target))
    cpu = {p: (median[("redis-server", p)]["cpu_us"], median[("cpipe.server", p)]["cpu_us"])
           for p in TARGETS}
    print()
    print(f"{'pipeline':<9}{'cmd':<5}{'redis-server':>14}{'cpipe.server':>14}{'ratio':>8}{'target':>8}")
    for pipeline, c, r, m, ratio, target in rows:
        flag = "ok" if ratio >= target else "BELOW"
        print(f"{'-P ' + str(pipeline):<9}{c:<5}{r:>14,.0f}{m:>14,.0f}{ratio:>8.0%}{target:>8.0%}  {flag}")
    for p, (r, m) in cpu.items():
        print(f"server CPU per request, -P {p}: redis-server {r:.2f} us, cpipe.server {m:.2f} us "
              f"(x{m / r:.1f})")

    if args.write:
        _write_report(args, rows, samples, cpu)
    return 0


def _write_report(args, rows, samples, cpu) -> None:
    load = os.getloadavg() if hasattr(os, "getloadavg") else ("?",) * 3
    real_cmd = " ".join(bench_cmd(0, 1, args.requests)).replace("-p 0", "-p PORT")
    lines = [
        "# Reference server speed",
        "",
        f"Written by `bench/bench_server.py` on {datetime.datetime.now().strftime('%Y-%m-%d %H:%M')}:",
        "",
        "```sh",
        f"PYTHONPATH=python python bench/bench_server.py --runs {args.runs} --requests {args.requests}"
        f" --parser {args.parser} --write {args.write}",
        "```",
        "",
        "Each row is the **median of "
        f"{args.runs} runs** of `{real_cmd}` (and the same with `-P 16`), against a real",
        "`redis-server` and against `python -m cpipe.server` (uvloop and hiredis when installed),",
        "started by the same run; the two servers alternate so both see the same background noise.",
        "",
        f"Machine: {os.cpu_count()} CPUs, Python {platform.python_version()}, load average at the end "
        f"{' '.join(str(round(x, 1)) if isinstance(x, float) else x for x in load)}. "
        "The machine is shared and noisy: read the ratios, not the absolute rates.",
        "",
        "| pipeline | command | redis-server req/s | cpipe.server req/s | ratio | target |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for pipeline, c, r, m, ratio, target in rows:
        lines.append(f"| -P {pipeline} | {c} | {r:,.0f} | {m:,.0f} | {ratio:.0%} | >= {target:.0%} |")
    lines += [
        "",
        "On 2 CPUs shared by redis-benchmark (single-threaded, 50 connections) and the",
        "server, the client side caps the real server's rate, which flatters the ratios.",
        "Server CPU time per request (median, from /proc) does not depend on that:",
        "",
        "| pipeline | redis-server CPU/req | cpipe.server CPU/req | factor |",
        "|---|---:|---:|---:|",
    ]
    for p, (r, m) in cpu.items():
        lines.append(f"| -P {p} | {r:.2f} us | {m:.2f} us | x{m / r:.1f} |")
    lines += ["", "All samples (requests/second):", ""]
    for (name, pipeline), v in samples.items():
        lines.append(f"- {name} -P {pipeline}: " + "; ".join(
            f"{c} " + ", ".join(f"{x:,.0f}" for x in v[c]) for c in COMMANDS))
    lines.append("")
    with open(args.write, "w") as f:
        f.write("\n".join(lines))
    print(f"wrote {args.write}")


if __name__ == "__main__":
    sys.exit(main())
