"""Run redis-py's own test files against cpipe, and against redis-py itself.

    python tests/compat/redispy_suite.py            # what `make test-compat` runs
    python tests/compat/redispy_suite.py -k lock     # a subset, for triage
    python tests/compat/redispy_suite.py --client cpipe tests/test_lock.py

The test files come from the sdist of the installed redis-py release
(downloaded once with pip into build/redis-py-tests/, which git ignores).
One real server is started; the files run twice on it, both with the same
`--protocol` (2 unless --protocol 3 is given): first as redis-py ships them
(the baseline), then with redispy_cpipe.py loaded, which makes redis-py's
fixtures build cpipe clients. A test that passes on the baseline and fails
on cpipe is a regression unless tests/compat/README.md lists it under
"Known differences" with its reason. Regressions are run once more on both
clients before they count, so a test that fails only now and then is
reported as flaky rather than failing the run.

Exit status: 0 when no unlisted regression is left, 1 otherwise, 2 when the
harness itself could not run (download, server, a pytest run that crashed).
"""
from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
CACHE = ROOT / "build" / "redis-py-tests"
README = HERE / "README.md"
REQUIREMENTS = HERE / "requirements.txt"

# The files issue 8 names, as paths inside redis-py's sdist.
FILES = [
    "tests/test_commands.py", "tests/test_pipeline.py", "tests/test_scripting.py", "tests/test_lock.py",
    "tests/test_asyncio/test_commands.py", "tests/test_asyncio/test_pipeline.py",
    "tests/test_asyncio/test_scripting.py", "tests/test_asyncio/test_lock.py",
    "tests/test_pubsub.py", "tests/test_asyncio/test_pubsub.py",
]
# redis-py's CI selects standalone tests the same way (its markers in
# pyproject.toml): cluster-only tests, module tests and replica tests need
# servers this run does not start.
MARKERS = "not onlycluster and not redismod and not replica"
# A regression list longer than this is not worth a second run: the
# client is plainly not a drop-in yet, and the rerun would only double the time.
MAX_RERUN = 200
# One pytest run, at most (each test has redis-py's 30 s pytest-timeout;
# a whole run takes 1 to 2 minutes here).
RUN_TIMEOUT = 1800
# Longer lists are shown grouped by error (all of them go to regressions.txt).
MAX_LISTED = 40


class HarnessError(Exception):
    """The comparison could not be made (as opposed to: it found regressions)."""


# --- redis-py's tests, from its sdist ------------------------------------

def redis_py_version() -> str:
    return importlib.metadata.version("redis")


def fetch_tests(version: str) -> Path:
    """build/redis-py-tests/<version>/ with redis-py's tests/ and its pytest settings.

    Only those are extracted: the sdist's redis/ package must not be
    importable from there, or the runs would test the sdist's copy of
    redis-py instead of the installed one cpipe builds on.
    """
    # Resolved: pytest's node ids are relative to --rootdir, and would come
    # out empty for a rootdir reached through a symlink.
    dest = (CACHE / version).resolve()
    if (dest / "tests" / "conftest.py").exists():
        return dest
    with tempfile.TemporaryDirectory(prefix="redis-py-sdist-") as tmp:
        print(f"== downloading redis-py {version}'s sdist for its tests", flush=True)
        cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-binary", ":all:", "--no-deps",
               "-d", tmp, f"redis=={version}"]
        done = subprocess.run(cmd, capture_output=True, text=True)
        sdists = list(Path(tmp).glob("redis-*.tar.gz"))
        if done.returncode != 0 or len(sdists) != 1:
            raise HarnessError(f"`{' '.join(cmd)}` failed:\n{done.stderr.strip()}")
        staging = Path(tmp) / "extract"
        with tarfile.open(sdists[0]) as tar:
            top = tar.getnames()[0].split("/")[0]
            wanted = [m for m in tar.getmembers()
                      if m.name.startswith(f"{top}/tests/") or m.name in {f"{top}/{c}" for c, _ in PYTEST_CONFIGS}]
            if not any(m.name == f"{top}/tests/conftest.py" for m in wanted):
                raise HarnessError(f"{sdists[0].name} has no tests/conftest.py: redis-py's sdist layout changed")
            # The "data" filter (refusing absolute paths, links out of the
            # tree, device files) where this Python has it (3.11.4+, 3.12).
            safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
            tar.extractall(staging, members=wanted, **safe)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(dest, ignore_errors=True)
        shutil.move(str(staging / top), dest)
    return dest


# Where pytest reads its settings, in its order, with the section it looks for.
PYTEST_CONFIGS = [("pytest.ini", "[pytest]"), ("pyproject.toml", "[tool.pytest.ini_options]"),
                  ("tox.ini", "[pytest]"), ("setup.cfg", "[tool:pytest]")]


