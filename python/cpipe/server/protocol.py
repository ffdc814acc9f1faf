"""One client connection: an asyncio Protocol fed by the event loop.

Hot path (`data_received` -> `_run`): parse the chunk into requests, run
each through `DISPATCH` (a dict of plain functions), collect the encoded
replies and write them with a single `transport.write`. Everything unusual
- MULTI, pub/sub mode, AUTH pending, a blocked client, armed faults, RESP3
(HELLO 3), CLIENT TRACKING - makes `fast` False and goes through
`_execute_slow`, which applies Redis's checks in Redis's order
(processCommand) and runs the command through `call`: RESP3 re-typing of
the reply (resp3.py) and the keys a tracking client read (tracking.py). A
tracking client's own invalidations are written after its reply.

Backpressure: when the transport buffer passes limits.WRITE_HIGH_WATER the
loop calls pause_writing; we stop running and reading this client's requests
(`hold`; the rest of a pipeline waits in `queue`) until it reads. Replies
pushed to it regardless (pub/sub) are bounded by the output buffer limit,
past which the client is dropped. The same queue holds the requests of a
client blocked in BLPOP & co.
"""
from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections import deque

from . import limits
from .blocking import unblock
from .commands.table import DISPATCH, F_NO_AUTH, F_NOT_QUEUED, F_PUBSUB_OK, F_CONTAINER
from .commands.table import unknown_command_error
from .faults import FaultState
from .parser import PROTOCOL_ERROR as _PROTOCOL_ERROR, make_parser
from .resp import CommandError, NOAUTH, QUEUED, error
from .resp3 import to_resp3, convert as resp3_convert

log = logging.getLogger("cpipe.server")

_monotonic = time.monotonic
#: Commands run, or reply bytes produced, between two checks of the client's
#: output buffer: this bounds what one pipeline can add beyond the buffer's
#: high-water mark before reading from that client pauses.
_BATCH = 64
_FLUSH_BYTES = 256 * 1024


