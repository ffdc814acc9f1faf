"""pytest plugin: one outcome per test, written as JSON for redispy_suite.py.

Loaded with `-p redispy_results --compat-results PATH` into both runs of
redis-py's tests (redis-py's own client and cpipe). A test counts as passed
only if its setup, call and teardown all passed: a fixture that breaks in
teardown (flushdb on a broken client, say) is a failure like any other.
For a failure the first line of the error is kept, which is what the
summary shows when triaging a regression; for a skip, its reason.
"""
from __future__ import annotations

import json

import pytest

# Worst first: the outcome a test ends with is the worst of its phases.
_RANK = {"passed": 0, "xfailed": 1, "skipped": 2, "xpassed": 3, "failed": 4}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--compat-results", required=True, metavar="PATH",
                     help="where to write {nodeid: {outcome, error}} as JSON")


class _Results:
    def __init__(self, path: str) -> None:
        self.path = path
        self.tests: dict[str, dict[str, str]] = {}

    @pytest.hookimpl
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.passed and report.when != "call":
            outcome = "passed"
        elif hasattr(report, "wasxfail"):
            outcome = "xfailed" if report.skipped else "xpassed"
        else:
            outcome = report.outcome
        entry = self.tests.setdefault(report.nodeid, {"outcome": "passed", "error": ""})
        if _RANK[outcome] > _RANK[entry["outcome"]]:
            entry["outcome"] = outcome
            if outcome == "failed":
                entry["error"] = f"{report.when}: {_first_line(report)}"
            elif outcome == "skipped" and isinstance(report.longrepr, tuple):
                entry["error"] = str(report.longrepr[2])  # (path, line, reason)

    @pytest.hookimpl
    def pytest_sessionfinish(self) -> None:
        with open(self.path, "w", encoding="utf-8") as f:
            json.dump(self.tests, f, indent=0, sort_keys=True)


def _first_line(report: pytest.TestReport) -> str:
    crash = getattr(report.longrepr, "reprcrash", None)
    text = crash.message if crash is not None else str(report.longrepr)
    lines = text.strip().splitlines()
    return lines[0][:300] if lines else ""


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(_Results(config.getoption("--compat-results")), "compat-results")
