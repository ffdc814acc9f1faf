"""Raw RESP input (what `redis-cli --pipe` reads): cut into whole commands and counted.

The bytes are sent as they are; only the framing is read, to count
commands (the replies to wait for, --skip/--limit, the resume point) and to
cut chunks at command boundaries. Framing, as the server reads it:

    command := '*' N CRLF ( '$' LEN CRLF <LEN bytes> CRLF ){N}

Like redis-server, the two bytes after a bulk's data are skipped, not
checked. An inline command (`SET k v` on a line) is one command per
non-blank line, and `*0` none, as the server (and the engine's counter) reads them.

Without --limit the engine counts the commands (send_raw with no count,
in Go): this scanner then only passes over --skip's commands, and locates
a framing error afterwards, by reading the file again.

Speed: a Python loop per element is the cost here, so the common headers
(`*3\\r\\n`, `$5\\r\\n`, `$12\\r\\n`) are looked up in dicts by a fixed-width
slice instead of find() + int(); anything else takes the general path.
"""
from __future__ import annotations

from typing import BinaryIO, Iterator, Optional

# Above these redis-server refuses the command (proto-max-bulk-len 512 MB,
# 1024*1024 array elements by default for an unauthenticated... any client).
MAX_ELEMENTS = 1024 * 1024
MAX_BULK = 512 * 1024 * 1024
MAX_INLINE = 64 * 1024  # the server's PROTO_INLINE_MAX_SIZE
# Bytes read per chunk; one command longer than this is read whole
# (up to MAX_BULK per argument), the only case a chunk grows.
CHUNK = 256 * 1024

_HDR = {b"*%d\r\n" % n: n for n in range(1, 10)}
_BULK4 = {b"$%d\r\n" % n: 4 + n + 2 for n in range(10)}
_BULK5 = {b"$%d\r\n" % n: 5 + n + 2 for n in range(10, 100)}


class RespError(ValueError):
    """Input that is not RESP framing; offset is where the bad command starts."""

    def __init__(self, message: str, offset: int, good: int = 0) -> None:
        super().__init__(message)
        self.offset = offset  # where the bad command starts
        self.good = good  # whole commands scanned before it


def _number(buf: bytes, pos: int, end: int, kind: str) -> Optional[int]:
    digits = buf[pos + 1:end]
    return int(digits) if digits.isdigit() else None


def scan(buf: bytes, pos: int = 0, limit: Optional[int] = None) -> tuple:
    """(commands, end): the whole commands in buf from pos (at most limit),
    and the offset just after the last. Raises RespError on bad framing."""
    n = 0
    size = len(buf)
    find = buf.find
    hdr = _HDR.get
    b4 = _BULK4.get
    b5 = _BULK5.get
    while pos < size and (limit is None or n < limit):
        k = hdr(buf[pos:pos + 4])
        if k is not None:
            p = pos + 4
        else:
            if buf[pos] != 42:  # not '*': an inline command, one line (blank: none)
                e = find(b"\n", pos)
                if e < 0:
                    if size - pos > MAX_INLINE:
                        raise RespError(f"an inline command longer than {MAX_INLINE} bytes", pos, n)
                    break
                if e - pos > MAX_INLINE:
                    raise RespError(f"an inline command longer than {MAX_INLINE} bytes", pos, n)
                if buf[pos:e].strip(b" \r\t"):
                    n += 1
                pos = e + 1
                continue
            e = find(b"\r\n", pos)
            if e < 0:
                if size - pos > 20:
                    raise RespError(f"bad array header {buf[pos:pos + 40]!r}", pos, n)
                break
            k = _number(buf, pos, e, "array")
            if k is None and buf[pos + 1:pos + 2] == b"-" and buf[pos + 2:e].isdigit():
                k = 0  # '*-1': a null array, no command (as the server reads it)
            if k is None:
                raise RespError(f"bad array header {buf[pos:e][:40]!r}", pos, n)
            if k > MAX_ELEMENTS:
                raise RespError(f"array of {k} elements (at most {MAX_ELEMENTS})", pos, n)
            if k == 0:  # '*0' (or negative): no command, no reply, as the server reads it
                pos = e + 2
                continue
            p = e + 2
        for _ in range(k):
            adv = b4(buf[p:p + 4]) or b5(buf[p:p + 5])
            if adv is None:
                if p >= size:
                    return n, pos
                if buf[p] != 36:  # '$'
                    raise RespError(f"expected a bulk string ('$') in the command, got {buf[p:p + 40]!r}", pos, n)
                e = find(b"\r\n", p)
                if e < 0:
                    if size - p > 20:
                        raise RespError(f"bad bulk header {buf[p:p + 40]!r}", pos, n)
                    return n, pos
                ln = _number(buf, p, e, "bulk")
                if ln is None:
                    raise RespError(f"bad bulk header {buf[p:e][:40]!r}", pos, n)
                if ln > MAX_BULK:
                    raise RespError(f"bulk string of {ln} bytes (at most {MAX_BULK})", pos, n)
                adv = e + 2 + ln + 2 - p
            p += adv
        if p > size:
            break
        pos = p
        n += 1
    return n, pos


