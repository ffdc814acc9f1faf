"""Type aliases shared by the command mixins (same meanings as redis.typing)."""
from __future__ import annotations

import datetime
from typing import Any, Callable, Iterable, Optional, Union

# What a command argument may be; the client's encoder turns it into bytes.
EncodableT = Union[bytes, bytearray, memoryview, str, int, float]
KeyT = Union[bytes, str, memoryview]
PatternT = Union[bytes, str, memoryview]
FieldT = EncodableT
KeysT = Union[KeyT, Iterable[KeyT]]
ExpiryT = Union[int, datetime.timedelta]
AbsExpiryT = Union[int, datetime.datetime]
ZScoreBoundT = Union[float, str]  # str allows "(1" and "-inf"
TimeoutSecT = Union[int, float, str, bytes]

# Reply values.
Str = Union[bytes, str]
OptStr = Optional[Union[bytes, str]]
ScoreCastT = Callable[[Any], Any]
Callback = Optional[Callable[[Any], Any]]
ScanResponse = tuple[int, list[Str]]
ZRangeResponse = Union[list[Str], list[tuple[Str, Any]]]