def pytest_config(suite: Path) -> Path:
    """The sdist's pytest settings, or ones written for an sdist that ships none.

    Without a file of its own pytest would search upwards and take this
    repository's settings. redis-py 5.0's sdist ships none (they lived in
    its tox.ini); its asyncio tests need asyncio_mode = auto, and it set
    pytest-timeout's 30 s per test, as redis-py's later releases do.
    """
    for name, section in PYTEST_CONFIGS:
        path = suite / name
        if path.exists() and section in path.read_text(encoding="utf-8"):
            return path
    path = suite / "pytest.ini"
    path.write_text("# Written by tests/compat/redispy_suite.py: this sdist has no pytest settings.\n"
                    "[pytest]\nasyncio_mode = auto\ntimeout = 30\n", encoding="utf-8")
    return path


def fetch_test_dependencies() -> Path:
    """A --target directory with requirements.txt installed, keyed by its content and the Python."""
    # Keyed by the Python too: the requirements' markers depend on its version.
    key = REQUIREMENTS.read_bytes() + f"{sys.implementation.name}{sys.version_info[:2]}".encode()
    digest = hashlib.sha256(key).hexdigest()[:12]
    dest = CACHE / f"deps-{digest}"
    if (dest / ".complete").exists():
        return dest
    print("== installing redis-py's test dependencies into", dest.relative_to(ROOT), flush=True)
    shutil.rmtree(dest, ignore_errors=True)
    cmd = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(dest),
           "-r", str(REQUIREMENTS)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise HarnessError(f"`{' '.join(cmd)}` failed:\n{done.stderr.strip()}")
    (dest / ".complete").touch()
    return dest


# --- known differences -----------------------------------------------------

@dataclass
class KnownDifference:
    pattern: str  # a node id, where * matches any run of characters
    reason: str
    matched: int = 0


def read_known_differences(path: Path = README) -> list[KnownDifference]:
    """The "- `node id pattern`: reason" items under README's "## Known differences"."""
    found, inside = [], False
    item = re.compile(r"^- `([^`]+)`:\s*(.+)$")
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            inside = line.strip().lower() == "## known differences"
            continue
        m = item.match(line.strip()) if inside else None
        if m:
            found.append(KnownDifference(m.group(1), m.group(2).strip()))
    return found


def listed(nodeid: str, known: list[KnownDifference]) -> KnownDifference | None:
    for k in known:
        # Not fnmatch: it would read a parametrized id's [..] as a character class.
        regex = re.escape(k.pattern).replace(r"\*", ".*")
        if re.fullmatch(regex, nodeid):
            return k
    return None


# --- running pytest --------------------------------------------------------

@dataclass
class Run:
    client: str  # "redis-py" or "cpipe"
    results: dict[str, dict[str, str]]
    seconds: float
    clients_handed_out: dict[str, int] = field(default_factory=dict)


# The RESP version redis-py's fixtures ask for, on both clients (--protocol).
PROTOCOL = "2"