def split_commands(buf: bytes) -> list:
    """The argv of every whole command in buf (for --dry-run and the fallback sink).

    An inline command is split at blanks; one with quotes (which the server
    unquotes, with escapes) raises RespError rather than be sent altered."""
    out = []
    pos = 0
    size = len(buf)
    while pos < size:
        if buf[pos] != 42:
            e = buf.index(b"\n", pos)
            line = buf[pos:e]
            if b'"' in line or b"'" in line:
                raise RespError(f"an inline command with quotes ({line[:40]!r}): only the engine's "
                                "bulk writer sends these (not --dry-run or the pipeline fallback)", pos)
            words = line.split()
            if words:
                out.append(words)
            pos = e + 1
            continue
        e = buf.index(b"\r\n", pos)
        k = int(buf[pos + 1:e])
        p = e + 2
        if k <= 0:  # no command
            pos = p
            continue
        argv = []
        for _ in range(k):
            e = buf.index(b"\r\n", p)
            ln = int(buf[p + 1:e])
            argv.append(buf[e + 2:e + 2 + ln])
            p = e + 4 + ln
        out.append(argv)
        pos = p
    return out


class RespChunks:
    """Whole-command chunks of a RESP stream, after skipping `skip` commands.

    Iterating yields (data, commands); a truncated last command raises
    RespError at the end. With engine_counts, commands is -1 after the skip
    and data is cut anywhere.
    Attributes for messages: `offset` (bytes of input consumed), `line` (the
    line number where the next command starts), `index` (commands seen,
    skipped ones included).
    """

    def __init__(self, stream: BinaryIO, skip: int = 0, limit: Optional[int] = None,
                 chunk: int = CHUNK, engine_counts: bool = False) -> None:
        self.stream, self.skip, self.limit, self.chunk = stream, skip, limit, chunk
        # True (and no limit): after the skip, chunks go out as read, cut
        # anywhere, with commands -1: the engine counts them.
        self.engine_counts = engine_counts and limit is None
        self.offset = 0
        self.line = 1
        self.index = 0

    def _advance(self, data: bytes, n: int) -> None:
        self.offset += len(data)
        self.line += data.count(b"\n")
        self.index += n

    def __iter__(self) -> Iterator[tuple]:
        tail = b""
        to_skip = self.skip
        left = self.limit
        read = self.stream.read
        while left is None or left > 0:
            more = read(self.chunk)
            if not more:
                if tail:
                    raise RespError(f"line {self.line} (command #{self.index + 1}, byte {self.offset}): "
                                    f"truncated input: the last command is incomplete "
                                    f"({len(tail)} bytes at the end)", self.offset)
                return
            buf = tail + more if tail else more
            pos = 0
            if to_skip:
                try:
                    n, pos = scan(buf, 0, to_skip)
                except RespError as e:
                    self._advance(buf[:e.offset], e.good)
                    raise RespError(f"line {self.line} (command #{self.index + 1}, byte {self.offset}): {e}",
                                    self.offset) from None
                to_skip -= n
                self._advance(buf[:pos], n)
                if to_skip:
                    tail = buf[pos:]
                    continue
            if self.engine_counts:
                data = buf[pos:]
                self.offset += len(data)
                yield data, -1
                tail = b""
                continue
            try:
                n, end = scan(buf, pos, left)
            except RespError as e:
                # The whole commands before the bad one go out first.
                if e.good:
                    data = buf[pos:e.offset]
                    self._advance(data, e.good)
                    yield data, e.good
                raise RespError(f"line {self.line} (command #{self.index + 1}, byte {self.offset}): {e}",
                                self.offset) from None
            if n:
                data = buf[pos:end]
                self._advance(data, n)
                if left is not None:
                    left -= n
                yield data, n
            tail = buf[end:]
        return


def locate_error(stream: BinaryIO) -> Optional[RespError]:
    """The first framing error of a whole RESP stream, by Python's scanner
    (its offset is where the bad command starts), or None: run after the
    engine refused a chunk, on the input opened again, to name the line."""
    try:
        for _ in RespChunks(stream, 0, None):
            pass
    except RespError as e:
        return e
    return None
