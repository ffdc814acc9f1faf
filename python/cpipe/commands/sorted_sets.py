"""Sorted-set commands (ZADD, ZRANGE, ZSCORE, ...).

Scores come back from RESP2 as text; like redis-py they are converted with
`score_cast_func` (float by default) wherever redis-py converts them.
"""
from __future__ import annotations

from typing import Any, Callable, Iterator, Mapping, Optional, Sequence, Union

from ..errors import DataError
from ._base import CommandsBase, list_or_args
from .callbacks import (
    float_or_none,
    make_rank_with_score,
    make_score_pairs,
    make_zscan,
    parse_bzpop,
    parse_zmscore,
    score_pairs,
)

from ._typing import (
    EncodableT,
    FieldT,
    KeysT,
    KeyT,
    PatternT,
    ScoreCastT,
    Str,
    TimeoutSecT,
    ZRangeResponse,
    ZScoreBoundT,
)


def _pairs_callback(withscores: bool, score_cast_func: ScoreCastT) -> Optional[Callable[[Any], Any]]:
    if not withscores:
        return None
    if score_cast_func is float:
        return score_pairs
    return make_score_pairs(score_cast_func)


def _check_limit(offset: Any, num: Any, first: str) -> None:
    if (offset is None) != (num is None):
        raise DataError(f"``{first}`` and ``num`` must both be specified")


