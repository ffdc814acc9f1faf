"""RESP3 replies, derived from the RESP2 replies the handlers produce.

Handlers stay RESP2-only (the hot path of a RESP2 client pays nothing for
RESP3). For a connection that said `HELLO 3`, protocol.py passes each
reply through `to_resp3(name, argv, reply)`, which re-types it where Redis
7.0 does (checked byte for byte by tests/server/test_diff_*.py in both
protocols):

    null bulk $-1 / null array *-1      -> _            (everywhere)
    HGETALL, CONFIG GET, COMMAND DOCS   -> map  %n
    SMEMBERS SINTER SUNION SDIFF,
    SPOP with a count                   -> set  ~n
    ZSCORE ZINCRBY, ZADD ... INCR       -> double ,x
    ZMSCORE                             -> array of doubles / _
    ... WITHSCORES, ZPOPMIN/MAX count   -> array of [member, double] pairs
    ZPOPMIN/MAX without count           -> [member, double]
    BZPOPMIN/BZPOPMAX                   -> [key, member, double]
    INFO, CLIENT INFO, CLIENT LIST      -> verbatim string =n txt:...

INCRBYFLOAT/HINCRBYFLOAT stay bulk strings, as in Redis. Doubles keep the
RESP2 text (Redis formats both with %.17g; inf is `inf`/`-inf` in both).
Commands that build RESP3 themselves (HELLO, the subscribe family, PING in
subscribed mode, EXEC, CLIENT TRACKINGINFO) are listed in `NATIVE`.

A shape is one of: None (only nulls change), "map", "set", "double",
"verbatim", "pairs" (flat member/score array -> pairs), ("tuple", [shapes])
(positional), ("array", shape) (every element).
"""
from __future__ import annotations

NULL3 = b"_\r\n"

#: Commands whose handlers already answer in the connection's protocol.
NATIVE = frozenset([b"hello", b"subscribe", b"unsubscribe", b"psubscribe", b"punsubscribe",
                    b"ssubscribe", b"sunsubscribe", b"exec", b"ping", b"reset", b"cpipe.fault"])


def _has(argv, word: bytes, start: int = 1) -> bool:
    for a in argv[start:]:
        if len(a) == len(word) and a.lower() == word:
            return True
    return False


def _zrange_shape(argv):
    return "pairs" if _has(argv, b"withscores", 4) else None


def _zadd_shape(argv):
    return "double" if _has(argv, b"incr", 2) else None


def _zpop_shape(argv):
    return "pairs" if len(argv) > 2 else ("tuple", [None, "double"])


def _spop_shape(argv):
    return "set" if len(argv) > 2 else None


def _client_shape(argv):
    sub = argv[1].lower() if len(argv) > 1 else b""
    if sub in (b"info", b"list"):
        return "verbatim"
    if sub == b"trackinginfo":
        return "native"
    return None


def _config_shape(argv):
    return "map" if len(argv) > 1 and argv[1].lower() == b"get" else None


_COMMAND_INFO = ("tuple", [None, None, "set", None, None, None, "set", "set", None, None])
_COMMAND_INFO[1][9] = ("array", _COMMAND_INFO)


def _command_shape(argv):
    if len(argv) == 1:
        return ("array", _COMMAND_INFO)
    sub = argv[1].lower()
    if sub == b"info":
        return ("array", _COMMAND_INFO)
    if sub == b"docs":
        return "map"
    return None


#: lowercase command name -> shape, or a function argv -> shape
SHAPES = {
    b"hgetall": "map",
    b"smembers": "set", b"sinter": "set", b"sunion": "set", b"sdiff": "set",
    b"spop": _spop_shape,
    b"zscore": "double", b"zincrby": "double", b"zadd": _zadd_shape,
    b"zmscore": ("array", "double"),
    b"zrange": _zrange_shape, b"zrangebyscore": _zrange_shape,
    b"zrevrangebyscore": _zrange_shape, b"zrevrange": _zrange_shape,
    b"zpopmin": _zpop_shape, b"zpopmax": _zpop_shape,
    b"bzpopmin": ("tuple", [None, None, "double"]),
    b"bzpopmax": ("tuple", [None, None, "double"]),
    b"info": "verbatim",
    b"client": _client_shape,
    b"config": _config_shape,
    b"command": _command_shape,
}


