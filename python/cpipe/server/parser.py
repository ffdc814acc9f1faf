"""Request parsers: turn bytes from a client into argument lists.

Wire grammar (requests, as Redis reads them):
    multibulk  *<count>\\r\\n then <count> times $<len>\\r\\n<len bytes>\\r\\n
               count <= 0 is an empty request and is skipped
    inline     any line not starting with '*', split like a shell would
               (sdssplitargs: "double" quotes with \\n \\xhh escapes,
               'single' quotes); the line ends at \\n, an optional \\r
               before it is dropped; an empty line is skipped

`PyParser` is the reference: resumable, pure Python, enforces every limit
in `limits.py`, and produces Redis's exact protocol error messages.
`HiredisParser` hands whole chunks that start at a request boundary to
`hiredis.Reader` (C, fast) and keeps its results only when it can prove
they are what `PyParser` would have produced; anything else - partial
requests, inline commands, odd element types, errors - is re-parsed by the
`PyParser` it wraps. So both parsers accept and reject exactly the same
input, and limits are enforced before large payloads are buffered.

`feed(data)` returns the complete requests in `data`. When the input holds
a protocol error, or the client exceeded the query buffer limit, the list
ends with the marker PROTOCOL_ERROR and the parser keeps `error` (the reply
text without '-'; the connection must close after replying) or `overflow`
(close without a reply, like Redis). The marker saves the connection a check
per chunk on the hot path.
"""
from __future__ import annotations

import os
import re

from . import limits

try:  # optional C accelerator
    import hiredis as _hiredis
except ImportError:  # pragma: no cover - exercised by the pure-Python tests
    _hiredis = None

#: Last element of feed()'s result after a protocol error or overflow.
PROTOCOL_ERROR = [b"\0cpipe-protocol-error"]

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1

# What a parsed argument costs beyond its payload (bytes object header and
# list slot), counted against the query buffer limit so that a request of
# many tiny arguments is bounded too.
_ARG_OVERHEAD = 48

# Above this, a bulk still incomplete is gathered as a list of chunks instead
# of growing the parse buffer, so a 500 MB value costs one copy, not many.
_BIG_BULK = 32 * 1024


def parse_ll(b) -> int | None:
    """Redis string2ll: canonical decimal int64 only ("007", "+1", " 1" fail)."""
    try:
        n = int(b)
    except ValueError:
        return None
    if b"%d" % n != b or n < _INT64_MIN or n > _INT64_MAX:
        return None
    return n


def _strchr(buf, ch: bytes, pos: int) -> int:
    """Redis finds line ends with strchr, which stops at a NUL byte: a NUL
    before the line end means "no line yet" (and the too-big checks apply)."""
    i = buf.find(ch, pos)
    if i > pos and buf.find(b"\0", pos, i) >= 0:
        return -1
    return i


_SPACE = b" \t\n\r\x0b\x0c"
_HEX = b"0123456789abcdefABCDEF"
_ESC = {ord("n"): 10, ord("r"): 13, ord("t"): 9, ord("b"): 8, ord("a"): 7}


def split_args(line: bytes) -> list | None:
    """Port of Redis sdssplitargs; None for unbalanced quotes."""
    nul = line.find(b"\0")
    if nul >= 0:  # C string: ends at the first NUL
        line = line[:nul]
    if b'"' not in line and b"'" not in line and b"\x0b" not in line and b"\x0c" not in line:
        return line.split()
    out = []
    i, n = 0, len(line)
    while True:
        while i < n and line[i] in _SPACE:
            i += 1
        if i >= n:
            return out
        cur = bytearray()
        inq = insq = False
        while True:
            c = line[i] if i < n else 0
            if inq:
                if (c == 92 and i + 3 < n + 0 and line[i + 1] == 120
                        and line[i + 2] in _HEX and line[i + 3] in _HEX):
                    cur.append(int(line[i + 2:i + 4], 16))
                    i += 3
                elif c == 92 and i + 1 < n:
                    i += 1
                    cur.append(_ESC.get(line[i], line[i]))
                elif c == 34:  # closing "
                    if i + 1 < n and line[i + 1] not in _SPACE:
                        return None
                    i += 1
                    break
                elif i >= n:
                    return None
                else:
                    cur.append(c)
            elif insq:
                if c == 92 and i + 1 < n and line[i + 1] == 39:
                    i += 1
                    cur.append(39)
                elif c == 39:
                    if i + 1 < n and line[i + 1] not in _SPACE:
                        return None
                    i += 1
                    break
                elif i >= n:
                    return None
                else:
                    cur.append(c)
            else:
                if i >= n or c in b" \n\r\t":
                    break
                if c == 34:
                    inq = True
                elif c == 39:
                    insq = True
                else:
                    cur.append(c)
            i += 1
        out.append(bytes(cur))


