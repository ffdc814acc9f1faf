"""Traffic over TLS: big pipelines, idle connections (TLS 1.3 session
tickets), reconnects, pub/sub, asyncio; compared with the plaintext port
of the same server."""
from __future__ import annotations

import asyncio
import time

import pytest

import cpipe
import cpipe.asyncio


def tls_kw(pki, **kw):
    kw.update(ssl=True, ssl_ca_certs=pki.ca)
    kw.setdefault("socket_timeout", 10)
    return kw


def test_pipeline_of_10k_commands(tls_server, pki, plain):
    r = cpipe.Redis(port=tls_server.tls_port, **tls_kw(pki))
    try:
        with r.pipeline(transaction=False) as p:
            for i in range(10_000):
                p.hset("big", f"f{i}", "v" * 50)
            replies = p.execute()
        assert replies == [1] * 10_000
        with r.pipeline(transaction=False) as p:
            for i in range(10_000):
                p.hget("big", f"f{i}")
            assert p.execute() == [b"v" * 50] * 10_000
        assert plain.hlen("big") == 10_000
        # A reply far larger than one TLS record (16 KiB).
        r.set("blob", b"x" * 3_000_000)
        assert r.get("blob") == b"x" * 3_000_000
    finally:
        r.close()


@pytest.mark.parametrize("protocol", [2, 3])
def test_idle_connection_never_sees_a_stray_reply(tls_server, pki, protocol):
    """Redis (OpenSSL, TLS 1.3) sends NewSessionTicket records after the
    handshake; they reach an idle connection, whose next command peeks at
    it first. They are TLS records, not a reply nobody asked for."""
    for autopipeline in (False, True):
        r = cpipe.Redis(port=tls_server.tls_port, protocol=protocol, autopipeline=autopipeline, **tls_kw(pki))
        try:
            first_id = r.client_id()
            for pause in (0.0, 0.002, 0.02, 0.1):
                time.sleep(pause)
                assert r.ping()
                assert r.client_id() == first_id  # never replaced: nothing was taken for a stray reply
        finally:
            r.close()


def test_reconnect_after_client_kill(tls_server, pki, plain):
    r = cpipe.Redis(port=tls_server.tls_port, **tls_kw(pki))
    try:
        r.set("k", "1")
        old = r.client_id()
        assert plain.client_kill_filter(_id=old) == 1
        time.sleep(0.05)
        assert r.get("k") == b"1"  # the idle peek saw the closed connection; a new one was made
        assert r.client_id() != old
        # Killed under a command in a pipeline: that command fails, the next reconnects.
        old = r.client_id()
        plain.client_kill_filter(_id=old)
        for _ in range(3):
            try:
                assert r.incr("n") >= 1
                break
            except cpipe.ConnectionError:
                pass
        assert r.client_id() != old
    finally:
        r.close()


def test_pubsub_over_tls(tls_server, pki, plain):
    r = cpipe.Redis(port=tls_server.tls_port, **tls_kw(pki))
    p = r.pubsub()
    try:
        p.subscribe("news")
        assert p.get_message(timeout=5)["type"] == "subscribe"
        for i in range(100):
            plain.publish("news", f"m{i}")
        got = []
        deadline = time.monotonic() + 10
        while len(got) < 100 and time.monotonic() < deadline:
            m = p.get_message(timeout=1)
            if m:
                got.append(m["data"])
        assert got == [f"m{i}".encode() for i in range(100)]
    finally:
        p.close()
        r.close()


def test_asyncio_over_tls(tls_server, pki, plain):
    async def main():
        r = cpipe.asyncio.Redis(port=tls_server.tls_port, **tls_kw(pki))
        try:
            assert await r.set("a", "1")
            results = await asyncio.gather(*(r.incr("counter") for _ in range(500)))
            assert sorted(results) == list(range(1, 501))
            async with r.pipeline(transaction=False) as p:
                for i in range(1000):
                    p.set(f"ak{i}", i)
                assert await p.execute() == [True] * 1000
            await asyncio.sleep(0.05)  # idle: the session tickets, if still there, are no stray reply
            assert await r.get("ak999") == b"999"
            ps = r.pubsub()
            await ps.subscribe("ach")
            assert (await ps.get_message(timeout=5))["type"] == "subscribe"
            plain.publish("ach", "hello")
            msg = None
            for _ in range(50):
                msg = await ps.get_message(timeout=0.2)
                if msg:
                    break
            assert msg and msg["data"] == b"hello"
            await ps.aclose()
        finally:
            await r.aclose()
    asyncio.run(main())
    assert plain.get("counter") == b"500"


def test_asyncio_from_rediss_url(tls_server, pki):
    async def main():
        r = cpipe.asyncio.Redis.from_url(f"rediss://127.0.0.1:{tls_server.tls_port}?ssl_ca_certs={pki.ca}")
        try:
            assert await r.ping()
        finally:
            await r.aclose()
    asyncio.run(main())


def test_bulk_over_tls_sends_pipelines(tls_server, pki, plain):
    # The engine's bulk writer drives a plaintext socket itself; over TLS
    # bulk() sends a pipeline per batch, with the same counts and errors.
    plain.delete("bulk:tls", "bulk:str")
    plain.set("bulk:str", "x")
    r = cpipe.Redis(port=tls_server.tls_port, **tls_kw(pki))
    try:
        with r.bulk(batch=500, raise_on_error=False) as b:
            for i in range(5_000):
                b.hset("bulk:tls", f"f{i}", i)
            b.hset("bulk:str", "f", "v")  # WRONGTYPE
            with pytest.raises(cpipe.DataError, match="not available over TLS"):
                b.send_raw(b"*1\r\n$4\r\nPING\r\n", 1)
        assert b.acknowledged == 5_001
        assert [index for index, _, _ in b.errors] == [5_000]
        assert plain.hlen("bulk:tls") == 5_000
    finally:
        r.close()
