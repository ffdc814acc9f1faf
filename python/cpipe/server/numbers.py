"""Number parsing and formatting with Redis's exact rules.

Redis parses integers with string2ll (canonical decimal only), scores with
strtod, and INCRBYFLOAT/HINCRBYFLOAT operands with strtold - 80-bit x87
long double on the machines Redis runs on - printing the result with
"%.17Lf" and trailing zeros removed. Python floats are 64-bit, so 0.1 would
print as 0.10000000000000001 where Redis prints 0.1; long doubles are
therefore emulated exactly with Fractions rounded to a 64-bit mantissa.
"""
from __future__ import annotations

import math
import re
from fractions import Fraction

from .parser import parse_ll
from .resp import CommandError, NOT_INTEGER, NOT_FLOAT

__all__ = ["parse_ll", "get_int", "get_float", "parse_float", "format_score",
           "parse_long_double", "format_long_double", "add_long_double"]


def get_int(b: bytes, msg: bytes = NOT_INTEGER) -> int:
    n = parse_ll(b)
    if n is None:
        raise CommandError(msg)
    return n


# strtod syntax after Redis rejected leading whitespace; inf/nan spelled any
# case; hexadecimal floats as C99 allows.
_DEC = re.compile(rb"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_INF = re.compile(rb"[+-]?(?:inf|infinity)", re.I)
_HEXF = re.compile(rb"([+-]?)0[xX]((?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)(?:[pP][+-]?[0-9]+)?)")


def parse_float(b: bytes) -> float | None:
    """Redis getDoubleFromObject: strtod, whole string, no NaN, no overflow."""
    if _DEC.fullmatch(b):
        v = float(b)
        if math.isinf(v):
            return None  # ERANGE overflow
        if v == 0.0 and re.search(rb"[1-9]", b.split(b"e")[0].split(b"E")[0]):
            return None  # ERANGE underflow to zero
        return v
    if _INF.fullmatch(b):
        return -math.inf if b[:1] == b"-" else math.inf
    m = _HEXF.fullmatch(b)
    if m:
        body = m.group(2)
        if b"p" not in body.lower():
            body += b"p0"
        try:
            v = float.fromhex((m.group(1) + b"0x" + body).decode())
        except (OverflowError, ValueError):
            return None
        return v
    return None


def get_float(b: bytes, msg: bytes = NOT_FLOAT) -> float:
    v = parse_float(b)
    if v is None:
        raise CommandError(msg)
    return v


def format_score(d: float) -> bytes:
    """Redis 7.0 addReplyDouble in RESP2: "%.17g", inf as "inf"/"-inf"."""
    if d == math.inf:
        return b"inf"
    if d == -math.inf:
        return b"-inf"
    return b"%.17g" % d


# ---- x87 long double emulation -------------------------------------------

_LD_MANT = 64  # bits of mantissa, explicit integer bit included
_LD_MAX_EXP = 16384  # values >= 2**16384 overflow to inf


class LongDouble:
    """Either a finite exact Fraction or an infinity (sign in `inf`)."""

    __slots__ = ("v", "inf")

    def __init__(self, v: Fraction = Fraction(0), inf: int = 0):
        self.v = v
        self.inf = inf


def _round_ld(x: Fraction) -> LongDouble:
    if x == 0:
        return LongDouble(Fraction(0))
    sign = -1 if x < 0 else 1
    x = abs(x)
    n, d = x.numerator, x.denominator
    e = n.bit_length() - d.bit_length()
    # make 2**e <= x < 2**(e+1)
    if (n << max(0, -e)) < (d << max(0, e)):
        e -= 1
    if e >= _LD_MAX_EXP:
        return LongDouble(inf=sign)
    shift = _LD_MANT - 1 - e
    if shift >= 0:
        num, den = n << shift, d
    else:
        num, den = n, d << -shift
    q, r = divmod(num, den)
    if 2 * r > den or (2 * r == den and q & 1):
        q += 1
    if q.bit_length() - 1 - shift >= _LD_MAX_EXP:
        return LongDouble(inf=sign)
    val = Fraction(q) * (Fraction(1, 1 << shift) if shift >= 0 else (1 << -shift))
    return LongDouble(val * sign)


def parse_long_double(b: bytes) -> LongDouble | None:
    """Redis string2ld: strtold on the whole string; NaN and overflow fail."""
    if not b or len(b) >= 5 * 1024:
        return None
    if _DEC.fullmatch(b):
        mant, _, exp = b.lower().partition(b"e")
        frac = Fraction(mant.decode()) if mant not in (b"+.", b"-.") else None
        if frac is None:
            return None
        if exp:
            ex = int(exp)
            if ex > 6000:
                return None if frac != 0 else LongDouble()
            if ex < -6000:
                return None if frac != 0 else LongDouble()  # underflow
            frac *= Fraction(10) ** ex
        ld = _round_ld(frac)
        if ld.inf:
            return None  # ERANGE overflow
        if ld.v == 0 and frac != 0:
            return None
        return ld
    if _INF.fullmatch(b):
        return LongDouble(inf=-1 if b[:1] == b"-" else 1)
    if _HEXF.fullmatch(b):
        v = parse_float(b)
        if v is None:
            return None
        return LongDouble(Fraction(v))
    return None


def add_long_double(a: LongDouble, b: LongDouble) -> LongDouble | None:
    """a + b rounded to long double; None when the result is NaN or inf."""
    if a.inf or b.inf:
        return None  # inf, or inf - inf = NaN: both rejected by Redis
    r = _round_ld(a.v + b.v)
    if r.inf:
        return None
    return r


def format_long_double(ld: LongDouble) -> bytes:
    """"%.17Lf" then trailing zeros (and a bare '.') removed; "-0" is "0"."""
    if ld.inf:
        return b"inf" if ld.inf > 0 else b"-inf"
    v = ld.v
    neg = v < 0
    scaled = abs(v) * 10**17
    q, r = divmod(scaled.numerator, scaled.denominator)
    if 2 * r > scaled.denominator or (2 * r == scaled.denominator and q & 1):
        q += 1
    digits = str(q).rjust(18, "0")
    s = digits[:-17] + "." + digits[-17:]
    s = s.rstrip("0").rstrip(".")
    if neg and s != "0":
        s = "-" + s
    return s.encode()


def rank_range(n: int, start: int, end: int):
    """Redis's inclusive index range over n elements (negative counts from
    the end, out-of-range ends clamped), as (start, end), or None if empty.
    Shared by LRANGE, LTRIM and the sorted-set rank commands."""
    if start < 0:
        start += n
    if end < 0:
        end += n
    if start < 0:
        start = 0
    if start > end or start >= n:
        return None
    if end >= n:
        end = n - 1
    return start, end
