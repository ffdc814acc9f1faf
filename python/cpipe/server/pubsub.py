"""Pub/sub registry shared by all connections (seed 000's PubSub class,
grown up): channel/pattern -> subscribed clients, in subscription order.

Messages are encoded once per PUBLISH and protocol (RESP2 `*3`, RESP3
push `>3`) and the same bytes are pushed to every receiver of that
protocol; each receiver's output limit and faults apply (client.push).
Shard channels (SSUBSCRIBE/SPUBLISH) are a namespace of their own, as in a
standalone Redis 7.0.
"""
from __future__ import annotations

from .pattern import match

_MESSAGE = (None, None, b"*3\r\n$7\r\nmessage\r\n", b">3\r\n$7\r\nmessage\r\n")
_PMESSAGE = (None, None, b"*4\r\n$8\r\npmessage\r\n", b">4\r\n$8\r\npmessage\r\n")
_SMESSAGE = (None, None, b"*3\r\n$8\r\nsmessage\r\n", b">3\r\n$8\r\nsmessage\r\n")


def _bulk(b: bytes) -> bytes:
    return b"$%d\r\n%s\r\n" % (len(b), b)


def subscription_reply(kind: bytes, name, count: int, resp: int = 2) -> bytes:
    head = b"%s3\r\n$%d\r\n%s\r\n" % (b"*" if resp == 2 else b">", len(kind), kind)
    if name is None:
        body = b"$-1\r\n" if resp == 2 else b"_\r\n"
    else:
        body = _bulk(name)
    return head + body + b":%d\r\n" % count


def _deliver(subs, head, tail) -> int:
    """Push head[resp] + tail to every subscriber; returns how many."""
    by_proto = {}
    n = 0
    for c in list(subs):
        data = by_proto.get(c.resp)
        if data is None:
            data = by_proto[c.resp] = head[c.resp] + tail
        c.push(data)
        n += 1
    return n


class PubSub:
    def __init__(self):
        self.channels = {}  # channel -> {client: None}
        self.patterns = {}  # pattern -> {client: None}
        self.shard_channels = {}  # shard channel -> {client: None}

    def subscribe(self, client, channel: bytes) -> bool:
        if channel in client.channels:
            return False
        client.channels[channel] = None
        self.channels.setdefault(channel, {})[client] = None
        return True

    def unsubscribe(self, client, channel: bytes) -> bool:
        if client.channels.pop(channel, 0) is not None:
            return False
        subs = self.channels.get(channel)
        if subs is not None:
            subs.pop(client, None)
            if not subs:
                del self.channels[channel]
        return True

    def psubscribe(self, client, pattern: bytes) -> bool:
        if pattern in client.patterns:
            return False
        client.patterns[pattern] = None
        self.patterns.setdefault(pattern, {})[client] = None
        return True

    def punsubscribe(self, client, pattern: bytes) -> bool:
        if client.patterns.pop(pattern, 0) is not None:
            return False
        subs = self.patterns.get(pattern)
        if subs is not None:
            subs.pop(client, None)
            if not subs:
                del self.patterns[pattern]
        return True

    def ssubscribe(self, client, channel: bytes) -> bool:
        if channel in client.shard_channels:
            return False
        client.shard_channels[channel] = None
        self.shard_channels.setdefault(channel, {})[client] = None
        return True

    def sunsubscribe(self, client, channel: bytes) -> bool:
        if client.shard_channels.pop(channel, 0) is not None:
            return False
        subs = self.shard_channels.get(channel)
        if subs is not None:
            subs.pop(client, None)
            if not subs:
                del self.shard_channels[channel]
        return True

    def drop_client(self, client) -> None:
        for ch in list(client.channels):
            self.unsubscribe(client, ch)
        for pat in list(client.patterns):
            self.punsubscribe(client, pat)
        for ch in list(client.shard_channels):
            self.sunsubscribe(client, ch)

    def publish(self, channel: bytes, message: bytes) -> int:
        n = 0
        subs = self.channels.get(channel)
        if subs:
            n += _deliver(subs, _MESSAGE, _bulk(channel) + _bulk(message))
        if self.patterns:
            tail = _bulk(channel) + _bulk(message)
            for pat, subs in list(self.patterns.items()):
                if match(pat, channel):
                    n += _deliver(subs, _PMESSAGE, _bulk(pat) + tail)
        return n

    def spublish(self, channel: bytes, message: bytes) -> int:
        subs = self.shard_channels.get(channel)
        if not subs:
            return 0
        return _deliver(subs, _SMESSAGE, _bulk(channel) + _bulk(message))
