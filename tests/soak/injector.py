"""The soak's fault thread: random faults, GLOBAL on the reference server,
each cleared after a short while, through control connections of its own.

Each command goes on a fresh connection, closed after its +OK: a GLOBAL
fault also arms the connection that issued it, and the CLEAR must not meet
a connection the fault has already stalled. (A fresh connection does get
the GLOBAL fault armed on accept, but CLEAR GLOBAL disarms it before its
own +OK is written.)
"""
from __future__ import annotations

import random
import time

from tests.server.rawclient import RawClient

from .tally import Tally

#: Every kind the soak can inject (CPIPE.FAULT names, lower case).
KINDS = ("close-mid-reply", "stall", "refuse", "delay", "malformed", "extra-bytes", "extra", "extra-later")
#: What it injects unless told otherwise: stray bytes as junk (EXTRA-BYTES),
#: not as a valid reply (EXTRA, EXTRA-LATER), which no RESP2 client can always
#: tell from the reply of a request in flight (soak.py's docstring says more).
DEFAULT_KINDS = tuple(k for k in KINDS if k not in ("extra", "extra-later"))
MAX_FAULTS = 100_000
#: Seconds between two faults, and how long a GLOBAL fault stays armed.
PAUSE = (0.3, 1.5)
ARMED = (0.05, 0.4)
#: Milliseconds: REFUSE window, DELAY per reply, EXTRA-LATER's wait.
REFUSE_MS = (100, 500)
DELAY_MS = (20, 300)
EXTRA_LATER_MS = (5, 300)
#: How long a control command may keep meeting a refused port.
CONNECT_RETRY = 3.0


class InjectorError(Exception):
    pass


class Injector:
    def __init__(self, port: int, kinds: tuple, tally: Tally, deadline: float, seed: int) -> None:
        self.port, self.kinds, self.tally, self.deadline = port, kinds, tally, deadline
        self.rng = random.Random(seed)

    def control(self, *args) -> None:
        """One CPIPE.FAULT command on a fresh connection; it must answer +OK."""
        give_up = time.monotonic() + CONNECT_RETRY
        while True:
            try:
                with RawClient(self.port, timeout=5) as c:
                    reply = c.call(*args)
                break
            except ConnectionRefusedError:  # inside a REFUSE window
                if time.monotonic() > give_up:
                    raise
                time.sleep(0.05)
        if reply != b"+OK\r\n":
            raise InjectorError(f"{' '.join(map(str, args))} answered {reply!r}")

    def run(self) -> None:
        rng = self.rng
        try:
            for _ in range(MAX_FAULTS):
                pause = rng.uniform(*PAUSE)
                if time.monotonic() + pause + ARMED[1] >= self.deadline:
                    break
                time.sleep(pause)
                self.inject(rng.choice(self.kinds))
        finally:
            self.control("CPIPE.FAULT", "CLEAR", "GLOBAL")

    def inject(self, kind: str) -> None:
        rng, tally = self.rng, self.tally
        if kind == "refuse":  # always global, ends by itself
            ms = rng.randint(*REFUSE_MS)
            tally.fault(kind, f"REFUSE {ms}")  # first: it acts before control() returns
            self.control("CPIPE.FAULT", "REFUSE", ms)
            time.sleep(ms / 1000.0)
            tally.fault_cleared()
            return
        args = [kind.upper()]
        if kind == "delay":
            args.append(rng.randint(*DELAY_MS))
        elif kind == "extra-later":
            args.append(rng.randint(*EXTRA_LATER_MS))
        tally.fault(kind, " ".join(map(str, args)) + " GLOBAL")
        self.control("CPIPE.FAULT", *args, "GLOBAL")
        time.sleep(rng.uniform(*ARMED))
        self.control("CPIPE.FAULT", "CLEAR", "GLOBAL")
        tally.fault_cleared()
