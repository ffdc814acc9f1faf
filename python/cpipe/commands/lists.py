"""List commands (LPUSH, LRANGE, BLPOP, ...)."""
from __future__ import annotations

from typing import Any, Optional, Union

from ._base import CommandsBase, list_or_args
from .callbacks import ok_to_bool, to_tuple_or_none

from ._typing import EncodableT, FieldT, KeysT, KeyT, OptStr, Str, TimeoutSecT


class ListCommands(CommandsBase):
    __slots__ = ()

    def lpush(self, name: KeyT, *values: FieldT) -> int:
        return self._run(None, "LPUSH", name, *values)

    def rpush(self, name: KeyT, *values: FieldT) -> int:
        return self._run(None, "RPUSH", name, *values)

    def lpushx(self, name: KeyT, *values: FieldT) -> int:
        return self._run(None, "LPUSHX", name, *values)

    def rpushx(self, name: KeyT, *values: FieldT) -> int:
        return self._run(None, "RPUSHX", name, *values)

    def lpop(self, name: KeyT, count: Optional[int] = None) -> Union[OptStr, list[Str]]:
        """One value (or None); with count, a list (or None if the key is missing)."""
        if count is None:
            return self._run(None, "LPOP", name)
        return self._run(None, "LPOP", name, count)

    def rpop(self, name: KeyT, count: Optional[int] = None) -> Union[OptStr, list[Str]]:
        if count is None:
            return self._run(None, "RPOP", name)
        return self._run(None, "RPOP", name, count)

    def lrange(self, name: KeyT, start: int, end: int) -> list[Str]:
        return self._run(None, "LRANGE", name, start, end)

    def llen(self, name: KeyT) -> int:
        return self._run(None, "LLEN", name)

    def lindex(self, name: KeyT, index: int) -> OptStr:
        return self._run(None, "LINDEX", name, index)

    def lset(self, name: KeyT, index: int, value: EncodableT) -> bool:
        return self._run(ok_to_bool, "LSET", name, index, value)

    def linsert(self, name: KeyT, where: str, refvalue: EncodableT, value: EncodableT) -> int:
        """where is "BEFORE" or "AFTER"; -1 if refvalue is absent."""
        return self._run(None, "LINSERT", name, where, refvalue, value)

    def lrem(self, name: KeyT, count: int, value: EncodableT) -> int:
        return self._run(None, "LREM", name, count, value)

    def ltrim(self, name: KeyT, start: int, end: int) -> bool:
        return self._run(ok_to_bool, "LTRIM", name, start, end)

    def lpos(
        self,
        name: KeyT,
        value: EncodableT,
        rank: Optional[int] = None,
        count: Optional[int] = None,
        maxlen: Optional[int] = None,
    ) -> Union[int, list[int], None]:
        args: list[Any] = ["LPOS", name, value]
        if rank is not None:
            args += ("RANK", rank)
        if count is not None:
            args += ("COUNT", count)
        if maxlen is not None:
            args += ("MAXLEN", maxlen)
        return self._run(None, *args)

    def lmove(self, first_list: KeyT, second_list: KeyT, src: str = "LEFT", dest: str = "RIGHT") -> OptStr:
        return self._run(None, "LMOVE", first_list, second_list, src, dest)

    def rpoplpush(self, src: KeyT, dst: KeyT) -> OptStr:
        return self._run(None, "RPOPLPUSH", src, dst)

    # Blocking pops: the reply may take up to `timeout` seconds (0 = forever),
    # so the client's socket timeout must allow for it.
    def blpop(self, keys: KeysT, timeout: Optional[TimeoutSecT] = 0) -> Optional[tuple[Str, Str]]:
        """(key, value) from the first non-empty list, or None on timeout."""
        args = list_or_args(keys)
        args.append(0 if timeout is None else timeout)
        return self._run(to_tuple_or_none, "BLPOP", *args)

    def brpop(self, keys: KeysT, timeout: Optional[TimeoutSecT] = 0) -> Optional[tuple[Str, Str]]:
        args = list_or_args(keys)
        args.append(0 if timeout is None else timeout)
        return self._run(to_tuple_or_none, "BRPOP", *args)

    def blmove(
        self, first_list: KeyT, second_list: KeyT, timeout: TimeoutSecT,
        src: str = "LEFT", dest: str = "RIGHT",
    ) -> OptStr:
        return self._run(None, "BLMOVE", first_list, second_list, src, dest, timeout)

    def brpoplpush(self, src: KeyT, dst: KeyT, timeout: Optional[TimeoutSecT] = 0) -> OptStr:
        return self._run(None, "BRPOPLPUSH", src, dst, 0 if timeout is None else timeout)
