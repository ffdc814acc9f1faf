"""The loading loops: rows -> commands -> sink, and RESP chunks -> sink.

Bookkeeping is per batch, never per command: each batch sent is remembered
(its first command index, the line of each good row, where bad rows fell)
until it is acknowledged and its error replies have been reported, so an
error reply can name its input line and a lost connection can name the
first row that is not fully done (the --skip resume point). That window
is bounded by what the sink holds unacknowledged.
"""
from __future__ import annotations

import itertools
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Optional, TextIO

import redis

from ._resp import RespError
from ._sink import LoadConnectionError, LoadDataError, Sink
from ._templates import Spec, diagnose


class Stop(Exception):
    """--on-error stop: the first error ends the load (after a flush)."""


@dataclass
class Stats:
    unit: str = "rows"  # what --skip/--limit count: rows, or commands for RESP
    skipped: int = 0  # rows (commands) passed over by --skip
    rows: int = 0  # rows read after the skip, bad ones included
    bad_rows: int = 0
    commands: int = 0  # commands built (sent, unless a dry run)
    error_replies: int = 0
    resume: Optional[int] = None  # --skip value to continue from, after a failure
    first_error: str = ""
    t0: float = field(default_factory=time.monotonic)


@dataclass
class _Batch:
    first: int  # index of its first command
    count: int  # commands
    lines: list  # the input line of each good row
    ordinal: int  # input row number (0-based, --skip counts these) of its first row
    bad_at: list  # for each bad row: how many good rows of the batch precede it


class Reporter:
    """Applies --on-error to a problem: stop raises Stop; log prints; skip counts."""

    def __init__(self, mode: str, stats: Stats, out: TextIO) -> None:
        self.mode, self.stats, self.out = mode, stats, out

    def problem(self, message: str) -> None:
        if not self.stats.first_error:
            self.stats.first_error = message
        if self.mode == "stop":
            raise Stop(message)
        if self.mode == "log":
            print(f"cpipe-load: {message}", file=self.out)


