"""String commands (GET, SET, INCR, ...)."""
from __future__ import annotations

import datetime
from typing import Any, Mapping, Optional, Union

from ..errors import DataError
from ._base import CommandsBase, expire_args, list_or_args, only_one
from .callbacks import ok_to_bool, parse_set

from ._typing import AbsExpiryT, EncodableT, ExpiryT, KeysT, KeyT, OptStr, Str

_bool = bool
_float = float


class StringCommands(CommandsBase):
    __slots__ = ()

    def get(self, name: KeyT) -> OptStr:
        return self._run(None, "GET", name)

    def set(
        self,
        name: KeyT,
        value: EncodableT,
        ex: Optional[ExpiryT] = None,
        px: Optional[ExpiryT] = None,
        nx: bool = False,
        xx: bool = False,
        keepttl: bool = False,
        get: bool = False,
        exat: Optional[AbsExpiryT] = None,
        pxat: Optional[AbsExpiryT] = None,
        ifeq: Optional[Union[bytes, str]] = None,
        ifne: Optional[Union[bytes, str]] = None,
        ifdeq: Optional[str] = None,
        ifdne: Optional[str] = None,
    ) -> Union[bool, None, bytes, str]:
        """SET; True on success, None when an NX/XX/IF* condition was not met,
        the old value (or None) with get=True."""
        # Plain SET is the hot path: a flat `and` chain (cheaper in CPython
        # than one chained `is` comparison), no list building.
        if (ex is None and px is None and not nx and not xx and not get and not keepttl
                and exat is None and pxat is None and ifeq is None and ifne is None
                and ifdeq is None and ifdne is None):
            return self._run(parse_set, "SET", name, value)
        # (bool + bool counts the options given, without building a tuple)
        if (ex is not None) + (px is not None) + (exat is not None) + (pxat is not None) + (not not keepttl) > 1:
            raise DataError("ex, px, exat, pxat and keepttl are mutually exclusive")
        if ((not not nx) + (not not xx) + (ifeq is not None) + (ifne is not None)
                + (ifdeq is not None) + (ifdne is not None) > 1):
            raise DataError("nx, xx, ifeq, ifne, ifdeq and ifdne are mutually exclusive")
        args: list[Any] = ["SET", name, value]
        if nx:
            args.append("NX")
        elif xx:
            args.append("XX")
        elif ifeq is not None:
            args += ("IFEQ", ifeq)
        elif ifne is not None:
            args += ("IFNE", ifne)
        elif ifdeq is not None:
            args += ("IFDEQ", ifdeq)
        elif ifdne is not None:
            args += ("IFDNE", ifdne)
        if get:
            args.append("GET")
        args += expire_args(ex, px, exat, pxat)
        if keepttl:
            args.append("KEEPTTL")
        return self._run(None if get else parse_set, *args)

    def mget(self, keys: KeysT, *args: KeyT) -> list[OptStr]:
        names = list_or_args(keys, args)
        if not names:
            # redis-py answers an empty MGET with [] without asking the server
            return []
        return self._run(None, "MGET", *names)

    def mset(self, mapping: Mapping[Any, EncodableT]) -> bool:
        args: list[Any] = ["MSET"]
        for pair in mapping.items():
            args += pair
        return self._run(ok_to_bool, *args)

    def msetnx(self, mapping: Mapping[Any, EncodableT]) -> bool:
        args: list[Any] = ["MSETNX"]
        for pair in mapping.items():
            args += pair
        return self._run(_bool, *args)

    def setnx(self, name: KeyT, value: EncodableT) -> bool:
        return self._run(_bool, "SETNX", name, value)

    def setex(self, name: KeyT, time: ExpiryT, value: EncodableT) -> bool:
        if isinstance(time, datetime.timedelta):
            time = int(time.total_seconds())
        return self._run(_bool, "SETEX", name, time, value)

    def psetex(self, name: KeyT, time_ms: ExpiryT, value: EncodableT) -> bool:
        if isinstance(time_ms, datetime.timedelta):
            time_ms = int(time_ms.total_seconds() * 1000)
        return self._run(_bool, "PSETEX", name, time_ms, value)

    def incrby(self, name: KeyT, amount: int = 1) -> int:
        return self._run(None, "INCRBY", name, amount)

    # INCRBY/DECRBY like redis-py, so both clients send the same bytes.
    incr = incrby

    def incrbyfloat(self, name: KeyT, amount: float = 1.0) -> float:
        return self._run(_float, "INCRBYFLOAT", name, amount)

    def decrby(self, name: KeyT, amount: int = 1) -> int:
        return self._run(None, "DECRBY", name, amount)

    decr = decrby

    def append(self, key: KeyT, value: EncodableT) -> int:
        return self._run(None, "APPEND", key, value)

    def strlen(self, name: KeyT) -> int:
        return self._run(None, "STRLEN", name)

    def getrange(self, key: KeyT, start: int, end: int) -> Str:
        return self._run(None, "GETRANGE", key, start, end)

    def setrange(self, name: KeyT, offset: int, value: EncodableT) -> int:
        return self._run(None, "SETRANGE", name, offset, value)

    def getdel(self, name: KeyT) -> OptStr:
        return self._run(None, "GETDEL", name)

    def getex(
        self,
        name: KeyT,
        ex: Optional[ExpiryT] = None,
        px: Optional[ExpiryT] = None,
        exat: Optional[AbsExpiryT] = None,
        pxat: Optional[AbsExpiryT] = None,
        persist: bool = False,
    ) -> OptStr:
        if not only_one(ex is not None, px is not None, exat is not None,
                        pxat is not None, persist):
            raise DataError("ex, px, exat, pxat and persist are mutually exclusive")
        args = expire_args(ex, px, exat, pxat)
        if persist:
            args.append("PERSIST")
        return self._run(None, "GETEX", name, *args)

    def getset(self, name: KeyT, value: EncodableT) -> OptStr:
        return self._run(None, "GETSET", name, value)

    def getbit(self, name: KeyT, offset: int) -> int:
        return self._run(None, "GETBIT", name, offset)

    def setbit(self, name: KeyT, offset: int, value: int) -> int:
        return self._run(None, "SETBIT", name, offset, 1 if value else 0)

    def bitcount(
        self,
        key: KeyT,
        start: Optional[int] = None,
        end: Optional[int] = None,
        mode: Optional[str] = None,
    ) -> int:
        args: list[Any] = ["BITCOUNT", key]
        if start is not None and end is not None:
            args += (start, end)
        elif start is not None or end is not None:
            raise DataError("bitcount needs both start and end, or neither")
        if mode is not None:
            args.append(mode)
        return self._run(None, *args)

    def lcs(
        self,
        key1: KeyT,
        key2: KeyT,
        len: Optional[bool] = False,  # noqa: A002 - redis-py's name
        idx: Optional[bool] = False,
        minmatchlen: Optional[int] = 0,
        withmatchlen: Optional[bool] = False,
    ) -> Any:
        args: list[Any] = ["LCS", key1, key2]
        if len:
            args.append("LEN")
        if idx:
            args.append("IDX")
        if minmatchlen:
            args += ("MINMATCHLEN", minmatchlen)
        if withmatchlen:
            args.append("WITHMATCHLEN")
        return self._run(None, *args)

    # Mapping-style access, as on redis.Redis.
    def __getitem__(self, name: KeyT) -> Str:
        value = self.get(name)
        if value is not None:
            return value
        raise KeyError(name)

    def __setitem__(self, name: KeyT, value: EncodableT) -> None:
        self.set(name, value)
