"""The loader CLI (issue 11): `cpipe-load` against `redis-cli --pipe`, 1,000,000 rows.

The files are generated once per run (setup), in a temporary directory
removed when the case's state goes (weakref finalizer of TemporaryDirectory,
at the latest when the interpreter exits): a CSV `id,name,age,city` and the
RESP file of the same commands, `HSET user:<id> name <name> age <age> city <city>`.

Each repetition runs the three loads as a user runs them, each a fresh
process against the same server (Python's start-up and cpipe's import are in
cpipe-load's time, as a shell user pays them), in an order rotated per
repetition, FLUSHALL before each; after each, the keys are counted and a
sample hash is compared, after the clock stopped:
- `redis-cli --pipe < users.resp` (the anchor);
- `python -m cpipe.load users.resp` (raw RESP, sent as it is);
- `python -m cpipe.load users.csv --hset 'user:{id}'` (rows built into commands).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile

from harness import Context, Target, case

ROWS = 1_000_000
CITIES = ("Paris", "Berlin", "Lima", "Oslo", "Nairobi", "Hanoi")
CLI, RESP, CSV = "redis-cli --pipe", "cpipe-load RESP", "cpipe-load CSV"


def _row(i: int) -> tuple:
    return (str(i), f"user number {i}", str(18 + i % 70), CITIES[i % len(CITIES)])


def _resp(args: list) -> bytes:
    # Written here, not with cpipe's encoder: the anchor's input must not depend on the code measured.
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)


def _generate(ctx: Context) -> dict:
    n = ctx.count(ROWS)
    tmp = tempfile.TemporaryDirectory(prefix="cpipe-bench-load-")
    csv_path, resp_path = os.path.join(tmp.name, "users.csv"), os.path.join(tmp.name, "users.resp")
    with open(csv_path, "w", newline="") as c, open(resp_path, "wb") as r:
        c.write("id,name,age,city\n")
        for start in range(0, n, 100_000):  # bounded memory: 100,000 rows per write
            rows = [_row(i) for i in range(start, min(n, start + 100_000))]
            c.write("".join(",".join(row) + "\n" for row in rows))
            r.write(b"".join(_resp([b"HSET", b"user:" + row[0].encode(), b"name", row[1].encode(),
                                    b"age", row[2].encode(), b"city", row[3].encode()]) for row in rows))
    cli = shutil.which("redis-cli") or os.path.join(os.path.dirname(ctx.server_bin), "redis-cli")
    if not os.path.exists(cli):
        raise RuntimeError("redis-cli not found (Debian package redis-tools)")
    import cpipe

    env = dict(os.environ)
    # The child loads the cpipe this run imported (a build in place, or installed).
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [os.path.dirname(os.path.dirname(cpipe.__file__)),
                                                     env.get("PYTHONPATH")]))
    return {"tmp": tmp, "n": n, "csv": csv_path, "resp": resp_path, "cli": cli, "env": env,
            "sizes": (os.path.getsize(csv_path), os.path.getsize(resp_path))}


def _check(ctx: Context, label: str, n: int) -> None:
    with ctx.admin() as a:
        keys = a.dbsize()
        last = a.hgetall(f"user:{n - 1}")
    want = dict(zip((b"name", b"age", b"city"), (v.encode() for v in _row(n - 1)[1:])))
    if keys != n or last != want:
        raise AssertionError(f"{label}: {keys:,} keys (expected {n:,}), user:{n - 1} = {last!r}")


def _run(ctx: Context, label: str, argv: list, stdin_path: str | None, env: dict) -> str:
    stdin = open(stdin_path, "rb") if stdin_path else subprocess.DEVNULL
    try:
        p = subprocess.run(argv, stdin=stdin, capture_output=True, timeout=ctx.remaining(), env=env)
    finally:
        if stdin_path:
            stdin.close()
    out = (p.stdout + p.stderr).decode(errors="replace")
    if p.returncode != 0:
        raise RuntimeError(f"{label} exited {p.returncode}: {out.strip()[-300:]}")
    return out


@case(
    "load", "cpipe-load: 1,000,000 rows from CSV and from RESP vs redis-cli --pipe (issue 11)", order=26,
    setup=_generate,
    targets=[Target(CSV, CLI, at_least=0.7), Target(RESP, CLI, at_least=0.9)],
    description=(
        "1,000,000 `HSET user:<id> name <name> age <age> city <city>`: `redis-cli -h HOST -p PORT --pipe "
        "< users.resp`; `python -m cpipe.load users.resp --url redis://HOST:PORT --progress none -q`; "
        "`python -m cpipe.load users.csv --hset 'user:{id}' --url redis://HOST:PORT --progress none -q` "
        "(CSV columns id,name,age,city). Each a fresh process, wall time from spawn to exit (Python's "
        "start-up included), FLUSHALL before each, the three in an order rotated per repetition; each "
        "run's key count and last hash are checked. The files are generated once, in a temporary directory."),
)
def load(ctx: Context) -> None:
    s = ctx.state
    n, env = s["n"], s["env"]
    url = f"redis://{ctx.host}:{ctx.port}"
    py = [sys.executable, "-m", "cpipe.load"]
    loads = {
        CLI: ([s["cli"], "-h", ctx.host, "-p", str(ctx.port), "--pipe"], s["resp"]),
        RESP: ([*py, s["resp"], "--url", url, "--progress", "none", "-q"], None),
        CSV: ([*py, s["csv"], "--hset", "user:{id}", "--url", url, "--progress", "none", "-q"], None),
    }
    ctx.note(f"files: users.csv {s['sizes'][0]:,} bytes, users.resp {s['sizes'][1]:,} bytes ({n:,} rows)")
    for label in ctx.rotate(list(loads)):
        argv, stdin_path = loads[label]
        ctx.flushall()
        with ctx.meter() as m:
            out = _run(ctx, label, argv, stdin_path, env)
        if label == CLI and f"errors: 0, replies: {n}" not in out:
            raise AssertionError(f"redis-cli --pipe: {out.strip()[-200:]!r}")
        _check(ctx, label, n)
        ctx.record(label, n / m.seconds, cpu=m.per_op(n))
    ctx.flushall()
