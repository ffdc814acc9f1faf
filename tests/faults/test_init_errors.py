"""Issue 7, item 8: a failed SELECT or CLIENT SETNAME while connecting is a
ResponseError naming the init command, not an AuthenticationError; a failed
AUTH still is an AuthenticationError (as redis-py raises them)."""
from __future__ import annotations

import asyncio

import pytest

import cpipe
import cpipe.asyncio


def test_select_out_of_range_is_response_error_naming_select(real_server):
    c = cpipe.Client(host="127.0.0.1", port=real_server.port, db=99, socket_timeout=5)
    try:
        with pytest.raises(cpipe.ResponseError) as info:
            c.call("PING")
        assert not isinstance(info.value, cpipe.AuthenticationError)
        assert "DB index is out of range" in str(info.value)
        assert "SELECT 99" in str(info.value)
    finally:
        c.close()


def test_bad_client_name_is_response_error_naming_setname(real_server):
    c = cpipe.Client(host="127.0.0.1", port=real_server.port, client_name="has space", socket_timeout=5)
    try:
        with pytest.raises(cpipe.ResponseError, match="CLIENT SETNAME") as info:
            c.call("PING")
        assert not isinstance(info.value, cpipe.AuthenticationError)
    finally:
        c.close()


def test_pool_future_and_asyncio_get_the_same_class(real_server):
    p = cpipe.Pool(host="127.0.0.1", port=real_server.port, db=99, size=1, socket_timeout=5)
    try:
        exc = p.submit("PING").exception(10)
        assert isinstance(exc, cpipe.ResponseError) and not isinstance(exc, cpipe.AuthenticationError), exc
        assert "SELECT 99" in str(exc)
    finally:
        p.close()

    async def main():
        a = cpipe.asyncio.Client(host="127.0.0.1", port=real_server.port, db=99, socket_timeout=5)
        try:
            with pytest.raises(cpipe.ResponseError, match="SELECT 99") as info:
                await a.call("PING")
            assert not isinstance(info.value, cpipe.AuthenticationError)
        finally:
            await a.aclose()

    asyncio.run(main())


def test_wrong_password_is_still_authentication_error():
    from tests._servers import start_real_server

    srv = start_real_server("--requirepass", "sesame")
    try:
        c = cpipe.Client(host="127.0.0.1", port=srv.port, password="wrong", socket_timeout=5)
        with pytest.raises(cpipe.AuthenticationError):
            c.call("PING")
        c.close()
        # No password at all: the first init-less command gets NOAUTH.
        c = cpipe.Client(host="127.0.0.1", port=srv.port, db=1, socket_timeout=5)
        with pytest.raises(cpipe.AuthenticationError):
            c.call("PING")
        c.close()
    finally:
        srv.stop()