class SortedSetCommands(CommandsBase):
    __slots__ = ()

    def zadd(
        self,
        name: KeyT,
        mapping: Mapping[Any, EncodableT],
        nx: bool = False,
        xx: bool = False,
        ch: bool = False,
        incr: bool = False,
        gt: bool = False,
        lt: bool = False,
    ) -> Union[int, float, None]:
        """Number of members added (changed, with ch); with incr, the new
        score, or None if nx/xx/gt/lt stopped the update."""
        if not mapping:
            raise DataError("ZADD requires at least one element/score pair")
        if nx and xx:
            raise DataError("ZADD allows either 'nx' or 'xx', not both")
        if gt and lt:
            raise DataError("ZADD allows either 'gt' or 'lt', not both")
        if incr and len(mapping) != 1:
            raise DataError("ZADD option 'incr' only works with a single element/score pair")
        if nx and (gt or lt):
            raise DataError("Only one of 'nx', 'lt', or 'gt' may be defined")
        args: list[Any] = ["ZADD", name]
        if nx:
            args.append("NX")
        if xx:
            args.append("XX")
        if ch:
            args.append("CH")
        if incr:
            args.append("INCR")
        if gt:
            args.append("GT")
        if lt:
            args.append("LT")
        for member, score in mapping.items():
            args += (score, member)
        return self._run(float_or_none if incr else None, *args)

    def zrem(self, name: KeyT, *values: FieldT) -> int:
        return self._run(None, "ZREM", name, *values)

    def zscore(self, name: KeyT, value: EncodableT) -> Optional[float]:
        return self._run(float_or_none, "ZSCORE", name, value)

    def zmscore(self, key: KeyT, members: Sequence[EncodableT]) -> list[Optional[float]]:
        if not members:
            raise DataError("ZMSCORE members must be a non-empty list")
        return self._run(parse_zmscore, "ZMSCORE", key, *members)

    def zincrby(self, name: KeyT, amount: float, value: EncodableT) -> Optional[float]:
        return self._run(float_or_none, "ZINCRBY", name, amount, value)

    def zcard(self, name: KeyT) -> int:
        return self._run(None, "ZCARD", name)

    def zcount(self, name: KeyT, min: ZScoreBoundT, max: ZScoreBoundT) -> int:
        return self._run(None, "ZCOUNT", name, min, max)

    def zlexcount(self, name: KeyT, min: EncodableT, max: EncodableT) -> int:
        return self._run(None, "ZLEXCOUNT", name, min, max)

    def zrank(
        self, name: KeyT, value: EncodableT,
        withscore: bool = False, score_cast_func: ScoreCastT = float,
    ) -> Union[int, list[Any], None]:
        if withscore:
            return self._run(make_rank_with_score(score_cast_func), "ZRANK", name, value, "WITHSCORE")
        return self._run(None, "ZRANK", name, value)

    def zrevrank(
        self, name: KeyT, value: EncodableT,
        withscore: bool = False, score_cast_func: ScoreCastT = float,
    ) -> Union[int, list[Any], None]:
        if withscore:
            return self._run(make_rank_with_score(score_cast_func), "ZREVRANK", name, value, "WITHSCORE")
        return self._run(None, "ZREVRANK", name, value)

    def _zrange_args(
        self, command: str, dest: Optional[KeyT], name: KeyT, start: Any, end: Any,
        desc: bool, byscore: bool, bylex: bool, withscores: bool,
        offset: Optional[int], num: Optional[int],
    ) -> list[Any]:
        if byscore and bylex:
            raise DataError("``byscore`` and ``bylex`` can not be specified together.")
        _check_limit(offset, num, "offset")
        if bylex and withscores:
            raise DataError("``withscores`` not supported in combination with ``bylex``.")
        args: list[Any] = [command]
        if dest:
            args.append(dest)
        args += (name, start, end)
        if byscore:
            args.append("BYSCORE")
        if bylex:
            args.append("BYLEX")
        if desc:
            args.append("REV")
        if offset is not None:
            args += ("LIMIT", offset, num)
        if withscores:
            args.append("WITHSCORES")
        return args

    def zrange(
        self,
        name: KeyT,
        start: EncodableT,
        end: EncodableT,
        desc: bool = False,
        withscores: bool = False,
        score_cast_func: ScoreCastT = float,
        byscore: bool = False,
        bylex: bool = False,
        offset: Optional[int] = None,
        num: Optional[int] = None,
    ) -> ZRangeResponse:
        """Members, or (member, score) tuples with withscores."""
        if not (byscore or bylex or desc) and offset is None and num is None:
            if withscores:
                return self._run(_pairs_callback(True, score_cast_func),
                                 "ZRANGE", name, start, end, "WITHSCORES")
            return self._run(None, "ZRANGE", name, start, end)
        if desc and not byscore and not bylex and offset is None and num is None:
            # plain rank range in reverse: redis-py sends ZREVRANGE here
            return self.zrevrange(name, start, end, withscores, score_cast_func)  # type: ignore[arg-type]
        args = self._zrange_args("ZRANGE", None, name, start, end, desc, byscore,
                                 bylex, withscores, offset, num)
        return self._run(_pairs_callback(withscores, score_cast_func), *args)

    def zrangestore(
        self,
        dest: KeyT,
        name: KeyT,
        start: EncodableT,
        end: EncodableT,
        byscore: bool = False,
        bylex: bool = False,
        desc: bool = False,
        offset: Optional[int] = None,
        num: Optional[int] = None,
    ) -> int:
        args = self._zrange_args("ZRANGESTORE", dest, name, start, end, desc, byscore,
                                 bylex, False, offset, num)
        return self._run(None, *args)

    def zrevrange(
        self,
        name: KeyT,
        start: int,
        end: int,
        withscores: bool = False,
        score_cast_func: ScoreCastT = float,
    ) -> ZRangeResponse:
        if withscores:
            return self._run(_pairs_callback(True, score_cast_func),
                             "ZREVRANGE", name, start, end, "WITHSCORES")
        return self._run(None, "ZREVRANGE", name, start, end)

    def zrangebyscore(
        self,
        name: KeyT,
        min: ZScoreBoundT,
        max: ZScoreBoundT,
        start: Optional[int] = None,
        num: Optional[int] = None,
        withscores: bool = False,
        score_cast_func: ScoreCastT = float,
    ) -> ZRangeResponse:
        return self._range_by_score("ZRANGEBYSCORE", name, min, max, start, num, withscores, score_cast_func)

    def zrevrangebyscore(
        self,
        name: KeyT,
        max: ZScoreBoundT,
        min: ZScoreBoundT,
        start: Optional[int] = None,
        num: Optional[int] = None,
        withscores: bool = False,
        score_cast_func: ScoreCastT = float,
    ) -> ZRangeResponse:
        return self._range_by_score("ZREVRANGEBYSCORE", name, max, min, start, num, withscores, score_cast_func)

    def _range_by_score(self, command: str, name: KeyT, first: ZScoreBoundT, second: ZScoreBoundT,
                        start: Optional[int], num: Optional[int], withscores: bool,
                        score_cast_func: ScoreCastT) -> ZRangeResponse:
        _check_limit(start, num, "start")
        args: list[Any] = [command, name, first, second]
        if start is not None:
            args += ("LIMIT", start, num)
        if withscores:
            args.append("WITHSCORES")
        return self._run(_pairs_callback(withscores, score_cast_func), *args)

    def zrangebylex(
        self, name: KeyT, min: EncodableT, max: EncodableT,
        start: Optional[int] = None, num: Optional[int] = None,
    ) -> list[Str]:
        _check_limit(start, num, "start")
        args: list[Any] = ["ZRANGEBYLEX", name, min, max]
        if start is not None:
            args += ("LIMIT", start, num)
        return self._run(None, *args)

    def zrevrangebylex(
        self, name: KeyT, max: EncodableT, min: EncodableT,
        start: Optional[int] = None, num: Optional[int] = None,
    ) -> list[Str]:
        _check_limit(start, num, "start")
        args: list[Any] = ["ZREVRANGEBYLEX", name, max, min]
        if start is not None:
            args += ("LIMIT", start, num)
        return self._run(None, *args)

    def zremrangebyrank(self, name: KeyT, min: int, max: int) -> int:
        return self._run(None, "ZREMRANGEBYRANK", name, min, max)

    def zremrangebyscore(self, name: KeyT, min: ZScoreBoundT, max: ZScoreBoundT) -> int:
        return self._run(None, "ZREMRANGEBYSCORE", name, min, max)

    def zremrangebylex(self, name: KeyT, min: EncodableT, max: EncodableT) -> int:
        return self._run(None, "ZREMRANGEBYLEX", name, min, max)

    def zpopmin(self, name: KeyT, count: Optional[int] = None) -> list[tuple[Str, float]]:
        if count is None:
            return self._run(score_pairs, "ZPOPMIN", name)
        return self._run(score_pairs, "ZPOPMIN", name, count)

    def zpopmax(self, name: KeyT, count: Optional[int] = None) -> list[tuple[Str, float]]:
        if count is None:
            return self._run(score_pairs, "ZPOPMAX", name)
        return self._run(score_pairs, "ZPOPMAX", name, count)

    def bzpopmin(self, keys: KeysT, timeout: Optional[TimeoutSecT] = 0) -> Optional[tuple[Str, Str, float]]:
        """(key, member, score) or None on timeout."""
        args = list_or_args(keys)
        args.append(0 if timeout is None else timeout)
        return self._run(parse_bzpop, "BZPOPMIN", *args)

    def bzpopmax(self, keys: KeysT, timeout: Optional[TimeoutSecT] = 0) -> Optional[tuple[Str, Str, float]]:
        args = list_or_args(keys)
        args.append(0 if timeout is None else timeout)
        return self._run(parse_bzpop, "BZPOPMAX", *args)

    def zrandmember(self, key: KeyT, count: Optional[int] = None, withscores: bool = False) -> Any:
        """As redis-py on RESP2: with scores, a flat [member, score, ...] list."""
        args: list[Any] = ["ZRANDMEMBER", key]
        if count is not None:
            args.append(count)
        if withscores:
            args.append("WITHSCORES")
        return self._run(None, *args)

    def _zaggregate(
        self, command: str, dest: Optional[KeyT],
        keys: Union[Sequence[KeyT], Mapping[Any, float]],
        aggregate: Optional[str], withscores: bool = False,
        score_cast_func: ScoreCastT = float,
    ) -> Any:
        args: list[Any] = [command]
        if dest is not None:
            args.append(dest)
        args.append(len(keys))
        if isinstance(keys, dict):
            args += keys.keys()
            weights = list(keys.values())
        else:
            args += keys
            weights = None
        if weights:
            args.append("WEIGHTS")
            args += weights
        if aggregate:
            if aggregate.upper() not in ("SUM", "MIN", "MAX", "COUNT"):
                raise DataError("aggregate can be sum, min, max or count.")
            args += ("AGGREGATE", aggregate)
        if withscores:
            args.append("WITHSCORES")
        return self._run(_pairs_callback(withscores, score_cast_func), *args)

    def zunionstore(
        self, dest: KeyT, keys: Union[Sequence[KeyT], Mapping[Any, float]],
        aggregate: Optional[str] = None,
    ) -> int:
        return self._zaggregate("ZUNIONSTORE", dest, keys, aggregate)

    def zinterstore(
        self, dest: KeyT, keys: Union[Sequence[KeyT], Mapping[Any, float]],
        aggregate: Optional[str] = None,
    ) -> int:
        return self._zaggregate("ZINTERSTORE", dest, keys, aggregate)

    def zunion(
        self, keys: Union[Sequence[KeyT], Mapping[Any, float]],
        aggregate: Optional[str] = None, withscores: bool = False,
        score_cast_func: ScoreCastT = float,
    ) -> ZRangeResponse:
        return self._zaggregate("ZUNION", None, keys, aggregate, withscores, score_cast_func)

    def zinter(
        self, keys: Union[Sequence[KeyT], Mapping[Any, float]],
        aggregate: Optional[str] = None, withscores: bool = False,
    ) -> ZRangeResponse:
        return self._zaggregate("ZINTER", None, keys, aggregate, withscores)

    def zscan(
        self,
        name: KeyT,
        cursor: int = 0,
        match: Optional[PatternT] = None,
        count: Optional[int] = None,
        score_cast_func: ScoreCastT = float,
    ) -> tuple[int, list[tuple[Str, Any]]]:
        args: list[Any] = ["ZSCAN", name, cursor]
        if match is not None:
            args += ("MATCH", match)
        if count is not None:
            args += ("COUNT", count)
        return self._run(make_zscan(score_cast_func), *args)

    def zscan_iter(
        self,
        name: KeyT,
        match: Optional[PatternT] = None,
        count: Optional[int] = None,
        score_cast_func: ScoreCastT = float,
    ) -> Iterator[tuple[Str, Any]]:
        """(member, score) pairs; client only."""
        cursor: Any = "0"
        while cursor != 0:
            cursor, data = self.zscan(name, cursor=cursor, match=match, count=count,
                                      score_cast_func=score_cast_func)
            yield from data
