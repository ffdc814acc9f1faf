"""Helpers for the auto-pipelining tests: bounded thread runs, and a
loopback server that accepts, reads and never answers (or answers properly,
once told to).

Tests in tests/asyncio_client import StallServer from here as well.
"""
from __future__ import annotations

import socket
import threading
import time
from typing import Callable

from tests.client._fake import parse_requests


def run_threads(target: Callable[[int], None], n: int, timeout: float = 120.0) -> None:
    """Run target(i) in n threads; fail on any exception or on a hang."""
    errors: list = []

    def wrapped(i: int) -> None:
        try:
            target(i)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append((i, e))

    threads = [threading.Thread(target=wrapped, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + timeout
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    alive = sum(t.is_alive() for t in threads)
    assert alive == 0, f"{alive} of {n} threads still running after {timeout}s: a hang"
    assert errors == [], f"{len(errors)} threads failed, first: {errors[:3]}"


class StallServer:
    """Accepts connections and reads commands; never replies while `stalled`.

    A connection accepted after `stalled` was cleared is served properly for
    PING, ECHO, SET and GET. `per_conn[i]` counts the commands received on
    the i-th connection; `total()` sums them.
    """

    def __init__(self) -> None:
        self.stalled = True
        self.per_conn: list[int] = []
        self.data: dict = {}
        self._lock = threading.Lock()
        self._socks: list[socket.socket] = []
        self._stopped = False
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(128)
        self.port = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._thread.start()

    def __enter__(self) -> "StallServer":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def total(self) -> int:
        with self._lock:
            return sum(self.per_conn)

    def max_per_conn(self) -> int:
        with self._lock:
            return max(self.per_conn, default=0)

    def stop(self) -> None:
        self._stopped = True
        try:
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() (Linux)
        except OSError:
            pass
        self._listener.close()
        with self._lock:
            for s in self._socks:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()
        self._thread.join(5)

    def _accept_loop(self) -> None:
        while not self._stopped:
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                index = len(self.per_conn)
                self.per_conn.append(0)
                self._socks.append(sock)
            threading.Thread(target=self._serve, args=(index, sock, self.stalled), daemon=True).start()

    def _serve(self, index: int, sock: socket.socket, stalled: bool) -> None:
        buf = b""
        while True:
            try:
                data = sock.recv(1 << 16)
            except OSError:
                return
            if not data:
                return
            buf += data
            out = []
            requests, buf = parse_requests(buf)
            for req in requests:
                with self._lock:
                    self.per_conn[index] += 1
                if not stalled:
                    out.append(self._answer(req))
            if not out:
                continue
            try:
                sock.sendall(b"".join(out))
            except OSError:
                return

    def _answer(self, req: list) -> bytes:
        name = req[0].upper()
        if name == b"PING":
            return b"+PONG\r\n"
        if name == b"ECHO":
            return b"$%d\r\n%s\r\n" % (len(req[1]), req[1])
        if name == b"SET":
            self.data[req[1]] = req[2]
            return b"+OK\r\n"
        if name == b"GET":
            v = self.data.get(req[1])
            return b"$-1\r\n" if v is None else b"$%d\r\n%s\r\n" % (len(v), v)
        return b"-ERR unknown command\r\n"
