"""Serving clients in a forked child through redis-py's own connection.

A Go runtime does not survive fork() without exec, so a process forked after
its parent started cpipe's engine must never call into Go (see _engine).
Rather than failing every client there (gunicorn --preload, Celery prefork
and multiprocessing 'fork' workers cannot create their clients before the
fork), such a process sends its commands through redis.Connection /
redis.asyncio.Connection (with the client's protocol=, or RESP2 once the
parent's engine fell back to it; raw replies: cpipe's command methods apply
their own callbacks) under the same cpipe objects, after ONE
ForkFallbackWarning per process. `fork_fallback=False` keeps ForkError.

What the clients give this module: the primitives `execute(*args)` (raw
reply, error replies raised), `execute_many(commands)` (replies in order,
error replies in place), their asyncio twins returning tasks, and `close`.
Errors are redis-py's classes, which are cpipe's (see errors), but for
InvalidResponse, raised as cpipe's ProtocolError.

Connections: up to `size` idle ones are kept; a command with none idle opens
another, up to size + MAX_EXTRA_CONNECTIONS at once (blocking commands such
as BLPOP hold one for as long as they block); beyond that a command waits
for one, at most socket_timeout.
"""
from __future__ import annotations

import os
import threading
import warnings
import weakref
from typing import TYPE_CHECKING, Any, Callable, Optional

from . import errors
from ._redis_options import redis_has_legacy_responses

if TYPE_CHECKING:
    import asyncio

# As many connections beyond `size` as the engine allows blocking commands.
MAX_EXTRA_CONNECTIONS = 64


class ForkFallbackWarning(RuntimeWarning):
    """cpipe is serving this forked process through redis-py's slower connection."""


_warned = False


def _warn_once() -> None:
    global _warned
    if _warned:
        return
    _warned = True
    warnings.warn(
        f"cpipe: this process (pid {os.getpid()}) was forked after its parent had started "
        "cpipe's Go engine, and a Go runtime does not survive fork(). Its cpipe clients now "
        "use redis-py's pure-Python connection instead: same API and replies, but slower "
        "(about 1.5x per command, 3-5x for pipelines and Pool.submit, which now waits for each "
        "reply; no auto-pipelining). To keep cpipe's speed, create clients after "
        "forking: gunicorn without --preload (or in post_fork), Celery/multiprocessing with "
        "the 'spawn' or 'forkserver' start method, or do not use cpipe in the parent before it "
        "forks. fork_fallback=False makes this an error (cpipe.ForkError) instead.",
        ForkFallbackWarning, stacklevel=4)


def after_fork_in_child(clients: list) -> None:
    """os.register_at_fork hook (via _engine): move inherited clients off Go."""
    global _warned
    _warned = False  # each process says it once
    for client in clients:
        try:
            client._adopt_after_fork()
        except Exception:  # noqa: BLE001 - a hook must not fail the fork; the client then raises ForkError
            pass


# -- redis-py's errors ---------------------------------------------------------

def to_cpipe_error(exc: BaseException) -> BaseException:
    """The exception cpipe raises for one of redis-py's.

    cpipe's classes are redis-py's, so only redis-py's InvalidResponse (bytes
    that are not RESP) changes: it is cpipe's ProtocolError, as from the engine.
    """
    import redis.exceptions

    if isinstance(exc, redis.exceptions.InvalidResponse):
        return errors.ProtocolError(*exc.args)
    return exc


def _connection_factory(options: dict, asyncio_: bool) -> Callable[[], Any]:
    if asyncio_:
        import redis.asyncio as mod
    else:
        import redis as mod
    kwargs = {
        "db": options["db"],
        "username": options["username"],
        "password": options["password"],
        "client_name": options["client_name"],
        "socket_timeout": options["socket_timeout"],
        "socket_connect_timeout": options["socket_connect_timeout"],
        "encoding": options["encoding"],
        "encoding_errors": options.get("encoding_errors", "strict"),
        "decode_responses": options["decode_responses"],
        # The user's protocol=, so redis-py's replies have the shapes the
        # client's callbacks (picked for the same setting) expect.
        "protocol": options.get("protocol", 2),
    }
    if redis_has_legacy_responses():
        kwargs["legacy_responses"] = options.get("legacy_responses", True)
    if options["unix_socket_path"]:
        return lambda: mod.UnixDomainSocketConnection(path=options["unix_socket_path"], **kwargs)
    if options.get("ssl"):
        ssl_options = options["ssl_options"]
        return lambda: mod.SSLConnection(host=options["host"], port=options["port"], **kwargs, **ssl_options)
    return lambda: mod.Connection(host=options["host"], port=options["port"], **kwargs)


def _closed_error() -> errors.ConnectionError:
    return errors.ConnectionError("the client was closed")


def _no_room_error(timeout: Optional[float]) -> errors.TimeoutError:
    return errors.TimeoutError(f"no free connection within socket_timeout={timeout:g}s")


