"""Issue 7, item 9: an argument longer than the bulk limit (512 MiB by
default, Redis's proto-max-bulk-len; the client option proto_max_bulk_len)
raises DataError naming its position before anything is sent or copied.
Also: every exception class in cpipe.errors is importable from cpipe.
"""
from __future__ import annotations

import asyncio
import gc
import mmap

import pytest

import cpipe
import cpipe.asyncio as ca
from tests.asyncio_client._run import run

LIMIT = 1 << 20


@pytest.fixture
def small(real_server):
    c = cpipe.Client(host="127.0.0.1", port=real_server.port, socket_timeout=10, proto_max_bulk_len=LIMIT)
    c.delete("bulk:k", "bulk:a", "bulk:b")
    yield c
    c.delete("bulk:k", "bulk:a", "bulk:b")
    c.close()


# Each is one byte over LIMIT once encoded; the last is only over as UTF-8
# (fewer code points than the limit, more bytes).
TOO_LONG = {
    "bytes": lambda: b"x" * (LIMIT + 1),
    "str": lambda: "x" * (LIMIT + 1),
    "bytearray": lambda: bytearray(LIMIT + 1),
    "memoryview": lambda: memoryview(b"y" * (LIMIT + 1)),
    "non-ascii-str": lambda: "\u00e9" * (LIMIT // 2) + "x",
    "astral-str": lambda: "\U0001f600" * (LIMIT // 4) + "x",
}


@pytest.mark.parametrize("kind", list(TOO_LONG))
def test_too_long_argument_is_refused(small, kind):
    value = TOO_LONG[kind]()
    with pytest.raises(cpipe.DataError) as exc:
        small.call("MSET", "bulk:a", "1", "bulk:k", value)
    msg = str(exc.value)
    assert "argument 4" in msg and "MSET" in msg and "proto_max_bulk_len" in msg and str(LIMIT) in msg, msg
    assert small.call("EXISTS", "bulk:a", "bulk:k") == 0, "something was sent"
    assert small.call("ECHO", "in step") == b"in step"


def test_exactly_the_limit_is_sent(small):
    assert small.call("SET", "bulk:k", b"z" * LIMIT) == b"OK"
    assert small.call("STRLEN", "bulk:k") == LIMIT
    assert small.call("SET", "bulk:k", "\u00e9" * (LIMIT // 2)) == b"OK"
    assert small.call("STRLEN", "bulk:k") == LIMIT


def test_pipeline_names_command_and_argument(small):
    pipe = small.pipeline(transaction=False)
    pipe.set("bulk:a", "1")
    pipe.set("bulk:b", "2")
    pipe.set("bulk:k", b"x" * (LIMIT + 1))
    with pytest.raises(cpipe.DataError) as exc:
        pipe.execute()
    msg = str(exc.value)
    assert "pipeline command 2" in msg and "argument 2" in msg, msg
    assert small.call("EXISTS", "bulk:a", "bulk:b", "bulk:k") == 0


def test_pool_submit_and_asyncio_refuse(real_server):
    p = cpipe.Pool(host="127.0.0.1", port=real_server.port, size=2, proto_max_bulk_len=LIMIT)
    try:
        with pytest.raises(cpipe.DataError, match="argument 2"):
            p.submit("SET", "bulk:k", b"x" * (LIMIT + 1))
        with pytest.raises(cpipe.DataError, match="argument 2"):
            p.set("bulk:k", b"x" * (LIMIT + 1))
        assert p.submit("EXISTS", "bulk:k").result(5) == 0
    finally:
        p.close()

    async def main():
        r = ca.Client(host="127.0.0.1", port=real_server.port, proto_max_bulk_len=LIMIT)
        try:
            with pytest.raises(cpipe.DataError, match="argument 2"):
                await r.set("bulk:k", b"x" * (LIMIT + 1))
            pipe = r.pipeline(transaction=False)
            pipe.set("bulk:a", 1).set("bulk:k", "x" * (LIMIT + 1))
            with pytest.raises(cpipe.DataError, match="pipeline command 1"):
                await pipe.execute()
            assert await r.exists("bulk:k", "bulk:a") == 0
        finally:
            await r.aclose()

    run("asyncio", main(), timeout=30)


@pytest.mark.parametrize("bad", [0, -1, 1.5, "512", True, float("inf")])
@pytest.mark.parametrize("kind", ["Client", "Pool", "asyncio"])
def test_option_is_validated(real_server, bad, kind):
    cls = {"Client": cpipe.Client, "Pool": cpipe.Pool, "asyncio": ca.Client}[kind]
    with pytest.raises((cpipe.DataError, ValueError)) as exc:
        cls(host="127.0.0.1", port=real_server.port, proto_max_bulk_len=bad)
    assert "proto_max_bulk_len" in str(exc.value) and repr(bad) in str(exc.value)


def peak_rss_since_reset() -> int:
    """Peak RSS in bytes since the last reset_peak_rss()."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM")


def rss() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def reset_peak_rss() -> None:
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def mem_available() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return 0


def check_refused_without_copy(real_server, value) -> None:
    c = cpipe.Client(host="127.0.0.1", port=real_server.port, socket_timeout=10)
    p = cpipe.Pool(host="127.0.0.1", port=real_server.port, size=1, socket_timeout=10)
    try:
        assert c.call("PING") == b"PONG" and p.call("PING") == b"PONG"
        for send in (lambda: c.call("SET", "bulk:huge", value),
                     lambda: c.pipeline().set("bulk:ok", 1).set("bulk:huge", value).execute(),
                     lambda: p.submit("SET", "bulk:huge", value)):
            base = rss()
            reset_peak_rss()
            with pytest.raises(cpipe.DataError) as exc:
                send()
            grew = peak_rss_since_reset() - base
            assert "argument 2" in str(exc.value) and "536870912" in str(exc.value), str(exc.value)
            assert grew < 100 << 20, f"RSS grew by {grew >> 20} MiB while refusing the argument"
        assert c.call("EXISTS", "bulk:huge", "bulk:ok") == 0
    finally:
        c.close()
        p.close()


def test_600mb_memoryview_refused_at_default_without_copying(real_server):
    # Anonymous mmap pages cost no RSS until written: cheap on any machine.
    m = mmap.mmap(-1, 600 << 20)
    view = memoryview(m)
    try:
        check_refused_without_copy(real_server, view)
    finally:
        view.release()
        m.close()


def test_600mb_bytes_refused_at_default_without_copying(real_server):
    if mem_available() < 3 << 30:
        pytest.skip("needs 3 GiB of free memory for a 600 MB bytes object")
    value = b"x" * (600 << 20)
    try:
        check_refused_without_copy(real_server, value)
    finally:
        del value
        gc.collect()


def test_every_exception_class_is_exported():
    import cpipe.errors as errors

    classes = {name for name, obj in vars(errors).items()
               if isinstance(obj, type) and issubclass(obj, BaseException) and not name.startswith("_")}
    assert {"NoPermissionError", "NoScriptError", "ReadOnlyError", "OutOfMemoryError",
            "BusyLoadingError"} <= classes
    for name in classes:
        assert getattr(cpipe, name) is getattr(errors, name), name
        assert name in cpipe.__all__, name
    namespace: dict = {}
    exec(f"from cpipe import {', '.join(sorted(classes))}", namespace)
