"""cpipe-load: load CSV, JSON Lines or raw RESP files into Redis (`python -m cpipe.load --help`).

Modules: _cli (arguments, summary, exit codes), _inputs (files, gzip, rows),
_resp (RESP framing), _templates (row -> command), _run (the loops and their
bookkeeping), _sink (how commands reach the server), _progress, _format.
"""
from __future__ import annotations

from typing import Optional, Sequence


def main(argv: Optional[Sequence[str]] = None) -> int:
    from ._cli import main as _main

    return _main(argv)


__all__ = ["main"]
