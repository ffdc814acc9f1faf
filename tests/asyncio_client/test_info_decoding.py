"""INFO on a decoding cpipe.asyncio client, as redis-py 8.2 reads it (see
tests/client/test_info_decoding.py for the sync client)."""
from __future__ import annotations

import cpipe.asyncio as ca

from ._run import run


def test_info_with_a_custom_callback_is_text_on_a_decoding_client(real_server, loop_kind):
    async def main():
        r = ca.Redis(host="127.0.0.1", port=real_server.port, socket_timeout=10, decode_responses=True)
        try:
            r.set_response_callback("INFO", lambda response, **options: response)
            assert "redis_version:" in await r.info("server")
            async with r.pipeline() as pipe:
                pipe.info("server")
                pipe.get("missing")
                info, missing = await pipe.execute()
            assert "redis_version:" in info and missing is None
            async with r.pipeline() as pipe:  # immediate mode after WATCH
                await pipe.watch("k")
                assert "redis_version:" in await pipe.info("server")
        finally:
            await r.aclose()

    run(loop_kind, main())


def test_encoding_errors_on_the_loop_queue_beside_a_strict_client(real_server, loop_kind):
    # Clients that decode differently share a loop's queue: each reply is
    # decoded with its own client's codec and error handler.
    async def main():
        opts = {"host": "127.0.0.1", "port": real_server.port, "socket_timeout": 10}
        lenient = ca.Redis(decode_responses=True, encoding_errors="backslashreplace", **opts)
        strict = ca.Redis(decode_responses=True, **opts)
        raw = ca.Redis(**opts)
        try:
            await raw.set("bad", b"a\xffb")
            assert await lenient.get("bad") == "a\\xffb"
            assert await raw.get("bad") == b"a\xffb"
            try:
                await strict.get("bad")
            except UnicodeDecodeError:
                pass
            else:
                raise AssertionError("strict decoding of b'\\xff' succeeded")
            async with lenient.pipeline() as pipe:
                pipe.get("bad").dump("bad")
                value, _ = await pipe.execute()
            assert value == "a\\xffb"
            ps = lenient.pubsub()
            await ps.subscribe("badch")
            assert (await ps.get_message(timeout=5))["type"] == "subscribe"
            await raw.publish("badch", b"a\xffb")
            assert (await ps.get_message(timeout=5))["data"] == "a\\xffb"
            await ps.aclose()
        finally:
            await raw.delete("bad")
            for c in (lenient, strict, raw):
                await c.aclose()

    run(loop_kind, main())
