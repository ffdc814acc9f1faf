"""Server commands: COMMAND INFO CONFIG TIME LASTSAVE CPIPE.FAULT."""
from __future__ import annotations

import os
import sys
import time

from .. import limits
from ..faults import fault_command
from ..pattern import match
from ..resp import CommandError, OK, bulk, integer, array, simple
from .table import COMMANDS, command


def _command_info(cmd) -> bytes:
    flags = b"".join(simple(f.encode()) for f in cmd.wire_flags)
    cats = b"".join(simple(f.encode()) for f in cmd.categories)
    subs = b""
    nsubs = 0
    if cmd.subcommands:
        for name, arity in cmd.subcommands.items():
            full = cmd.name + b"|" + name
            subs += (b"*10\r\n" + bulk(full) + integer(arity) + b"*0\r\n" + integer(0)
                     + integer(0) + integer(0) + b"*0\r\n*0\r\n*0\r\n*0\r\n")
            nsubs += 1
    return (b"*10\r\n" + bulk(cmd.name) + integer(cmd.arity)
            + b"*%d\r\n" % len(cmd.wire_flags) + flags
            + integer(cmd.first) + integer(cmd.last) + integer(cmd.step)
            + b"*%d\r\n" % len(cmd.categories) + cats
            + b"*0\r\n*0\r\n" + b"*%d\r\n" % nsubs + subs)


@command("command", -1, "loading stale", categories="@slow @connection",
         subcommands={"count": 2, "info": -2, "docs": -2, "list": -2, "help": 2})
def command_(c, argv):
    if len(argv) == 1:
        return b"*%d\r\n" % len(COMMANDS) + b"".join(_command_info(x) for x in COMMANDS.values())
    COMMANDS[b"command"].check(argv)
    sub = argv[1].lower()
    if sub == b"count":
        return integer(len(COMMANDS))
    if sub == b"info":
        names = argv[2:] or list(COMMANDS)
        parts = []
        for n in names:
            cmd = COMMANDS.get(n.lower())
            parts.append(_command_info(cmd) if cmd is not None else b"*-1\r\n")
        return b"*%d\r\n" % len(parts) + b"".join(parts)
    if sub == b"docs":
        return b"*0\r\n"  # no docs: clients (redis-cli) cope with an empty map
    if sub == b"list":
        return array(list(COMMANDS))
    return array([b"COMMAND [<subcommand>]. Subcommands are: COUNT, INFO, DOCS, LIST"])


