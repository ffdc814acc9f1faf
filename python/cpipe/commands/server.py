"""Server and connection commands (PING, INFO, CONFIG, CLIENT, ...).

There is deliberately no `select`: the database belongs to the connection,
and with pooled connections it is chosen once, by the client's `db` option.
"""
from __future__ import annotations

import datetime
from typing import Any, Optional

from ..errors import DataError
from .callbacks import (
    ok_to_bool,
    parse_client_list,
    parse_config_get,
    parse_info,
    parse_lastsave,
    parse_time,
    pong_to_bool,
    str_if_bytes,
)
from ._base import CommandsBase

from ._typing import EncodableT, KeyT, PatternT, Str


class ServerCommands(CommandsBase):
    __slots__ = ()

    def ping(self, **kwargs: Any) -> bool:
        return self._run(pong_to_bool, "PING")

    def echo(self, value: EncodableT, **kwargs: Any) -> Str:
        return self._run(None, "ECHO", value)

    def info(self, section: Optional[str] = None, *args: str, **kwargs: Any) -> dict[str, Any]:
        """INFO parsed to a dict; numbers become int/float, "a=1,b=2" a dict."""
        if section is None:
            return self._run(parse_info, "INFO")
        return self._run(parse_info, "INFO", section, *args)

    def time(self, **kwargs: Any) -> tuple[int, int]:
        """(seconds, microseconds) of the server clock."""
        return self._run(parse_time, "TIME")

    def dbsize(self, **kwargs: Any) -> int:
        return self._run(None, "DBSIZE")

    def flushdb(self, asynchronous: bool = False, **kwargs: Any) -> bool:
        if asynchronous:
            return self._run(ok_to_bool, "FLUSHDB", "ASYNC")
        return self._run(ok_to_bool, "FLUSHDB")

    def flushall(self, asynchronous: bool = False, **kwargs: Any) -> bool:
        if asynchronous:
            return self._run(ok_to_bool, "FLUSHALL", "ASYNC")
        return self._run(ok_to_bool, "FLUSHALL")

    def swapdb(self, first: int, second: int, **kwargs: Any) -> bool:
        return self._run(ok_to_bool, "SWAPDB", first, second)

    def lastsave(self, **kwargs: Any) -> Optional[datetime.datetime]:
        return self._run(parse_lastsave, "LASTSAVE")

    def client_setname(self, name: str, **kwargs: Any) -> bool:
        return self._run(ok_to_bool, "CLIENT", "SETNAME", name)

    def client_getname(self, **kwargs: Any) -> Optional[str]:
        """The connection name as str (decoded whatever decode_responses says)."""
        return self._run(str_if_bytes, "CLIENT", "GETNAME")

    def client_id(self, **kwargs: Any) -> int:
        return self._run(None, "CLIENT", "ID")

    def client_list(
        self, _type: Optional[str] = None, client_id: list[EncodableT] = [],  # noqa: B006
        **kwargs: Any,
    ) -> list[dict[str, str]]:
        args: list[Any] = ["CLIENT", "LIST"]
        if _type is not None:
            kinds = ("normal", "master", "replica", "pubsub")
            if str(_type).lower() not in kinds:
                raise DataError(f"CLIENT LIST _type must be one of {kinds!r}")
            args += ("TYPE", _type)
        if not isinstance(client_id, list):
            raise DataError("client_id must be a list")
        if client_id:
            args.append("ID")
            args += client_id
        return self._run(parse_client_list, *args)

    def config_get(self, pattern: PatternT = "*", *args: PatternT, **kwargs: Any) -> dict[Optional[str], Optional[str]]:
        return self._run(parse_config_get, "CONFIG", "GET", pattern, *args)

    def config_set(self, name: KeyT, value: EncodableT, *args: Any, **kwargs: Any) -> bool:
        return self._run(ok_to_bool, "CONFIG", "SET", name, value, *args)

    def config_resetstat(self, **kwargs: Any) -> bool:
        return self._run(ok_to_bool, "CONFIG", "RESETSTAT")

    def publish(self, channel: KeyT, message: EncodableT, **kwargs: Any) -> int:
        """Number of subscribers that received the message."""
        return self._run(None, "PUBLISH", channel, message)
