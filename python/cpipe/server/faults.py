"""Faults on demand, so client tests can watch a server misbehave.

Per connection, or GLOBAL (every open connection now, and every new one as
it is accepted, until cleared):

    CPIPE.FAULT CLOSE-AFTER <n> [GLOBAL]   close after n more replies
                                           (0: right after this +OK)
    CPIPE.FAULT CLOSE-MID-REPLY [GLOBAL]   next reply: send its first half,
                                           then close
    CPIPE.FAULT DELAY <ms> [GLOBAL]        hold every reply <ms> ms (order
                                           kept; commands still run at once)
    CPIPE.FAULT STALL [GLOBAL]             next reply: send its first half,
                                           then nothing ever again; requests
                                           are read and dropped unexecuted
    CPIPE.FAULT MALFORMED [GLOBAL]         next reply is replaced by bytes
                                           that are not RESP (b"@malformed\\r\\n")
    CPIPE.FAULT EXTRA [GLOBAL]             next reply is followed, in the same
                                           write, by one reply nobody asked
                                           for (b"+EXTRA\\r\\n"), as from a
                                           misbehaving server or proxy
    CPIPE.FAULT EXTRA-LATER <ms> [GLOBAL]  the same stray reply, written <ms>
                                           ms after the next reply (so it can
                                           land on an idle connection)
    CPIPE.FAULT EXTRA-BYTES [GLOBAL]       next reply is followed, in the same
                                           write, by bytes that are not RESP
                                           (b"\\x00extra\\r\\n"), as from a
                                           corrupting proxy
    CPIPE.FAULT CLOSE-BEFORE-INVALIDATE [GLOBAL]
                                           the next client-side-caching message
                                           for this connection (invalidate,
                                           tracking-redir-broken, or the
                                           __redis__:invalidate message of a
                                           REDIRECT) is not sent: the connection
                                           is dropped (reset) instead; the write
                                           that caused it has happened
    CPIPE.FAULT DELAY-INVALIDATE <ms> [GLOBAL]
                                           hold every client-side-caching message
                                           for this connection <ms> ms (their
                                           order kept; other replies are not held)
    CPIPE.FAULT REFUSE <ms>                stop listening for <ms> ms: new
                                           connections are refused (ECONNREFUSED);
                                           open ones are untouched
    CPIPE.FAULT CLEAR [GLOBAL]             this connection back to normal;
                                           GLOBAL: every connection and new ones

The command replies +OK (that reply is never itself faulted) and is refused
with an error unless the server runs with --enable-faults. "Reply" means any
unit the server writes: a command reply, a pub/sub message, a reply to a
blocked command. One-shot faults (CLOSE-MID-REPLY, STALL, MALFORMED, EXTRA,
EXTRA-LATER, EXTRA-BYTES) act once on each connection they are armed on, GLOBAL or not.
The same faults are available from Python on the server object whatever the
flag (Server.set_fault / clear_faults / refuse).
"""
from __future__ import annotations

from collections import deque

from .resp import CommandError, OK

MALFORMED_REPLY = b"@malformed\r\n"  # '@' starts no RESP2/RESP3 type
EXTRA_REPLY = b"+EXTRA\r\n"  # valid RESP, so only its position betrays it
#: NUL is no RESP2 (+ - : $ *) or RESP3 (_ , # ! = ( % ~ > | .) type byte, so
#: a client reading these as a reply must fail, wherever they land.
EXTRA_BYTES = b"\x00extra\r\n"

KINDS = ("close-after", "close-mid-reply", "delay", "stall", "malformed", "extra", "extra-later",
         "extra-bytes", "close-before-invalidate", "delay-invalidate")
#: Kinds that take one non-negative integer argument (Server.set_fault too).
WITH_ARG = ("close-after", "delay", "extra-later", "refuse", "delay-invalidate")


