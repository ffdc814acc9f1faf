"""Client-side caching: CLIENT TRACKING and its invalidation messages, as
Redis 7.0 does them (tracking.c).

Default mode: after a read-only command (top level or in EXEC) a tracking
client remembers the command's keys (unless OPTIN without `CLIENT CACHING
yes`, or OPTOUT with `CLIENT CACHING no`, for that one command). A change to
a remembered key sends one invalidation for that key to every client that
read it, and forgets the key (it is tracked again at the next read). The
key table is global (key names, whatever the database), as in Redis.
BCAST: every change to a key under one of the client's prefixes is
collected per prefix and sent once per loop iteration (Redis: beforeSleep),
one message per prefix, keys in byte order. NOLOOP: no message about a key
this client changed itself. FLUSHDB/FLUSHALL: a null key list to every
tracking client, and the table is dropped.

Frames (the `keys` part is an array of bulk keys, or null after a flush):

    RESP3 tracking client:                 >2 $10 invalidate <keys>
    REDIRECT to a RESP3 client:            the same, on that client
    REDIRECT to a subscribed RESP2 client: *3 $7 message $20 __redis__:invalidate <keys>
    REDIRECT target gone, RESP3 client:    >2 $21 tracking-redir-broken :<id>
    RESP2 client without REDIRECT:         nothing (keys are tracked anyway)

The null of a flush is the one of the *tracking* client's protocol (`_` or
`$-1`), even when sent to a redirect target: Redis sends
shared.null[c->resp]. A message for the client whose own command changed
the key goes after that command's reply (after EXEC's whole reply).

Memory: the table holds at most `TrackingTable.max_keys` keys (Redis's
tracking-table-max-keys default, 1 000 000); past it the oldest keys are
invalidated for their readers and forgotten once the commands of the
current loop iteration have run (Redis evicts from beforeSleep too), so it
exceeds the limit by at most the keys one batch of requests reads.
BCAST keys waiting for the end of the iteration are bounded the same way.
"""
from __future__ import annotations

from .commands.table import F_READONLY
from .parser import parse_ll
from .resp import CommandError, SYNTAX

TRACKING_CHANNEL = b"__redis__:invalidate"
_INVALIDATE3 = b">2\r\n$10\r\ninvalidate\r\n"
_MESSAGE2 = b"*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n"
_NULLS = {2: b"$-1\r\n", 3: b"_\r\n"}
MAX_KEYS = 1_000_000


class TrackingState:
    """CLIENT TRACKING settings of one client (Client.tracking; None = off)."""

    __slots__ = ("redirect", "bcast", "optin", "optout", "noloop", "prefixes", "caching",
                 "broken_redirect", "pending")

    def __init__(self):
        self.redirect = 0
        self.bcast = self.optin = self.optout = self.noloop = False
        self.prefixes = []
        self.caching = False  # CLIENT CACHING yes/no given for the next command
        self.broken_redirect = False
        self.pending = []  # keys (None: flush) changed by this client's running command

    def after_command(self, client, cmd, argv) -> None:
        """Remember the keys a read-only command read (trackingRememberKeys)."""
        if not cmd.flags & F_READONLY or self.bcast:
            return
        if (self.optin and not self.caching) or (self.optout and self.caching):
            return
        first = cmd.first
        if first <= 0 or len(argv) <= first:
            return
        last = cmd.last
        if last < 0:
            last += len(argv)
        step = cmd.step or 1
        table = client.state.tracking
        cid = client.id
        for i in range(first, min(last, len(argv) - 1) + 1, step):
            table.remember(argv[i], cid)


def _keys_array(keys) -> bytes:
    return b"*%d\r\n" % len(keys) + b"".join(b"$%d\r\n%s\r\n" % (len(k), k) for k in keys)


