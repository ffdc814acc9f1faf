"""Set commands (SADD, SMEMBERS, SINTER, ...)."""
from __future__ import annotations

from typing import Any, Iterator, Optional, Union

from ._base import CommandsBase, list_or_args
from .callbacks import parse_scan, to_set

from ._typing import EncodableT, FieldT, KeysT, KeyT, OptStr, PatternT, ScanResponse, Str

_bool = bool


class SetCommands(CommandsBase):
    __slots__ = ()

    def sadd(self, name: KeyT, *values: FieldT) -> int:
        return self._run(None, "SADD", name, *values)

    def srem(self, name: KeyT, *values: FieldT) -> int:
        return self._run(None, "SREM", name, *values)

    def smembers(self, name: KeyT) -> set[Any]:
        return self._run(to_set, "SMEMBERS", name)

    def sismember(self, name: KeyT, value: EncodableT) -> int:
        """1 or 0 (an int, as redis-py returns, not a bool)."""
        return self._run(None, "SISMEMBER", name, value)

    def smismember(self, name: KeyT, values: Any, *args: EncodableT) -> list[int]:
        return self._run(None, "SMISMEMBER", name, *list_or_args(values, args))

    def scard(self, name: KeyT) -> int:
        return self._run(None, "SCARD", name)

    def spop(self, name: KeyT, count: Optional[int] = None) -> Union[OptStr, list[Str]]:
        """One member (or None); with count, a list."""
        if count is None:
            return self._run(None, "SPOP", name)
        return self._run(None, "SPOP", name, count)

    def srandmember(self, name: KeyT, number: Optional[int] = None) -> Union[OptStr, list[Str]]:
        if number is None:
            return self._run(None, "SRANDMEMBER", name)
        return self._run(None, "SRANDMEMBER", name, number)

    def smove(self, src: KeyT, dst: KeyT, value: EncodableT) -> bool:
        return self._run(_bool, "SMOVE", src, dst, value)

    def sinter(self, keys: KeysT, *args: KeyT) -> set[Any]:
        return self._run(to_set, "SINTER", *list_or_args(keys, args))

    def sunion(self, keys: KeysT, *args: KeyT) -> set[Any]:
        return self._run(to_set, "SUNION", *list_or_args(keys, args))

    def sdiff(self, keys: KeysT, *args: KeyT) -> set[Any]:
        return self._run(to_set, "SDIFF", *list_or_args(keys, args))

    def sinterstore(self, dest: KeyT, keys: KeysT, *args: KeyT) -> int:
        return self._run(None, "SINTERSTORE", dest, *list_or_args(keys, args))

    def sunionstore(self, dest: KeyT, keys: KeysT, *args: KeyT) -> int:
        return self._run(None, "SUNIONSTORE", dest, *list_or_args(keys, args))

    def sdiffstore(self, dest: KeyT, keys: KeysT, *args: KeyT) -> int:
        return self._run(None, "SDIFFSTORE", dest, *list_or_args(keys, args))

    def sintercard(self, numkeys: int, keys: list[KeyT], limit: int = 0) -> int:
        return self._run(None, "SINTERCARD", numkeys, *keys, "LIMIT", limit)

    def sscan(
        self,
        name: KeyT,
        cursor: int = 0,
        match: Optional[PatternT] = None,
        count: Optional[int] = None,
    ) -> ScanResponse:
        args: list[Any] = ["SSCAN", name, cursor]
        if match is not None:
            args += ("MATCH", match)
        if count is not None:
            args += ("COUNT", count)
        return self._run(parse_scan, *args)

    def sscan_iter(
        self,
        name: KeyT,
        match: Optional[PatternT] = None,
        count: Optional[int] = None,
    ) -> Iterator[Str]:
        """Every member SSCAN returns; client only."""
        cursor: Any = "0"
        while cursor != 0:
            cursor, data = self.sscan(name, cursor=cursor, match=match, count=count)
            yield from data