# -- threads ------------------------------------------------------------------

class SyncFallback:
    """Client primitives on redis.Connection objects, safe from any thread."""

    def __init__(self, options: dict, size: int) -> None:
        self._options = options
        self._size = size
        self._make: Optional[Callable[[], Any]] = None
        self._idle: list = []
        self._room = threading.BoundedSemaphore(size + MAX_EXTRA_CONNECTIONS)
        self._lock = threading.Lock()
        self.closed = False

    def _take(self) -> Any:
        if self.closed:
            raise _closed_error()
        timeout = self._options["socket_timeout"]
        if not self._room.acquire(timeout=timeout):  # None: wait for as long as it takes
            raise _no_room_error(timeout)
        with self._lock:
            if self._idle:
                return self._idle.pop()
        try:
            if self._make is None:
                _warn_once()
                self._make = _connection_factory(self._options, asyncio_=False)
            return self._make()
        except BaseException:
            self._room.release()
            raise

    def _give(self, conn: Any) -> None:
        with self._lock:
            keep = not self.closed and len(self._idle) < self._size
            if keep:
                self._idle.append(conn)
        if not keep:
            conn.disconnect()
        self._room.release()

    def _run(self, conn: Any, work: Callable[[Any], Any]) -> Any:
        import redis.exceptions

        try:
            return work(conn)
        except redis.exceptions.RedisError as e:
            # redis-py closed the connection if it was out of step; an error
            # reply or a refused argument leaves it usable.
            raise to_cpipe_error(e) from None
        except BaseException:
            conn.disconnect()  # e.g. KeyboardInterrupt between send and read
            raise
        finally:
            self._give(conn)

    def execute(self, *args: Any) -> Any:
        """One command; its raw reply, an error reply raised."""
        return self._one(args, False)

    def execute_raw(self, *args: Any) -> Any:
        """One command; its reply as bytes even when the client decodes (NEVER_DECODE)."""
        return self._one(args, True)

    def _one(self, args: tuple, raw: bool) -> Any:
        if not args:
            raise errors.DataError("a command needs a name")

        def one(conn: Any) -> Any:
            conn.send_command(*args)
            return conn.read_response(disable_decoding=True) if raw else conn.read_response()

        return self._run(self._take(), one)

    def execute_many(self, commands: Any) -> list:
        """A pipeline on one connection: replies in order, error replies in place."""
        return self._many(commands, False)

    def execute_many_raw(self, commands: Any) -> list:
        """execute_many with every reply as bytes (see execute_raw)."""
        return self._many(commands, True)

    def _many(self, commands: Any, raw: bool) -> list:
        commands = [tuple(c) for c in commands]
        if not commands:
            return []

        def many(conn: Any) -> list:
            conn.send_packed_command(conn.pack_commands(commands))
            replies: list = []
            for _ in commands:
                try:
                    replies.append(conn.read_response(disable_decoding=True) if raw else conn.read_response())
                except errors.ResponseError as e:  # an error reply, in place
                    replies.append(e)
            return replies

        return self._run(self._take(), many)

    def close(self) -> None:
        self.closed = True
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.disconnect()


def submit_now(fallback: SyncFallback, *args: Any) -> Any:
    """Pool.submit in the fallback: the command runs now; the future is already complete."""
    from .futures import new_future, resolve

    if fallback.closed:
        raise _closed_error()
    fut = new_future()
    try:
        value = fallback.execute(*args)
    except errors.DataError:
        raise  # a bad argument is refused at submit, as the engine does
    except errors.RedisError as e:
        resolve(fut, e)
    else:
        resolve(fut, value)
    return fut


def forget_now(fallback: SyncFallback, unread: Any, forgotten: Any, *args: Any) -> None:
    """Pool.fire_and_forget in the fallback: the command runs now; an error reply is kept for flush()."""
    if fallback.closed:
        raise _closed_error()
    index = next(forgotten)
    try:
        fallback.execute(*args)
    except errors.DataError:
        raise  # a bad argument is refused before anything is sent, as the engine does
    except errors.RedisError as e:
        unread.add((index, args), e)


def orphan_futures(futures: dict) -> None:
    """Complete the futures a forked child inherited: their replies go to the parent."""
    from .futures import resolve_after_fork

    for registered in list(futures.values()):
        # A staged batch is the list of its items (cpipe._staging).
        for fut in (registered if registered.__class__ is list else (registered,)):
            if fut.__class__ is tuple:
                continue  # a fire_and_forget command's (index, args): its reply went to the parent
            if not fut.done():
                resolve_after_fork(fut, errors.ConnectionError(
                    "the command was sent by the parent process before fork(); its reply went there"))
    futures.clear()


# -- asyncio --------------------------------------------------------------------

