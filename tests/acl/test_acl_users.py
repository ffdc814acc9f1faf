"""ACL users: a user limited to some keys and commands gets redis-py's
NoPermissionError, with redis-py's words, on every path (call, pipeline,
Pool, asyncio, pubsub), and a wrong password is an AuthenticationError.

Each check runs the same thing through redis-py on the same server and
compares the exception's type and text.
"""
from __future__ import annotations

import asyncio

import pytest
import redis
import redis.asyncio

import cpipe
import cpipe.asyncio as ca
from tests._servers import start_real_server

USER, PASSWORD = "limited", "s3cret-pw"


@pytest.fixture(scope="module")
def acl_server():
    srv = start_real_server()
    admin = redis.Redis(port=srv.port, protocol=2)
    # Keys app:* only; reads, writes and pub/sub on app:* channels, nothing else.
    admin.acl_setuser(USER, enabled=True, passwords=[f"+{PASSWORD}"], keys=["app:*"], channels=["app:*"],
                      commands=["+get", "+set", "+ping", "+hello", "+auth", "+client", "+subscribe",
                                "+unsubscribe", "+publish", "+select", "+acl|whoami"])
    admin.close()
    yield srv
    srv.stop()


def _outcome(fn):
    try:
        return "ok", fn()
    except redis.exceptions.RedisError as e:
        return type(e).__name__, str(e)


@pytest.mark.parametrize("protocol", [2, 3])
@pytest.mark.parametrize("call", ["allowed", "other key", "forbidden command"])
def test_limited_user_as_redis_py(acl_server, protocol, call):
    kw = {"port": acl_server.port, "username": USER, "password": PASSWORD, "protocol": protocol}
    fn = {
        "allowed": lambda r: (r.set("app:k", "v"), r.get("app:k")),
        "other key": lambda r: r.set("secret:k", "v"),
        "forbidden command": lambda r: r.flushall(),
    }[call]
    ours, theirs = cpipe.Redis(**kw), redis.Redis(**kw)
    try:
        want = _outcome(lambda: fn(theirs))
        got = _outcome(lambda: fn(ours))
    finally:
        ours.close()
        theirs.close()
    assert got == want
    if call != "allowed":
        assert got[0] == "NoPermissionError"


def test_limited_user_in_a_pipeline_and_a_pool(acl_server):
    kw = {"port": acl_server.port, "username": USER, "password": PASSWORD}
    theirs = redis.Redis(**kw)
    pool = cpipe.Pool(size=2, **kw)
    try:
        want = theirs.pipeline(transaction=False).set("app:p", "1").set("secret:p", "1").get("app:p") \
            .execute(raise_on_error=False)
        got = pool.pipeline(transaction=False).set("app:p", "1").set("secret:p", "1").get("app:p") \
            .execute(raise_on_error=False)
        assert [type(x).__name__ for x in got] == [type(x).__name__ for x in want]
        assert str(got[1]) == str(want[1]) and isinstance(got[1], redis.exceptions.NoPermissionError)
        assert got[2] == b"1"
        # The error is the command's own: the connection stays in step for the next one.
        with pytest.raises(redis.exceptions.NoPermissionError):
            pool.submit("SET", "secret:f", "1").result(10)
        assert pool.get("app:p") == b"1"
    finally:
        pool.close()
        theirs.close()


def test_limited_user_asyncio(acl_server):
    kw = {"port": acl_server.port, "username": USER, "password": PASSWORD}

    async def main():
        ours, theirs = ca.Redis(**kw), redis.asyncio.Redis(**kw)
        try:
            out = []
            for client in (theirs, ours):
                try:
                    await client.set("secret:a", "1")
                    out.append(("ok",))
                except redis.exceptions.RedisError as e:
                    out.append((type(e).__name__, str(e)))
            assert await ours.set("app:a", "1") is True
            return out
        finally:
            await ours.aclose()
            await theirs.aclose()

    want, got = asyncio.run(asyncio.wait_for(main(), 30))
    assert got == want and got[0] == "NoPermissionError"


def test_limited_user_pubsub_channels(acl_server):
    """Subscribing to a channel outside the user's patterns is refused as redis-py refuses it."""
    kw = {"port": acl_server.port, "username": USER, "password": PASSWORD}
    c = cpipe.Redis(**kw)
    p = c.pubsub()
    try:
        p.subscribe("app:news")
        assert p.get_message(timeout=5)["type"] == "subscribe"
        assert c.publish("app:news", "hi") == 1
        msg = p.get_message(timeout=5)
        assert msg is not None and msg["data"] == b"hi"
        theirs = redis.Redis(**kw)
        try:
            with pytest.raises(redis.exceptions.NoPermissionError) as want:
                theirs.publish("secret:news", "x")
        finally:
            theirs.close()
        with pytest.raises(redis.exceptions.NoPermissionError) as got:
            c.publish("secret:news", "x")
        assert str(got.value) == str(want.value)
    finally:
        p.close()
        c.close()


@pytest.mark.parametrize("protocol", [2, 3])
def test_wrong_password_is_authentication_error(acl_server, protocol):
    kw = {"port": acl_server.port, "username": USER, "password": "wrong", "protocol": protocol}
    with pytest.raises(redis.exceptions.AuthenticationError) as want:
        redis.Redis(**kw).get("app:k")
    c = cpipe.Redis(**kw)
    try:
        with pytest.raises(redis.exceptions.AuthenticationError) as got:
            c.get("app:k")
    finally:
        c.close()
    assert str(got.value) == str(want.value)


def test_credential_provider_user(acl_server):
    """A redis-py CredentialProvider's (username, password) log the user in."""
    from redis.credentials import UsernamePasswordCredentialProvider

    c = cpipe.Redis(port=acl_server.port, credential_provider=UsernamePasswordCredentialProvider(USER, PASSWORD))
    try:
        assert c.set("app:cp", "1") is True
        assert c.acl_whoami() == USER
        with pytest.raises(redis.exceptions.NoPermissionError):
            c.get("secret:cp")
    finally:
        c.close()
