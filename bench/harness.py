"""The benchmark harness: a registry of cases, a context they measure with, and reporting.

A case is a function decorated with `@case(...)`. The harness calls it once per
repetition with a `Context`; the case measures its loads and calls
`ctx.record(label, value, ...)` once per label. Medians are taken per label
over the repetitions, and every `Target` is checked on those medians.

    from harness import Target, case

    @case("set_seq", "Sequential SET", order=100,
          targets=[Target("cpipe", "redis-py", at_least=2.0)])
    def set_seq(ctx):
        n = ctx.count(20_000)                  # scaled by --scale
        c = ctx.cpipe_client()
        ctx.record("cpipe", ctx.rate(n, lambda: [c.set(i, i) for i in range(n)]))
        ...

Any `bench/cases_*.py` module is imported by run.py, so a new module of cases
needs no registration elsewhere. Helpers for later cases: `run_threads`
(a barrier-started thread group, timed), `latency_samples` / `percentiles` /
`Context.record_latency` (per-command timings with perf_counter_ns),
`Context.run_async` (an asyncio load), `Context.redis_benchmark`, `at_run_end` (stop what a
case started for the whole run).
"""
from __future__ import annotations

import asyncio
import gc
import math
import os
import shlex
import statistics
import subprocess
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Iterable, Optional, Sequence

HIGHER, LOWER = "higher", "lower"


# -- the registry ------------------------------------------------------------


@dataclass
class Target:
    """A goal on two labels' medians: median(num) / median(den) >= at_least (or <= at_most)."""

    num: str
    den: str
    at_least: Optional[float] = None
    at_most: Optional[float] = None
    note: str = ""

    def check(self, ratio: float) -> bool:
        ok = True
        if self.at_least is not None:
            ok = ok and ratio >= self.at_least
        if self.at_most is not None:
            ok = ok and ratio <= self.at_most
        return ok

    def describe(self) -> str:
        parts = []
        if self.at_least is not None:
            parts.append(f">= {_fmt_ratio(self.at_least)}")
        if self.at_most is not None:
            parts.append(f"<= {_fmt_ratio(self.at_most)}")
        return " and ".join(parts)


@dataclass
class Case:
    name: str
    title: str
    func: Callable[["Context"], None]
    targets: list = field(default_factory=list)
    order: int = 1000
    description: str = ""
    setup: Optional[Callable[["Context"], Any]] = None
    timeout: Optional[float] = None  # seconds per repetition, before --scale; None: the run's default


CASES: dict[str, Case] = {}


def case(name: str, title: str, *, targets: Sequence[Target] = (), order: int = 1000,
         description: str = "", setup: Optional[Callable[["Context"], Any]] = None,
         timeout: Optional[float] = None) -> Callable:
    """Register a case. `setup(ctx)` runs once before the repetitions (its value is ctx.state)."""

    def register(func: Callable[["Context"], None]) -> Callable[["Context"], None]:
        if name in CASES:
            raise ValueError(f"benchmark case {name!r} registered twice")
        CASES[name] = Case(name, title, func, list(targets), order,
                           description or (func.__doc__ or "").strip(), setup, timeout)
        return func

    return register


# -- measuring ---------------------------------------------------------------


class CaseTimeout(Exception):
    """A repetition ran past its time bound."""


def timed(fn: Callable[[], Any]) -> float:
    """Seconds taken by fn(), after a full garbage collection."""
    gc.collect()
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def expect(what: str, got: Any, want: Any) -> None:
    """A case's check of what the clients did (checked after the clock stops)."""
    if got != want:
        raise AssertionError(f"{what}: expected {want!r}, got {got!r}")


def set_get_rounds(label: str, client: Any, keys: list, want: list, timeout: Callable[[], float]) -> Callable:
    """run(a, b) for Interleaved: thread k SETs keys[k][i] to i for i in a..b-1, then GETs each
    and compares it with want[i], one command at a time, len(keys) threads started together.
    run returns the check to make after the clock stops."""
    set_, get = client.set, client.get

    def run(a: int, b: int) -> Callable[[], None]:
        bad: list = []

        def worker(k: int) -> None:
            mine = keys[k]
            for i in range(a, b):
                set_(mine[i], i)
            for i in range(a, b):
                if get(mine[i]) != want[i]:
                    bad.append((k, i))
                    break

        run_threads(len(keys), worker, timeout())
        return lambda: expect(f"{label}: GET replies not matching their SET", bad, [])
    return run