def python_path(*first: Path) -> str:
    # pytest runs from the tests' directory: relative entries (PYTHONPATH=python
    # for an in-place build) would point elsewhere there.
    inherited = [str(Path(p).resolve()) for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    return os.pathsep.join([*(str(p) for p in first), *inherited])


def run_pytest(client: str, suite: Path, deps: Path, url: str, targets: list[str],
               extra: list[str], tag: str, tracebacks: str = "line") -> Run:
    """One pytest run on `client`; tracebacks="short" for a few tests only:
    pytest takes about 0.3 s to format each traceback of redis-py's tests."""
    results = suite / f"results-{client}-{tag}.json"
    log = suite / f"pytest-{client}-{tag}.log"
    for stale in (results, Path(f"{results}.clients.json")):
        stale.unlink(missing_ok=True)
    plugins = ["-p", "redispy_results", "--compat-results", str(results)]
    if client == "cpipe":
        plugins += ["-p", "redispy_cpipe"]
    server = ["--redis-url", url, "--protocol", PROTOCOL]
    if "--redis-mod-url" in (suite / "tests" / "conftest.py").read_text(encoding="utf-8"):
        # Module tests are deselected; pointed here, its probe finds no modules.
        server += ["--redis-mod-url", url]
    cmd = [sys.executable, "-m", "pytest", "-c", str(pytest_config(suite)), "--rootdir", str(suite),
           "-p", "no:cacheprovider", "-q", f"--tb={tracebacks}", "-o", "console_output_style=classic",
           *plugins, *server, "-m", MARKERS, *extra, *targets]
    env = dict(os.environ, PYTHONPATH=python_path(deps, HERE))
    started = time.monotonic()
    with open(log, "w", encoding="utf-8") as out:
        try:
            done = subprocess.run(cmd, cwd=suite, env=env, stdout=out, stderr=subprocess.STDOUT,
                                  timeout=RUN_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise HarnessError(f"pytest on {client} did not finish in {RUN_TIMEOUT} s ({log})") from None
    seconds = time.monotonic() - started
    # 0: all passed, 1: some failed, 5: nothing collected (a -k that matches nothing).
    if done.returncode not in (0, 1, 5) or not results.exists():
        tail = "".join(log.read_text(encoding="utf-8", errors="replace").splitlines(True)[-30:])
        raise HarnessError(f"pytest on {client} exited {done.returncode} ({log}):\n{tail}")
    run = Run(client, json.loads(results.read_text(encoding="utf-8")), seconds)
    handed = Path(f"{results}.clients.json")
    if client == "cpipe":
        run.clients_handed_out = json.loads(handed.read_text(encoding="utf-8"))
    return run


def check_cpipe_was_used(run: Run) -> None:
    """A cpipe run whose fixtures built no cpipe client tested redis-py twice."""
    ran = {nodeid.split("::")[0] for nodeid, r in run.results.items() if r["outcome"] in ("passed", "failed")}
    wants = {"sync": any("/test_asyncio/" not in f for f in ran), "asyncio": any("/test_asyncio/" in f for f in ran)}
    for kind, needed in wants.items():
        if needed and not run.clients_handed_out.get(kind):
            raise HarnessError(f"the cpipe run built no {kind} cpipe client: redispy_cpipe.py "
                               "does not match this redis-py release's conftest")


# --- comparing -------------------------------------------------------------

@dataclass
class Comparison:
    regressions: dict[str, str] = field(default_factory=dict)  # nodeid -> cpipe's error
    allowed: dict[str, KnownDifference] = field(default_factory=dict)
    flaky: list[str] = field(default_factory=list)
    only_cpipe_passes: list[str] = field(default_factory=list)


def passed(run: Run, nodeid: str) -> bool:
    return run.results.get(nodeid, {}).get("outcome") == "passed"


def why_not_passed(run: Run, nodeid: str) -> str:
    entry = run.results.get(nodeid)
    if entry is None:
        return "not run"
    if entry["outcome"] == "failed":
        return entry["error"]
    return f"{entry['outcome']}: {entry['error']}" if entry["error"] else entry["outcome"]


def compare(baseline: Run, cpipe: Run, known: list[KnownDifference]) -> Comparison:
    result = Comparison()
    for nodeid in sorted(set(baseline.results) | set(cpipe.results)):
        if passed(baseline, nodeid) and not passed(cpipe, nodeid):
            k = listed(nodeid, known)
            if k is not None:
                k.matched += 1
                result.allowed[nodeid] = k
            else:
                result.regressions[nodeid] = why_not_passed(cpipe, nodeid)
        elif passed(cpipe, nodeid) and not passed(baseline, nodeid):
            result.only_cpipe_passes.append(nodeid)
    return result


def confirm(result: Comparison, rerun_baseline: Run, rerun_cpipe: Run) -> None:
    """Keep only the regressions that a second run on both clients repeats."""
    for nodeid in list(result.regressions):
        if not passed(rerun_baseline, nodeid) or passed(rerun_cpipe, nodeid):
            result.flaky.append(nodeid)
            del result.regressions[nodeid]


def file_of(nodeid: str) -> str:
    return nodeid.split("::")[0]


def print_summary(files: list[str], baseline: Run, cpipe: Run, result: Comparison, known: list[KnownDifference]) -> None:
    print()
    header = f"{'file':<40} {'tests':>6} {'redis-py':>9} {'cpipe':>6} {'regress':>8} {'listed':>7}"
    print(header)
    print("-" * len(header))
    totals = [0, 0, 0, 0, 0]
    for f in files:
        ids = [n for n in set(baseline.results) | set(cpipe.results) if file_of(n) == f]
        row = [len(ids), sum(passed(baseline, n) for n in ids), sum(passed(cpipe, n) for n in ids),
               sum(file_of(n) == f for n in result.regressions), sum(file_of(n) == f for n in result.allowed)]
        totals = [a + b for a, b in zip(totals, row)]
        print(f"{f:<40} {row[0]:>6} {row[1]:>9} {row[2]:>6} {row[3]:>8} {row[4]:>7}")
    print("-" * len(header))
    print(f"{'total':<40} {totals[0]:>6} {totals[1]:>9} {totals[2]:>6} {totals[3]:>8} {totals[4]:>7}")
    print(f"time: redis-py {baseline.seconds:.0f}s, cpipe {cpipe.seconds:.0f}s")
    if result.only_cpipe_passes:
        print(f"\n{len(result.only_cpipe_passes)} test(s) pass on cpipe but not on redis-py:")
        for n in result.only_cpipe_passes:
            print(f"  {n}: redis-py {why_not_passed(baseline, n)}")
    if result.flaky:
        print(f"\n{len(result.flaky)} regression(s) did not repeat on a second run (flaky, not counted):")
        for n in result.flaky:
            print(f"  {n}")
    stale = [k for k in known if not k.matched]
    if stale and not result.regressions:
        print("\nknown differences in README.md that did not differ in this run (an entry may be for "
              "another redis-py release; remove it once no release from 5.0 on needs it):")
        for k in stale:
            print(f"  {k.pattern}")
    if result.regressions:
        print(f"\n{len(result.regressions)} regression(s): pass on redis-py, fail on cpipe, "
              "not in README.md's known differences:")
        if len(result.regressions) <= MAX_LISTED:
            for n, error in result.regressions.items():
                print(f"  {n}\n      {error}")
        else:
            # Hundreds of tests failing the same way say one thing: show each way once.
            by_error: dict[str, list[str]] = {}
            for n, error in result.regressions.items():
                by_error.setdefault(error, []).append(n)
            for error, ids in sorted(by_error.items(), key=lambda e: -len(e[1]))[:MAX_LISTED]:
                print(f"  {len(ids):>4} x {error}\n         e.g. {ids[0]}")
            if len(by_error) > MAX_LISTED:
                print(f"  ... and {len(by_error) - MAX_LISTED} other errors")


def write_regressions(path: Path, result: Comparison) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for n, error in result.regressions.items():
            f.write(f"{n}\t{error}\n")


# --- main --------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("targets", nargs="*", help=f"files or node ids inside redis-py's sdist (default: {len(FILES)} files)")
    parser.add_argument("-k", dest="keyword", help="pytest -k expression, for a subset")
    parser.add_argument("--client", choices=["both", "redis-py", "cpipe"], default="both",
                        help="run one client only (no comparison): for triage")
    parser.add_argument("--tb", default="line", choices=["line", "short", "long", "no"],
                        help="pytest's traceback style in the logs (line: formatting redis-py's is slow)")
    parser.add_argument("--protocol", default="2", choices=["2", "3"],
                        help="the RESP version both runs use (redis-py's --protocol option)")
    args = parser.parse_args(argv)
    global PROTOCOL
    PROTOCOL = args.protocol

    # The installed release's tests: they test the client cpipe builds on.
    version = redis_py_version()
    suite = fetch_tests(version)
    (suite / "regressions.txt").unlink(missing_ok=True)
    deps = fetch_test_dependencies()
    targets = args.targets or FILES
    for t in targets:
        if not (suite / t.split("::")[0]).exists():
            raise HarnessError(f"{t}: no such file in redis-py {version}'s tests")
    extra = ["-k", args.keyword] if args.keyword else []
    known = read_known_differences()

    sys.path.insert(0, str(ROOT))
    from tests._servers import start_real_server

    server = start_real_server()
    try:
        url = f"redis://127.0.0.1:{server.port}/0"
        print(f"== redis-py {version}'s tests, {len(targets)} target(s), server on {url}", flush=True)
        clients = ["redis-py", "cpipe"] if args.client == "both" else [args.client]
        runs = {}
        for client in clients:
            runs[client] = run_pytest(client, suite, deps, url, targets, extra, "all", args.tb)
            counts = {}
            for r in runs[client].results.values():
                counts[r["outcome"]] = counts.get(r["outcome"], 0) + 1
            print(f"   {client}: {counts} in {runs[client].seconds:.0f}s", flush=True)
        if "cpipe" in runs:
            check_cpipe_was_used(runs["cpipe"])
        if args.client != "both":
            return 0
        result = compare(runs["redis-py"], runs["cpipe"], known)
        if result.regressions and len(result.regressions) <= MAX_RERUN:
            print(f"== running the {len(result.regressions)} regression(s) again on both clients", flush=True)
            again = list(result.regressions)
            confirm(result, run_pytest("redis-py", suite, deps, url, again, [], "rerun"),
                    run_pytest("cpipe", suite, deps, url, again, [], "rerun", tracebacks="short"))
    finally:
        server.stop()

    files = [f for f in FILES if any(file_of(n) == f for n in runs["redis-py"].results)]
    files += sorted({file_of(n) for n in runs["redis-py"].results} - set(files))
    print_summary(files, runs["redis-py"], runs["cpipe"], result, known)
    if result.regressions:
        write_regressions(suite / "regressions.txt", result)
        print(f"all regressions with their errors: {suite / 'regressions.txt'}")
    both = sum(passed(runs["redis-py"], n) and passed(runs["cpipe"], n) for n in runs["redis-py"].results)
    # The closing line CI reads: tests passing on both, regressions, known differences.
    print(f"compat: {both} passed, {len(result.regressions)} failed, {len(result.allowed)} skipped")
    return 1 if result.regressions else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except HarnessError as exc:
        print(f"tests/compat/redispy_suite.py: {exc}", file=sys.stderr)
        sys.exit(2)