class RowLoader:
    def __init__(self, spec: Spec, header: Optional[list], build: Callable[[Any], Any], sink: Optional[Sink],
                 batch: int, stats: Stats, reporter: Reporter, progress: Any, position: Callable[[], int],
                 dry_run: int = 0, out: TextIO = sys.stdout) -> None:
        self.spec, self.header, self.build, self.sink = spec, header, build, sink
        self.k = spec.commands_per_row
        self.rows_per_batch = max(1, batch // self.k)
        self.stats, self.reporter, self.progress, self.position = stats, reporter, progress, position
        self.dry_run, self.out = dry_run, out
        self.window: deque = deque()
        self.errors_seen = 0
        self.ordinal = 0  # rows consumed, --skip included

    def run(self, rows: Iterator[tuple], skip: int, limit: Optional[int]) -> None:
        st = self.stats
        if skip:
            consumed = sum(1 for _ in itertools.islice(rows, skip))
            st.skipped = consumed
            self.ordinal = consumed
        if limit is not None:
            rows = itertools.islice(rows, limit)
        build = self.build
        per = self.rows_per_batch
        while True:
            out: list = []
            lines: list = []
            bad_at: list = []
            ordinal = self.ordinal
            stop: Optional[Stop] = None
            # islice bounds the batch; the loop body is all a good row costs.
            try:
                for line, row in itertools.islice(rows, per):
                    try:
                        out.append(build(row))
                    except redis.ConnectionError:
                        raise  # the bulk's add lost the connection: not the row's fault
                    except Exception as e:  # noqa: BLE001 - any other failure is the row's, named below
                        bad_at.append(len(lines))
                        try:
                            self._bad_row(line, row, e)
                        except Stop as s:
                            stop = s
                            break
                        continue
                    lines.append(line)
            except redis.ConnectionError as e:
                assert self.sink is not None
                lost = self.sink.lost(e)
                # This batch's commands were (partly) handed over: remember it for the resume point.
                self.window.append(_Batch(st.commands, len(out) * self.k, lines, ordinal, bad_at))
                st.rows += len(lines) + len(bad_at)
                st.commands += len(out) * self.k
                st.resume = self.resume_point(lost.acknowledged)
                raise lost from e
            n_rows = len(lines) + len(bad_at)
            if n_rows == 0:
                return
            st.rows += n_rows
            self.ordinal += n_rows
            self._send(out, lines, ordinal, bad_at)
            self.progress.update(self.position(), st.rows, st.commands)
            if stop is not None:
                raise stop
            if n_rows < per:
                return

    def _bad_row(self, line: int, row: Any, e: BaseException) -> None:
        self.stats.bad_rows += 1
        self.reporter.problem(f"line {line}: {diagnose(self.spec, self.header, row, e)}")

    def _send(self, out: list, lines: list, ordinal: int, bad_at: list) -> None:
        n = len(out) * self.k
        first = self.stats.commands
        self.stats.commands += n
        if self.sink is None:
            self._print_dry(out)
            return
        self.window.append(_Batch(first, n, lines, ordinal, bad_at))
        if not out:
            return
        try:
            if self.sink.add is not None:
                self.sink.sync()  # the rows' commands were queued as they were built
            elif self.sink.wants_argv:
                self.sink.send_argv([c for cmds in out for c in cmds])
            else:
                self.sink.send(b"".join(out), n)
        except LoadConnectionError as e:
            self.stats.resume = self.resume_point(e.acknowledged)
            raise
        self.check_errors()

    def _print_dry(self, out: list) -> None:
        from ._format import format_command

        for cmds in out:
            for c in cmds:
                if self.dry_run <= 0:
                    return
                self.dry_run -= 1
                print(format_command(c), file=self.out)

    def check_errors(self) -> None:
        """Report error replies that arrived, then forget acknowledged batches."""
        sink = self.sink
        assert sink is not None
        errors = sink.errors
        while self.errors_seen < len(errors):
            index, exc = errors[self.errors_seen]
            self.errors_seen += 1
            self.stats.error_replies += 1
            self.reporter.problem(f"line {self._line_of(index)}: the server refused "
                                  f"{self._name(index)}: {exc}")
        ack = sink.acknowledged
        while self.window and self.window[0].first + self.window[0].count <= ack and len(self.window) > 1:
            self.window.popleft()

    def _batch_of(self, index: int) -> Optional[_Batch]:
        for b in self.window:
            if b.first <= index < b.first + b.count:
                return b
        return None

    def _line_of(self, index: int) -> Any:
        b = self._batch_of(index)
        return b.lines[(index - b.first) // self.k] if b else "?"

    def _name(self, index: int) -> str:
        words = self.spec.words
        if self.k == 2 and index % 2 == 1:
            return "EXPIRE"
        return "".join(p for p in words[0] if isinstance(p, str)) or "the command"

    def resume_point(self, acknowledged: int) -> int:
        """The --skip value that continues after `acknowledged` commands:
        the first row not fully acknowledged (bad rows before it count as done)."""
        for b in self.window:
            if b.first + b.count > acknowledged:
                g = max(0, acknowledged - b.first) // self.k
                return b.ordinal + g + sum(1 for pos in b.bad_at if pos <= g)
        return self.ordinal


class RespLoader:
    """RESP chunks -> sink. With a sink that counts raw bytes (the engine's
    bulk writer) and no --limit, the chunks go out as read, cut anywhere,
    and the engine's count is the one kept: Python's scanner then only
    passes over --skip, and names a framing error after the engine refused it."""

    def __init__(self, sink: Optional[Sink], stats: Stats, reporter: Reporter, progress: Any,
                 position: Callable[[], int], dry_run: int = 0, out: TextIO = sys.stdout,
                 reopen: Optional[Callable[[], Any]] = None) -> None:
        self.sink, self.stats, self.reporter, self.progress = sink, stats, reporter, progress
        self.position, self.dry_run, self.out = position, dry_run, out
        self.reopen = reopen  # a fresh Input of the same file (None for stdin): to locate an error
        self.errors_seen = 0
        self.skip = 0

    def run(self, chunks: Any) -> None:
        from ._resp import split_commands

        self.skip = chunks.skip
        st = self.stats
        sink = self.sink
        engine = sink is not None and sink.counts_raw and chunks.limit is None
        chunks.engine_counts = engine
        try:
            for data, n in chunks:
                if sink is None:
                    st.rows += n
                    st.commands += n
                    if self.dry_run > 0:
                        from ._format import format_command

                        for c in split_commands(data)[:self.dry_run]:
                            print(format_command(c), file=self.out)
                            self.dry_run -= 1
                else:
                    try:
                        n = sink.send(data, n)
                    except LoadConnectionError as e:
                        st.resume = self.skip + e.acknowledged
                        raise
                    except LoadDataError as e:
                        self._refused(e, data, chunks.offset - len(data))
                    st.rows += n
                    st.commands += n
                    self.check_errors()
                self.progress.update(self.position(), st.rows, st.commands)
            if engine:
                assert sink is not None
                try:
                    sink.finish()  # the engine knows whether the input ended mid-command
                except LoadDataError as e:
                    located = self._locate()
                    raise RespError(str(located) if located else
                                    f"command #{self.skip + st.commands + 1}: truncated input: {e}",
                                    located.offset if located else chunks.offset) from None
        finally:
            st.skipped = chunks.index if engine else max(0, chunks.index - st.rows)

    def _locate(self) -> Optional[RespError]:
        """Python's scanner over the input opened again: the bad command's line,
        number and first byte (None for stdin, or if it finds no error)."""
        from ._resp import locate_error

        if self.reopen is None:
            return None
        inp = self.reopen()
        try:
            return locate_error(inp.stream)
        finally:
            inp.close()

    def _refused(self, e: LoadDataError, data: bytes, start: int) -> None:
        """The engine refused the chunk `data` (input offset `start`): send
        the whole commands before the bad one, then raise RespError naming it."""
        st = self.stats
        assert self.sink is not None
        located = self._locate()
        if located is not None and located.offset >= start + len(data):
            located = None  # the scanners disagree (the engine also checks each argument's CRLF)
        if located is not None:
            if located.offset > start:
                try:
                    got = self.sink.send(data[:located.offset - start], -1)
                    st.rows += got
                    st.commands += got
                except LoadDataError:
                    pass  # the two scanners disagree: send nothing more
            raise RespError(str(located), located.offset)
        # stdin: no second reading. The longest prefix the engine takes goes
        # out (halving on refusal: at most ~2 log2(chunk) calls).
        lo, piece = 0, len(data) // 2
        while piece > 0:
            try:
                got = self.sink.send(data[lo:lo + piece], -1)
            except LoadDataError:
                piece //= 2
                continue
            st.rows += got
            st.commands += got
            lo += piece
            piece = min(piece, len(data) - lo)
        raise RespError(f"command #{self.skip + st.commands + 1} (near byte {start + lo}): {e}", start + lo)

    def check_errors(self) -> None:
        sink = self.sink
        assert sink is not None
        while self.errors_seen < len(sink.errors):
            index, exc = sink.errors[self.errors_seen]
            self.errors_seen += 1
            self.stats.error_replies += 1
            self.reporter.problem(f"command #{self.skip + index + 1}: the server refused it: {exc}")

    def resume_point(self, acknowledged: int) -> int:
        return self.skip + acknowledged
