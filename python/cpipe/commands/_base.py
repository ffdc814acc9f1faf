"""What every command mixin shares: the `_run` primitive and argument helpers."""
from __future__ import annotations

import datetime
from typing import TYPE_CHECKING, Any, Callable, Iterable, Optional

from ..errors import DataError
from ._typing import AbsExpiryT, EncodableT, ExpiryT


class CommandsBase:
    """Base of the mixins. The client class provides `_run`.

    `_run` is declared only for type checkers: defining it here would let it
    shadow the real one when a client lists the mixins first in its bases.
    """

    __slots__ = ()

    if TYPE_CHECKING:
        def _run(self, callback: Optional[Callable[[Any], Any]], *args: Any) -> Any: ...


def list_or_args(keys: Any, args: Iterable[Any] = ()) -> list[Any]:
    """One list from `keys` (a single key or an iterable of keys) plus `args`."""
    if isinstance(keys, (bytes, str, bytearray, memoryview)):
        result: list[Any] = [keys]
    else:
        try:
            result = list(keys)
        except TypeError:
            result = [keys]
    if args:
        result.extend(args)
    return result


def only_one(*flags: Any) -> bool:
    """True when at most one of the flags is truthy."""
    count = 0
    for flag in flags:
        if flag:
            count += 1
    return count <= 1


def expire_args(
    ex: Optional[ExpiryT],
    px: Optional[ExpiryT],
    exat: Optional[AbsExpiryT],
    pxat: Optional[AbsExpiryT],
) -> list[EncodableT]:
    """The EX/PX/EXAT/PXAT words for SET and GETEX (at most one is used)."""
    if ex is not None:
        if ex.__class__ is int:  # the common case first
            return ["EX", ex]
        if isinstance(ex, datetime.timedelta):
            return ["EX", int(ex.total_seconds())]
        if isinstance(ex, int) and not isinstance(ex, bool):
            return ["EX", ex]
        if isinstance(ex, str) and ex.isdigit():
            return ["EX", int(ex)]
        raise DataError("ex must be datetime.timedelta or int")
    if px is not None:
        if px.__class__ is int:
            return ["PX", px]
        if isinstance(px, datetime.timedelta):
            return ["PX", int(px.total_seconds() * 1000)]
        if isinstance(px, int) and not isinstance(px, bool):
            return ["PX", px]
        raise DataError("px must be datetime.timedelta or int")
    if exat is not None:
        if isinstance(exat, datetime.datetime):
            exat = int(exat.timestamp())
        return ["EXAT", exat]
    if pxat is not None:
        if isinstance(pxat, datetime.datetime):
            pxat = int(pxat.timestamp() * 1000)
        return ["PXAT", pxat]
    return []


def expire_flags(nx: bool, xx: bool, gt: bool, lt: bool) -> list[str]:
    """EXPIRE-family condition words, in the order redis-py sends them."""
    flags = []
    if nx:
        flags.append("NX")
    if xx:
        flags.append("XX")
    if gt:
        flags.append("GT")
    if lt:
        flags.append("LT")
    return flags
