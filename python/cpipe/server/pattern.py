"""Redis glob patterns (KEYS, SCAN MATCH, PSUBSCRIBE) as compiled regexes.

Translated from Redis stringmatchlen rather than fnmatch, whose rules
differ: `[^a]` negates (not `[!a]`), `\\x` escapes anywhere, a range may be
written backwards (`[z-a]`), `[a-]` is the range a..']' (a quirk of the C
code), and an unclosed `[` is closed by the end of the pattern.
"""
from __future__ import annotations

import re
from functools import lru_cache


def _lit(c: int) -> bytes:
    return b"\\x%02x" % c


@lru_cache(maxsize=512)
def compile_pattern(pat: bytes):
    out = []
    i, n = 0, len(pat)
    while i < n:
        c = pat[i]
        if c == 42:  # '*'
            out.append(b".*")
        elif c == 63:  # '?'
            out.append(b".")
        elif c == 91:  # '['
            i += 1
            neg = i < n and pat[i] == 94  # '^'
            if neg:
                i += 1
            items = []
            while True:
                if i < n and pat[i] == 92 and n - i >= 2:  # backslash escape
                    i += 1
                    items.append(_lit(pat[i]))
                elif i < n and pat[i] == 93:  # ']'
                    break
                elif i >= n:  # unterminated: class ends with the pattern
                    i = n - 1
                    break
                elif n - i >= 3 and pat[i + 1] == 45:  # range x-y
                    a, b = pat[i], pat[i + 2]
                    if a > b:
                        a, b = b, a
                    items.append(_lit(a) + b"-" + _lit(b))
                    i += 2
                else:
                    items.append(_lit(pat[i]))
                i += 1
            if items:
                out.append(b"[" + (b"^" if neg else b"") + b"".join(items) + b"]")
            else:
                out.append(b"(?s:.)" if neg else b"(?!)")
        elif c == 92 and n - i >= 2:  # '\x' matches x
            i += 1
            out.append(_lit(pat[i]))
        else:
            out.append(_lit(c))
        i += 1
    return re.compile(b"".join(out), re.S)


def match(pat: bytes, s: bytes) -> bool:
    if pat == b"*":
        return True
    return compile_pattern(pat).fullmatch(s) is not None
