"""What the soak counts: operations, errors by class, wrong replies.

Every worker checks each reply against the value it wrote or expects; the
verdict goes here. A cpipe error (ConnectionError and its ProtocolError,
TimeoutError) is what a fault should produce: counted, never a failure. A
reply that is not the expected one, or any other exception (a ResponseError
nobody's command could cause, a reply callback choking on a stray reply), is
a wrong reply: printed with its context and fatal for the run.
"""
from __future__ import annotations

import collections
import sys
import threading
import time

import cpipe

#: What a fault may legitimately cause (ProtocolError is a ConnectionError).
EXPECTED_ERRORS = (cpipe.ConnectionError, cpipe.TimeoutError)
#: Wrong replies printed in full; the rest are only counted.
PRINT_LIMIT = 25


class Tally:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.started = time.monotonic()
        self.ops = 0
        self.by_client: collections.Counter = collections.Counter()
        self.errors: collections.Counter = collections.Counter()
        self.wrong = 0
        self.wrong_by: collections.Counter = collections.Counter()  # by client kind
        self.unexpected: collections.Counter = collections.Counter()
        self.faults: collections.Counter = collections.Counter()
        self.last_fault = "none"  # set by the injector, quoted in reports

    def done(self, client_kind: str, n: int = 1) -> None:
        with self._lock:
            self.ops += n
            self.by_client[client_kind] += n

    def error(self, exc: BaseException) -> None:
        with self._lock:
            self.errors[type(exc).__name__] += 1

    def fault(self, kind: str, detail: str) -> None:
        with self._lock:
            self.faults[kind] += 1
            self.last_fault = f"{detail} from {time.monotonic() - self.started:.1f}s"

    def fault_cleared(self) -> None:
        # One-shot faults can still act after CLEAR (a stalled connection
        # stays stalled until its client times out): keep naming the fault.
        with self._lock:
            self.last_fault += f" to {time.monotonic() - self.started:.1f}s"

    def check(self, who: str, op: str, key: str, expected, got) -> bool:
        """True when got == expected (a list matches an equal tuple: the
        sequence type of a multi-bulk reply is not what is checked);
        otherwise a wrong reply, reported."""
        if isinstance(got, list) and isinstance(expected, tuple):
            got = tuple(got)
        if got == expected:
            return True
        self._report("WRONG", who, op, key, _difference(expected, got))
        return False

    def unexpected_error(self, who: str, op: str, key: str, exc: BaseException) -> None:
        with self._lock:
            self.unexpected[type(exc).__name__] += 1
        self._report("UNEXPECTED", who, op, key, f"{type(exc).__name__}: {exc}")

    def _report(self, what: str, who: str, op: str, key: str, detail: str) -> None:
        with self._lock:
            if what == "WRONG":
                self.wrong += 1
                self.wrong_by[who.rsplit("-", 1)[-1]] += 1
            n = self.wrong + sum(self.unexpected.values())
            if n > PRINT_LIMIT:
                return
            at = time.monotonic() - self.started
            line = (f"{what} at {at:.1f}s [{who}] op={op} key={key} {detail[:300]} "
                    f"(last fault: {self.last_fault})\n")
            if n == PRINT_LIMIT:
                line += "... further wrong replies are only counted\n"
            sys.stderr.write(line)  # one write, under the lock: lines never interleave
            sys.stderr.flush()

    def outcome(self, op: str, who: str, key: str, fn, *args):
        """Run fn(*args); (True, result), or (False, None) after counting the
        error it raised (expected or not)."""
        try:
            return True, fn(*args)
        except Exception as e:  # noqa: BLE001 - classified below
            self.failed(who, op, key, e)
        return False, None

    def failed(self, who: str, op: str, key: str, exc: Exception) -> None:
        """Count an exception a command raised: expected from a fault, or not."""
        if isinstance(exc, EXPECTED_ERRORS):
            self.error(exc)
        else:
            self.unexpected_error(who, op, key, exc)

    def progress(self) -> str:
        with self._lock:
            errs = sum(self.errors.values())
            unexpected = sum(self.unexpected.values())
            return (f"{time.monotonic() - self.started:6.1f}s ops={self.ops} faults={sum(self.faults.values())} "
                    f"errors={errs} wrong={self.wrong} unexpected={unexpected} last fault: {self.last_fault}")


def _difference(expected, got) -> str:
    """The wrong reply, or for a pipeline the first reply that differs."""
    if isinstance(expected, list) and isinstance(got, list) and len(expected) == len(got):
        i = next(i for i, (e, g) in enumerate(zip(expected, got)) if e != g)
        return f"reply [{i}] of {len(got)}: expected {expected[i]!r}, got {got[i]!r}"
    return f"expected {expected!r}, got {got!r}"
