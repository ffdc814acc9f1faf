"""Generic key commands (DEL, EXISTS, EXPIRE, SCAN, ...)."""
from __future__ import annotations

import datetime
from typing import Any, Iterator, Optional

from ._base import CommandsBase, expire_flags
from .callbacks import ok_to_bool, parse_scan

from ._typing import AbsExpiryT, ExpiryT, KeyT, OptStr, PatternT, ScanResponse, Str

_bool = bool


class KeyCommands(CommandsBase):
    __slots__ = ()

    def delete(self, *names: KeyT) -> int:
        return self._run(None, "DEL", *names)

    def __delitem__(self, name: KeyT) -> None:
        self.delete(name)

    def exists(self, *names: KeyT) -> int:
        return self._run(None, "EXISTS", *names)

    __contains__ = exists

    def unlink(self, *names: KeyT) -> int:
        return self._run(None, "UNLINK", *names)

    def touch(self, *args: KeyT) -> int:
        return self._run(None, "TOUCH", *args)

    def expire(
        self, name: KeyT, time: ExpiryT,
        nx: bool = False, xx: bool = False, gt: bool = False, lt: bool = False,
    ) -> bool:
        if isinstance(time, datetime.timedelta):
            time = int(time.total_seconds())
        if nx or xx or gt or lt:
            return self._run(_bool, "EXPIRE", name, time, *expire_flags(nx, xx, gt, lt))
        return self._run(_bool, "EXPIRE", name, time)

    def pexpire(
        self, name: KeyT, time: ExpiryT,
        nx: bool = False, xx: bool = False, gt: bool = False, lt: bool = False,
    ) -> bool:
        if isinstance(time, datetime.timedelta):
            time = int(time.total_seconds() * 1000)
        return self._run(_bool, "PEXPIRE", name, time, *expire_flags(nx, xx, gt, lt))

    def expireat(
        self, name: KeyT, when: AbsExpiryT,
        nx: bool = False, xx: bool = False, gt: bool = False, lt: bool = False,
    ) -> bool:
        if isinstance(when, datetime.datetime):
            when = int(when.timestamp())
        return self._run(_bool, "EXPIREAT", name, when, *expire_flags(nx, xx, gt, lt))

    def pexpireat(
        self, name: KeyT, when: AbsExpiryT,
        nx: bool = False, xx: bool = False, gt: bool = False, lt: bool = False,
    ) -> bool:
        if isinstance(when, datetime.datetime):
            when = int(when.timestamp() * 1000)
        return self._run(_bool, "PEXPIREAT", name, when, *expire_flags(nx, xx, gt, lt))

    def expiretime(self, key: KeyT) -> int:
        return self._run(None, "EXPIRETIME", key)

    def pexpiretime(self, key: KeyT) -> int:
        return self._run(None, "PEXPIRETIME", key)

    def ttl(self, name: KeyT) -> int:
        return self._run(None, "TTL", name)

    def pttl(self, name: KeyT) -> int:
        return self._run(None, "PTTL", name)

    def persist(self, name: KeyT) -> bool:
        return self._run(_bool, "PERSIST", name)

    def type(self, name: KeyT) -> Str:
        return self._run(None, "TYPE", name)

    def rename(self, src: KeyT, dst: KeyT) -> bool:
        return self._run(ok_to_bool, "RENAME", src, dst)

    def renamenx(self, src: KeyT, dst: KeyT) -> bool:
        return self._run(_bool, "RENAMENX", src, dst)

    def copy(
        self, source: KeyT, destination: KeyT,
        destination_db: Optional[int] = None, replace: bool = False,
    ) -> bool:
        args: list[Any] = ["COPY", source, destination]
        if destination_db is not None:
            args += ("DB", destination_db)
        if replace:
            args.append("REPLACE")
        return self._run(_bool, *args)

    def move(self, name: KeyT, db: int) -> bool:
        return self._run(_bool, "MOVE", name, db)

    def keys(self, pattern: PatternT = "*", **kwargs: Any) -> list[Str]:
        return self._run(None, "KEYS", pattern)

    def randomkey(self, **kwargs: Any) -> OptStr:
        return self._run(None, "RANDOMKEY")

    def scan(
        self,
        cursor: int = 0,
        match: Optional[PatternT] = None,
        count: Optional[int] = None,
        _type: Optional[str] = None,
        **kwargs: Any,
    ) -> ScanResponse:
        args: list[Any] = ["SCAN", cursor]
        if match is not None:
            args += ("MATCH", match)
        if count is not None:
            args += ("COUNT", count)
        if _type is not None:
            args += ("TYPE", _type)
        return self._run(parse_scan, *args)

    def scan_iter(
        self,
        match: Optional[PatternT] = None,
        count: Optional[int] = None,
        _type: Optional[str] = None,
        **kwargs: Any,
    ) -> Iterator[Str]:
        """Every key SCAN returns (a key may come more than once); client only."""
        cursor: Any = "0"
        while cursor != 0:
            cursor, data = self.scan(cursor=cursor, match=match, count=count, _type=_type)
            yield from data
