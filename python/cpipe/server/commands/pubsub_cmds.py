"""Pub/sub commands: SUBSCRIBE UNSUBSCRIBE PSUBSCRIBE PUNSUBSCRIBE PUBLISH
SSUBSCRIBE SUNSUBSCRIBE SPUBLISH PUBSUB CHANNELS|NUMSUB|NUMPAT|SHARDCHANNELS|
SHARDNUMSUB. In RESP2 a subscribed connection may only (un)subscribe, PING,
QUIT or RESET (enforced in protocol.py); in RESP3 it may run anything, and
confirmations and messages are push frames (`>3`)."""
from __future__ import annotations

from ..pattern import match
from ..pubsub import subscription_reply
from ..resp import integer, array, bulk
from .table import COMMANDS, command, F_PUBSUB_OK

_PS = "pubsub noscript loading stale"


def _count(c) -> int:
    return len(c.channels) + len(c.patterns)


def _shard_count(c) -> int:
    return len(c.shard_channels)


@command("subscribe", -2, _PS, categories="@pubsub @slow", flags=F_PUBSUB_OK)
def subscribe(c, argv):
    ps = c.state.pubsub
    out = []
    for ch in argv[1:]:
        ps.subscribe(c, ch)
        out.append(subscription_reply(b"subscribe", ch, _count(c), c.resp))
    c.refresh()
    return b"".join(out)


@command("psubscribe", -2, _PS, categories="@pubsub @slow", flags=F_PUBSUB_OK)
def psubscribe(c, argv):
    ps = c.state.pubsub
    out = []
    for pat in argv[1:]:
        ps.psubscribe(c, pat)
        out.append(subscription_reply(b"psubscribe", pat, _count(c), c.resp))
    c.refresh()
    return b"".join(out)


def _unsubscribe(c, argv, kind: bytes, current, drop, count=_count) -> bytes:
    """UNSUBSCRIBE/PUNSUBSCRIBE/SUNSUBSCRIBE: the names given, or all
    current ones."""
    names = argv[1:] or list(current)
    if not names:
        return subscription_reply(kind, None, count(c), c.resp)
    out = []
    for name in names:
        drop(c, name)
        out.append(subscription_reply(kind, name, count(c), c.resp))
    c.refresh()
    return b"".join(out)


@command("unsubscribe", -1, _PS, categories="@pubsub @slow", flags=F_PUBSUB_OK)
def unsubscribe(c, argv):
    return _unsubscribe(c, argv, b"unsubscribe", c.channels, c.state.pubsub.unsubscribe)


@command("punsubscribe", -1, _PS, categories="@pubsub @slow", flags=F_PUBSUB_OK)
def punsubscribe(c, argv):
    return _unsubscribe(c, argv, b"punsubscribe", c.patterns, c.state.pubsub.punsubscribe)


@command("ssubscribe", -2, _PS, 1, -1, 1, categories="@pubsub @slow", flags=F_PUBSUB_OK)
def ssubscribe(c, argv):
    ps = c.state.pubsub
    out = []
    for ch in argv[1:]:
        ps.ssubscribe(c, ch)
        out.append(subscription_reply(b"ssubscribe", ch, _shard_count(c), c.resp))
    c.refresh()
    return b"".join(out)


@command("sunsubscribe", -1, _PS, 1, -1, 1, categories="@pubsub @slow", flags=F_PUBSUB_OK)
def sunsubscribe(c, argv):
    return _unsubscribe(c, argv, b"sunsubscribe", c.shard_channels,
                        c.state.pubsub.sunsubscribe, _shard_count)


@command("spublish", 3, "pubsub loading stale fast", 1, 1, 1, categories="@pubsub @fast")
def spublish(c, argv):
    return integer(c.state.pubsub.spublish(argv[1], argv[2]))


@command("publish", 3, "pubsub loading stale fast", categories="@pubsub @fast")
def publish(c, argv):
    return integer(c.state.pubsub.publish(argv[1], argv[2]))


@command("pubsub", -2, "", categories="@slow",
         subcommands={"channels": -2, "numsub": -2, "numpat": 2, "help": 2,
                      "shardchannels": -2, "shardnumsub": -2})
def pubsub(c, argv):
    COMMANDS[b"pubsub"].check(argv)
    sub = argv[1].lower()
    ps = c.state.pubsub
    if sub in (b"channels", b"shardchannels"):
        pat = argv[2] if len(argv) > 2 else None
        if len(argv) > 3:
            from ..resp import CommandError
            raise CommandError(b"ERR wrong number of arguments for 'pubsub|%s' command" % sub)
        table = ps.channels if sub == b"channels" else ps.shard_channels
        return array([ch for ch in table if pat is None or match(pat, ch)])
    if sub in (b"numsub", b"shardnumsub"):
        table = ps.channels if sub == b"numsub" else ps.shard_channels
        out = [b"*%d\r\n" % (2 * (len(argv) - 2))]
        for ch in argv[2:]:
            out.append(bulk(ch))
            out.append(integer(len(table.get(ch, ()))))
        return b"".join(out)
    if sub == b"numpat":
        return integer(len(ps.patterns))
    return array([b"PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                  b"CHANNELS [<pattern>]", b"NUMPAT", b"NUMSUB [<channel> ...]"])
