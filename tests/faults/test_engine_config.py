"""native.open(config) reads an EngineConfig by attribute name: a missing
attribute or a wrong type is a TypeError naming the attribute, a value out
of range a ValueError naming it, and nothing is opened. The clients check
their options first (test_option_validation); this is the bridge's own
guard, for any caller of the native module."""
from __future__ import annotations

import dataclasses
import math
import types

import pytest

from cpipe import _engine
from cpipe._config import EngineConfig

FIELDS = [f.name for f in dataclasses.fields(EngineConfig)]


def _as_namespace(config: EngineConfig, drop: str = "") -> types.SimpleNamespace:
    return types.SimpleNamespace(**{name: getattr(config, name) for name in FIELDS if name != drop})


@pytest.mark.parametrize("name", FIELDS)
def test_missing_attribute(name):
    with pytest.raises(TypeError, match=f"no attribute '{name}'"):
        _engine.native().open(_as_namespace(EngineConfig(), drop=name))


WRONG_TYPES = [
    ("host", None), ("host", b"localhost"),
    ("port", "6379"), ("port", 6379.0), ("port", True),
    ("unix_socket_path", b"/tmp/s"), ("unix_socket_path", 1),
    ("connect_timeout", "1"), ("connect_timeout", None), ("socket_timeout", False),
    ("init_commands", "PING"), ("init_commands", None),
    ("size", 1.0), ("size", True),
    ("autopipeline", 1), ("autopipeline", None),
    ("max_queued", None), ("connect_once", 0), ("connect_once", "yes"),
]


@pytest.mark.parametrize("name,value", WRONG_TYPES)
def test_wrong_type(name, value):
    with pytest.raises(TypeError, match=f"config.{name} must be") as excinfo:
        _engine.native().open(dataclasses.replace(EngineConfig(), **{name: value}))
    assert type(value).__name__ in str(excinfo.value)


OUT_OF_RANGE = [
    ("port", 0), ("port", 65536), ("port", -1), ("port", 2**80),
    ("connect_timeout", -0.5), ("connect_timeout", math.nan), ("connect_timeout", math.inf),
    ("socket_timeout", 1e10), ("socket_timeout", 10**400),
    ("size", 0), ("size", 10001),
    ("max_queued", -1), ("max_queued", 2**62 + 1),
]


@pytest.mark.parametrize("name,value", OUT_OF_RANGE)
def test_out_of_range(name, value):
    with pytest.raises(ValueError, match=f"config.{name} must be"):
        _engine.native().open(dataclasses.replace(EngineConfig(), **{name: value}))


def test_bad_init_command_is_a_data_error():
    import cpipe

    with pytest.raises(cpipe.DataError):
        _engine.native().open(EngineConfig(init_commands=(("SELECT", object()),)))


def test_limits_themselves_are_accepted():
    """The edges of every range open (and close) a handle: nothing connects yet."""
    native = _engine.native()
    for config in [
        EngineConfig(port=1, size=1, max_queued=0, connect_timeout=0, socket_timeout=0.0),
        EngineConfig(port=65535, size=10000, max_queued=2**62, connect_timeout=9e9, socket_timeout=9e9,
                     unix_socket_path="/nonexistent.sock", autopipeline=True, connect_once=True,
                     init_commands=[("SELECT", 1), ("CLIENT", "SETNAME", "x")]),
        _as_namespace(EngineConfig()),  # any object with the attributes
    ]:
        native.close(native.open(config))
