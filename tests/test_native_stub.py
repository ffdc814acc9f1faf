"""python/cpipe/_native.pyi describes the built module: the same functions
and constants, no more and no fewer, with the arity the bridge checks
(mypy checks the callers against the stub, `make typecheck`; this checks
the stub against the module)."""
from __future__ import annotations

import ast
import pathlib

import pytest

import cpipe
from cpipe import _engine

STUB = pathlib.Path(cpipe.__file__).with_name("_native.pyi")
# Names the stub defines for its own annotations, not exported by the module
# (BulkWriter and TrackingState: the types of objects its functions return).
STUB_ONLY = {"Arg", "Encoding", "BulkWriter", "TrackingState"}


def _stub() -> tuple[dict[str, ast.FunctionDef], set[str], set[str]]:
    tree = ast.parse(STUB.read_text())
    functions = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    constants = {n.target.id for n in tree.body if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)}
    classes = {n.name for n in tree.body if isinstance(n, ast.ClassDef)} - STUB_ONLY
    return functions, constants, classes


def test_stub_names_match_the_module():
    functions, constants, classes = _stub()
    module = _engine.native()
    exported = {name for name in dir(module) if not name.startswith("__")}
    assert exported == set(functions) | constants | classes, "update python/cpipe/_native.pyi"
    for name in functions:
        assert callable(getattr(module, name)), name
    for name in constants:
        assert isinstance(getattr(module, name), int), name
    for name in classes:
        assert isinstance(getattr(module, name), type), name
    assert not STUB_ONLY & exported


FIXED_ARITY = sorted(name for name, fn in _stub()[0].items() if fn.args.vararg is None)


@pytest.mark.parametrize("name", FIXED_ARITY)
def test_fixed_arity_matches(name):
    """A function the stub gives n arguments refuses n + 1, and n - 1."""
    fn = _stub()[0][name]
    n = len(fn.args.posonlyargs) + len(fn.args.args)
    native_fn = getattr(_engine.native(), name)
    for wrong in (n + 1, n - 1):
        if wrong >= 0:
            with pytest.raises(TypeError):
                native_fn(*([0] * wrong))
