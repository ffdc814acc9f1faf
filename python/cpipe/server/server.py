"""Listening sockets, lifecycle, background sweeps and the Python fault API.

Two ways to run a server from tests:

    async with serve(port=0) as srv:          # inside a running event loop
        ... connect to ("127.0.0.1", srv.port)

    with ServerThread(port=0) as srv:         # from synchronous code
        ... srv.port; srv.set_fault("close-after", 2)

ServerThread runs its own event loop (uvloop when installed) in a daemon
thread; its methods are thread-safe and return once the loop has applied
them.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import os
import threading
import time

from . import limits
from .faults import KINDS, WITH_ARG
from .protocol import Client
from .state import ServerConfig, ServerState

log = logging.getLogger("cpipe.server")


class ProtocolFactory:
    """asyncio calls protocol factories with no arguments; this one binds the
    shared state to every Client it creates (seed 000, "Sharing State")."""

    def __init__(self, protocol_cls, *args):
        self._protocol_cls = protocol_cls
        self._args = args

    def __call__(self):
        return self._protocol_cls(*self._args)


def _normalize_kind(kind: str) -> str:
    k = kind.lower().replace("_", "-")
    if k not in KINDS:
        raise ValueError(f"unknown fault {kind!r}; expected one of {', '.join(KINDS)}")
    return k


class Server:
    """A running reference server bound to one event loop."""

    def __init__(self, config: ServerConfig | None = None, **kwargs):
        if config is None:
            config = ServerConfig(**kwargs)
        elif kwargs:
            config = ServerConfig(**{**config.__dict__, **kwargs})
        self.config = config
        self.state = None
        self.loop = None
        self.port = None
        self.host = config.host
        self.unixsocket = config.unixsocket
        self._listeners = []
        self._factory = None
        self._tasks = []
        self._refuse_until = 0.0
        self._refuse_handle = None

    # -- lifecycle --------------------------------------------------------
    async def start(self) -> "Server":
        self.loop = asyncio.get_running_loop()
        self.state = ServerState(self.config, self.loop, self)
        self._factory = ProtocolFactory(Client, self.state)
        await self._listen()
        self._tasks.append(self.loop.create_task(self._cron()))
        return self

    async def _listen(self) -> None:
        cfg = self.config
        loop = self.loop
        if cfg.port is not None:
            srv = await loop.create_server(self._factory, cfg.host, self.port or cfg.port,
                                           reuse_address=True, backlog=511)
            self._listeners.append(srv)
            self.port = srv.sockets[0].getsockname()[1]
            self.state.port = self.port
        if cfg.unixsocket:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(cfg.unixsocket)
            srv = await loop.create_unix_server(self._factory, cfg.unixsocket, backlog=511)
            self._listeners.append(srv)

    def _close_listeners(self) -> None:
        for srv in self._listeners:
            srv.close()
        self._listeners = []

    async def stop(self) -> None:
        if self.state is None:
            return
        for t in self._tasks:
            t.cancel()
        self._tasks = []
        if self._refuse_handle is not None:
            self._refuse_handle.cancel()
        self._close_listeners()
        for c in list(self.state.clients.values()):
            c.abort()
        await asyncio.sleep(0)
        if self.config.unixsocket:
            with contextlib.suppress(OSError):
                os.unlink(self.config.unixsocket)

    async def serve_forever(self) -> None:
        while True:
            await asyncio.sleep(3600)

    async def __aenter__(self) -> "Server":
        return await self.start()

    async def __aexit__(self, *exc) -> None:
        await self.stop()

    async def _cron(self) -> None:
        """Active expiry and idle-client timeout (Redis serverCron, reduced)."""
        state = self.state
        last_idle_check = 0.0
        while True:
            await asyncio.sleep(limits.EXPIRE_SWEEP_INTERVAL)
            try:
                state.sweep_expired()
                timeout = self.config.timeout
                now = time.monotonic()
                if timeout and now - last_idle_check >= 1.0:
                    last_idle_check = now
                    for c in list(state.clients.values()):
                        if (c.blocked is None and not c.channels and not c.patterns
                                and not c.shard_channels
                                and now - c.last_io > timeout):
                            c.close()
            except Exception:  # never let the cron die
                log.exception("cron failed")

    # -- faults (call on the loop thread; ServerThread proxies) -----------
    def set_fault(self, kind: str, arg: int | None = None, *, client_id: int | None = None,
                  exclude=None) -> None:
        """Arm a fault on one client (client_id) or globally (None): every
        open connection and each new one until clear_faults()."""
        kind = _normalize_kind(kind)
        if kind in WITH_ARG:
            if not isinstance(arg, int) or arg < 0:
                raise ValueError(f"fault {kind} needs a non-negative int argument")
        else:
            arg = None
        state = self.state
        if client_id is not None:
            c = state.clients.get(client_id)
            if c is None:
                raise KeyError(f"no client with id {client_id}")
            c.set_fault(kind, arg)
            return
        state.global_faults = [f for f in state.global_faults if f[0] != kind]
        state.global_faults.append((kind, arg))
        for c in list(state.clients.values()):
            if c is not exclude:
                c.set_fault(kind, arg)

    def clear_faults(self, client_id: int | None = None) -> None:
        state = self.state
        if client_id is not None:
            c = state.clients.get(client_id)
            if c is not None:
                c.clear_fault()
            return
        state.global_faults = []
        for c in list(state.clients.values()):
            c.clear_fault()
        if self._refuse_handle is not None:
            self._refuse_handle.cancel()
            self._refuse_handle = None
            self._reopen()

    def refuse(self, ms: int) -> None:
        """Stop listening for ms milliseconds: connects get ECONNREFUSED."""
        if ms <= 0:
            return
        self._close_listeners()
        if self._refuse_handle is not None:
            self._refuse_handle.cancel()
        self._refuse_handle = self.loop.call_later(ms / 1000.0, self._reopen)

    def _reopen(self) -> None:
        self._refuse_handle = None

        async def reopen():
            for attempt in range(50):
                try:
                    await self._listen()
                    return
                except OSError as e:  # port briefly unavailable: retry
                    self._close_listeners()
                    log.warning("re-listen failed (%s), retrying", e)
                    await asyncio.sleep(0.02)
            log.error("could not listen again on port %s", self.port)

        self._tasks.append(self.loop.create_task(reopen()))

    def client_ids(self) -> list:
        return list(self.state.clients)


def serve(config: ServerConfig | None = None, **kwargs) -> Server:
    """`async with serve(port=0) as srv:` - a Server started on entry."""
    return Server(config, **kwargs)


def new_event_loop(use_uvloop: bool = True):
    if use_uvloop:
        try:
            import uvloop
            return uvloop.new_event_loop()
        except ImportError:
            pass
    return asyncio.new_event_loop()


class ServerThread:
    """A Server on its own event loop in a daemon thread.

    `start()` returns once the server listens (port known) or raises what
    made it fail. All methods are safe to call from any thread.
    """

    def __init__(self, config: ServerConfig | None = None, *, use_uvloop: bool = True, **kwargs):
        self.server = Server(config, **kwargs)
        self.config = self.server.config
        self._use_uvloop = use_uvloop
        self._loop = None
        self._thread = None
        self._started = concurrent.futures.Future()
        self._stop = None

    def start(self, timeout: float = 10.0) -> "ServerThread":
        self._thread = threading.Thread(target=self._main, name="cpipe-server", daemon=True)
        self._thread.start()
        self._started.result(timeout)
        return self

    def _main(self) -> None:
        loop = self._loop = new_event_loop(self._use_uvloop)
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._amain())
        finally:
            loop.close()

    async def _amain(self) -> None:
        self._stop = asyncio.Event()
        try:
            await self.server.start()
        except BaseException as e:
            self._started.set_exception(e)
            return
        self._started.set_result(True)
        try:
            await self._stop.wait()
        finally:
            await self.server.stop()

    def stop(self, timeout: float = 10.0) -> None:
        if self._thread is None or not self._thread.is_alive():
            return
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout)

    def __enter__(self) -> "ServerThread":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def call(self, fn, *args, **kwargs):
        """Run fn(*args, **kwargs) on the server's loop; return its result."""
        fut = concurrent.futures.Future()

        def run():
            try:
                fut.set_result(fn(*args, **kwargs))
            except BaseException as e:
                fut.set_exception(e)

        self._loop.call_soon_threadsafe(run)
        return fut.result(10)

    @property
    def port(self) -> int | None:
        return self.server.port

    @property
    def host(self) -> str:
        return self.server.host

    @property
    def unixsocket(self) -> str | None:
        return self.server.unixsocket

    @property
    def state(self):
        return self.server.state

    def set_fault(self, kind: str, arg: int | None = None, *, client_id: int | None = None) -> None:
        self.call(self.server.set_fault, kind, arg, client_id=client_id)

    def clear_faults(self, client_id: int | None = None) -> None:
        self.call(self.server.clear_faults, client_id)

    def refuse(self, ms: int) -> None:
        self.call(self.server.refuse, ms)

    def client_ids(self) -> list:
        return self.call(self.server.client_ids)