def run_threads(nthreads: int, worker: Callable[[int], Any], timeout: float = 300.0) -> float:
    """Run worker(k) for k in range(nthreads) in threads started together; seconds from start to last end.

    A worker's exception is re-raised here; threads still running after `timeout` raise CaseTimeout.
    """
    barrier = threading.Barrier(nthreads + 1)
    errors: list[BaseException] = []

    def body(k: int) -> None:
        try:
            barrier.wait()
            worker(k)
        except BaseException as e:  # noqa: BLE001 - handed to the caller
            errors.append(e)

    threads = [threading.Thread(target=body, args=(k,), daemon=True, name=f"bench-{k}") for k in range(nthreads)]
    for t in threads:
        t.start()
    gc.collect()
    barrier.wait()
    start = time.perf_counter()
    deadline = time.monotonic() + timeout
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    elapsed = time.perf_counter() - start
    if errors:
        raise errors[0]
    if any(t.is_alive() for t in threads):
        raise CaseTimeout(f"{nthreads} threads still running after {timeout:.0f}s")
    return elapsed


def latency_samples(call: Callable[..., Any], args: Iterable[tuple]) -> list:
    """Per-command latency in ns: call(*a) timed with perf_counter_ns for each a in args."""
    clock = time.perf_counter_ns
    out = []
    append = out.append
    for a in args:
        t = clock()
        call(*a)
        append(clock() - t)
    return out


async def async_latency_samples(call: Callable[..., Awaitable[Any]], args: Iterable[tuple]) -> list:
    """As latency_samples, for a coroutine function."""
    clock = time.perf_counter_ns
    out = []
    append = out.append
    for a in args:
        t = clock()
        await call(*a)
        append(clock() - t)
    return out


def percentiles(samples_ns: Sequence[int], qs: Sequence[float] = (50, 99)) -> dict:
    """{q: microseconds} by the nearest-rank method over samples in ns."""
    if not samples_ns:
        raise ValueError("no latency samples")
    s = sorted(samples_ns)
    out = {}
    for q in qs:
        rank = max(1, math.ceil(q / 100.0 * len(s)))
        out[q] = s[rank - 1] / 1000.0
    return out


# -- the context -------------------------------------------------------------


@dataclass
class Record:
    label: str
    unit: str
    better: str
    info: bool
    values: list = field(default_factory=list)
    client_cpu: list = field(default_factory=list)  # µs of CPU per operation, client process(es)
    server_cpu: list = field(default_factory=list)  # µs of CPU per operation, redis-server

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @staticmethod
    def _med(xs: list) -> Optional[float]:
        return statistics.median(xs) if xs else None

    @property
    def client_cpu_median(self) -> Optional[float]:
        return self._med(self.client_cpu)

    @property
    def server_cpu_median(self) -> Optional[float]:
        return self._med(self.server_cpu)


