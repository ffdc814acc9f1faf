"""Issue 7 item 7: every numeric client option is checked when the client is
made (Client, Pool, cpipe.asyncio Client and Pool, and URLs): a bad value
raises an error that is both a ValueError and a cpipe.DataError and names
the option and the value, before the engine starts; good values work."""
from __future__ import annotations

import asyncio
import math

import pytest

import cpipe
import cpipe.asyncio

from tests.client._subproc import run_python

KINDS = {
    "Client": cpipe.Client,
    "Pool": cpipe.Pool,
    "asyncio.Client": cpipe.asyncio.Client,
    "asyncio.Pool": cpipe.asyncio.Pool,
}

BAD_TIMEOUTS = [math.inf, -math.inf, math.nan, -1, -0.5, 0, 0.0, True, "1", 1e300]
BAD = [
    *[("socket_timeout", v) for v in BAD_TIMEOUTS],
    *[("socket_connect_timeout", v) for v in BAD_TIMEOUTS],
    ("port", 0), ("port", -1), ("port", 65536), ("port", True), ("port", "6379"), ("port", 6379.0),
    ("db", -1), ("db", True), ("db", 1.5), ("db", "1"),
    ("max_queued", -1), ("max_queued", True), ("max_queued", 2.5), ("max_queued", 2**70),
]


def _check_error(excinfo, option, value):
    err = excinfo.value
    assert isinstance(err, ValueError) and isinstance(err, cpipe.DataError), type(err)
    assert option in str(err), str(err)
    assert repr(value) in str(err), str(err)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("option,value", BAD, ids=[f"{o}={v!r}" for o, v in BAD])
def test_bad_numeric_option_is_refused(kind, option, value):
    with pytest.raises(ValueError) as excinfo:
        KINDS[kind](host="127.0.0.1", **{option: value})
    _check_error(excinfo, option, value)


BAD_SIZES = [0, -1, True, 1.5, "4", 10**6]


@pytest.mark.parametrize("kind", ["Pool", "asyncio.Pool"])
@pytest.mark.parametrize("size", BAD_SIZES, ids=repr)
def test_bad_pool_size_is_refused(kind, size):
    with pytest.raises(ValueError) as excinfo:
        KINDS[kind](host="127.0.0.1", size=size)
    _check_error(excinfo, "size", size)


def test_unknown_encoding_is_refused():
    with pytest.raises(cpipe.DataError, match="encoding 'no-such-codec'"):
        cpipe.Client(host="127.0.0.1", decode_responses=True, encoding="no-such-codec")


def test_bad_options_never_start_the_engine():
    proc = run_python('''
        import math, cpipe, cpipe.asyncio, cpipe._engine as engine
        for make in (cpipe.Client, cpipe.Pool, cpipe.asyncio.Client, cpipe.asyncio.Pool):
            for bad in ({"socket_timeout": math.inf}, {"port": 0}, {"db": -1}, {"max_queued": -1}):
                try:
                    make(host="127.0.0.1", **bad)
                except ValueError:
                    pass
                else:
                    raise SystemExit(f"{make.__name__}({bad}) was accepted")
        print(engine.is_loaded())
    ''', timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-2000:]
    assert proc.stdout.split() == ["False"]


@pytest.mark.parametrize("timeout", [None, 1, 0.5, 30.0])
def test_good_timeouts_work(real_server, timeout):
    with cpipe.Client(host="127.0.0.1", port=real_server.port, socket_timeout=timeout,
                      socket_connect_timeout=timeout) as c:
        assert c.set("opt:k", "v") is True and c.get("opt:k") == b"v"
    with cpipe.Pool(host="127.0.0.1", port=real_server.port, size=2, socket_timeout=timeout) as p:
        assert p.submit("ECHO", "x").result(10) == b"x"

    async def main():
        r = cpipe.asyncio.Client(host="127.0.0.1", port=real_server.port, socket_timeout=timeout)
        try:
            return await r.echo("y")
        finally:
            await r.aclose()

    assert asyncio.run(main()) == b"y"


BAD_URLS = [
    ("redis://127.0.0.1:6379/0?socket_timeout=inf", "socket_timeout", "inf"),
    ("redis://127.0.0.1:6379/0?socket_timeout=nan", "socket_timeout", "nan"),
    ("redis://127.0.0.1:6379/0?socket_timeout=-1", "socket_timeout", "-1"),
    ("redis://127.0.0.1:6379/0?socket_timeout=0", "socket_timeout", "0"),
    ("redis://127.0.0.1:6379/0?socket_timeout=soon", "socket_timeout", "soon"),
    ("redis://127.0.0.1:6379/0?socket_connect_timeout=inf", "socket_connect_timeout", "inf"),
    ("redis://127.0.0.1:6379?db=-2", "db", "-2"),
    ("redis://127.0.0.1:6379?db=x", "db", "x"),
    ("redis://127.0.0.1:6379/-3", "db", "-3"),
    ("redis://127.0.0.1:6379?max_queued=-1", "max_queued", "-1"),
    ("redis://127.0.0.1:6379?decode_responses=maybe", "decode_responses", "maybe"),
    ("redis://127.0.0.1:0", "port", "0"),
    ("redis://127.0.0.1:70000", "port", "70000"),
    ("redis://127.0.0.1:abc", "port", "abc"),
    ("redis://127.0.0.1:6379?no_such_option=1", "no_such_option", ""),
]


@pytest.mark.parametrize("kind", ["Client", "Pool", "asyncio.Client"])
@pytest.mark.parametrize("url,option,value", BAD_URLS, ids=[u for u, _, _ in BAD_URLS])
def test_bad_url_option_is_refused(kind, url, option, value):
    with pytest.raises(ValueError) as excinfo:
        KINDS[kind].from_url(url)
    assert option in str(excinfo.value) and value in str(excinfo.value), str(excinfo.value)


def test_url_options_are_used(real_server):
    url = f"redis://127.0.0.1:{real_server.port}/3?socket_timeout=2.5&socket_connect_timeout=1&max_queued=100"
    with cpipe.Client.from_url(url) as c:
        assert (c.db, c._socket_timeout) == (3, 2.5)
        c.set("opt:url", "v")
        assert c.get("opt:url") == b"v"
        assert b" db=3 " in c.call("CLIENT", "INFO")
