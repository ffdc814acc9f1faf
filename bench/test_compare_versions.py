"""compare_versions.py's arithmetic and its RESULTS.md editing (no server, no subprocess):

    .venv/bin/python -m pytest -q -p no:cacheprovider bench/test_compare_versions.py

The end-to-end path (servers, subprocesses) is exercised by running the script itself.
"""
from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import compare_versions as cv  # noqa: E402


def _run(version: str, rnd: int, rate: float, other: float, p50: float, ratio_lat: float) -> cv.Run:
    """One subprocess's --json case entry: a cpipe rate, a control rate, a latency, two target ratios."""
    data = {
        "errors": [],
        "records": [
            {"label": "cpipe pipeline", "unit": "ops/s", "better": "higher", "info": False,
             "values": [rate], "client_cpu": [1.0], "server_cpu": [1.0]},
            {"label": "redis-py pipeline", "unit": "ops/s", "better": "higher", "info": False,
             "values": [other], "client_cpu": [5.0], "server_cpu": [1.0]},
            {"label": "cpipe p50", "unit": "µs", "better": "lower", "info": False,
             "values": [p50], "client_cpu": [], "server_cpu": []},
        ],
        "targets": [
            {"num": "cpipe pipeline", "den": "redis-py pipeline", "better": "higher", "ratio": rate / other},
            {"num": "cpipe p50", "den": "x p50", "better": "lower", "ratio": ratio_lat},
        ],
    }
    return cv.Run("pipe", version, rnd, data=data)


def _rows(runs: list) -> dict:
    return {(r.kind, r.label): r for r in cv.compare(runs, ["pipe"])}


def test_medians_over_rounds_and_directions():
    runs = [_run("old", 0, 100, 20, 10, 1.0), _run("old", 1, 300, 20, 30, 1.0), _run("old", 2, 200, 20, 20, 1.0),
            _run("new", 0, 150, 20, 22, 1.2), _run("new", 1, 210, 20, 21, 1.2), _run("new", 2, 180, 20, 40, 1.2)]
    rows = _rows(runs)
    rate = rows[("cpipe", "cpipe pipeline")]
    assert (rate.old_median, rate.new_median) == (200, 180)
    assert abs(rate.change() - 0.9) < 1e-9 and rate.dropped(0.05) and rate.verdict(0.05).startswith("**DROP**")
    ratio = rows[("ratio", "cpipe pipeline / redis-py pipeline")]
    assert (ratio.old_median, ratio.new_median) == (10, 9)  # medians of the per-round ratios
    # µs: lower is better, so 20 -> 22 (new/old 1.1) is a drop and not a gain
    lat = rows[("cpipe", "cpipe p50")]
    assert abs(lat.change() - 1.1) < 1e-9 and lat.dropped(0.05)
    lat_ratio = rows[("ratio", "cpipe p50 / x p50")]
    assert lat_ratio.dropped(0.05)
    control = rows[("control", "redis-py pipeline")]
    assert control.change() == 1.0 and not control.dropped(0.05) and control.verdict(0.05) == "control"


def test_within_threshold_better_noisy_and_missing():
    runs = [_run("old", 0, 100, 20, 20, 1.0), _run("new", 0, 97, 20, 15, 0.8)]
    rows = _rows(runs)
    assert rows[("cpipe", "cpipe pipeline")].verdict(0.05) == "same"
    assert rows[("cpipe", "cpipe p50")].verdict(0.05) == "better"
    assert rows[("ratio", "cpipe p50 / x p50")].verdict(0.05) == "better"
    noisy = _rows([_run("old", 0, 100, 20, 20, 1.0), _run("old", 1, 200, 20, 20, 1.0),
                   _run("new", 0, 150, 20, 20, 1.0)])
    assert noisy[("cpipe", "cpipe pipeline")].verdict(0.05) == "same (noisy)"  # old rounds differ 2×
    failed = cv.Run("pipe", "new", 0, errors=["boom"])
    missing = _rows([_run("old", 0, 100, 20, 20, 1.0), failed])
    row = missing[("ratio", "cpipe pipeline / redis-py pipeline")]
    assert row.gain() is None and row.verdict(0.05) == "n/a (missing in new)" and not row.dropped(0.05)


def test_section_is_appended_once_then_replaced_in_place():
    doc = "# Results\n\n## Cases\n\nbody\n\n## Reliability changes (issue 7)\n\nkept\n"
    first = cv.replace_section(doc, cv.HEADING + "\n\nfirst\n")
    assert first.startswith(doc.rstrip("\n")) and first.endswith(cv.HEADING + "\n\nfirst\n")
    second = cv.replace_section(first, cv.HEADING + "\n\nsecond\n")
    assert second.count(cv.HEADING) == 1 and "first" not in second and "kept" in second
    # a section written later below ours survives the replacement
    later = second + "\n## Later\n\nstays\n"
    third = cv.replace_section(later, cv.HEADING + "\n\nthird\n")
    assert "second" not in third and third.endswith("third\n\n## Later\n\nstays\n")
    assert cv.replace_section("", cv.HEADING + "\n\nx\n") == cv.HEADING + "\n\nx\n"