class Client(asyncio.Protocol):
    def __init__(self, state):
        self.state = state
        self.id = state.next_client_id()
        self.transport = None
        self.db = state.dbs[0]
        self.name = None
        self.authenticated = not state.config.requirepass
        cfg = state.config
        self.parser = make_parser(state.parser_kind, cfg.proto_max_bulk_len,
                                  cfg.client_query_buffer_limit, not self.authenticated)
        self.multi = None  # queued (func, argv) while in MULTI
        self.multi_error = False
        self.in_exec = False
        self.in_command = False  # running a top-level command (own invalidations wait)
        self.watched = None  # {(db index, key): expired-at-watch-time}
        self.dirty_cas = False
        self.channels = {}
        self.patterns = {}
        self.shard_channels = {}
        self.resp = 2  # HELLO 3 switches to RESP3 (replies converted by resp3.py)
        self.tracking = None  # tracking.TrackingState while CLIENT TRACKING is on
        self.blocked_zpop = False
        self.blocked = None
        self.queue = deque()  # requests waiting while blocked
        self.fault = None
        self.pending_faults = []
        self.closing = False
        self.close_after_reply = False
        self.write_paused = False
        self.read_paused = False
        self.stalled = False
        self.fast = False
        # hold: requests must wait in self.queue instead of running now
        # (closing, stalled, blocked, client not reading, queue non-empty).
        self.hold = False
        self.track_idle = bool(cfg.timeout)
        self.created = _monotonic()
        self.last_io = self.created
        self.last_cmd = b"NULL"
        self.addr = ""
        self.lib_name = None

    # -- connection lifecycle -------------------------------------------
    def connection_made(self, transport):
        self.transport = transport
        transport.set_write_buffer_limits(high=limits.WRITE_HIGH_WATER,
                                          low=limits.WRITE_LOW_WATER)
        sock = transport.get_extra_info("socket")
        peer = transport.get_extra_info("peername")
        if isinstance(peer, tuple):
            self.addr = "%s:%s" % peer[:2]
            if sock is not None:
                try:
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                except OSError:
                    pass
        else:
            self.addr = str(peer or "unix")
        state = self.state
        state.clients[self.id] = self
        state.stats["connections"] += 1
        for kind, arg in state.global_faults:
            self.set_fault(kind, arg)
        self.refresh()

    def connection_lost(self, exc):
        self.closing = True
        self.fast = False
        self.hold = True
        state = self.state
        state.clients.pop(self.id, None)
        if self.blocked is not None:
            unblock(self)
        if self.channels or self.patterns or self.shard_channels:
            state.pubsub.drop_client(self)
        if self.tracking is not None:
            state.tracking.disable(self)
        self.unwatch_all()
        if self.fault is not None:
            self.fault.cancel()
        self.queue.clear()
        self.multi = None

    def eof_received(self):
        return False  # close our side too

    def pause_writing(self):
        self.write_paused = True
        self.hold = True
        self._update_reading()

    def resume_writing(self):
        self.write_paused = False
        self._update_hold()
        self._update_reading()
        if self.queue and self.blocked is None:
            self.state.loop.call_soon(self._resume)

    def _update_hold(self) -> None:
        self.hold = (self.closing or self.stalled or self.blocked is not None
                     or self.write_paused or bool(self.queue))

    def _update_reading(self):
        if self.closing:
            return
        want_pause = (self.write_paused or len(self.queue) > limits.PENDING_REQUESTS_HIGH)
        if want_pause != self.read_paused:
            self.read_paused = want_pause
            try:
                if want_pause:
                    self.transport.pause_reading()
                else:
                    self.transport.resume_reading()
            except (RuntimeError, AttributeError):  # transport closing
                pass

    def refresh(self) -> None:
        """Recompute whether the plain fast path applies."""
        self.fast = (self.authenticated and self.multi is None and not self.channels
                     and not self.patterns and self.tracking is None
                     and not self.shard_channels and self.blocked is None and self.fault is None
                     and not self.pending_faults and not self.close_after_reply
                     and not self.closing and not self.stalled)

    def close(self) -> None:
        """Close after flushing what was written (Redis: close after reply)."""
        if not self.closing:
            self.closing = True
            self.fast = False
            self.hold = True
            self.transport.close()

    def abort(self) -> None:
        if not self.closing:
            self.closing = True
            self.fast = False
            self.hold = True
        self.transport.abort()

    # -- input ------------------------------------------------------------
    def data_received(self, data):
        if self.hold:
            return self._data_held(data)
        if self.track_idle:
            self.last_io = _monotonic()
        self._run(self.parser.feed(data))

    def _data_held(self, data):
        if self.track_idle:
            self.last_io = _monotonic()
        if self.closing or self.stalled:
            return  # a stalled connection reads and drops
        self.queue.extend(self.parser.feed(data))
        if self.blocked is None and not self.write_paused:
            self._resume()
        else:
            self._update_reading()
        self._update_hold()

    def _run(self, reqs, _flush_bytes=_FLUSH_BYTES, _error=error, _CommandError=CommandError):
        """Run a chunk's requests. The loop below is the hot path: a plain
        client running ordinary commands whose replies stay small. Anything
        else continues in _run_general from the request it stopped at."""
        out = []
        self.state.current_client = self
        if self.fast:
            size = 0
            # A protocol switch (HELLO) leaves this loop (it clears fast).
            resp3 = self.resp == 3
            ready = self.state.ready_keys
            get = DISPATCH.get
            append = out.append
            it = iter(reqs)
            for argv in it:
                ent = get(argv[0])
                if ent is not None:
                    a = ent[1]
                    m = len(argv)
                    if m == a or (a < 0 and m >= -a):
                        try:
                            r = ent[0](self, argv)
                        except _CommandError as e:
                            r = _error(e.msg)
                        except Exception as e:  # a bug must not take the server down
                            r = self._internal_error(argv, e)
                        if resp3:
                            r = to_resp3(ent[3].name, argv, r)
                        append(r)
                        size += len(r)
                        if ready:
                            self.state.serve_ready()
                        if size <= _flush_bytes and self.fast:
                            continue
                        break
                self._execute_slow(argv, out)  # unknown name, bad arity, odd case
                if not self.fast:
                    break
            else:
                if out:
                    self.transport.write(out[0] if len(out) == 1 else b"".join(out))
                    if self.write_paused:
                        self._check_output_limit()
                return
            reqs = list(it)
        self._run_general(reqs, out)

    def _run_general(self, reqs, out):
        """Run requests one by one, with every check: until done, blocked,
        closing, or the client stops reading its replies (the rest then
        waits in self.queue)."""
        size = sum(map(len, out))
        i = 0
        n = len(reqs)
        state = self.state
        ready = state.ready_keys
        table = DISPATCH
        while True:
            if self.pending_faults:
                self._write_out(out)
                out = []
                self._apply_pending_faults()
            if self.closing or self.close_after_reply or self.stalled:
                break
            if self.blocked is not None:
                self.queue.extend(reqs[i:])
                break
            if i >= n:
                break
            if len(out) >= _BATCH or size > _FLUSH_BYTES:
                self._write_out(out)
                out = []
                size = 0
                if self.write_paused:
                    self.queue.extend(reqs[i:])
                    self._update_reading()
                    break
            argv = reqs[i]
            i += 1
            if self.fast:
                ent = table.get(argv[0])
                if ent is not None:
                    a = ent[1]
                    m = len(argv)
                    if m == a or (a < 0 and m >= -a):
                        try:
                            r = ent[0](self, argv)
                        except CommandError as e:
                            r = error(e.msg)
                        except Exception as e:  # a bug must not take the server down
                            r = self._internal_error(argv, e)
                        if self.resp == 3:
                            r = to_resp3(ent[3].name, argv, r)
                        out.append(r)
                        size += len(r)
                        if ready:
                            state.serve_ready()
                        continue
            self._execute_slow(argv, out)
            if self.fault is not None and out:
                # Faults act per reply: a stall or close must take effect
                # before the next request runs.
                self._write_out(out)
                out = []
                size = 0
        if out:
            self._write_out(out)
        if self.close_after_reply:
            self.close()
        if not self.fast:
            self.refresh()  # HELLO clears fast to leave the fast loop; come back to it
        self._update_hold()

    def _execute_slow(self, argv, out):
        if argv is _PROTOCOL_ERROR:
            parser = self.parser
            if parser.overflow:
                log.warning("client %d: query buffer limit reached, closing", self.id)
                self._write_out(out)
                out.clear()
                self.abort()
            else:
                out.append(error(b"ERR " + parser.error))
                self.close_after_reply = True
                self.fast = False
            return
        name = argv[0]
        ent = DISPATCH.get(name)
        if ent is None:
            ent = DISPATCH.get(name.lower())
            if ent is None:
                out.append(self._reject(unknown_command_error(argv)))
                return
        func, arity, flags, cmd = ent
        m = len(argv)
        if not (m == arity or (arity < 0 and m >= -arity)):
            out.append(self._reject(b"ERR wrong number of arguments for '%s' command" % cmd.name, cmd))
            return
        if flags & F_CONTAINER:
            try:
                cmd.check(argv)
            except CommandError as e:
                out.append(self._reject(e.msg))
                return
        if not self.authenticated and not flags & F_NO_AUTH:
            out.append(self._reject(NOAUTH, cmd))
            return
        if ((self.channels or self.patterns or self.shard_channels) and self.resp == 2
                and not flags & F_PUBSUB_OK):
            out.append(self._reject(
                b"ERR Can't execute '%s': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / "
                b"QUIT / RESET are allowed in this context" % self._fullname(cmd, argv), cmd))
            return
        if self.multi is not None and not flags & F_NOT_QUEUED:
            self.multi.append((func, argv, cmd))
            out.append(QUEUED)
            return
        self.last_cmd = cmd.name
        self.in_command = True
        out.append(self.call(func, cmd, argv))
        self.in_command = False
        t = self.tracking
        if t is not None:
            if self.multi is None and cmd.name != b"client":
                t.caching = False  # CLIENT CACHING covers one command (or one MULTI)
            if t.pending:
                # Invalidations caused by this client's own command follow its reply.
                self._write_out(out)
                out.clear()
                self.state.tracking.flush_pending(self)
        if self.state.ready_keys:
            self.state.serve_ready()

    def call(self, func, cmd, argv) -> bytes:
        """Run one command (top level or queued in EXEC) in this
        connection's protocol, with client-side-caching bookkeeping."""
        try:
            r = func(self, argv)
        except CommandError as e:
            r = error(e.msg)
        except Exception as e:
            r = self._internal_error(argv, e)
        if self.resp == 3:
            r = to_resp3(cmd.name, argv, r)
        if self.tracking is not None:
            self.tracking.after_command(self, cmd, argv)
        return r

    @staticmethod
    def _fullname(cmd, argv) -> bytes:
        if cmd.subcommands is not None and len(argv) > 1:
            return cmd.name + b"|" + argv[1].lower()
        return cmd.name

    def _reject(self, msg: bytes, cmd=None) -> bytes:
        """A command refused before running (Redis rejectCommand): flags an
        open transaction; a refused EXEC discards it (execCommandAbort)."""
        if self.multi is not None:
            self.multi_error = True
        self.state.stats["rejected"] += 1
        if cmd is not None and cmd.name == b"exec":
            self.multi = None
            self.multi_error = False
            self.unwatch_all()
            self.refresh()
            if msg.startswith(b"ERR "):
                msg = msg[4:]
            return error(b"EXECABORT Transaction discarded because of: " + msg)
        return error(msg)

    def _internal_error(self, argv, e) -> bytes:
        log.exception("command %r failed", argv[:1])
        return error(b"ERR internal error in cpipe.server: %s" %
                     repr(e).encode("utf-8", "replace")[:200])

    # -- output -----------------------------------------------------------
    def _write_out(self, out):
        if self.closing:
            return
        if self.fault is not None:
            fault = self.fault
            for r in out:
                fault.send(self, r)
        elif len(out) == 1:
            self.transport.write(out[0])
        else:
            self.transport.write(b"".join(out))
        if self.write_paused:
            self._check_output_limit()

    def send(self, data: bytes) -> None:
        """Write one reply or push message (faults and limits apply)."""
        if self.closing or not data:
            return
        if self.fault is not None:
            self.fault.send(self, data)
        else:
            self.transport.write(data)
        if self.write_paused:
            self._check_output_limit()

    push = send

    def send_invalidation(self, data: bytes) -> None:
        """Write a client-side-caching message (tracking.py); the
        close-before-invalidate and delay-invalidate faults act here."""
        f = self.fault
        if f is not None and f.intercept_invalidation(self, data):
            return
        self.send(data)

    def _check_output_limit(self):
        t = self.transport
        if not self.closing and t.get_write_buffer_size() > self.state.config.client_output_buffer_limit:
            log.warning("client %d: output buffer limit reached, disconnecting", self.id)
            self.abort()

    # -- blocking ---------------------------------------------------------
    def set_blocked(self, info) -> None:
        self.blocked = info
        self.blocked_zpop = info.zpop
        self.fast = False
        self.hold = True

    def unblocked(self, reply: bytes) -> None:
        """Called once the blocking command is answered (served/timed out)."""
        self.blocked = None
        self.refresh()
        self._update_hold()
        if self.resp == 3:
            reply = resp3_convert(reply, ("tuple", [None, None, "double"]) if self.blocked_zpop
                                  else None)
        self.send(reply)
        if self.queue:
            self.state.loop.call_soon(self._resume)

    def _resume(self):
        if self.closing or self.blocked is not None or self.write_paused or not self.queue:
            return
        reqs = list(self.queue)
        self.queue.clear()
        self._update_hold()
        self._run(reqs)
        self._update_reading()

    # -- faults -----------------------------------------------------------
    def arm_fault_after_reply(self, kind, arg) -> None:
        self.pending_faults.append((kind, arg))
        self.fast = False

    def _apply_pending_faults(self):
        pending, self.pending_faults = self.pending_faults, []
        for kind, arg in pending:
            self.set_fault(kind, arg)
        self.refresh()

    def set_fault(self, kind: str, arg) -> None:
        if self.closing:
            return
        if self.fault is None:
            self.fault = FaultState()
        self.fault.arm(kind, arg)
        self.fast = False
        if kind == "close-after" and arg == 0:
            self.close()

    def clear_fault(self) -> None:
        f = self.fault
        if f is None:
            return
        f.disarm()
        self.fault_settled()

    def fault_settled(self) -> None:
        """Drop the fault state once nothing is armed or held."""
        if self.fault is not None and self.fault.idle():
            self.fault = None
            self.refresh()

    def stall(self) -> None:
        self.stalled = True
        self.fast = False
        self.hold = True
        self.queue.clear()

    # -- transactions -------------------------------------------------------
    def unwatch_all(self) -> None:
        if not self.watched:
            self.watched = None
            return
        dbs = self.state.dbs
        for (index, key) in self.watched:
            db = dbs[index]
            clients = db.watched.get(key)
            if clients is not None:
                try:
                    clients.remove(self)
                except ValueError:
                    pass
                if not clients:
                    del db.watched[key]
        self.watched = None
        self.dirty_cas = False

    def watch_touched(self, db, key) -> None:
        """A watched key changed (Redis touchWatchedKey)."""
        w = self.watched
        if w is None:
            return
        k = (db.index, key)
        if w.get(k) and key not in db.data:
            # Watched while already expired and now deleted: no logical change.
            w[k] = False
            return
        self.dirty_cas = True
