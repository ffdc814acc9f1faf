"""The client's hot methods in C (bridge_hot.c, client._install_c_methods):
their plain form does what HotCommands' method and Redis._cmd do, with no
Python frame; every other form, and any client whose _cmd is not
Redis._cmd, gets the Python method."""
from __future__ import annotations

import gc
import inspect
import weakref

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

import cpipe
from cpipe._hot import C_METHOD_FORMS, HotCommands


@pytest.fixture
def r(client):
    return client  # tests/conftest.py's: a cpipe.Client (cpipe.Redis) on the session's server, flushed


def test_the_hot_methods_are_c_descriptors_with_redis_py_signatures(r):
    for attr, _, _, _ in C_METHOD_FORMS:
        method = cpipe.Redis.__dict__[attr]
        assert type(method).__name__ == "ClientMethod", attr
        assert inspect.signature(getattr(r, attr)) == inspect.signature(getattr(HotCommands, attr).__get__(r)), attr
        assert method.__doc__ == getattr(HotCommands, attr).__doc__


def test_plain_forms_reply_as_redis_py_does(r, server):
    ref = redis.Redis(host="127.0.0.1", port=server.port, protocol=2)
    try:
        for client, prefix in ((r, "c"), (ref, "p")):
            assert client.set(f"{prefix}:k", "v") is True
            assert client.hset(f"{prefix}:h", "f", 1) == 1
            assert client.lpush(f"{prefix}:l", 1, 2) == 2
            assert client.rpush(f"{prefix}:l", 3) == 3
            assert client.sadd(f"{prefix}:s", "a", "b") == 2
        for attr, args in (("get", ("k",)), ("hget", ("h", "f")), ("hgetall", ("h",)), ("exists", ("k", "h", "x")),
                           ("delete", ("l", "s"))):
            got = getattr(r, attr)(*[f"c:{a}" if a != "f" else a for a in args])
            want = getattr(ref, attr)(*[f"p:{a}" if a != "f" else a for a in args])
            assert got == want, attr
    finally:
        ref.close()


def test_other_forms_go_to_redis_py(r):
    assert r.set("k", "v", ex=100) is True and 0 < r.ttl("k") <= 100
    assert r.set("k", "w", nx=True) is None
    assert r.hset("h", mapping={"a": 1, "b": 2}) == 2
    assert r.hset("h", key="c", value=3) == 1
    with pytest.raises(redis.exceptions.DataError):
        r.set("k", None)
    with pytest.raises(redis.exceptions.DataError):
        r.hset("h", "f", None)
    with pytest.raises(redis.exceptions.DataError):  # nothing sent: the field is not there
        r.hset("h", "f", object())
    assert r.hget("h", "f") is None
    assert r.hgetall("h") == {b"a": b"1", b"b": b"2", b"c": b"3"}


def test_error_replies_and_decoding(r, server):
    r.set("str", "x")
    with pytest.raises(redis.exceptions.ResponseError, match="WRONGTYPE"):
        r.hget("str", "f")
    d = cpipe.Redis(host="127.0.0.1", port=server.port, decode_responses=True)
    try:
        assert d.get("str") == "x"
        assert d.hgetall("missing") == {}
    finally:
        d.close()


def test_response_callbacks_apply(r):
    r.set("k", "v")
    r.set_response_callback("GET", lambda reply: ("seen", reply))
    assert r.get("k") == ("seen", b"v")
    r.response_callbacks = {"GET": lambda reply: ("plain dict", reply)}
    assert r.get("k") == ("plain dict", b"v")


def test_a_subclass_with_its_own_cmd_keeps_it(server):
    calls = []

    class Logged(cpipe.Redis):
        def _cmd(self, *args):
            calls.append(args)
            return super()._cmd(*args)

    c = Logged(host="127.0.0.1", port=server.port)
    try:
        c.set("k", "v")
        assert c.get("k") == b"v"
        assert calls == [("SET", "k", "v"), ("GET", "k")]
    finally:
        c.close()


def test_an_instance_with_its_own_cmd_keeps_it(r):
    calls = []
    r._cmd = lambda *args: calls.append(args) or "mine"
    assert r.get("k") == "mine"
    assert calls == [("GET", "k")]


def test_a_connection_error_goes_through_the_retry_policy(server):
    c = cpipe.Redis(host="127.0.0.1", port=server.port, retry=Retry(NoBackoff(), 3),
                    retry_on_error=[redis.exceptions.ConnectionError])
    admin = redis.Redis(host="127.0.0.1", port=server.port)
    try:
        c.set("k", "v")
        name = f"cm-{id(c)}"
        c.client_setname(name)
        ids = [x["id"] for x in admin.client_list() if x.get("name") == name]
        assert ids
        admin.client_kill_filter(_id=ids[0])
        # The idle connection was killed: the engine may replace it before
        # sending, or the send fails and the retry policy runs it again.
        assert c.get("k") == b"v"
        assert c.hset("h", "f", 1) == 1
    finally:
        c.close()
        admin.close()


def test_an_unretried_connection_error_is_raised_as_it_was(r, monkeypatch):
    def broken(*args):
        raise redis.exceptions.ConnectionError("the wire is cut")

    r._retry = None
    monkeypatch.setattr(r, "_exec", broken)
    with pytest.raises(redis.exceptions.ConnectionError, match="the wire is cut"):
        r.get("k")


def test_a_retried_error_runs_again(r, monkeypatch):
    real, calls = r._exec, []

    def flaky(*args):
        calls.append(args)
        if len(calls) == 1:
            raise redis.exceptions.ConnectionError("once")
        return real(*args)

    r._retry = Retry(NoBackoff(), 2)
    r._retry.update_supported_errors([redis.exceptions.ConnectionError])
    monkeypatch.setattr(r, "_exec", flaky)
    r.set("k", "v")
    assert calls[0] == ("SET", "k", "v") and len(calls) == 2
    assert r.get("k") == b"v"


def test_a_raised_error_does_not_keep_the_client_alive(server):
    # A cycle (the exception's traceback -> a frame -> the exception) would
    # keep a closed client's reopened connections until the cyclic GC ran.
    def broken(*args):
        raise redis.exceptions.ConnectionError("cut")

    gc.disable()
    try:
        for retry in (None, Retry(NoBackoff(), 1)):
            c = cpipe.Redis(host="127.0.0.1", port=server.port)
            c._retry = retry
            if retry is not None:
                retry.update_supported_errors([redis.exceptions.ConnectionError])
            c._exec = broken
            with pytest.raises(redis.exceptions.ConnectionError):
                c.get("k")
            ref = weakref.ref(c)
            del c
            assert ref() is None, f"retry={retry}: the client outlived its last reference"
    finally:
        gc.enable()
