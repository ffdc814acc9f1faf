"""Hash commands (HSET, HGET, HGETALL, ...)."""
from __future__ import annotations

from typing import Any, Iterator, Mapping, Optional, Sequence, Union

from ..errors import DataError
from ._base import CommandsBase, list_or_args
from .callbacks import pairs_to_dict, parse_hscan, parse_hscan_novalues

from ._typing import EncodableT, FieldT, KeyT, OptStr, PatternT, Str

_bool = bool
_float = float


class HashCommands(CommandsBase):
    __slots__ = ()

    def hset(
        self,
        name: KeyT,
        key: Optional[FieldT] = None,
        value: Optional[EncodableT] = None,
        mapping: Optional[Mapping[Any, EncodableT]] = None,
        items: Optional[Sequence[EncodableT]] = None,
    ) -> int:
        """HSET; fields from `items` (flat), then key/value, then `mapping`."""
        if mapping is None and items is None and key is not None:
            return self._run(None, "HSET", name, key, value)
        if key is None and not mapping and not items:
            raise DataError("'hset' with no key value pairs")
        args: list[Any] = ["HSET", name]
        if items:
            args += items
        if key is not None:
            args += (key, value)
        if mapping:
            for pair in mapping.items():
                args += pair
        return self._run(None, *args)

    def hsetnx(self, name: KeyT, key: FieldT, value: EncodableT) -> int:
        return self._run(None, "HSETNX", name, key, value)

    def hmset(self, name: KeyT, mapping: Mapping[Any, EncodableT]) -> bool:
        """Deprecated in Redis; kept because redis-py code still calls it."""
        if not mapping:
            raise DataError("'hmset' with 'mapping' of length 0")
        args: list[Any] = ["HMSET", name]
        for pair in mapping.items():
            args += pair
        return self._run(_bool, *args)

    def hget(self, name: KeyT, key: FieldT) -> OptStr:
        return self._run(None, "HGET", name, key)

    def hmget(self, name: KeyT, keys: Union[FieldT, Sequence[FieldT]], *args: FieldT) -> list[OptStr]:
        return self._run(None, "HMGET", name, *list_or_args(keys, args))

    def hgetall(self, name: KeyT) -> dict[Any, Any]:
        return self._run(pairs_to_dict, "HGETALL", name)

    def hdel(self, name: KeyT, *keys: FieldT) -> int:
        return self._run(None, "HDEL", name, *keys)

    def hexists(self, name: KeyT, key: FieldT) -> bool:
        return self._run(_bool, "HEXISTS", name, key)

    def hincrby(self, name: KeyT, key: FieldT, amount: int = 1) -> int:
        return self._run(None, "HINCRBY", name, key, amount)

    def hincrbyfloat(self, name: KeyT, key: FieldT, amount: float = 1.0) -> float:
        return self._run(_float, "HINCRBYFLOAT", name, key, amount)

    def hkeys(self, name: KeyT) -> list[Str]:
        return self._run(None, "HKEYS", name)

    def hvals(self, name: KeyT) -> list[Str]:
        return self._run(None, "HVALS", name)

    def hlen(self, name: KeyT) -> int:
        return self._run(None, "HLEN", name)

    def hstrlen(self, name: KeyT, key: FieldT) -> int:
        return self._run(None, "HSTRLEN", name, key)

    def hrandfield(self, key: KeyT, count: Optional[int] = None, withvalues: bool = False) -> Any:
        args: list[Any] = ["HRANDFIELD", key]
        if count is not None:
            args.append(count)
        if withvalues:
            args.append("WITHVALUES")
        return self._run(None, *args)

    def hscan(
        self,
        name: KeyT,
        cursor: int = 0,
        match: Optional[PatternT] = None,
        count: Optional[int] = None,
        no_values: Optional[bool] = None,
    ) -> tuple[int, Any]:
        """(cursor, {field: value}) or, with no_values, (cursor, [field, ...])."""
        args: list[Any] = ["HSCAN", name, cursor]
        if match is not None:
            args += ("MATCH", match)
        if count is not None:
            args += ("COUNT", count)
        if no_values:
            # (redis-py also sends NOVALUES for no_values=False, then pairs up
            # a field-only reply; we treat False as "with values")
            args.append("NOVALUES")
            return self._run(parse_hscan_novalues, *args)
        return self._run(parse_hscan, *args)

    def hscan_iter(
        self,
        name: KeyT,
        match: Optional[PatternT] = None,
        count: Optional[int] = None,
        no_values: Optional[bool] = None,
    ) -> Iterator[Any]:
        """(field, value) pairs, or fields with no_values; client only."""
        cursor: Any = "0"
        while cursor != 0:
            cursor, data = self.hscan(name, cursor=cursor, match=match, count=count,
                                      no_values=no_values)
            if no_values:
                yield from data
            else:
                yield from data.items()
