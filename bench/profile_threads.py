"""Profile N Python threads doing single HSETs through one cpipe.Pool.

Issue 11 asks for this case to be profiled before it is optimised. Run:

    PYTHONPATH=python .venv/bin/python bench/profile_threads.py --threads 8 --out bench/profiles

It starts its own redis-server, runs the workload once plainly (the rate
and the client CPU per command), then under `perf record` (native: Go,
the bridge, CPython, the kernel) and `py-spy record --native` (which Python
lines), and writes the reports as text beside the benchmark. Bounded: each
run is --commands HSETs in all.
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))


def workload(port: int, threads: int, commands: int) -> None:
    import cpipe

    pool = cpipe.Pool(port=port, size=threads)
    per = commands // threads
    pool.hset("warm", "f", "v")

    def worker(k: int) -> None:
        hset = pool.hset
        key = f"h{k}"
        for i in range(per):
            hset(key, i, i)

    ts = [threading.Thread(target=worker, args=(k,)) for k in range(threads)]
    cpu0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    wall, cpu1 = time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    n = per * threads
    print(f"{threads} threads, {n} HSET: {n / wall:,.0f}/s, client CPU {1e6 * cpu / n:.2f} us/command, "
          f"voluntary context switches {cpu1.ru_nvcsw - cpu0.ru_nvcsw:,}, "
          f"involuntary {cpu1.ru_nivcsw - cpu0.ru_nivcsw:,}")
    pool.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--commands", type=int, default=400_000)
    ap.add_argument("--out", default=os.path.join(HERE, "profiles"))
    ap.add_argument("--workload-port", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.workload_port:
        workload(args.workload_port, args.threads, args.commands)
        return
    from tests._servers import start_real_server

    os.makedirs(args.out, exist_ok=True)
    srv = start_real_server()
    base = os.path.join(args.out, f"threads{args.threads}")
    me = [sys.executable, os.path.abspath(__file__), "--threads", str(args.threads),
          "--commands", str(args.commands), "--workload-port", str(srv.port)]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    try:
        plain = subprocess.run(me, env=env, capture_output=True, text=True, check=True).stdout
        print(plain, end="")
        with open(base + "_rate.txt", "w") as f:
            f.write(plain)
        if shutil.which("perf"):
            data = base + ".perf.data"
            subprocess.run(["perf", "record", "-e", "cpu-clock", "-F", "2000", "-g", "-o", data, "--", *me],
                           env=env, check=True, capture_output=True)
            for sort, name in (("dso", "dso"), ("dso,sym", "sym")):
                report = subprocess.run(["perf", "report", "-i", data, "--no-children", "--sort", sort,
                                         "-g", "none", "--percent-limit", "0.5", "--stdio"],
                                        capture_output=True, text=True).stdout
                with open(f"{base}_perf_{name}.txt", "w") as f:
                    f.write(report)
            os.unlink(data)
        if shutil.which("py-spy"):
            subprocess.run(["py-spy", "record", "--native", "--format", "raw", "--rate", "500",
                            "-o", base + "_pyspy.txt", "--", *me], env=env, check=True, capture_output=True)
    finally:
        srv.stop()
    print("profiles written to", args.out)


if __name__ == "__main__":
    main()
