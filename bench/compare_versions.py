"""Two builds of cpipe measured in one run: the same bench cases, interleaved, against one server.

    .venv/bin/python bench/compare_versions.py --old /work/wt-old/python --new python \\
        --rounds 3 --write-section bench/RESULTS.md
    .venv/bin/python bench/compare_versions.py --old OLD/python --scale 0.1 --rounds 2   # a quick check

Two builds of cpipe cannot be imported into one process, so every measurement
is a subprocess: `bench/run.py --cases CASE --repeat 1 --port PORT --json ...`
with PYTHONPATH=<version dir> (prepended to any PYTHONPATH already set, which
therefore can supply credis/coredis). One redis-server, started here, serves
every subprocess. Each round runs every case once per version; which version
goes first alternates from round to round (and from case to case). The bench
cases are this tree's (bench/cases_*.py), for both versions.

Per case and version the median over rounds is taken of every record and of
every target ratio; a ratio (cpipe vs redis-py, credis, redis-benchmark) comes
from one subprocess, whose clients take turns chunk by chunk, so most machine
noise cancels in it. new/old of those medians is reported, and any ratio or
cpipe record that moves the wrong way by more than --threshold (5%) is flagged.
The exit status is 1 if a ratio dropped, a run failed, or --max-seconds cut the
run short.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Optional

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
RUN_PY = os.path.join(HERE, "run.py")
sys.path.insert(0, HERE)
sys.path.insert(1, REPO)

from harness import HIGHER, _fmt_ratio, _fmt_value  # noqa: E402
from report import NOISY_SPREAD  # noqa: E402
from tests._servers import start_real_server  # noqa: E402

HEADING = "## Drop-in changes (issue 8): old and new cpipe in one run"
DEFAULT_CASES = "seq,pipe_hset,pipe_hget,threads,phset,threads16,asyncio_hset50,asyncio_pipe,latency"


# -- the two versions ----------------------------------------------------------


@dataclass
class Version:
    name: str  # "old" or "new"
    path: str  # the directory holding the cpipe package
    cpipe_dir: str = ""
    commit: str = ""

    def env(self) -> dict:
        env = dict(os.environ)
        rest = env.get("PYTHONPATH")
        env["PYTHONPATH"] = self.path + (os.pathsep + rest if rest else "")
        return env

    def describe(self) -> str:
        return f"cpipe from `{self.cpipe_dir}`, {self.commit}"


def _git_commit(path: str) -> str:
    def git(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["git", "-C", path, *args], capture_output=True, text=True, timeout=30)

    head = git("rev-parse", "--short", "HEAD")
    if head.returncode != 0:
        return "not a git checkout"
    dirty = git("status", "--porcelain", "--untracked-files=no").stdout.strip()
    return f"git {head.stdout.strip()}" + (" with uncommitted changes" if dirty else "")


def check_version(v: Version, python: str) -> None:
    """The directory must give a cpipe whose native engine loads, from that directory itself."""
    if not os.path.isfile(os.path.join(v.path, "cpipe", "__init__.py")):
        raise SystemExit(f"--{v.name} {v.path}: no cpipe package there (expected {v.path}/cpipe/__init__.py)")
    probe = ("import os, cpipe, cpipe._engine as e; e.native(); "
             "print(os.path.realpath(os.path.dirname(cpipe.__file__)))")
    out = subprocess.run([python, "-c", probe], env=v.env(), capture_output=True, text=True, timeout=120, cwd=REPO)
    if out.returncode != 0:
        raise SystemExit(f"--{v.name} {v.path}: cpipe does not import with its native engine "
                         f"(build it in place first):\n{out.stderr.strip()[-800:]}")
    v.cpipe_dir = out.stdout.strip().splitlines()[-1]
    if v.cpipe_dir != os.path.realpath(os.path.join(v.path, "cpipe")):
        raise SystemExit(f"--{v.name} {v.path}: PYTHONPATH={v.path} imports cpipe from {v.cpipe_dir} instead")
    v.commit = _git_commit(v.path)


# -- running -------------------------------------------------------------------


@dataclass
class Run:
    """One subprocess: one case, one version, one round."""

    case: str
    version: str
    round: int
    seconds: float = 0.0
    load: tuple = (0.0, 0.0)
    data: Optional[dict] = None  # the case's entry of run.py's --json
    errors: list = field(default_factory=list)


def run_one(args: argparse.Namespace, v: Version, case: str, rnd: int, port: int, budget: float,
            workdir: str, current: dict) -> Run:
    """run.py for one case with v's cpipe, bounded by `budget` seconds; its process group is
    killed when the bound passes (so a wedged redis-benchmark goes too)."""
    run = Run(case, v.name, rnd)
    stem = os.path.join(workdir, f"{case}.{v.name}.r{rnd + 1}")
    # run.py stops itself at --max-seconds; our own bound is a little later, for a wedged exit.
    inner = max(10.0, budget - 15)
    cmd = [args.python, RUN_PY, "--cases", case, "--repeat", "1", "--scale", f"{args.scale:g}",
           "--port", str(port), "--json", stem + ".json", "--quiet", "--first-repetition", str(rnd),
           "--timeout", f"{args.timeout:g}", "--max-seconds", f"{inner:.0f}"]
    load0 = os.getloadavg()[0]
    t0 = time.monotonic()
    with open(stem + ".log", "w") as log:
        proc = subprocess.Popen(cmd, env=v.env(), cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        current["proc"] = proc
        try:
            rc = proc.wait(timeout=budget)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            rc = None
        finally:
            current.pop("proc", None)
    run.seconds, run.load = time.monotonic() - t0, (load0, os.getloadavg()[0])
    try:
        with open(stem + ".json") as f:
            run.data = json.load(f)["cases"][0]
        run.errors = list(run.data["errors"])
    except (OSError, ValueError, KeyError, IndexError):
        run.data = None
    if rc is None:
        run.errors.append(f"killed after {budget:.0f} s")
    elif run.data is None:
        with open(stem + ".log") as f:
            tail = f.read()[-600:].strip()
        run.errors.append(f"run.py exited {rc} without a JSON report: {tail}")
    return run


def flush(port: int) -> None:
    import redis

    with redis.Redis(host="127.0.0.1", port=port, protocol=2, socket_timeout=60) as r:
        r.flushall()


def run_all(args: argparse.Namespace, versions: list, cases: list, port: int, server, workdir: str,
            deadline: float, current: dict) -> tuple:
    """Every round, case and version; returns (runs, stopped_early)."""
    runs = []
    total = args.rounds * len(cases) * len(versions)
    for rnd in range(args.rounds):
        for i, case in enumerate(cases):
            order = versions if (rnd + i) % 2 == 0 else versions[::-1]
            for v in order:
                left = deadline - time.monotonic()
                if left < 30:
                    print(f"--max-seconds reached: stopping after {len(runs)} of {total} runs", flush=True)
                    return runs, True
                if server.proc.poll() is not None:
                    raise SystemExit(f"redis-server exited ({server.proc.returncode}) during the run")
                flush(port)
                budget = min(left, 2 * args.timeout + 60)  # setup and one repetition, each bounded by --timeout
                run = run_one(args, v, case, rnd, port, budget, workdir, current)
                runs.append(run)
                status = "ok" if not run.errors else "ERROR " + "; ".join(run.errors)[:300]
                print(f"round {rnd + 1}/{args.rounds} {case:<15} {v.name}: {run.seconds:5.0f} s  "
                      f"load {run.load[1]:.2f}  {status}", flush=True)
    return runs, False


# -- comparing -----------------------------------------------------------------


@dataclass
class Row:
    case: str
    kind: str  # "ratio", "cpipe" (a cpipe record) or "control" (another client's record)
    label: str
    unit: str
    better: str
    old: list
    new: list
    info: bool = False
    cpu_old: list = field(default_factory=list)  # client CPU µs/op per round (records only)
    cpu_new: list = field(default_factory=list)

    @staticmethod
    def _median(xs: list) -> Optional[float]:
        return statistics.median(xs) if xs else None

    @property
    def old_median(self) -> Optional[float]:
        return self._median(self.old)

    @property
    def new_median(self) -> Optional[float]:
        return self._median(self.new)

    def change(self) -> Optional[float]:
        """new/old of the medians."""
        o, n = self.old_median, self.new_median
        return None if o is None or n is None or o == 0 else n / o

    def gain(self) -> Optional[float]:
        """The change oriented so that above 1 is better (lower-is-better figures are inverted)."""
        c = self.change()
        if c is None or c == 0:
            return None
        return c if self.better == HIGHER else 1 / c

    def noisy(self) -> bool:
        def spread(xs: list) -> float:
            return max(xs) / min(xs) if xs and min(xs) > 0 else 1.0

        return max(spread(self.old), spread(self.new)) > NOISY_SPREAD

    def verdict(self, threshold: float) -> str:
        g = self.gain()
        if g is None:
            return "n/a (missing in " + ("old" if not self.old else "new") + ")"
        if self.kind == "control":
            text = "control"
        elif g < 1 - threshold:
            text = "**DROP**"
        elif g > 1 + threshold:
            text = "better"
        else:
            text = "same"
        return text + (" (noisy)" if self.noisy() else "")

    def dropped(self, threshold: float) -> bool:
        g = self.gain()
        return self.kind != "control" and g is not None and g < 1 - threshold


def compare(runs: list, cases: list) -> list:
    """Rows per case: its target ratios, then cpipe records, then the other clients' (controls)."""
    rows = []
    for case in cases:
        ratios: dict = {}
        records: dict = {}
        for run in runs:
            if run.case != case or run.data is None:
                continue
            for t in run.data["targets"]:
                key = (t["num"], t["den"])
                row = ratios.setdefault(key, Row(case, "ratio", f"{t['num']} / {t['den']}", "×",
                                                 t["better"], [], []))
                if t["ratio"] is not None:
                    getattr(row, run.version).append(t["ratio"])
            for r in run.data["records"]:
                kind = "cpipe" if "cpipe" in r["label"] else "control"
                row = records.setdefault(r["label"], Row(case, kind, r["label"], r["unit"], r["better"],
                                                         [], [], info=r["info"]))
                getattr(row, run.version).extend(r["values"])
                getattr(row, "cpu_" + run.version).extend(r["client_cpu"])
        rows.extend(ratios.values())
        rows.extend(sorted(records.values(), key=lambda r: r.kind != "cpipe"))  # stable: run order kept
    return rows


