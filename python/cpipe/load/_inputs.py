"""Opening the input (a path or `-`, gzip detected by its magic bytes) and reading rows.

Rows come as (line, row): `line` is the line the record starts on, `row` a
list of str in header order (CSV) or a dict of str (JSON Lines). A record
that cannot be read is yielded as a BadRow in its place, so the caller
decides (--on-error) and the line count stays right; any use of a BadRow
as a row raises RowError with its message.
"""
from __future__ import annotations

import csv
import gzip
import io
import json
import os
import sys
from typing import Any, BinaryIO, Iterator, Optional

from ._templates import RowError

GZIP_MAGIC = b"\x1f\x8b"
FORMATS = ("csv", "jsonl", "resp")
_EXTENSIONS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".resp": "resp"}


class InputError(Exception):
    """The input cannot be read at all (not a row's problem)."""


class _Counting(io.RawIOBase):
    """Counts the bytes read from the source, before decompression: the
    progress bar's position (a gzip file's compressed offset)."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        n = self.raw.readinto(b)  # type: ignore[attr-defined]
        self.count += n or 0
        return n or 0


class Input:
    """An open input: `stream` (decompressed bytes), `position()` and `total`
    (bytes of the source, None for a pipe), `gzip`, `name`."""

    def __init__(self, path: str) -> None:
        self.name = "<stdin>" if path == "-" else path
        if path == "-":
            raw: BinaryIO = sys.stdin.buffer
            self.total: Optional[int] = None
        else:
            try:
                raw = open(path, "rb")
            except OSError as e:
                raise InputError(f"{path}: {e.strerror}") from None
            st = os.fstat(raw.fileno())
            self.total = st.st_size if st.st_size > 0 else None
        self._raw = raw
        self._counter = _Counting(raw)
        buffered = io.BufferedReader(self._counter, 1 << 16)
        self.gzip = buffered.peek(2)[:2] == GZIP_MAGIC
        self.stream: Any = gzip.GzipFile(fileobj=buffered, mode="rb") if self.gzip else buffered
        if self.gzip:
            self.stream = io.BufferedReader(self.stream, 1 << 16)  # type: ignore[arg-type]

    def position(self) -> int:
        return self._counter.count

    def detect_format(self, given: Optional[str]) -> str:
        if given:
            return given
        base = self.name[:-3] if self.name.endswith(".gz") else self.name
        ext = os.path.splitext(base)[1].lower()
        if ext in _EXTENSIONS:
            return _EXTENSIONS[ext]
        try:
            head = self.stream.peek(64)[:64].lstrip()
        except (OSError, EOFError, gzip.BadGzipFile) as e:
            raise InputError(f"{self.name}: {e}") from None
        return "resp" if head[:1] == b"*" else "jsonl" if head[:1] == b"{" else "csv"

    def close(self) -> None:
        if self._raw is not sys.stdin.buffer:
            self._raw.close()


class BadRow:
    """A record that could not be read, in its row's place."""

    __slots__ = ("message",)

    def __init__(self, message: str) -> None:
        self.message = message

    def __getitem__(self, key: Any) -> Any:
        raise RowError(self.message)

    def items(self) -> Any:
        raise RowError(self.message)

    def __len__(self) -> int:
        return 0


def _decode_failure(name: str, e: UnicodeDecodeError) -> InputError:
    return InputError(f"{name}: not UTF-8 text ({e.reason} in a block read near byte {e.start}); "
                      "CSV and JSON Lines input must be UTF-8")


def csv_header(inp: Input) -> tuple:
    """(header, reader): the first record names the columns."""
    text = io.TextIOWrapper(inp.stream, encoding="utf-8-sig", newline="")
    reader = csv.reader(text, strict=True)
    try:
        header = next(reader)
    except StopIteration:
        raise InputError(f"{inp.name}: empty input (a CSV needs a header line)") from None
    except csv.Error as e:
        raise InputError(f"{inp.name}: line 1: bad CSV header: {e}") from None
    except UnicodeDecodeError as e:
        raise _decode_failure(inp.name, e) from None
    header = [h.strip() for h in header]
    dup = sorted({h for h in header if header.count(h) > 1})
    if dup or "" in header:
        raise InputError(f"{inp.name}: line 1: the CSV header has "
                         + (f"duplicate columns {dup}" if dup else "an empty column name"))
    return header, reader


def csv_rows(name: str, header: list, reader: Any) -> Iterator[tuple]:
    width = len(header)
    line = reader.line_num + 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            yield line, BadRow(f"bad CSV: {e}")
            line = reader.line_num + 1
            continue
        except UnicodeDecodeError as e:
            raise _decode_failure(name, e) from None
        if len(row) != width:
            if not row:  # a blank line: no record
                line = reader.line_num + 1
                continue
            if len(row) < width:
                yield line, BadRow(f"missing column {header[len(row)]!r} "
                                   f"(the row has {len(row)} fields, the header {width})")
            else:
                yield line, BadRow(f"{len(row)} fields, the header has {width}")
        else:
            yield line, row
        line = reader.line_num + 1


def _text(v: Any) -> str:
    """A JSON value as the argument Redis gets: its JSON text (true, 1.5, [1,2]),
    a string as itself."""
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, (int, float)):
        return json.dumps(v)
    return json.dumps(v, separators=(",", ":"), ensure_ascii=False)


def jsonl_rows(inp: Input) -> Iterator[tuple]:
    loads = json.loads
    for line, raw in enumerate(inp.stream, 1):
        try:
            obj = loads(raw)
        except UnicodeDecodeError:
            yield line, BadRow("not UTF-8 text")
            continue
        except ValueError as e:
            if not raw.strip():
                continue
            try:  # again without the line end, so the column is on this line
                loads(raw.rstrip())
            except ValueError as e2:
                e = e2
            msg = getattr(e, "msg", str(e))
            col = getattr(e, "colno", None)
            yield line, BadRow(f"bad JSON: {msg}" + (f" at column {col}" if col else ""))
            continue
        if type(obj) is not dict:
            yield line, BadRow(f"not a JSON object (a {type(obj).__name__})")
            continue
        # null is treated as absent; other non-strings become their JSON text.
        yield line, {k: v if type(v) is str else _text(v) for k, v in obj.items() if v is not None}
