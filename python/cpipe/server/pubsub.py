"""Pub/sub registry shared by all connections (seed 000's PubSub class,
grown up): channel/pattern -> subscribed clients, in subscription order.

Messages are encoded once per PUBLISH and the same bytes are pushed to
every receiver; each receiver's output limit and faults apply (client.push).
"""
from __future__ import annotations

from .pattern import match

_MESSAGE = b"*3\r\n$7\r\nmessage\r\n"
_PMESSAGE = b"*4\r\n$8\r\npmessage\r\n"


def _bulk(b: bytes) -> bytes:
    return b"$%d\r\n%s\r\n" % (len(b), b)


def subscription_reply(kind: bytes, name, count: int) -> bytes:
    head = b"*3\r\n$%d\r\n%s\r\n" % (len(kind), kind)
    body = b"$-1\r\n" if name is None else _bulk(name)
    return head + body + b":%d\r\n" % count


class PubSub:
    def __init__(self):
        self.channels = {}  # channel -> {client: None}
        self.patterns = {}  # pattern -> {client: None}

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

    def drop_client(self, client) -> None:
        for ch in list(client.channels):
            self.unsubscribe(client, ch)
        for pat in list(client.patterns):
            self.punsubscribe(client, pat)

    def publish(self, channel: bytes, message: bytes) -> int:
        n = 0
        subs = self.channels.get(channel)
        if subs:
            data = _MESSAGE + _bulk(channel) + _bulk(message)
            for c in list(subs):
                c.push(data)
                n += 1
        if self.patterns:
            tail = _bulk(channel) + _bulk(message)
            for pat, subs in list(self.patterns.items()):
                if match(pat, channel):
                    data = _PMESSAGE + _bulk(pat) + tail
                    for c in list(subs):
                        c.push(data)
                        n += 1
        return n