class AsyncFallback:
    """asyncio client primitives on redis.asyncio.Connection objects, for one loop at a time."""

    def __init__(self, options: dict, size: int) -> None:
        self._options = options
        self._size = size
        self._make: Optional[Callable[[], Any]] = None
        self._idle: list = []
        self._in_use = 0
        self._room: Any = None  # an asyncio.Condition, made on the loop that uses it
        self._loop_ref: Optional[weakref.ref] = None
        self.closed = False

    def _bind(self) -> "asyncio.AbstractEventLoop":
        import asyncio

        loop = asyncio.get_running_loop()
        bound = self._loop_ref() if self._loop_ref is not None else None
        if bound is loop:
            return loop
        if bound is not None and not bound.is_closed():
            raise RuntimeError("this cpipe.asyncio client belongs to another event loop; create one per loop")
        # The old loop is gone, and its connections with it.
        self._idle, self._in_use = [], 0
        self._room = asyncio.Condition()
        self._loop_ref = weakref.ref(loop)
        return loop

    def run(self, callback: Optional[Callable[[Any], Any]], *args: Any) -> "asyncio.Task":
        """One command; a task of its reply (callback applied), an error reply raised."""
        return self._start_one(callback, args, False)

    def run_raw(self, callback: Optional[Callable[[Any], Any]], *args: Any) -> "asyncio.Task":
        """run() with the reply as bytes even when the client decodes (NEVER_DECODE)."""
        return self._start_one(callback, args, True)

    def run_many(self, commands: Any) -> "asyncio.Task":
        """A pipeline on one connection: a task of the replies, error replies in place."""
        return self._start(self._many([tuple(c) for c in commands], False))

    def run_many_raw(self, commands: Any) -> "asyncio.Task":
        """run_many() with every reply as bytes (see run_raw)."""
        return self._start(self._many([tuple(c) for c in commands], True))

    def _start_one(self, callback: Optional[Callable[[Any], Any]], args: tuple, raw: bool) -> "asyncio.Task":
        if not args:
            raise errors.DataError("a command needs a name")
        return self._start(self._one(callback, args, raw))

    def call(self, *args: Any) -> "asyncio.Task":
        return self.run(None, *args)

    def _start(self, coro: Any) -> "asyncio.Task":
        # A task, so that the command is sent when it is issued, as the
        # engine's are, not when (or if) it is awaited.
        if self.closed:
            coro.close()
            raise _closed_error()
        return self._bind().create_task(coro)

    async def _take(self) -> Any:
        import asyncio

        room = self._room
        assert room is not None
        async with room:
            if self._in_use >= self._size + MAX_EXTRA_CONNECTIONS:
                timeout = self._options["socket_timeout"]
                try:
                    await asyncio.wait_for(
                        room.wait_for(lambda: self._in_use < self._size + MAX_EXTRA_CONNECTIONS), timeout)
                except asyncio.TimeoutError:
                    raise _no_room_error(timeout) from None
            self._in_use += 1
        if self.closed:
            await self._give(None)
            raise _closed_error()
        if self._idle:
            return self._idle.pop()
        if self._make is None:
            _warn_once()
            self._make = _connection_factory(self._options, asyncio_=True)
        return self._make()

    async def _give(self, conn: Any) -> None:
        if conn is not None:
            if not self.closed and len(self._idle) < self._size:
                self._idle.append(conn)
            else:
                await conn.disconnect()
        room = self._room
        assert room is not None
        async with room:
            self._in_use -= 1
            room.notify()

    async def _run(self, work: Callable[[Any], Any]) -> Any:
        import redis.exceptions

        conn = await self._take()
        try:
            return await work(conn)
        except redis.exceptions.RedisError as e:
            raise to_cpipe_error(e) from None
        except BaseException:
            # Cancelled or interrupted with a reply possibly still due.
            try:
                await conn.disconnect(nowait=True)
            except BaseException:  # noqa: BLE001 - the connection is dropped either way
                pass
            raise
        finally:
            await self._give(conn)

    async def _one(self, callback: Optional[Callable[[Any], Any]], args: tuple, raw: bool) -> Any:
        async def one(conn: Any) -> Any:
            await conn.send_command(*args)
            return await conn.read_response(disable_decoding=raw)

        reply = await self._run(one)
        return callback(reply) if callback is not None else reply

    async def _many(self, commands: list, raw: bool) -> list:
        if not commands:
            return []

        async def many(conn: Any) -> list:
            await conn.send_packed_command(conn.pack_commands(commands))
            replies: list = []
            for _ in commands:
                try:
                    replies.append(await conn.read_response(disable_decoding=raw))
                except errors.ResponseError as e:  # an error reply, in place
                    replies.append(e)
            return replies

        return await self._run(many)

    async def aclose(self) -> None:
        self.closed = True
        idle, self._idle = self._idle, []
        for conn in idle:
            await conn.disconnect()
