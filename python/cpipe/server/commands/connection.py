"""Connection commands: PING ECHO QUIT SELECT AUTH HELLO CLIENT RESET."""
from __future__ import annotations

from ..resp import (CommandError, OK, PONG, NULL, NOT_INTEGER, bulk, array, integer,
                    array_of_replies, simple)
from ..parser import parse_ll
from .. import tracking
from ..resp3 import map_header
from .table import command, COMMANDS, F_PUBSUB_OK, F_NOT_QUEUED, arity_error

_WRONGPASS = b"WRONGPASS invalid username-password pair or user is disabled."


@command("ping", -1, "fast", categories="@fast @connection", flags=F_PUBSUB_OK)
def ping(c, argv):
    if len(argv) > 2:
        raise arity_error(b"ping")
    if (c.channels or c.patterns or c.shard_channels) and c.resp == 2:
        # RESP2 subscribed mode answers in the shape of a message
        msg = argv[1] if len(argv) == 2 else b""
        return b"*2\r\n$4\r\npong\r\n" + bulk(msg)
    if len(argv) == 2:
        return bulk(argv[1])
    return PONG


@command("echo", 2, "loading stale fast", categories="@fast @connection")
def echo(c, argv):
    return bulk(argv[1])


@command("quit", -1, "noscript loading stale fast no_auth allow_busy",
         categories="@fast @connection", flags=F_PUBSUB_OK | F_NOT_QUEUED)
def quit_(c, argv):
    c.close_after_reply = True
    c.fast = False
    return OK


@command("select", 2, "loading stale fast", categories="@fast @connection")
def select(c, argv):
    n = parse_ll(argv[1])
    if n is None or not -2**31 <= n < 2**31:
        raise CommandError(NOT_INTEGER)
    if not 0 <= n < len(c.state.dbs):
        raise CommandError(b"ERR DB index is out of range")
    c.db = c.state.dbs[n]
    return OK


def _authenticate(c, user: bytes, password: bytes) -> bool:
    required = c.state.config.requirepass
    if user != b"default":
        return False
    if required is None or required == "":
        return True  # default user is "nopass": any password
    return password == required.encode()


def _set_authenticated(c) -> None:
    if not c.authenticated:
        c.authenticated = True
        c.parser.auth_required = False
        c.refresh()


@command("auth", -2, "noscript loading stale fast no_auth allow_busy",
         categories="@fast @connection")
def auth(c, argv):
    if len(argv) > 3:
        raise CommandError(b"ERR syntax error")
    if len(argv) == 2:
        if not c.state.config.requirepass:
            raise CommandError(b"ERR AUTH <password> called without any password configured "
                               b"for the default user. Are you sure your configuration is correct?")
        user, password = b"default", argv[1]
    else:
        user, password = argv[1], argv[2]
    if _authenticate(c, user, password):
        _set_authenticated(c)
        return OK
    raise CommandError(_WRONGPASS)


def _check_name(name: bytes) -> None:
    for ch in name:
        if ch < 33 or ch > 126:
            raise CommandError(b"ERR Client names cannot contain spaces, newlines or "
                               b"special characters.")


@command("hello", -1, "noscript loading stale fast no_auth allow_busy",
         categories="@fast @connection")
def hello(c, argv):
    ver = 0
    j = 1
    if len(argv) >= 2:
        ver = parse_ll(argv[1])
        j = 2
        if ver is None:
            raise CommandError(b"ERR Protocol version is not an integer or out of range")
        if ver < 2 or ver > 3:
            raise CommandError(b"NOPROTO unsupported protocol version")
    n = len(argv)
    while j < n:
        more = n - 1 - j
        opt = argv[j].lower()
        if opt == b"auth" and more >= 2:
            if not _authenticate(c, argv[j + 1], argv[j + 2]):
                raise CommandError(_WRONGPASS)
            _set_authenticated(c)
            j += 3
        elif opt == b"setname" and more:
            name = argv[j + 1]
            _check_name(name)
            c.name = name or None
            j += 2
        else:
            raise CommandError(b"ERR Syntax error in HELLO option '%s'" % argv[j])
    if not c.authenticated:
        raise CommandError(b"NOAUTH HELLO must be called with the client already authenticated, "
                           b"otherwise the HELLO AUTH <user> <pass> option can be used to "
                           b"authenticate the client and select the RESP protocol version at the "
                           b"same time")
    if ver and ver != c.resp:
        c.resp = ver
        c.fast = False  # the running batch continues on the general path (see protocol._run)
    version = c.state.config.version.encode()
    return (map_header(7, c.resp) + bulk(b"server") + bulk(b"redis") + bulk(b"version")
            + bulk(version) + bulk(b"proto") + integer(c.resp) + bulk(b"id") + integer(c.id)
            + bulk(b"mode") + bulk(b"standalone") + bulk(b"role") + bulk(b"master")
            + bulk(b"modules") + b"*0\r\n")


