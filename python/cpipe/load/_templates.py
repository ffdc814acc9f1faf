"""Row -> command templates, compiled once into one small Python function.

A template is split into words at template level (shell quoting, as
`shlex.split`), then each word is literal text and `{column}` placeholders
(`{{` and `}}` are literal braces). Splitting before substitution is what
keeps a value with spaces one argument.

The compiled builder is generated Python source (one lambda per input
shape) because a row passes through it a million times: an index or key
lookup and a string concatenation per word is all it costs, and with
`encode` it returns the RESP bytes directly (one C call per command).
Column names reach the source only through repr(), never as code.
"""
from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence, Union

_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")


class TemplateError(ValueError):
    """A template or shortcut that cannot be compiled (a usage error)."""


class RowError(ValueError):
    """A row the template cannot be applied to; the message names the column."""


# A word is a list of parts: str (literal) or _Col (a column's value).
@dataclass(frozen=True)
class _Col:
    name: str


Word = list


def parse_word(word: str, what: str) -> Word:
    parts: list = []
    pos = 0
    for m in _PLACEHOLDER.finditer(word):
        if m.start() > pos:
            parts.append(word[pos:m.start()])
        tok = m.group(0)
        if tok in ("{{", "}}"):
            parts.append(tok[0])
        elif tok in ("{", "}"):
            raise TemplateError(f"{what}: unbalanced {tok!r} in {word!r} (write {tok * 2!r} for a literal brace)")
        else:
            name = m.group(1).strip()
            if not name:
                raise TemplateError(f"{what}: empty placeholder {{}} in {word!r}")
            parts.append(_Col(name))
        pos = m.end()
    if pos < len(word):
        parts.append(word[pos:])
    merged: list = []
    for p in parts:  # adjacent literals joined: fewer concatenations per row
        if merged and isinstance(p, str) and isinstance(merged[-1], str):
            merged[-1] += p
        else:
            merged.append(p)
    return merged or [""]


def split_template(template: str) -> list:
    try:
        words = shlex.split(template)
    except ValueError as e:
        raise TemplateError(f"--command {template!r}: {e}") from None
    if not words:
        raise TemplateError("--command: the template is empty")
    return [parse_word(w, "--command") for w in words]


def columns_of(words: Sequence[Word]) -> list:
    seen: list = []
    for w in words:
        for p in w:
            if isinstance(p, _Col) and p.name not in seen:
                seen.append(p.name)
    return seen


@dataclass
class Spec:
    """What to build per row: the main command's words, plus shortcuts' extras."""

    words: list  # the command's words (for --hset: name and key only)
    hset_rest: bool = False  # --hset: every column not in the key becomes field, value
    expire: Optional[str] = None  # --expire SECONDS: EXPIRE <the command's key> SECONDS

    @property
    def commands_per_row(self) -> int:
        return 2 if self.expire is not None else 1


def make_spec(command: Optional[str], set_: Optional[Sequence[str]], hset: Optional[str],
              expire: Optional[int]) -> Spec:
    given = [x for x in (command, set_, hset) if x is not None]
    if len(given) != 1:
        raise TemplateError("give exactly one of --command, --set, --hset (or a .resp input)")
    if command is not None:
        spec = Spec(split_template(command))
    elif set_ is not None:
        key, value = set_
        spec = Spec([["SET"], parse_word(key, "--set KEY"), [_Col(value)]])
    else:
        assert hset is not None
        spec = Spec([["HSET"], parse_word(hset, "--hset KEY")], hset_rest=True)
    if expire is not None:
        if len(spec.words) < 2:
            raise TemplateError("--expire needs a command with a key (its second word)")
        spec.expire = str(expire)
    return spec


# -- code generation -------------------------------------------------------

def _expr(word: Word, access: Callable[[str], str]) -> str:
    if len(word) == 1 and isinstance(word[0], _Col):
        return access(word[0].name)
    return " + ".join(access(p.name) if isinstance(p, _Col) else repr(p) for p in word)


def compile_builder(spec: Spec, header: Optional[Sequence[str]],
                    call: Optional[Callable[..., Any]]) -> Callable[[Any], Any]:
    """A function row -> commands.

    header given: rows are lists in header order (CSV); else rows are dicts
    of str (JSON Lines). call given (an encoder returning RESP bytes, or a
    bulk's add queueing the command), the function calls it with each
    command's arguments and returns what it returns (a tuple of two for
    --expire); else it returns a tuple of argv tuples (dry run, fallback).
    Raises TemplateError for a column the CSV header lacks.
    """
    if header is not None:
        index = {name: i for i, name in enumerate(header)}

        def access(name: str) -> str:
            if name not in index:
                raise TemplateError(f"column {name!r} is not in the CSV header ({', '.join(header)})")
            return f"r[{index[name]}]"
    else:
        def access(name: str) -> str:
            return f"r[{name!r}]"

    exprs = [_expr(w, access) for w in spec.words]
    ns: dict = {"enc": call}
    if spec.hset_rest:
        used = set(columns_of(spec.words))
        if header is not None:
            rest = [c for c in header if c not in used]
            if not rest:
                raise TemplateError("--hset: every CSV column is used in the key; no fields are left")
            for c in rest:
                exprs += [repr(c), access(c)]
        else:
            # JSON objects differ row by row: the fields are computed per row.
            ns["fields"] = _json_fields(frozenset(used))
            exprs.append("*fields(r)")
    key = exprs[1] if len(exprs) > 1 else None
    if spec.expire is not None and key is not None:
        exprs[1] = f"(k := {key})"
        main = ", ".join(exprs)
        extra = f"'EXPIRE', k, {spec.expire!r}"
        src = f"lambda r: (enc({main}), enc({extra}))" if call else f"lambda r: (({main}), ({extra}))"
    else:
        main = ", ".join(exprs)
        src = f"lambda r: enc({main})" if call else f"lambda r: (({main}),)"
    return eval(src, ns)  # noqa: S307 - source built above from repr()'d names only


def _json_fields(used: frozenset) -> Callable[[dict], list]:
    def fields(r: dict) -> list:
        out = []
        for k, v in r.items():
            if k not in used:
                out += (k, v)
        if not out:
            raise RowError("no fields left for HSET (every field is in the key, or null)")
        return out
    return fields


def diagnose(spec: Spec, header: Optional[Sequence[str]], row: Any, exc: BaseException) -> str:
    """Why the builder failed on row: a message naming the column."""
    if isinstance(exc, RowError):
        return str(exc)
    names = columns_of(spec.words)
    if header is not None:
        for name in names:
            if header.index(name) >= len(row):
                return f"missing column {name!r} (the row has {len(row)} fields, the header {len(header)})"
    else:
        for name in names:
            if name not in row:
                return f"missing field {name!r} (absent or null)"
    return f"{type(exc).__name__}: {exc}"


Builder = Callable[[Any], Union[bytes, tuple]]
