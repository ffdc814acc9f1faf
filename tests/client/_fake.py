"""A scriptable fake Redis server on 127.0.0.1, for faults a real server
cannot produce on demand (stall, malformed reply, close mid-reply).

Each accepted connection is served by `behaviour(index, conn)` in its own
thread, where index counts accepts from 0. `FakeConn` parses RESP requests
and offers `answer()`: the proper reply for PING, ECHO, GET and SET.
"""
from __future__ import annotations

import socket
import threading
from typing import Callable, List, Optional


def parse_requests(buf: bytes) -> tuple[list[list[bytes]], bytes]:
    """Complete RESP arrays of bulk strings in buf, and the unparsed rest."""
    out = []
    while buf:
        if not buf.startswith(b"*"):
            raise ValueError(f"not a RESP array: {buf[:20]!r}")
        end = buf.find(b"\r\n")
        if end < 0:
            break
        n = int(buf[1:end])
        pos = end + 2
        args = []
        for _ in range(n):
            end = buf.find(b"\r\n", pos)
            if end < 0:
                return out, buf
            size = int(buf[pos + 1:end])
            start = end + 2
            if len(buf) < start + size + 2:
                return out, buf
            args.append(buf[start:start + size])
            pos = start + size + 2
        else:
            out.append(args)
            buf = buf[pos:]
            continue
        break
    return out, buf


class FakeConn:
    def __init__(self, sock: socket.socket, server: "FakeServer") -> None:
        self.sock = sock
        self.server = server
        self.buf = b""
        self.eof = False

    def requests(self) -> Optional[List[list]]:
        """The next batch of complete requests, or None at EOF."""
        while True:
            reqs, self.buf = parse_requests(self.buf)
            if reqs:
                return reqs
            try:
                data = self.sock.recv(1 << 16)
            except OSError:
                data = b""
            if not data:
                self.eof = True
                return None
            self.buf += data

    def answer(self, req: list) -> bytes:
        name = req[0].upper()
        if name == b"PING":
            return b"+PONG\r\n"
        if name == b"ECHO":
            return b"$%d\r\n%s\r\n" % (len(req[1]), req[1])
        if name == b"SET":
            self.server.data[req[1]] = req[2]
            return b"+OK\r\n"
        if name == b"GET":
            v = self.server.data.get(req[1])
            return b"$-1\r\n" if v is None else b"$%d\r\n%s\r\n" % (len(v), v)
        return b"-ERR unknown command\r\n"

    def serve_properly(self) -> None:
        while True:
            reqs = self.requests()
            if reqs is None:
                return
            self.send(b"".join(self.answer(r) for r in reqs))

    def wait_eof(self) -> None:
        """Read and discard until the client closes."""
        while self.requests() is not None:
            pass

    def send(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except OSError:
            pass


class FakeServer:
    def __init__(self, behaviour: Callable[[int, FakeConn], None]) -> None:
        self.behaviour = behaviour
        self.data: dict = {}
        self.accepts = 0
        self.closed_by_client: list[int] = []  # indexes whose peer closed
        self.requests_seen: list[tuple[int, list]] = []
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self._listener.settimeout(0.05)  # so stop() is noticed promptly
        self.port = self._listener.getsockname()[1]
        self._socks: list[socket.socket] = []
        self._lock = threading.Lock()
        self._stopped = False
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)

    def __enter__(self) -> "FakeServer":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        self._stopped = True
        try:
            self._listener.close()
        except OSError:
            pass
        with self._lock:
            for s in self._socks:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()
        self._thread.join(5)

    def wait_closed(self, index: int, timeout: float = 5.0) -> bool:
        """True once the client has closed connection `index` (within timeout)."""
        import time

        deadline = time.monotonic() + timeout
        while index not in self.closed_by_client:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def _accept_loop(self) -> None:
        while not self._stopped:
            try:
                sock, _ = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            sock.settimeout(None)
            # As Redis does: without it, Nagle holds a second small write
            # (a late stray reply) until the client's delayed ACK.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                index = self.accepts
                self.accepts += 1
                self._socks.append(sock)
            threading.Thread(target=self._serve, args=(index, sock), daemon=True).start()

    def _serve(self, index: int, sock: socket.socket) -> None:
        conn = FakeConn(sock, self)
        try:
            self.behaviour(index, conn)
            if not self._stopped:
                conn.wait_eof()
        finally:
            if conn.eof and not self._stopped:
                with self._lock:
                    self.closed_by_client.append(index)
