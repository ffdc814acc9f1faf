"""A credential_provider whose password rotates: after the server stops
taking the old password and drops the connection, the next connect's AUTH
is refused, the provider is asked again (redis-py asks it on every
connect) and the command runs with the new password, on every path: a
call, execute_command, a pipeline, a Pool, asyncio. A provider that still
gives a refused password is the caller's AuthenticationError, raised once.
"""
from __future__ import annotations

import asyncio
import itertools
import time

import pytest
import redis
from redis.credentials import CredentialProvider

import cpipe
import cpipe.asyncio as ca
from tests._servers import start_real_server

_names = itertools.count()


class Rotating(CredentialProvider):
    """What a secrets manager hands out: the current password, counted."""

    def __init__(self, username: str, password: str) -> None:
        self.username, self.password, self.asked = username, password, 0

    def get_credentials(self):
        self.asked += 1
        return self.username, self.password


@pytest.fixture(scope="module")
def server():
    srv = start_real_server()
    yield srv
    srv.stop()


@pytest.fixture
def admin(server):
    r = redis.Redis(port=server.port, protocol=2)
    yield r
    r.close()


def _rotate(admin, provider, new_password):
    """The server takes only the new password and drops the user's connections."""
    admin.acl_setuser(provider.username, enabled=True, reset_passwords=True, passwords=[f"+{new_password}"],
                      keys=["*"], commands=["+@all"])
    provider.password = new_password
    _kill(admin, provider.username)


def _kill(admin, username):
    """Drop the user's connections, and give the close time to reach the
    client: a command written before it arrives would be a ConnectionError
    (an idle connection killed under a command), which is not under test."""
    admin.client_kill_filter(user=username)
    time.sleep(0.2)


def _user(admin):
    name = f"rot{next(_names)}"
    admin.acl_setuser(name, enabled=True, passwords=["+first"], keys=["*"], commands=["+@all"])
    return Rotating(name, "first")


@pytest.mark.parametrize("path", ["call", "execute_command", "pipeline", "pool"])
def test_rotated_password_is_asked_for_again(server, admin, path):
    provider = _user(admin)
    cls = cpipe.Pool if path == "pool" else cpipe.Redis
    c = cls(port=server.port, credential_provider=provider)
    try:
        assert c.set("k", "1") is True
        assert provider.asked == 1
        _rotate(admin, provider, "second")
        if path == "call":
            assert c.get("k") == b"1"
        elif path == "execute_command":
            assert c.execute_command("GET", "k") == b"1"
        elif path == "pipeline":
            assert c.pipeline(transaction=False).get("k").incr("n").execute() == [b"1", 1]
        else:
            assert c.get("k") == b"1"
        assert provider.asked == 2
        assert c.acl_whoami() == provider.username
        # Later connects replay the new password without asking again.
        _kill(admin, provider.username)
        assert c.get("k") == b"1"
        assert provider.asked == 2
    finally:
        c.close()


def test_a_provider_still_giving_a_refused_password_is_an_authentication_error(server, admin):
    provider = _user(admin)
    c = cpipe.Redis(port=server.port, credential_provider=provider)
    try:
        assert c.ping() is True
        admin.acl_setuser(provider.username, enabled=True, reset_passwords=True, passwords=["+elsewhere"],
                          keys=["*"], commands=["+@all"])
        _kill(admin, provider.username)
        with pytest.raises(redis.exceptions.AuthenticationError):
            c.get("k")
        assert provider.asked == 2  # asked once more, then the error is the caller's
    finally:
        c.close()


def test_rotated_password_asyncio(server, admin):
    provider = _user(admin)

    async def main():
        c = ca.Redis(port=server.port, credential_provider=provider)
        try:
            assert await c.set("k", "1") is True
            _rotate(admin, provider, "second")
            assert await c.get("k") == b"1"
            assert provider.asked == 2
            _rotate(admin, provider, "third")
            assert await c.execute_command("GET", "k") == b"1"
            assert provider.asked == 3
        finally:
            await c.aclose()

    asyncio.run(main())
