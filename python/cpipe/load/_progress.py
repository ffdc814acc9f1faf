"""Progress: a tqdm bar on a terminal, plain periodic lines when stderr is not one.

Both measure bytes of the source file (a gzip file's compressed offset), so
the ETA is right without knowing the row count; rows and commands are shown
beside. Updated once per batch, never per row.
"""
from __future__ import annotations

import sys
import time
from typing import Any, Optional, TextIO


def _size(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if abs(n) < 1000 or unit == "GB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1000
    return f"{n:.1f} GB"


class Progress:
    def update(self, position: int, rows: int, commands: int) -> None:
        pass

    def close(self) -> None:
        pass


class Bar(Progress):
    def __init__(self, total: Optional[int], stream: TextIO) -> None:
        from tqdm import tqdm

        self._bar = tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1000, file=stream,
                         desc="cpipe-load", dynamic_ncols=True, smoothing=0.1, mininterval=0.2)
        self._pos = 0
        self._last_post = 0.0

    def update(self, position: int, rows: int, commands: int) -> None:
        if position > self._pos:
            self._bar.update(position - self._pos)
            self._pos = position
        now = time.monotonic()
        if now - self._last_post > 0.5:
            self._last_post = now
            self._bar.set_postfix_str(f"{rows:,} rows, {commands:,} commands", refresh=False)

    def close(self) -> None:
        self._bar.close()


class Lines(Progress):
    """One line every `interval` seconds: for logs and CI, where a bar is noise."""

    def __init__(self, total: Optional[int], stream: TextIO, interval: float) -> None:
        self.total, self.stream, self.interval = total, stream, interval
        self.t0 = self._last = time.monotonic()

    def update(self, position: int, rows: int, commands: int) -> None:
        now = time.monotonic()
        if now - self._last < self.interval:
            return
        self._last = now
        elapsed = now - self.t0
        rate = commands / elapsed if elapsed > 0 else 0.0
        where = _size(position)
        if self.total:
            frac = min(position / self.total, 1.0)
            eta = elapsed * (1 - frac) / frac if frac > 0 else 0.0
            where += f" of {_size(self.total)} ({frac:.0%}, ETA {eta:.0f} s)"
        print(f"cpipe-load: {where}; {rows:,} rows, {commands:,} commands, {rate:,.0f} commands/s",
              file=self.stream, flush=True)


def make_progress(mode: str, total: Optional[int], interval: float, stream: Any = None) -> Progress:
    """mode: auto (bar on a TTY, lines otherwise), bar, lines, none."""
    stream = stream or sys.stderr
    if mode == "auto":
        mode = "bar" if stream.isatty() else "lines"
    if mode == "bar":
        return Bar(total, stream)
    if mode == "lines":
        return Lines(total, stream, interval)
    return Progress()
