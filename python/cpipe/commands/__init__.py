"""redis-py-compatible command methods, as mixins over one primitive.

A client class inherits `CoreCommands` and provides::

    def _run(self, callback, *args):
        # args[0] is the command name (str); multi-word commands arrive split
        # ("CLIENT", "SETNAME", name). On a client return callback(reply)
        # (reply itself when callback is None); on a pipeline queue
        # (args, callback) and return the pipeline. Error replies raise
        # cpipe.ResponseError and never reach the callback.

Method names, arguments and return values are those of redis-py 8's
`redis.Redis` with RESP2 ("legacy") reply shapes. `RESPONSE_CALLBACKS` maps
upper-case command names to `callback(reply, **options)` for a generic
`execute_command`, as redis-py's `response_callbacks` does.
"""
from __future__ import annotations

from .callbacks import RESPONSE_CALLBACKS
from .hashes import HashCommands
from .keys import KeyCommands
from .lists import ListCommands
from .server import ServerCommands
from .sets import SetCommands
from .sorted_sets import SortedSetCommands
from .strings import StringCommands


class CoreCommands(
    StringCommands,
    KeyCommands,
    HashCommands,
    ListCommands,
    SetCommands,
    SortedSetCommands,
    ServerCommands,
):
    """Every command mixin; the client class provides `_run`."""

    __slots__ = ()


__all__ = [
    "CoreCommands",
    "RESPONSE_CALLBACKS",
    "StringCommands",
    "KeyCommands",
    "HashCommands",
    "ListCommands",
    "SetCommands",
    "SortedSetCommands",
    "ServerCommands",
]