class PyParser:
    """Resumable pure-Python request parser (see module docstring)."""

    __slots__ = ("buf", "pos", "args", "left", "bulklen", "arg_bytes", "big",
                 "big_len", "error", "overflow", "max_bulk", "query_limit",
                 "auth_required", "busy")

    def __init__(self, max_bulk: int = limits.PROTO_MAX_BULK_LEN,
                 query_limit: int = limits.QUERY_BUFFER_LIMIT,
                 auth_required: bool = False):
        self.buf = bytearray()
        self.pos = 0
        self.args = None  # arguments of the multibulk being read, or None
        self.left = 0  # elements still to read in it
        self.bulklen = -1  # length of the bulk being read, -1: header next
        self.arg_bytes = 0
        self.big = None  # chunks of a large incomplete bulk
        self.big_len = 0
        self.error = None
        self.overflow = False
        self.max_bulk = max_bulk
        self.query_limit = query_limit
        self.auth_required = auth_required
        self.busy = False  # something buffered: not at a request boundary

    def _fail(self, msg: bytes) -> None:
        self.error = msg
        self.buf = bytearray()
        self.pos = 0
        self.args = self.big = None

    def feed(self, data) -> list:
        if self.error is not None or self.overflow:
            return []
        reqs = []
        if self.big is not None:
            self.big.append(bytes(data))
            self.big_len += len(data)
            need = self.bulklen + 2
            if self.big_len < need:
                self._check_query_limit(self.big_len)
                if self.overflow:
                    reqs.append(PROTOCOL_ERROR)
                return reqs
            joined = b"".join(self.big)
            self.big = None
            self._add_arg(joined[:self.bulklen], reqs)
            self.buf = bytearray(joined[need:])
            self.pos = 0
        else:
            self.buf += data
        self._parse(reqs)
        self.busy = self.args is not None or self.big is not None or len(self.buf) > 0
        if self.error is not None or self.overflow:
            self.busy = False
            reqs.append(PROTOCOL_ERROR)
        return reqs

    def _add_arg(self, arg: bytes, reqs: list) -> None:
        self.args.append(arg)
        self.arg_bytes += len(arg) + _ARG_OVERHEAD
        self.bulklen = -1
        self.left -= 1
        if self.left == 0:
            reqs.append(self.args)
            self.args = None
            self.arg_bytes = 0

    def _check_query_limit(self, buffered: int) -> None:
        if buffered + self.arg_bytes > self.query_limit:
            self.overflow = True
            self.buf = bytearray()
            self.pos = 0
            self.args = self.big = None

    def _parse(self, reqs: list) -> None:
        buf = self.buf
        pos = self.pos
        end = len(buf)
        while True:
            if self.args is None:
                if pos >= end:
                    break
                if buf[pos] == 42:  # '*': multibulk header
                    nl = _strchr(buf, b"\r", pos)
                    if nl < 0:
                        if end - pos > limits.PROTO_INLINE_MAX_SIZE:
                            return self._fail(b"Protocol error: too big mbulk count string")
                        break
                    if nl + 1 >= end:  # the \n has not arrived yet
                        break
                    n = parse_ll(buf[pos + 1:nl])
                    if n is None or n > limits.PROTO_MAX_MULTIBULK_LEN:
                        return self._fail(b"Protocol error: invalid multibulk length")
                    if n > limits.UNAUTH_MAX_MULTIBULK_LEN and self.auth_required:
                        return self._fail(b"Protocol error: unauthenticated multibulk length")
                    pos = nl + 2
                    if n > 0:
                        self.args = []
                        self.left = n
                        self.arg_bytes = 0
                    continue
                nl = _strchr(buf, b"\n", pos)
                if nl < 0:
                    if end - pos > limits.PROTO_INLINE_MAX_SIZE:
                        return self._fail(b"Protocol error: too big inline request")
                    break
                stop = nl - 1 if nl > pos and buf[nl - 1] == 13 else nl
                argv = split_args(bytes(buf[pos:stop]))
                pos = nl + 1
                if argv is None:
                    return self._fail(b"Protocol error: unbalanced quotes in request")
                if argv:
                    reqs.append(argv)
                continue
            if self.bulklen < 0:
                if pos >= end:
                    break
                nl = _strchr(buf, b"\r", pos)
                if nl < 0:
                    if end - pos > limits.PROTO_INLINE_MAX_SIZE:
                        return self._fail(b"Protocol error: too big bulk count string")
                    break
                if nl + 1 >= end:
                    break
                if buf[pos] != 36:  # '$'
                    return self._fail(b"Protocol error: expected '$', got '%c'" % buf[pos])
                n = parse_ll(buf[pos + 1:nl])
                if n is None or n < 0 or n > self.max_bulk:
                    return self._fail(b"Protocol error: invalid bulk length")
                if n > limits.UNAUTH_MAX_BULK_LEN and self.auth_required:
                    return self._fail(b"Protocol error: unauthenticated bulk length")
                pos = nl + 2
                self.bulklen = n
            n = self.bulklen
            if end - pos < n + 2:
                if n >= _BIG_BULK:
                    # Switch to gathering chunks; see _BIG_BULK.
                    self.big = [bytes(buf[pos:])]
                    self.big_len = end - pos
                    self.buf = bytearray()
                    self.pos = 0
                    self._check_query_limit(self.big_len)
                    return
                break
            self._add_arg(bytes(buf[pos:pos + n]), reqs)
            pos += n + 2  # Redis skips the 2 bytes after a bulk unchecked
        if pos:
            del buf[:pos]
        self.pos = 0
        if self.args is not None or buf:
            self._check_query_limit(len(buf))