def _fmt(row: Row, v: Optional[float]) -> str:
    if v is None:
        return "-"
    if row.unit == "×":
        return _fmt_ratio(v)
    return f"{_fmt_value(v, row.unit)} {row.unit}"


def _label(row: Row) -> str:
    # µs rows say it by their unit; a ratio of latencies needs saying.
    lower = row.kind == "ratio" and row.better != HIGHER
    return row.label + (" *(info)*" if row.info else "") + (" (lower is better)" if lower else "")


def _cpu(row: Row) -> str:
    if row.kind == "ratio" or not (row.cpu_old or row.cpu_new):
        return ""
    o, n = Row._median(row.cpu_old), Row._median(row.cpu_new)
    return f"{'-' if o is None else f'{o:.2f}'} → {'-' if n is None else f'{n:.2f}'}"


def table(rows: list, threshold: float) -> list:
    lines = ["| case | record/ratio | old median | new median | new/old | verdict | client CPU µs/op old → new |",
             "|---|---|---:|---:|---:|---|---:|"]
    for row in rows:
        c = row.change()
        lines.append(f"| {row.case} | {_label(row)} | {_fmt(row, row.old_median)} | {_fmt(row, row.new_median)} "
                     f"| {'-' if c is None else f'{c:.3f}'} | {row.verdict(threshold)} | {_cpu(row)} |")
    return lines