class FaultState:
    """Faults armed on one connection; consulted for each reply it sends."""

    __slots__ = ("close_after", "close_mid", "delay_ms", "stall", "malformed",
                 "extra", "extra_later_ms", "extra_bytes", "extra_timer", "stalled", "delayed", "timer",
                 "close_before_inval", "inval_delay_ms", "inval_delayed", "inval_timer",
                 "inval_bytes")

    def __init__(self):
        self.close_after = None  # replies left before closing
        self.close_mid = False
        self.delay_ms = 0
        self.stall = False
        self.malformed = False
        self.extra = False
        self.extra_later_ms = None  # armed EXTRA-LATER: delay after the next reply
        self.extra_timer = None  # EXTRA-LATER's reply, scheduled
        self.extra_bytes = False
        self.stalled = False  # stalled for good
        self.delayed = deque()  # (due loop time, reply) held by DELAY
        self.timer = None
        self.close_before_inval = False
        self.inval_delay_ms = 0
        self.inval_delayed = deque()  # (due loop time, message) held by DELAY-INVALIDATE
        self.inval_bytes = 0  # their size, bounded by the output buffer limit
        self.inval_timer = None

    def arm(self, kind: str, arg: int | None) -> None:
        if kind == "close-after":
            self.close_after = arg
        elif kind == "close-mid-reply":
            self.close_mid = True
        elif kind == "delay":
            self.delay_ms = arg
        elif kind == "stall":
            self.stall = True
        elif kind == "malformed":
            self.malformed = True
        elif kind == "extra":
            self.extra = True
        elif kind == "extra-later":
            self.extra_later_ms = arg
        elif kind == "extra-bytes":
            self.extra_bytes = True
        elif kind == "close-before-invalidate":
            self.close_before_inval = True
        elif kind == "delay-invalidate":
            self.inval_delay_ms = arg
        else:  # pragma: no cover - validated by callers
            raise ValueError(kind)

    def idle(self) -> bool:
        """Nothing armed and nothing held: the connection can go fast again."""
        return (self.close_after is None and not self.close_mid and not self.delay_ms
                and not self.stall and not self.malformed and not self.extra
                and not self.extra_bytes
                and self.extra_later_ms is None and self.extra_timer is None
                and not self.stalled and not self.delayed
                and not self.close_before_inval and not self.inval_delay_ms
                and not self.inval_delayed)

    def disarm(self) -> None:
        """CLEAR: forget every armed fault, including a scheduled EXTRA-LATER.
        Replies already held by DELAY still go out, in order."""
        self.close_after = None
        self.close_mid = self.stall = self.malformed = self.extra = self.extra_bytes = False
        self.delay_ms = 0
        self.extra_later_ms = None
        if self.extra_timer is not None:
            self.extra_timer.cancel()
            self.extra_timer = None
        self.close_before_inval = False
        self.inval_delay_ms = 0

    # -- client-side-caching messages ------------------------------------
    def intercept_invalidation(self, client, data: bytes) -> bool:
        """True if the fault took the message (dropped with the connection,
        or held for later); False: send it as any reply."""
        if self.close_before_inval:
            self.close_before_inval = False
            client.abort()
            return True
        if self.inval_delay_ms or self.inval_delayed:
            loop = client.state.loop
            self.inval_bytes += len(data)
            if self.inval_bytes > client.state.config.client_output_buffer_limit:
                # held messages count as queued output: the same limit applies
                self.inval_delayed.clear()
                client.abort()
                return True
            self.inval_delayed.append((loop.time() + self.inval_delay_ms / 1000.0, data))
            if self.inval_timer is None:
                self.inval_timer = loop.call_at(self.inval_delayed[0][0], self._release_inval, client)
            return True
        return False

    def _release_inval(self, client) -> None:
        self.inval_timer = None
        now = client.state.loop.time()
        while self.inval_delayed and self.inval_delayed[0][0] <= now:
            _, data = self.inval_delayed.popleft()
            self.inval_bytes -= len(data)
            if client.closing:
                self.inval_delayed.clear()
                return
            client.send(data)
        if self.inval_delayed:
            self.inval_timer = client.state.loop.call_at(self.inval_delayed[0][0],
                                                         self._release_inval, client)
        else:
            client.fault_settled()

    # -- sending ---------------------------------------------------------
    def send(self, client, reply: bytes) -> None:
        if self.stalled or not reply:
            return
        if self.delay_ms or self.delayed:
            loop = client.state.loop
            self.delayed.append((loop.time() + self.delay_ms / 1000.0, reply))
            if self.timer is None:
                self._schedule(client)
            return
        self._emit(client, reply)

    def _schedule(self, client) -> None:
        loop = client.state.loop
        due = self.delayed[0][0]
        self.timer = loop.call_at(due, self._release, client)

    def _release(self, client) -> None:
        self.timer = None
        loop = client.state.loop
        now = loop.time()
        while self.delayed and self.delayed[0][0] <= now:
            _, reply = self.delayed.popleft()
            self._emit(client, reply)
            if client.closing:
                self.delayed.clear()
                return
        if self.delayed:
            self._schedule(client)
        else:
            client.fault_settled()

    def _emit(self, client, reply: bytes) -> None:
        if self.stalled or client.closing:
            return
        t = client.transport
        if self.malformed:
            self.malformed = False
            reply = MALFORMED_REPLY
        if self.close_mid:
            self.close_mid = False
            t.write(reply[:max(1, len(reply) // 2)])
            client.close()
            return
        if self.stall:
            self.stall = False
            self.stalled = True
            t.write(reply[:max(1, len(reply) // 2)])
            client.stall()
            return
        if self.extra:
            self.extra = False
            # One write, so the stray reply arrives with the real one (the
            # case a client must not take for the next caller's reply).
            reply += EXTRA_REPLY
        if self.extra_bytes:
            self.extra_bytes = False
            reply += EXTRA_BYTES  # one write too, for the same reason
        t.write(reply)
        if self.extra_later_ms is not None:
            self.extra_timer = client.state.loop.call_later(
                self.extra_later_ms / 1000.0, self._send_extra_later, client)
            self.extra_later_ms = None
        if self.close_after is not None:
            self.close_after -= 1
            if self.close_after <= 0:
                client.close()
                return
        if not self.delayed:
            client.fault_settled()

    def _send_extra_later(self, client) -> None:
        self.extra_timer = None
        if not self.stalled and not client.closing:
            client.transport.write(EXTRA_REPLY)
            client.fault_settled()

    def cancel(self) -> None:
        if self.inval_timer is not None:
            self.inval_timer.cancel()
            self.inval_timer = None
        self.inval_delayed.clear()
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.extra_timer is not None:
            self.extra_timer.cancel()
            self.extra_timer = None
        self.delayed.clear()


def parse_fault(args) -> tuple:
    """CPIPE.FAULT arguments (after the command name) -> (kind, arg, global)."""
    if not args:
        raise CommandError(b"ERR wrong number of arguments for 'cpipe.fault' command")
    kind = args[0].decode("latin-1").lower()
    rest = list(args[1:])
    is_global = False
    if rest and rest[-1].lower() == b"global":
        is_global = True
        rest.pop()
    if kind not in KINDS and kind not in ("refuse", "clear"):
        raise CommandError(b"ERR unknown CPIPE.FAULT kind '%s' (expected CLOSE-AFTER, "
                           b"CLOSE-MID-REPLY, DELAY, STALL, MALFORMED, EXTRA, EXTRA-LATER, EXTRA-BYTES, "
                           b"CLOSE-BEFORE-INVALIDATE, DELAY-INVALIDATE, REFUSE or CLEAR)" % args[0])
    arg = None
    if kind in WITH_ARG:
        if len(rest) != 1:
            raise CommandError(b"ERR syntax error: CPIPE.FAULT %s needs one integer argument"
                               % kind.upper().encode())
        try:
            arg = int(rest[0])
        except ValueError:
            arg = -1
        if arg < 0:
            raise CommandError(b"ERR value is not an integer or out of range")
    elif rest:
        raise CommandError(b"ERR syntax error")
    if kind == "refuse" and is_global:
        raise CommandError(b"ERR syntax error: REFUSE is always global")
    return kind, arg, is_global


def fault_command(client, argv) -> bytes:
    state = client.state
    if not state.config.enable_faults:
        raise CommandError(b"ERR CPIPE.FAULT is disabled; start the server with --enable-faults")
    kind, arg, is_global = parse_fault(argv[1:])
    server = state.server
    if kind == "refuse":
        server.refuse(arg)
        return OK
    if kind == "clear":
        if is_global:
            server.clear_faults()
        else:
            client.clear_fault()
        return OK
    if is_global:
        # The +OK for this command goes out before the fault applies here.
        server.set_fault(kind, arg, exclude=client)
        client.arm_fault_after_reply(kind, arg)
    else:
        client.arm_fault_after_reply(kind, arg)
    return OK
