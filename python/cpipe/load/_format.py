"""Commands as text, for --dry-run: redis-cli's quoting, so a line can be pasted into redis-cli."""
from __future__ import annotations

import re
from typing import Any, Sequence

_PLAIN = re.compile(r"[A-Za-z0-9_:.\-+/@#%=,^~]+")
_ESC = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def quote(arg: Any) -> str:
    if isinstance(arg, (bytes, bytearray)):
        text = bytes(arg).decode("utf-8", "backslashreplace")
    else:
        text = str(arg)
    if _PLAIN.fullmatch(text):
        return text
    return '"' + "".join(_ESC.get(ch, ch if ch.isprintable() else f"\\x{ord(ch):02x}") for ch in text) + '"'


def format_command(argv: Sequence[Any]) -> str:
    return " ".join(quote(a) for a in argv)
