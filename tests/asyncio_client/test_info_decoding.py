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