def section(args: argparse.Namespace, command: str, versions: list, rows: list, runs: list, stopped: bool,
            started: str, seconds: float, load: tuple, busiest: str) -> str:
    thr = args.threshold
    ratios = [r for r in rows if r.kind == "ratio"]
    ratio_drops = [r for r in ratios if r.dropped(thr)]
    record_drops = [r for r in rows if r.kind == "cpipe" and r.dropped(thr)]
    loads = [x for run in runs for x in run.load]
    out = [HEADING, ""]
    w = out.append
    w(f"Generated by `bench/compare_versions.py` on {started} in {seconds:.0f} s: {args.rounds} round"
      f"{'s' if args.rounds != 1 else ''}, counts scaled by {args.scale:g}.")
    w("")
    w("```sh")
    w(command)
    w("```")
    w("")
    for v in versions:
        w(f"- **{v.name}**: {v.describe()}")
    w(f"- machine: {os.cpu_count()} CPUs; 1-minute load average {load[0]:.2f} at the start, {load[1]:.2f} at "
      f"the end, {min(loads, default=0):.2f} – {max(loads, default=0):.2f} around the runs; busiest other "
      f"processes at the start: {busiest}")
    w("")
    w("Method: one redis-server serves the whole run. Each round runs every case once per version, each "
      "in its own `bench/run.py --repeat 1` process (two builds of cpipe cannot share a process) with "
      "PYTHONPATH on that version's package; which version goes first alternates from round to round and "
      "from case to case, and the database is flushed before each process. Both versions run this tree's "
      "bench cases. A ratio (cpipe vs redis-py, credis or redis-benchmark) is computed inside one process "
      "from loads interleaved chunk by chunk, so machine noise mostly cancels in it. The table gives per "
      "version the median over rounds of each ratio and each record, and new/old of those medians. "
      f"**DROP**: a ratio or cpipe figure more than {thr:.0%} worse (for µs, lower is better, so new/old "
      f"above {1 + thr:.2f}); *control*: another client's figure, unchanged code, so its new/old shows how "
      f"much the machine moved; *(noisy)*: the rounds of one side differ by more than {NOISY_SPREAD:g}×.")
    w("")
    measured = [r for r in ratios if r.gain() is not None]
    missing = len(ratios) - len(measured)
    w(f"**{len(measured) - len(ratio_drops)} of {len(measured)} ratios measured in both versions within "
      f"{thr:.0%} or better**" +
      (f"; dropped: {', '.join(f'{r.case} {r.label} ({r.change():.3f})' for r in ratio_drops)}"
       if ratio_drops else "") +
      (f"; {missing} not measured in one version (failed runs below)" if missing else "") + ".")
    if record_drops:
        w(f"cpipe figures down more than {thr:.0%}: "
          f"{', '.join(f'{r.case} {r.label} ({r.change():.3f})' for r in record_drops)}.")
    if stopped:
        w("")
        w(f"> **Incomplete:** --max-seconds={args.max_seconds:g} stopped the run after {len(runs)} processes.")
    w("")
    out.extend(table(rows, thr))
    failed = [run for run in runs if run.errors]
    if failed:
        w("")
        w("Failed runs:")
        w("")
        for run in failed:
            w(f"- {run.case}, {run.version}, round {run.round + 1}: " + "; ".join(run.errors).replace("\n", " "))
    w("")
    return "\n".join(out)