def shape_of(name: bytes, argv):
    s = SHAPES.get(name)
    if callable(s):
        return s(argv)
    return s


def to_resp3(name: bytes, argv, reply: bytes) -> bytes:
    """The RESP3 form of `reply`, the RESP2 answer of command `name`."""
    if not reply or name in NATIVE:
        return reply
    shape = shape_of(name, argv)
    if shape == "native":
        return reply
    return convert(reply, shape)


def convert(reply: bytes, shape) -> bytes:
    t = reply[0]
    if t == 45:  # '-' errors are the same
        return reply
    if shape is None:
        if t in (43, 58):  # + :
            return reply
        if t == 36:  # $
            return NULL3 if reply == b"$-1\r\n" else reply
        if b"$-1\r\n" not in reply and b"*-1\r\n" not in reply:
            return reply  # no null anywhere: unchanged (payloads may only cause a false alarm)
    out = []
    pos = _emit(reply, 0, shape, out)
    if pos != len(reply):  # several replies in one (never for a single command)
        out.append(reply[pos:])
    return b"".join(out)


def _frame_end(raw: bytes, pos: int) -> int:
    """End of the RESP2 frame at pos."""
    nl = raw.index(b"\r\n", pos)
    t = raw[pos]
    if t in (43, 45, 58):
        return nl + 2
    n = int(raw[pos + 1:nl])
    if t == 36:
        return nl + 2 if n < 0 else nl + 4 + n
    p = nl + 2
    for _ in range(max(n, 0)):
        p = _frame_end(raw, p)
    return p


def _emit(raw: bytes, pos: int, shape, out: list) -> int:
    """Append the RESP3 form of the frame at pos, given its shape; returns
    the position after the frame."""
    t = raw[pos]
    nl = raw.index(b"\r\n", pos)
    if t in (43, 45, 58):
        out.append(raw[pos:nl + 2])
        return nl + 2
    n = int(raw[pos + 1:nl])
    if n < 0:
        out.append(NULL3)
        return nl + 2
    if t == 36:
        end = nl + 4 + n
        if shape == "double":
            out.append(b"," + raw[nl + 2:end - 2] + b"\r\n")
        elif shape == "verbatim":
            out.append(b"=%d\r\ntxt:" % (n + 4) + raw[nl + 2:end])
        else:
            out.append(raw[pos:end])
        return end
    # an array
    p = nl + 2
    if shape == "map":
        out.append(b"%%%d\r\n" % (n // 2))
        for _ in range(n):
            p = _emit(raw, p, None, out)
        return p
    if shape == "set":
        out.append(b"~%d\r\n" % n)
        for _ in range(n):
            p = _emit(raw, p, None, out)
        return p
    if shape == "pairs":
        out.append(b"*%d\r\n" % (n // 2))
        for _ in range(n // 2):
            out.append(b"*2\r\n")
            p = _emit(raw, p, None, out)
            p = _emit(raw, p, "double", out)
        return p
    out.append(raw[pos:nl + 2])
    if shape is None or shape in ("double", "verbatim"):
        for _ in range(n):
            p = _emit(raw, p, None, out)
        return p
    kind, sub = shape
    if kind == "array":
        for _ in range(n):
            p = _emit(raw, p, sub, out)
        return p
    for i in range(n):  # tuple
        p = _emit(raw, p, sub[i] if i < len(sub) else None, out)
    return p


# -- encoders for handlers that answer natively -----------------------------

def map_header(n: int, resp: int) -> bytes:
    return b"%%%d\r\n" % n if resp == 3 else b"*%d\r\n" % (2 * n)


def set_header(n: int, resp: int) -> bytes:
    return b"~%d\r\n" % n if resp == 3 else b"*%d\r\n" % n


def push_header(n: int, resp: int) -> bytes:
    return b">%d\r\n" % n if resp == 3 else b"*%d\r\n" % n


def null(resp: int) -> bytes:
    return NULL3 if resp == 3 else b"$-1\r\n"