def _proc_cpu_seconds(pid: int) -> Optional[float]:
    """utime + stime of a process from /proc (clock-tick resolution), None if unreadable."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


class Meter:
    """CPU used while a load runs: this process (all its threads, the Go engine's included),
    its waited-for children (redis-benchmark), and the server.

        with ctx.meter() as m:
            ...n operations...
        ctx.record(label, n / m.seconds, cpu=m.per_op(n))
    """

    def __init__(self, server_pid: Optional[int]) -> None:
        self.server_pid = server_pid
        self.seconds = 0.0

    def _snap(self) -> tuple:
        import resource

        ch = resource.getrusage(resource.RUSAGE_CHILDREN)
        srv = _proc_cpu_seconds(self.server_pid) if self.server_pid else None
        return time.perf_counter(), time.process_time(), ch.ru_utime + ch.ru_stime, srv

    def __enter__(self) -> "Meter":
        gc.collect()
        self._start = self._snap()
        return self

    def __exit__(self, *exc: Any) -> None:
        end = self._snap()
        self.seconds = end[0] - self._start[0]
        self.client = (end[1] - self._start[1]) + (end[2] - self._start[2])
        self.server = None if end[3] is None or self._start[3] is None else end[3] - self._start[3]

    def per_op(self, n: int) -> tuple:
        """(client µs/op, server µs/op or None)."""
        return (self.client / n * 1e6, None if self.server is None else self.server / n * 1e6)


class Context:
    """What a case measures with: the server, scaled counts, clients, and record()."""

    def __init__(self, host: str, port: int, scale: float, server_bin: str, bench_bin: Optional[str],
                 default_timeout: float, verbose: bool = True, server_pid: Optional[int] = None) -> None:
        self.host, self.port, self.scale = host, port, scale
        self.server_pid = server_pid
        self.server_bin, self.bench_bin = server_bin, bench_bin
        self.default_timeout = default_timeout
        self.verbose = verbose
        self.repetition = 0
        self.state: Any = None
        self.records: dict[str, Record] = {}
        self.notes: list[str] = []
        self._closers: list[Callable[[], Any]] = []
        self.deadline = math.inf

    # counts and time bounds

    def count(self, n: int, minimum: int = 1) -> int:
        """n scaled by --scale (at least `minimum`)."""
        return max(minimum, int(round(n * self.scale)))

    def rotate(self, items: Sequence[Any]) -> list:
        """items rotated by the repetition number, so no client always runs first (or last)."""
        k = self.repetition % len(items) if items else 0
        return list(items[k:]) + list(items[:k])

    def remaining(self) -> float:
        """Seconds left in this repetition's time bound (for subprocess and join timeouts)."""
        return max(1.0, self.deadline - time.monotonic())

    # recording

    def record(self, label: str, value: float, unit: str = "ops/s", better: str = HIGHER,
               info: bool = False, cpu: Optional[tuple] = None) -> float:
        """One value of `label` for this repetition. info=True marks context rows no target uses;
        cpu=(client µs/op, server µs/op) as given by Meter.per_op."""
        rec = self.records.get(label)
        if rec is None:
            rec = self.records[label] = Record(label, unit, better, info)
        rec.values.append(float(value))
        extra = ""
        if cpu is not None:
            if cpu[0] is not None:
                rec.client_cpu.append(cpu[0])
                extra += f"  client CPU {cpu[0]:6.2f} µs/op"
            if cpu[1] is not None:
                rec.server_cpu.append(cpu[1])
                extra += f"  server CPU {cpu[1]:6.2f} µs/op"
        if self.verbose:
            print(f"    {label:<44} {_fmt_value(value, unit):>14} {unit}{extra}", flush=True)
        return value

    def meter(self) -> Meter:
        return Meter(self.server_pid)

    def rate(self, n: int, fn: Callable[[], Any]) -> float:
        """Operations per second of fn(), which performs n operations."""
        return n / timed(fn)

    def record_rate(self, label: str, n: int, fn: Callable[[], Any], info: bool = False) -> float:
        """Time fn() (n operations) with its CPU use, and record the rate."""
        with self.meter() as m:
            fn()
        return self.record(label, n / m.seconds, info=info, cpu=m.per_op(n))

    def record_latency(self, label: str, samples_ns: Sequence[int], qs: Sequence[float] = (50, 99),
                       info: bool = False) -> dict:
        """Record '<label> p50', '<label> p99', ... in microseconds (lower is better)."""
        pct = percentiles(samples_ns, qs)
        for q, us in pct.items():
            self.record(f"{label} p{q:g}", us, unit="µs", better=LOWER, info=info)
        return pct

    def note(self, text: str) -> None:
        """A line for the report under this case (e.g. an exact command line); kept once."""
        if text not in self.notes:
            self.notes.append(text)

    def run_async(self, coro: Awaitable[Any]) -> Any:
        """Run an asyncio load to completion in a fresh event loop, bounded by the time left."""

        async def bounded() -> Any:
            return await asyncio.wait_for(coro, self.remaining())

        return asyncio.run(bounded())

    # clients (closed after each repetition)

    def on_close(self, fn: Callable[[], Any]) -> None:
        self._closers.append(fn)

    def close_all(self) -> None:
        while self._closers:
            fn = self._closers.pop()
            try:
                fn()
            except Exception:  # noqa: BLE001 - closing is best effort
                pass

    def cpipe_client(self, **kw: Any) -> Any:
        import cpipe

        c = cpipe.Client(host=self.host, port=self.port, socket_timeout=self.default_timeout, **kw)
        self.on_close(c.close)
        return c

    def cpipe_pool(self, size: int, **kw: Any) -> Any:
        import cpipe

        p = cpipe.Pool(host=self.host, port=self.port, size=size, socket_timeout=self.default_timeout, **kw)
        self.on_close(p.close)
        return p

    def redis_py(self, **kw: Any) -> Any:
        import redis

        kw.setdefault("protocol", 2)
        kw.setdefault("socket_timeout", self.default_timeout)
        r = redis.Redis(host=self.host, port=self.port, **kw)
        self.on_close(r.close)
        return r

    def redis_py_pool(self, max_connections: int) -> Any:
        import redis

        pool = redis.ConnectionPool(host=self.host, port=self.port, protocol=2,
                                    socket_timeout=self.default_timeout, max_connections=max_connections)
        self.on_close(pool.disconnect)
        return pool

    def credis(self) -> Any:
        import credis

        c = credis.Connection(host=self.host, port=self.port, socket_timeout=self.default_timeout)
        self.on_close(c.disconnect)
        return c

    def admin(self) -> Any:
        """A redis-py client for setup and checks (not measured)."""
        return self.redis_py()

    def flushall(self) -> None:
        import redis

        with redis.Redis(host=self.host, port=self.port, protocol=2) as r:
            r.flushall()

    # redis-benchmark

    def record_benchmark(self, label: str, *args: str, n: int, info: bool = False,
                         around: Optional[Callable[[], Any]] = None) -> float:
        """Record redis-benchmark's requests per second, with its CPU and the server's.

        With `around`, redis-benchmark runs n/2 requests, then around(), then the rest, so
        its figure brackets the clients' measurements in time; the two rates combine as
        n / (n1/rps1 + n2/rps2).
        """
        parts = [n] if around is None else [n // 2, n - n // 2]
        seconds, client, server = 0.0, 0.0, 0.0
        for k, part in enumerate(parts):
            if k:
                around()
            with self.meter() as m:
                rps = self.redis_benchmark(
                    *args, n=part, note_suffix="" if around is None else
                    f" (twice: before and after the clients, {n:,} requests in all)")
            seconds += part / rps
            client += m.client
            server = None if server is None or m.server is None else server + m.server
        return self.record(label, n / seconds, info=info,
                           cpu=(client / n * 1e6, None if server is None else server / n * 1e6))

    def interleaved(self) -> "Interleaved":
        """An accumulator that runs several clients' loads chunk by chunk, alternating (see Interleaved)."""
        return Interleaved(self)

    def redis_benchmark(self, *args: str, n: int, note_suffix: str = "") -> float:
        """Requests per second from `redis-benchmark -h HOST -p PORT -n n --csv ARGS...`
        (its last result line, when it runs several tests).

        The exact command (with PORT for the port) becomes a note of the case.
        """
        return list(self.redis_benchmark_tests(*args, n=n, note_suffix=note_suffix).values())[-1]

    def redis_benchmark_tests(self, *args: str, n: int, note_suffix: str = "") -> dict:
        """As redis_benchmark, for every test it ran: {test name: requests per second}, in
        its output order (e.g. `-t set,get` gives {"SET": ..., "GET": ...})."""
        if not self.bench_bin:
            raise RuntimeError("redis-benchmark not found")
        cmd = [self.bench_bin, "-h", self.host, "-p", str(self.port), "-n", str(n), "--csv", *args]
        shown = ["redis-benchmark", "-h", self.host, "-p", "PORT", "-n", str(n), "--csv", *args]
        self.note("`" + " ".join(shlex.quote(a) for a in shown) + "`" + note_suffix)
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=self.remaining())
        if out.returncode != 0:
            raise RuntimeError(f"redis-benchmark failed ({out.returncode}): {out.stderr.strip()[-300:]}")
        rows = [line for line in out.stdout.splitlines() if line.startswith('"') and not line.startswith('"test"')]
        if not rows:
            raise RuntimeError(f"no result line in redis-benchmark output: {out.stdout[-300:]!r}")
        rates = {}
        for row in rows:
            # "test","rps","avg_latency_ms",...
            fields = [f.strip('"') for f in row.strip().split('","')]
            rates[fields[0]] = float(fields[1])
        return rates


class Interleaved:
    """Paired measurement for a noisy machine: clients take turns chunk by chunk.

        acc = ctx.interleaved()
        acc.run([("cpipe", lambda a, b: ...), ("redis-py", ...)], n, chunk)  # load(start, stop)
        acc.run(second_phase_loads, n, chunk)                                  # optional, summed
        acc.record()

    Each entry of loads is (label, load) or (label, load, before). For each chunk
    [start, stop) every client runs before() if given (untimed), then its load(start, stop)
    (which may return a callable, run untimed afterwards: a check, closing what before()
    opened, dropping references), in an order
    rotated per chunk and per repetition; each client's wall time and CPU are summed
    over its chunks, and record() records ops / seconds per label. A burst of outside
    load then hits every client about equally, which a whole-load-at-a-time run does not.
    """

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.totals: dict = {}  # label -> [seconds, client cpu s, server cpu s or None, ops]

    def run(self, loads: Sequence[tuple], n: int, chunk: int, ops_per_item: int = 1) -> None:
        chunk = max(1, min(chunk, n))
        for k, start in enumerate(range(0, n, chunk)):
            stop = min(n, start + chunk)
            shift = (k + self.ctx.repetition) % len(loads)
            for label, load, *before in [*loads[shift:], *loads[:shift]]:
                if time.monotonic() > self.ctx.deadline:
                    raise CaseTimeout("time bound reached between chunks")
                if before:
                    before[0]()  # untimed preparation (e.g. open a fresh pool)
                with self.ctx.meter() as m:
                    after = load(start, stop)
                if callable(after):  # a check the load left for after the clock stopped
                    after()
                after = None  # drop what it holds (e.g. futures) before the next client runs
                t = self.totals.setdefault(label, [0.0, 0.0, 0.0, 0])
                t[0] += m.seconds
                t[1] += m.client
                t[2] = None if t[2] is None or m.server is None else t[2] + m.server
                t[3] += (stop - start) * ops_per_item

    def record(self, info: Iterable[str] = ()) -> dict:
        info = set(info)
        out = {}
        for label, (seconds, client, server, ops) in self.totals.items():
            out[label] = self.ctx.record(label, ops / seconds, info=label in info,
                                         cpu=(client / ops * 1e6, None if server is None else server / ops * 1e6))
        self.totals = {}
        return out


# -- running -----------------------------------------------------------------


_RUN_END: list = []


def at_run_end(fn: Callable[[], Any]) -> None:
    """Call fn when the whole run ends (run.py), even when its watchdog kills the run: for
    servers a case starts once and shares between repetitions and cases (a local cluster)."""
    _RUN_END.append(fn)


def run_end() -> None:
    """Call the at_run_end functions, last registered first (each at most once)."""
    while _RUN_END:
        fn = _RUN_END.pop()
        try:
            fn()
        except Exception:  # noqa: BLE001 - stopping is best effort
            pass


@dataclass
class CaseResult:
    case: Case
    records: dict
    notes: list
    errors: list
    seconds: float
    load: tuple  # 1-minute load average before and after


def _alarm_handler(signum: int, frame: Any) -> None:
    raise CaseTimeout("time bound reached")


def run_case(c: Case, make_context: Callable[[], Context], repeat: int, first_repetition: int = 0) -> CaseResult:
    """Run setup, then `repeat` repetitions of c, each under a time bound (SIGALRM in the main thread).

    Repetitions are numbered from first_repetition (ctx.repetition, which rotates the clients' order)."""
    import signal

    ctx = make_context()
    limit = (c.timeout or ctx.default_timeout)
    errors: list[str] = []
    load0 = os.getloadavg()[0]
    t0 = time.monotonic()
    old = signal.signal(signal.SIGALRM, _alarm_handler)
    try:
        if c.setup is not None:
            ctx.deadline = time.monotonic() + limit
            signal.setitimer(signal.ITIMER_REAL, limit)
            try:
                ctx.state = c.setup(ctx)
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
        for rep in range(repeat):
            ctx.repetition = first_repetition + rep
            if ctx.verbose:
                print(f"  [{c.name}] repetition {rep + 1}/{repeat}", flush=True)
            ctx.deadline = time.monotonic() + limit
            signal.setitimer(signal.ITIMER_REAL, limit)
            try:
                c.func(ctx)
            except CaseTimeout as e:
                errors.append(f"repetition {rep + 1}: exceeded {limit:.0f}s ({e})")
                print(f"  [{c.name}] TIMEOUT: {e}", flush=True)
            except Exception as e:  # noqa: BLE001 - reported, the run goes on
                errors.append(f"repetition {rep + 1}: {type(e).__name__}: {e}")
                print(f"  [{c.name}] ERROR: {type(e).__name__}: {e}", flush=True)
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
                ctx.close_all()
    except Exception as e:  # noqa: BLE001 - setup failed
        errors.append(f"setup: {type(e).__name__}: {e}")
        print(f"  [{c.name}] SETUP ERROR: {type(e).__name__}: {e}", flush=True)
    finally:
        signal.signal(signal.SIGALRM, old)
        ctx.close_all()
    return CaseResult(c, ctx.records, ctx.notes, errors, time.monotonic() - t0, (load0, os.getloadavg()[0]))


# -- reporting ---------------------------------------------------------------


def _fmt_value(v: float, unit: str) -> str:
    if unit == "ops/s":
        return f"{v:,.0f}"
    if unit in ("µs", "ms"):
        return f"{v:,.1f}"
    if unit == "MB":
        return f"{v:,.1f}"
    return f"{v:,.3g}"


def _fmt_ratio(r: float) -> str:
    return f"{r:.2f}×" if r < 10 else f"{r:.1f}×"