def replace_section(text: str, new_section: str) -> str:
    """text with the section under HEADING replaced (up to the next heading of level 1 or 2);
    without one, the section is appended (after the earlier before/after sections)."""
    lines = text.splitlines(keepends=True)
    block = new_section.rstrip("\n") + "\n\n"
    try:
        start = next(i for i, line in enumerate(lines) if line.rstrip("\n") == HEADING)
    except StopIteration:
        return (text.rstrip("\n") + "\n\n" if text.strip() else "") + block.rstrip("\n") + "\n"
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith(("# ", "## "))), len(lines))
    return "".join(lines[:start]) + block + "".join(lines[end:])


# -- main ----------------------------------------------------------------------


def parse_args(argv: list) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--old", required=True, metavar="DIR", help="directory holding the old build's cpipe package")
    ap.add_argument("--new", default=os.path.join(REPO, "python"), metavar="DIR",
                    help="directory holding the new build's cpipe package (this tree's python/)")
    ap.add_argument("--cases", default=DEFAULT_CASES, help=f"comma-separated case names ({DEFAULT_CASES})")
    ap.add_argument("--rounds", type=int, default=3, help="runs of each case per version; medians are taken (3)")
    ap.add_argument("--scale", type=float, default=1.0, help="multiply every command count by this (1.0)")
    ap.add_argument("--threshold", type=float, default=0.05, help="a change worse than this is a drop (0.05)")
    ap.add_argument("--timeout", type=float, default=300.0,
                    help="run.py's bound on a case's setup and on its repetition, in seconds (300)")
    ap.add_argument("--max-seconds", type=float, default=3600.0,
                    help="bound on the whole run: no process starts past it, the last is cut at it (3600)")
    ap.add_argument("--write-section", metavar="PATH",
                    help=f"write the result as the section '{HEADING[3:]}' of this Markdown file")
    ap.add_argument("--keep", metavar="DIR", help="keep every process's JSON and log in DIR (default: discarded)")
    ap.add_argument("--python", default=sys.executable, help="interpreter for the runs (this one)")
    args = ap.parse_args(argv)
    if args.rounds < 1:
        ap.error("--rounds must be >= 1")
    if not 0 < args.scale <= 10:
        ap.error("--scale must be in (0, 10]")
    if not 0 < args.threshold < 1:
        ap.error("--threshold must be in (0, 1)")
    if args.timeout <= 0 or args.max_seconds <= 60:
        ap.error("--timeout must be > 0 and --max-seconds > 60")
    args.case_list = [c.strip() for c in args.cases.split(",") if c.strip()]
    if not args.case_list:
        ap.error("--cases is empty")
    return args


