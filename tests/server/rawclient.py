"""A deliberately dumb RESP2/RESP3 client for tests: sends commands,
returns the raw bytes of each reply (or push frame) so two servers can be
compared byte for byte. It never switches protocol itself: send HELLO 3."""
from __future__ import annotations

import socket
import time


def encode(*args) -> bytes:
    parts = [b"*%d\r\n" % len(args)]
    for a in args:
        if isinstance(a, str):
            a = a.encode()
        elif isinstance(a, (int, float)):
            a = repr(a).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(parts)


class ConnectionClosed(Exception):
    pass


class RawClient:
    def __init__(self, port: int | None = None, host: str = "127.0.0.1", *, unix: str | None = None,
                 timeout: float = 5.0):
        if unix:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(timeout)
            self.sock.connect(unix)
        else:
            self.sock = socket.create_connection((host, port), timeout=timeout)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def close(self) -> None:
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def settimeout(self, t):
        self.sock.settimeout(t)

    def send(self, *args) -> None:
        self.sock.sendall(encode(*args))

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionClosed(self.buf)
        self.buf += chunk

    def _line(self, pos: int) -> int:
        while True:
            i = self.buf.find(b"\r\n", pos)
            if i >= 0:
                return i
            self._fill()

    def _frame(self, pos: int) -> int:
        """End offset of the reply starting at pos (reading as needed)."""
        while len(self.buf) <= pos:
            self._fill()
        t = self.buf[pos:pos + 1]
        nl = self._line(pos)
        if t in b"+-:_,#(" and t:
            return nl + 2
        n = int(self.buf[pos + 1:nl])
        if t in (b"$", b"=", b"!"):
            if n < 0:
                return nl + 2
            end = nl + 2 + n + 2
            while len(self.buf) < end:
                self._fill()
            return end
        if t in (b"*", b"~", b">", b"%", b"|"):
            p = nl + 2
            for _ in range(max(n, 0) * (2 if t in b"%|" else 1)):
                p = self._frame(p)
            if t == b"|":  # an attribute precedes the reply it describes
                p = self._frame(p)
            return p
        raise ValueError(f"not RESP: {self.buf[pos:pos + 40]!r}")

    def read_reply(self) -> bytes:
        end = self._frame(0)
        out, self.buf = self.buf[:end], self.buf[end:]
        return out

    def call(self, *args) -> bytes:
        self.send(*args)
        return self.read_reply()

    def read_all(self, timeout: float = 0.3) -> bytes:
        """Whatever arrives until the peer is quiet for `timeout` or closes."""
        old = self.sock.gettimeout()
        self.sock.settimeout(timeout)
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    break
                self.buf += chunk
        except (socket.timeout, ConnectionResetError):
            pass
        finally:
            self.sock.settimeout(old)
        out, self.buf = self.buf, b""
        return out

    def is_closed(self, timeout: float = 2.0) -> bool:
        """True once the server closed the connection (EOF or reset)."""
        deadline = time.monotonic() + timeout
        self.sock.settimeout(0.05)
        try:
            while time.monotonic() < deadline:
                try:
                    chunk = self.sock.recv(65536)
                except socket.timeout:
                    continue
                except (ConnectionResetError, BrokenPipeError):
                    return True
                if not chunk:
                    return True
                self.buf += chunk
            return False
        finally:
            self.sock.settimeout(5.0)


def parse(raw: bytes):
    """Raw reply bytes -> Python value (bytes/int/list/None/Err)."""
    v, _ = _parse(raw, 0)
    return v


class Err(str):
    pass


class RSet(list):
    """A RESP3 set (~), as a list in wire order."""

    def __repr__(self):
        return "RSet(%s)" % list.__repr__(self)


class RMap(list):
    """A RESP3 map (%), as a list of (key, value) pairs in wire order."""

    def __repr__(self):
        return "RMap(%s)" % list.__repr__(self)


class Push(list):
    """A RESP3 push frame (>)."""

    def __repr__(self):
        return "Push(%s)" % list.__repr__(self)


class Double(bytes):
    """A RESP3 double (,), its text as sent."""

    def __repr__(self):
        return "Double(%s)" % bytes.__repr__(self)


def _parse(raw: bytes, pos: int):
    t = raw[pos:pos + 1]
    nl = raw.index(b"\r\n", pos)
    line = raw[pos + 1:nl]
    if t == b"+":
        return line, nl + 2
    if t == b"-":
        return Err(line.decode("latin-1")), nl + 2
    if t in (b":", b"("):
        return int(line), nl + 2
    if t == b"_":
        return None, nl + 2
    if t == b",":
        return Double(line), nl + 2
    if t == b"#":
        return line == b"t", nl + 2
    n = int(line)
    if t in (b"$", b"=", b"!"):
        if n < 0:
            return None, nl + 2
        v = raw[nl + 2:nl + 2 + n]
        if t == b"!":
            v = Err(v.decode("latin-1"))
        return v, nl + 2 + n + 2
    if n < 0:
        return None, nl + 2
    p = nl + 2
    if t in (b"%", b"|"):
        pairs = []
        for _ in range(n):
            k, p = _parse(raw, p)
            v, p = _parse(raw, p)
            pairs.append((k, v))
        if t == b"|":
            return _parse(raw, p)
        return RMap(pairs), p
    out = RSet() if t == b"~" else Push() if t == b">" else []
    for _ in range(n):
        v, p = _parse(raw, p)
        out.append(v)
    return out, p
