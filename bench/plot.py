#!/usr/bin/env python3
"""Draw the sweep cases (bench/cases_sweeps.py) as PNG line charts.

    .venv/bin/python bench/run.py --cases sweep_pipeline,sweep_hash,sweep_threads,sweep_tasks --json sweeps.json
    .venv/bin/python bench/plot.py sweeps.json --out bench/

One PNG per sweep case found in the JSON (bench/<case>.png): the median rate
of each client against the swept size, log-scaled where the sizes span
decades. Records are labelled "CLIENT @ X" by the sweep cases. matplotlib
draws them (requirements-bench.txt); nothing here measures anything.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from collections import defaultdict

# case name -> (x axis label, y axis label, log x)
AXES = {
    "sweep_pipeline": ("commands per pipeline", "HSET commands/s", True),
    "sweep_hash": ("fields per HSET", "fields written/s", True),
    "sweep_threads": ("Python threads (redis-benchmark: connections)", "SET commands/s", False),
    "sweep_tasks": ("asyncio tasks (redis-benchmark: connections)", "HSET commands/s", True),
}


def series(case: dict) -> dict:
    """{client: [(x, median rate), ...] sorted by x} from a case's records."""
    out: dict = defaultdict(list)
    for rec in case["records"]:
        client, sep, x = rec["label"].rpartition(" @ ")
        if not sep or not rec["values"]:
            continue
        out[client].append((float(x), statistics.median(rec["values"])))
    return {client: sorted(points) for client, points in out.items()}


def draw(case: dict, path: str, started: str) -> None:
    import matplotlib

    matplotlib.use("Agg")  # no screen here
    import matplotlib.pyplot as plt

    xlabel, ylabel, logx = AXES.get(case["name"], ("size", "ops/s", False))
    fig, ax = plt.subplots(figsize=(8, 5), dpi=110)
    for client, points in sorted(series(case).items()):
        xs, ys = zip(*points)
        style = "--" if client.startswith("redis-benchmark") else "-"
        ax.plot(xs, ys, style, marker="o", label=client)
    if logx:
        ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(case["title"], fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.text(0.99, 0.01, f"bench/run.py, {started}; median of each point", ha="right", fontsize=7, alpha=0.6)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main(argv: list) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("json", help="what `bench/run.py --json PATH` wrote")
    ap.add_argument("--out", default=os.path.dirname(os.path.abspath(__file__)), help="directory for the PNGs")
    args = ap.parse_args(argv)
    with open(args.json) as f:
        report = json.load(f)
    drawn = 0
    for case in report["cases"]:
        if not case["name"].startswith("sweep_") or not series(case):
            continue
        path = os.path.join(args.out, f"{case['name']}.png")
        draw(case, path, report.get("started", ""))
        print(f"wrote {path}")
        drawn += 1
    if not drawn:
        print("no sweep case with records in that JSON", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