def known_cases(python: str) -> set:
    out = subprocess.run([python, RUN_PY, "--list"], capture_output=True, text=True, timeout=120, cwd=REPO)
    return {line.split()[0] for line in out.stdout.splitlines() if line.strip()}


def main(argv: list) -> int:
    args = parse_args(argv)
    command = "cd " + shlex.quote(os.getcwd()) + " && " + " ".join(
        shlex.quote(a) for a in [os.path.relpath(sys.executable) if sys.executable.startswith(os.getcwd())
                                 else sys.executable, os.path.relpath(os.path.abspath(__file__)), *argv])
    if os.environ.get("PYTHONPATH"):
        command = command.replace(" && ", f" && PYTHONPATH={shlex.quote(os.environ['PYTHONPATH'])} ", 1)
    unknown = [c for c in args.case_list if c not in known_cases(args.python)]
    if unknown:
        print(f"unknown case(s): {', '.join(unknown)} (bench/run.py --list)", file=sys.stderr)
        return 2
    versions = [Version("old", os.path.abspath(args.old)), Version("new", os.path.abspath(args.new))]
    for v in versions:
        check_version(v, args.python)
    if versions[0].cpipe_dir == versions[1].cpipe_dir:
        raise SystemExit(f"--old and --new are the same build ({versions[0].cpipe_dir})")
    for v in versions:
        print(f"{v.name}: {v.describe()}")

    from report import _busiest_processes

    busiest = _busiest_processes()
    started = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")
    t0 = time.monotonic()
    deadline = t0 + args.max_seconds
    load0 = os.getloadavg()[0]
    server = start_real_server()
    current: dict = {}
    print(f"server: {server.args[0]} on 127.0.0.1:{server.port}; {args.rounds} rounds × "
          f"{len(args.case_list)} cases × 2 versions at scale {args.scale:g}", flush=True)

    def watchdog() -> None:  # the last bound, should a process or the server wedge past the others
        print(f"\nRUN EXCEEDED --max-seconds={args.max_seconds:.0f} by 60 s: killing everything", flush=True)
        proc = current.get("proc")
        if proc is not None:
            os.killpg(proc.pid, signal.SIGKILL)
        server.stop()
        os._exit(3)

    dog = threading.Timer(args.max_seconds + 60, watchdog)
    dog.daemon = True
    dog.start()
    workdir = args.keep or tempfile.mkdtemp(prefix="cpipe-compare-")
    os.makedirs(workdir, exist_ok=True)
    try:
        runs, stopped = run_all(args, versions, args.case_list, server.port, server, workdir, deadline, current)
    finally:
        dog.cancel()
        server.stop()
        if not args.keep:
            import shutil

            shutil.rmtree(workdir, ignore_errors=True)
    seconds = time.monotonic() - t0
    rows = compare(runs, args.case_list)
    md = section(args, command, versions, rows, runs, stopped, started, seconds, (load0, os.getloadavg()[0]),
                 busiest)
    print()
    print(md)
    if args.write_section:
        try:
            with open(args.write_section) as f:
                text = f.read()
        except FileNotFoundError:
            text = ""
        with open(args.write_section, "w") as f:
            f.write(replace_section(text, md))
        print(f"wrote the section to {args.write_section}")
    failed = any(run.errors for run in runs)
    dropped = any(r.kind == "ratio" and r.dropped(args.threshold) for r in rows)
    return 1 if failed or dropped or stopped else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
