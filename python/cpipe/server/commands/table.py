"""Command registry: every handler is registered here with its arity and
flags, and the connection dispatches through `DISPATCH`.

A handler is `func(client, argv) -> bytes` returning the encoded reply, or
raising CommandError. Arity follows Redis: n > 0 means exactly n arguments
(command name included), n < 0 means at least -n.
"""
from __future__ import annotations

from ..resp import CommandError

# Behaviour flags the connection checks (bit set).
F_WRITE = 1 << 0
F_READONLY = 1 << 1
F_NO_AUTH = 1 << 2  # allowed before AUTH
F_PUBSUB_OK = 1 << 3  # allowed in RESP2 subscribed mode
F_NOT_QUEUED = 1 << 4  # runs immediately inside MULTI (EXEC, DISCARD, ...)
F_BLOCKING = 1 << 5
F_CONTAINER = 1 << 6  # has subcommands; `check` validates them

_WIRE_FLAG_BITS = {"write": F_WRITE, "readonly": F_READONLY, "no_auth": F_NO_AUTH,
                   "blocking": F_BLOCKING}


class Command:
    __slots__ = ("name", "func", "arity", "flags", "wire_flags", "first", "last",
                 "step", "categories", "subcommands", "entry")

    def __init__(self, name, func, arity, wire_flags, first, last, step, categories, flags):
        self.name = name  # lowercase bytes
        self.func = func
        self.arity = arity
        self.wire_flags = wire_flags.split()
        self.first, self.last, self.step = first, last, step
        self.categories = categories.split()
        self.subcommands = None  # {lower name: arity} for containers
        bits = flags
        for f in self.wire_flags:
            bits |= _WIRE_FLAG_BITS.get(f, 0)
        self.flags = bits
        self.entry = (func, arity, bits, self)

    def check(self, argv) -> None:
        """Validate a container's subcommand name and arity (as Redis does
        before queueing in MULTI)."""
        if self.subcommands is None:
            return
        sub = argv[1].lower()
        arity = self.subcommands.get(sub)
        if arity is None:
            raise CommandError(b"ERR unknown subcommand '%s'. Try %s HELP."
                               % (argv[1][:128], self.name.upper()))
        n = len(argv)
        if not (n == arity or (arity < 0 and n >= -arity)):
            raise CommandError(b"ERR wrong number of arguments for '%s|%s' command"
                               % (self.name, sub))


#: lowercase name -> Command
COMMANDS: dict = {}
#: name as sent (lower and upper case pre-filled) -> (func, arity, flags, Command)
DISPATCH: dict = {}


def command(name: str, arity: int, wire_flags: str = "", first: int = 0, last: int = 0,
            step: int = 0, categories: str = "", flags: int = 0, subcommands: dict | None = None):
    def register(func):
        cmd = Command(name.lower().encode(), func, arity, wire_flags, first, last, step,
                      categories, flags)
        if subcommands is not None:
            cmd.subcommands = {k.lower().encode(): v for k, v in subcommands.items()}
            cmd.flags |= F_CONTAINER
            cmd.entry = (func, arity, cmd.flags, cmd)
        COMMANDS[cmd.name] = cmd
        DISPATCH[cmd.name] = cmd.entry
        DISPATCH[cmd.name.upper()] = cmd.entry
        return func
    return register


def unknown_command_error(argv) -> bytes:
    """Redis 7.0 wording, including the trailing space after each arg."""
    args = b""
    for a in argv[1:]:
        if len(args) >= 128:
            break
        args += b"'%s' " % a[:128 - len(args)]
    return b"ERR unknown command '%s', with args beginning with: %s" % (argv[0][:128], args)


def arity_error(name: bytes) -> CommandError:
    return CommandError(b"ERR wrong number of arguments for '%s' command" % name)