class TrackingTable:
    """Server-wide tracking state (ServerState.tracking)."""

    def __init__(self, state):
        self.state = state
        self.keys = {}  # key -> {client id: None}, in first-read order
        self.max_keys = MAX_KEYS
        self.clients = 0  # clients with tracking on
        self.prefixes = {}  # BCAST prefix -> {"clients": {client: None}, "keys": {key: writer}}
        self.bcast_scheduled = False
        self.evict_scheduled = False
        #: Anything to do on a key change (Db checks this on its hot paths).
        self.on = False

    def _update_on(self) -> None:
        self.on = bool(self.clients or self.keys or self.prefixes)

    # -- enabling -----------------------------------------------------------
    def enable(self, client, redirect: int, bcast: bool, optin: bool, optout: bool,
               noloop: bool, prefixes) -> None:
        t = client.tracking
        if t is None:
            t = client.tracking = TrackingState()
            self.clients += 1
        t.broken_redirect = False
        t.redirect = redirect
        t.optin, t.optout, t.noloop = optin, optout, noloop
        if bcast:
            t.bcast = True
            for p in (prefixes or [b""]):
                bs = self.prefixes.get(p)
                if bs is None:
                    bs = self.prefixes[p] = {"clients": {}, "keys": {}}
                bs["clients"][client] = None
                if p not in t.prefixes:
                    t.prefixes.append(p)
        self.on = True
        client.refresh()

    def disable(self, client) -> None:
        t = client.tracking
        if t is None:
            return
        for p in t.prefixes:
            bs = self.prefixes.get(p)
            if bs is not None:
                bs["clients"].pop(client, None)
                if not bs["clients"]:
                    del self.prefixes[p]
        client.tracking = None
        self.clients -= 1
        self._update_on()
        client.refresh()

    # -- reading ------------------------------------------------------------
    def remember(self, key: bytes, client_id: int) -> None:
        ids = self.keys.get(key)
        if ids is None:
            ids = self.keys[key] = {}
            self.on = True
            if len(self.keys) > self.max_keys and not self.evict_scheduled:
                # As Redis (trackingLimitUsedSlots, from beforeSleep): after
                # the replies of this loop iteration, not inside a command.
                self.evict_scheduled = True
                self.state.loop.call_soon(self._enforce_limit)
        ids[client_id] = None

    def _enforce_limit(self) -> None:
        self.evict_scheduled = False
        while len(self.keys) > self.max_keys:
            self._invalidate_readers(next(iter(self.keys)), None)

    # -- writing ------------------------------------------------------------
    def invalidate(self, key: bytes, writer, expiry: bool = False) -> None:
        """Key `key` changed while client `writer` ran a command (None: from
        a timer). An expiry is nobody's change for BCAST's NOLOOP (Redis:
        signalModifiedKey(NULL, ...)), but a default-mode message to the
        client whose read expired the key still follows its reply."""
        if self.prefixes:
            for p, bs in self.prefixes.items():
                if key.startswith(p):
                    bs["keys"][key] = None if expiry else writer
                    if not self.bcast_scheduled:
                        self.bcast_scheduled = True
                        self.state.loop.call_soon(self.broadcast)
        if key in self.keys:
            self._invalidate_readers(key, writer)
            if not self.keys and not self.clients:
                self._update_on()

    def _invalidate_readers(self, key: bytes, writer) -> None:
        ids = self.keys.pop(key)
        clients = self.state.clients
        for cid in ids:
            target = clients.get(cid)
            if target is None:
                continue
            t = target.tracking
            if t is None or t.bcast:
                continue
            if target is writer:
                if t.noloop:
                    continue
                if writer.in_command:
                    t.pending.append(key)
                    continue
            self.send(target, _keys_array([key]))

    def flush(self, writer) -> None:
        """FLUSHDB/FLUSHALL (trackingInvalidateKeysOnFlush)."""
        if self.clients:
            for c in list(self.state.clients.values()):
                t = c.tracking
                if t is None:
                    continue
                if c is writer and writer.in_command:
                    t.pending.append(None)
                else:
                    self.send(c, _NULLS[c.resp])
        self.keys = {}
        self._update_on()

    def flush_pending(self, client) -> None:
        """After the top-level command of `client`: its own invalidations."""
        t = client.tracking
        pending, t.pending = t.pending, []
        for key in pending:
            if key is None:
                self.send(client, _NULLS[client.resp])
            else:
                self.send(client, _keys_array([key]))

    def broadcast(self) -> None:
        """Send what BCAST prefixes collected (trackingBroadcastInvalidationMessages)."""
        self.bcast_scheduled = False
        for p in sorted(self.prefixes):
            bs = self.prefixes[p]
            keys = bs["keys"]
            if not keys:
                continue
            bs["keys"] = {}
            ordered = sorted(keys)
            common = None
            for c in list(bs["clients"]):
                t = c.tracking
                if t is None:
                    continue
                if t.noloop:
                    mine = [k for k in ordered if keys[k] is not c]
                    if mine:
                        self.send(c, _keys_array(mine))
                else:
                    if common is None:
                        common = _keys_array(ordered)
                    self.send(c, common)

    # -- delivery -----------------------------------------------------------
    def send(self, client, keys_part: bytes) -> None:
        """sendTrackingMessage: to the client, or to its redirect target."""
        t = client.tracking
        target = client
        redirected = False
        if t is not None and t.redirect:
            target = self.state.clients.get(t.redirect)
            if target is None or target.closing:
                t.broken_redirect = True
                if client.resp == 3:
                    client.send_invalidation(b">2\r\n$21\r\ntracking-redir-broken\r\n:%d\r\n"
                                             % t.redirect)
                return
            redirected = True
        if target.resp == 3:
            target.send_invalidation(_INVALIDATE3 + keys_part)
        elif redirected and (target.channels or target.patterns or target.shard_channels):
            target.send_invalidation(_MESSAGE2 + keys_part)


