"""Issue 7, "Keep them fixed": fuzz the bridge's argument encoding from
Python. Random argument types (bytes, str with surrogates, ints past 64
bits and past Python's digit limit, floats with nan/inf, bools, None,
bytearray, memoryview, subclasses, containers, plain objects), sizes and
nesting go through Client.call, pipelines (execute_many) and Pool.submit
against a real server. The only outcomes allowed: the reply redis-py's own
encoding of the same arguments gives, or cpipe.DataError when redis-py's
encoder refuses them; never a crash, never a connection out of step.

Bounded for CI (CPIPE_FUZZ_EXAMPLES, default 200 examples per test);
`make fuzz` runs it much longer.
"""
from __future__ import annotations

import itertools
import os
from typing import Any, Optional

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis._parsers.encoders import Encoder
from redis.connection import PythonRespSerializer

import cpipe

FUZZ = settings(
    max_examples=int(os.environ.get("CPIPE_FUZZ_EXAMPLES", "200")),
    deadline=None,
    database=None,  # nothing written into the checkout
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

REDIS_PY = Encoder("utf-8", "strict", False)


class IntSub(int):
    pass


class FloatSub(float):
    pass


class StrSub(str):
    pass


class BytesSub(bytes):
    pass


class Opaque:
    pass


texts = st.text(st.one_of(st.characters(), st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)),
                max_size=40)
small_bytes = st.binary(max_size=64)
scalars = st.one_of(
    small_bytes,
    st.binary(min_size=1000, max_size=100_000),
    texts,
    st.integers(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([2**63 - 1, 2**63, -(2**63), -(2**63) - 1]),
    st.integers(min_value=4300, max_value=4400).map(lambda digits: 10**digits),  # past int_max_str_digits
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
    small_bytes.map(bytearray),
    small_bytes.map(memoryview),
    small_bytes.map(lambda b: memoryview(b)[::2]),  # not contiguous
    st.integers().map(IntSub),
    st.floats().map(FloatSub),
    texts.map(StrSub),
    small_bytes.map(BytesSub),
    st.builds(Opaque),
)
arguments = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.tuples(inner, inner),
                            st.dictionaries(texts, inner, max_size=2), st.frozensets(st.integers(), max_size=2)),
    max_leaves=4,
)


def expected(value: Any) -> Optional[bytes]:
    """The bytes redis-py sends for value, or None where it refuses it."""
    if isinstance(value, memoryview) and not value.contiguous:
        return None  # redis-py would hand it to the socket; cpipe refuses it up front
    try:
        return bytes(REDIS_PY.encode(value))
    except (redis.DataError, UnicodeEncodeError, ValueError):
        return None


_tokens = itertools.count()


def in_step(call) -> None:
    token = f"fuzz-step-{next(_tokens)}".encode()
    assert call("ECHO", token) == token, "the connection is out of step"


@pytest.fixture(scope="module")
def client(real_server):
    c = cpipe.Client(host="127.0.0.1", port=real_server.port, socket_timeout=10)
    yield c
    c.close()


@pytest.fixture(scope="module")
def pool(real_server):
    p = cpipe.Pool(host="127.0.0.1", port=real_server.port, size=2, socket_timeout=10)
    yield p
    p.close()


@FUZZ
@given(values=st.lists(arguments, min_size=1, max_size=4))
def test_call(client, values):
    want = [expected(v) for v in values]
    key = f"fuzz:call:{next(_tokens)}"
    if None in want:
        with pytest.raises(cpipe.DataError):
            client.call("RPUSH", key, *values)
        assert client.call("EXISTS", key) == 0, "part of a refused command was sent"
    else:
        assert client.call("RPUSH", key, *values) == len(values)
        assert client.call("LRANGE", key, 0, -1) == want
        assert client.call("DEL", key) == 1
        assert client.call("ECHO", values[0]) == want[0]
    in_step(client.call)


# A pipeline entry: (how it is spelt, the arguments after the name).
entries = st.tuples(st.sampled_from(["tuple", "list"]), arguments)


@FUZZ
@given(cmds=st.lists(entries, min_size=1, max_size=6), shape=st.sampled_from(["list", "tuple", "generator"]),
       stray=st.one_of(st.none(), st.integers(min_value=0, max_value=6)))
def test_pipeline(client, cmds, shape, stray):
    base = f"fuzz:pipe:{next(_tokens)}"
    commands: list = []
    want: list = []
    for i, (kind, value) in enumerate(cmds):
        key = f"{base}:{i}"
        for cmd in (("SET", key, value), ("GET", key), ("ECHO", value)):
            commands.append(list(cmd) if kind == "list" else cmd)
        want += [b"OK", expected(value), expected(value)]
    if stray is not None:  # an entry that is not a command at all
        commands.insert(min(stray, len(commands)), {"SET": "x"} if stray % 2 else "GET")
        want.append(None)
    sent = {"list": commands, "tuple": tuple(commands), "generator": (c for c in commands)}[shape]
    if None in want:
        with pytest.raises(cpipe.DataError):
            client._exec_many(sent)
        assert client.call("EXISTS", *(f"{base}:{i}" for i in range(len(cmds)))) == 0
    else:
        assert client._exec_many(sent) == want
        client.call("DEL", *(f"{base}:{i}" for i in range(len(cmds))))
    in_step(client.call)


@FUZZ
@given(values=st.lists(arguments, min_size=1, max_size=3))
def test_pool_submit(pool, values):
    futures = []
    for v in values:
        want = expected(v)
        if want is None:
            with pytest.raises(cpipe.DataError):
                pool.submit("ECHO", v)
        else:
            futures.append((pool.submit("ECHO", v), want))
    for fut, want in futures:
        assert fut.result(10) == want
    in_step(lambda *a: pool.submit(*a).result(10))


@FUZZ
@given(values=st.lists(arguments, min_size=0, max_size=4))
def test_encoding_matches_redis_py(values):
    """No server needed: the bytes the bridge would send equal the bytes
    redis-py's pure-Python serializer writes for the same arguments."""
    from cpipe._engine import native

    want = [expected(v) for v in values]
    if None in want:
        with pytest.raises(cpipe.DataError):
            native().encode("ECHO", *values)
        return
    packed = PythonRespSerializer(6000, REDIS_PY.encode).pack("ECHO", *values)
    assert native().encode("ECHO", *values) == b"".join(bytes(chunk) for chunk in packed)