def client_info_line(c) -> bytes:
    import time
    now = time.monotonic()
    flags = b""  # in Redis's order (getClientInfoString)
    if c.channels or c.patterns or c.shard_channels:
        flags += b"P"
    if c.multi is not None:
        flags += b"x"
    if c.blocked is not None:
        flags += b"b"
    t = c.tracking
    if t is not None:
        flags += b"t"
        if t.broken_redirect:
            flags += b"R"
        if t.bcast:
            flags += b"B"
    return (b"id=%d addr=%s laddr=? fd=-1 name=%s age=%d idle=%d flags=%s db=%d sub=%d psub=%d "
            b"ssub=%d multi=%d qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 "
            b"omem=%d tot-mem=0 events=r cmd=%s user=default redir=%d resp=%d"
            % (c.id, c.addr.encode(), c.name or b"", now - c.created, now - c.last_io,
               flags or b"N", c.db.index, len(c.channels), len(c.patterns),
               len(c.shard_channels), -1 if c.multi is None else len(c.multi),
               c.transport.get_write_buffer_size() if c.transport else 0, c.last_cmd,
               t.redirect if t is not None else -1, c.resp))


_CLIENT_SUBS = {"id": 2, "setname": 3, "getname": 2, "list": -2, "info": 2, "help": 2,
                "kill": -3, "tracking": -3, "caching": 3, "getredir": 2, "trackinginfo": 2}


@command("client", -2, "", categories="@slow", subcommands=_CLIENT_SUBS)
def client_(c, argv):
    COMMANDS[b"client"].check(argv)
    sub = argv[1].lower()
    # cmd= in CLIENT LIST is only tracked off the hot path; this one is known.
    c.last_cmd = b"client|" + sub
    if sub == b"id":
        return integer(c.id)
    if sub == b"setname":
        _check_name(argv[2])
        c.name = argv[2] or None
        return OK
    if sub == b"getname":
        return bulk(c.name) if c.name else NULL
    if sub == b"info":
        return bulk(client_info_line(c) + b"\n")
    if sub == b"list":
        lines = b"".join(client_info_line(x) + b"\n" for x in c.state.clients.values())
        return bulk(lines)
    if sub == b"tracking":
        tracking.client_tracking(c, argv)
        return OK
    if sub == b"caching":
        tracking.client_caching(c, argv)
        return OK
    if sub == b"getredir":
        return integer(c.tracking.redirect if c.tracking is not None else -1)
    if sub == b"trackinginfo":
        return tracking.trackinginfo(c)
    if sub == b"kill":
        # CLIENT KILL ID <id> (the filter form the tests need)
        if len(argv) == 4 and argv[2].lower() == b"id":
            target = parse_ll(argv[3])
            victim = c.state.clients.get(target)
            if victim is None:
                raise CommandError(b"ERR No such client")
            if victim is c:
                c.close_after_reply = True
                c.fast = False
            else:
                victim.close()
            return integer(1)
        raise CommandError(b"ERR syntax error")
    return array([b"CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                  b"ID", b"SETNAME <name>", b"GETNAME", b"INFO", b"LIST", b"KILL ID <id>",
                  b"TRACKING (ON|OFF) [REDIRECT <id>] [BCAST] [PREFIX <prefix> [...]] [OPTIN] "
                  b"[OPTOUT] [NOLOOP]", b"CACHING (YES|NO)", b"GETREDIR", b"TRACKINGINFO"])


@command("reset", 1, "noscript loading stale fast no_auth allow_busy",
         categories="@fast @connection", flags=F_PUBSUB_OK | F_NOT_QUEUED)
def reset(c, argv):
    c.multi = None
    c.multi_error = False
    c.unwatch_all()
    if c.channels or c.patterns or c.shard_channels:
        c.state.pubsub.drop_client(c)
    if c.tracking is not None:
        c.state.tracking.disable(c)
    c.resp = 2
    c.db = c.state.dbs[0]
    c.name = None
    if c.state.config.requirepass:
        c.authenticated = False
        c.parser.auth_required = True
    c.refresh()
    return simple(b"RESET")


__all__ = ["client_info_line", "array_of_replies"]