# -- CLIENT TRACKING / CACHING / GETREDIR / TRACKINGINFO ---------------------

def _prefix_overlap(a: bytes, b: bytes) -> bool:
    n = min(len(a), len(b))
    return a[:n] == b[:n]


def client_tracking(c, argv) -> None:
    """CLIENT TRACKING on|off [options]; raises CommandError as Redis does."""
    redirect = 0
    bcast = optin = optout = noloop = False
    prefixes = []
    state = c.state
    j = 3
    n = len(argv)
    while j < n:
        more = n - 1 - j
        opt = argv[j].lower()
        if opt == b"redirect" and more:
            j += 1
            if redirect != 0:
                raise CommandError(b"ERR A client can only redirect to a single other client")
            rid = parse_ll(argv[j])
            if rid is None:
                raise CommandError(b"ERR value is not an integer or out of range")
            redirect = rid
            if state.clients.get(rid) is None:
                raise CommandError(b"ERR The client ID you want redirect to does not exist")
        elif opt == b"bcast":
            bcast = True
        elif opt == b"optin":
            optin = True
        elif opt == b"optout":
            optout = True
        elif opt == b"noloop":
            noloop = True
        elif opt == b"prefix" and more:
            j += 1
            prefixes.append(argv[j])
        else:
            raise CommandError(SYNTAX)
        j += 1
    mode = argv[2].lower()
    table = state.tracking
    if mode == b"on":
        t = c.tracking
        if t is not None and t.bcast != bcast:
            raise CommandError(b"ERR You can't switch BCAST mode on/off before disabling tracking "
                               b"for this client, and then re-enabling it with a different mode.")
        if not bcast and prefixes:
            raise CommandError(b"ERR PREFIX option requires BCAST mode to be enabled")
        if bcast and (optin or optout):
            raise CommandError(b"ERR OPTIN and OPTOUT are not compatible with BCAST")
        if optin and optout:
            raise CommandError(b"ERR You can't specify both OPTIN mode and OPTOUT mode")
        if t is not None and ((optin and t.optout) or (optout and t.optin)):
            raise CommandError(b"ERR You can't switch OPTIN/OPTOUT mode before disabling tracking "
                               b"for this client, and then re-enabling it with a different mode.")
        if bcast:
            existing = t.prefixes if t is not None else []
            for i, p in enumerate(prefixes):
                for e in sorted(existing):
                    if _prefix_overlap(e, p):
                        raise CommandError(b"ERR Prefix '%s' overlaps with an existing prefix '%s'. "
                                           b"Prefixes for a single client must not overlap." % (p, e))
                for q in prefixes[i + 1:]:
                    if _prefix_overlap(p, q):
                        raise CommandError(b"ERR Prefix '%s' overlaps with another provided prefix "
                                           b"'%s'. Prefixes for a single client must not overlap."
                                           % (p, q))
        table.enable(c, redirect, bcast, optin, optout, noloop, prefixes)
    elif mode == b"off":
        table.disable(c)
    else:
        raise CommandError(SYNTAX)


def client_caching(c, argv) -> None:
    t = c.tracking
    if t is None:
        raise CommandError(b"ERR CLIENT CACHING can be called only when the client is in tracking "
                           b"mode with OPTIN or OPTOUT mode enabled")
    opt = argv[2].lower()
    if opt == b"yes":
        if not t.optin:
            raise CommandError(b"ERR CLIENT CACHING YES is only valid when tracking is enabled in "
                               b"OPTIN mode.")
    elif opt == b"no":
        if not t.optout:
            raise CommandError(b"ERR CLIENT CACHING NO is only valid when tracking is enabled in "
                               b"OPTOUT mode.")
    else:
        raise CommandError(SYNTAX)
    t.caching = True


def trackinginfo(c) -> bytes:
    t = c.tracking
    resp = c.resp
    if t is None:
        flags = [b"off"]
    else:
        flags = [b"on"]
        if t.bcast:
            flags.append(b"bcast")
        if t.optin:
            flags.append(b"optin")
            if t.caching:
                flags.append(b"caching-yes")
        if t.optout:
            flags.append(b"optout")
            if t.caching:
                flags.append(b"caching-no")
        if t.noloop:
            flags.append(b"noloop")
        if t.broken_redirect:
            flags.append(b"broken_redirect")
    prefixes = sorted(t.prefixes) if t is not None else []
    out = [b"%3\r\n" if resp == 3 else b"*6\r\n", b"$5\r\nflags\r\n",
           (b"~%d\r\n" if resp == 3 else b"*%d\r\n") % len(flags)]
    out += [b"$%d\r\n%s\r\n" % (len(f), f) for f in flags]
    out.append(b"$8\r\nredirect\r\n:%d\r\n" % (t.redirect if t is not None else -1))
    out.append(b"$8\r\nprefixes\r\n" + _keys_array(prefixes))
    return b"".join(out)