def _info_sections(c) -> dict:
    state = c.state
    now = time.time()
    up = int(time.monotonic() - state.started_mono)
    server = [
        b"redis_version:%s" % state.config.version.encode(),
        b"redis_mode:standalone",
        b"server_name:cpipe.server",
        b"os:%s" % sys.platform.encode(),
        b"arch_bits:64",
        b"multiplexing_api:asyncio",
        b"python_version:%s" % sys.version.split()[0].encode(),
        b"process_id:%d" % os.getpid(),
        b"tcp_port:%d" % (state.port or 0),
        b"server_time_usec:%d" % int(now * 1e6),
        b"uptime_in_seconds:%d" % up,
        b"uptime_in_days:%d" % (up // 86400),
        b"hz:10",
        b"executable:%s" % sys.executable.encode(),
        b"config_file:",
    ]
    blocked = sum(1 for x in state.clients.values() if x.blocked is not None)
    clients = [
        b"connected_clients:%d" % len(state.clients),
        b"blocked_clients:%d" % blocked,
        b"pubsub_clients:%d" % sum(1 for x in state.clients.values() if x.channels or x.patterns),
        b"maxclients:10000",
    ]
    stats = [
        b"total_connections_received:%d" % state.stats["connections"],
        b"rejected_calls:%d" % state.stats["rejected"],
        b"pubsub_channels:%d" % len(state.pubsub.channels),
        b"pubsub_patterns:%d" % len(state.pubsub.patterns),
    ]
    keyspace = []
    for db in state.dbs:
        if db.data:
            keyspace.append(b"db%d:keys=%d,expires=%d,avg_ttl=0"
                            % (db.index, len(db.data), len(db.expires)))
    return {b"server": server, b"clients": clients, b"stats": stats, b"keyspace": keyspace}


@command("info", -1, "loading stale", categories="@slow @dangerous")
def info(c, argv):
    sections = _info_sections(c)
    wanted = [a.lower() for a in argv[1:]] or [b"default"]
    names = []
    for w in wanted:
        if w in (b"all", b"default", b"everything"):
            names.extend(sections)
        elif w in sections:
            names.append(w)
    seen = []
    for n in names:
        if n not in seen:
            seen.append(n)
    text = b"\r\n".join(b"# " + n.capitalize() + b"\r\n" + b"\r\n".join(sections[n]) + b"\r\n"
                        for n in seen)
    return bulk(text)


def _config_values(state) -> dict:
    cfg = state.config
    return {
        b"save": b"", b"appendonly": b"no", b"databases": b"%d" % cfg.databases,
        b"port": b"%d" % (state.port or 0), b"bind": cfg.host.encode(),
        b"requirepass": (cfg.requirepass or "").encode(),
        b"proto-max-bulk-len": b"%d" % cfg.proto_max_bulk_len,
        b"client-query-buffer-limit": b"%d" % cfg.client_query_buffer_limit,
        b"timeout": b"%d" % cfg.timeout, b"maxmemory": b"0",
        b"maxmemory-policy": b"noeviction", b"maxclients": b"10000",
        b"unixsocket": (cfg.unixsocket or "").encode(), b"hz": b"10",
        b"set-max-intset-entries": b"512",
        b"hash-max-listpack-entries": b"%d" % limits.SCAN_SMALL_COLLECTION,
    }


_SETTABLE = {b"timeout": "timeout", b"proto-max-bulk-len": "proto_max_bulk_len",
             b"client-query-buffer-limit": "client_query_buffer_limit"}


@command("config", -2, "", categories="@slow",
         subcommands={"get": -3, "set": -4, "resetstat": 2, "help": 2})
def config(c, argv):
    COMMANDS[b"config"].check(argv)
    sub = argv[1].lower()
    state = c.state
    if sub == b"get":
        values = _config_values(state)
        out = []
        for pat in argv[2:]:
            for k, v in values.items():
                if match(pat.lower(), k) and k not in out[::2]:
                    out += [k, v]
        return array(out)
    if sub == b"set":
        if len(argv) % 2:
            raise CommandError(b"ERR wrong number of arguments for 'config|set' command")
        updates = []
        for k, v in zip(argv[2::2], argv[3::2]):
            attr = _SETTABLE.get(k.lower())
            if attr is None:
                raise CommandError(b"ERR Unknown option or number of arguments for CONFIG SET - '%s'" % k)
            try:
                num = int(v)
            except ValueError:
                raise CommandError(b"ERR Invalid argument '%s' for CONFIG SET '%s' - argument "
                                   b"couldn't be parsed into an integer" % (v, k))
            updates.append((attr, num))
        for attr, num in updates:
            setattr(state.config, attr, num)
            if attr == "timeout":
                now = time.monotonic()
                for cl in state.clients.values():
                    cl.track_idle = bool(num)
                    cl.last_io = now
            for cl in state.clients.values():  # parser limits are per connection
                if attr == "proto_max_bulk_len":
                    p = cl.parser
                    if hasattr(p, "set_max_bulk"):
                        p.set_max_bulk(num)
                    else:
                        p.max_bulk = num
                elif attr == "client_query_buffer_limit":
                    p = cl.parser
                    getattr(p, "py", p).query_limit = num
        return OK
    if sub == b"resetstat":
        for k in state.stats:
            state.stats[k] = 0
        return OK
    return array([b"CONFIG <subcommand>. Subcommands are: GET <pattern>, SET <param> <value>, RESETSTAT"])


@command("time", 1, "loading stale fast", categories="@fast")
def time_(c, argv):
    t = time.time()
    s = int(t)
    return array([b"%d" % s, b"%d" % int((t - s) * 1e6)])


@command("lastsave", 1, "loading stale fast", categories="@admin @fast @dangerous")
def lastsave(c, argv):
    return integer(int(c.state.started))


@command("cpipe.fault", -2, "", categories="@slow")
def cpipe_fault(c, argv):
    return fault_command(c, argv)