class _Fallback(Exception):
    pass


# hiredis-py preallocates the list for an array header (and later walks all
# of it to free it): "*3000000000" costs seconds. Chunks with a count of six
# or more digits go to PyParser, which never preallocates.
_BIG_COUNT = re.compile(rb"\*[0-9]{6}")


class HiredisParser:
    """hiredis for whole chunks, PyParser for everything else (see above).

    A chunk goes to hiredis only if it starts a request ('*'), ends with
    CRLF, PyParser holds nothing, it cannot contain an oversized bulk (it is
    shorter than the limit) and it has no "\r\n+": hiredis accepts '+'
    status items inside an array, Redis does not; nor a huge element count
    (_BIG_COUNT).
    """

    __slots__ = ("py", "reader", "strict", "max_bulk")

    def __init__(self, max_bulk: int = limits.PROTO_MAX_BULK_LEN,
                 query_limit: int = limits.QUERY_BUFFER_LIMIT,
                 auth_required: bool = False):
        self.py = PyParser(max_bulk, query_limit, auth_required)
        self.reader = _hiredis.Reader()
        # Unauthenticated clients have tiny limits hiredis cannot enforce.
        self.strict = auth_required
        self.max_bulk = max_bulk

    @property
    def error(self):
        return self.py.error

    @property
    def overflow(self):
        return self.py.overflow

    @property
    def auth_required(self):
        return self.py.auth_required

    @auth_required.setter
    def auth_required(self, value):
        self.py.auth_required = value
        self.strict = value

    def set_max_bulk(self, n: int) -> None:
        self.max_bulk = self.py.max_bulk = n

    def feed(self, data) -> list:
        # A complete request is never bigger than the chunk it arrived in,
        # so a chunk no longer than max_bulk cannot hold an oversized bulk.
        if (data[0] != 42 or self.py.busy or self.strict or data[-1] != 10 or data[-2] != 13
                or len(data) > self.max_bulk or (b"+" in data and b"\r\n+" in data)
                or _BIG_COUNT.search(data) is not None):
            return self.py.feed(data)
        reader = self.reader
        reader.feed(data)
        gets = reader.gets
        reqs = []
        lines = 0
        try:
            r = gets()
            while r is not False:
                if r.__class__ is not list:
                    raise _Fallback
                for a in r:
                    if a.__class__ is not bytes:
                        raise _Fallback
                lines += 2 * len(r) + 1
                if r:
                    reqs.append(r)
                r = gets()
        except Exception:  # hiredis.ProtocolError, _Fallback, MemoryError
            self.reader = _hiredis.Reader()
            return self.py.feed(data)
        # Every request hiredis returned is an array of bulks: exactly
        # 1 + 2*len CRLFs each. If the chunk ends with CRLF and holds no other
        # CRLF, nothing is left over: the chunk ended on a request boundary.
        # Otherwise (a partial request, or CRLF inside a value) let PyParser
        # redo the chunk, so hiredis never holds state between chunks.
        if lines == data.count(b"\r\n"):
            return reqs
        self.reader = _hiredis.Reader()
        return self.py.feed(data)


#: Environment variable choosing the parser when none is given explicitly.
PARSER_ENV = "CPIPE_SERVER_PARSER"


def available_parsers() -> list:
    return ["hiredis", "python"] if _hiredis is not None else ["python"]


def resolve_parser(name: str | None) -> str:
    """'auto' (default) means hiredis when installed, else python."""
    name = (name or os.environ.get(PARSER_ENV) or "auto").lower()
    if name == "auto":
        return "hiredis" if _hiredis is not None else "python"
    if name == "hiredis" and _hiredis is None:
        raise RuntimeError("parser 'hiredis' requested but hiredis is not installed")
    if name not in ("hiredis", "python"):
        raise ValueError(f"unknown parser {name!r}: use auto, hiredis or python")
    return name


def make_parser(kind: str, max_bulk: int, query_limit: int, auth_required: bool):
    cls = HiredisParser if kind == "hiredis" else PyParser
    return cls(max_bulk, query_limit, auth_required)
