"""INFO on a decoding client, as redis-py 8.2 reads it: undecoded (NEVER_DECODE),
then decoded with undecodable bytes replaced, before its callback; and the
client's encoding_errors= applied to every decoded reply."""
from __future__ import annotations

import pytest
from redis._parsers import helpers

import cpipe

needs_raw_info = pytest.mark.skipif(not hasattr(helpers, "decode_info"), reason="redis-py before 8.2 reads INFO decoded")


def _client(server, **options):
    options.setdefault("socket_timeout", 10)
    return cpipe.Redis(host="127.0.0.1", port=server.port, **options)


def test_info_with_a_custom_callback_is_text_on_a_decoding_client(real_server):
    r = _client(real_server, decode_responses=True)
    try:
        r.set_response_callback("INFO", lambda response, **options: response)
        assert "redis_version:" in r.info("server")
        with r.pipeline() as pipe:  # a transaction: one batch with MULTI/EXEC
            pipe.info("server")
            pipe.get("missing")
            info, missing = pipe.execute()
        assert "redis_version:" in info and missing is None
        with r.pipeline(transaction=False) as pipe:
            pipe.set("k", "v").info("server").get("k")
            ok, info, value = pipe.execute()
        assert ok is True and "redis_version:" in info and value == "v"
        with r.pipeline() as pipe:  # immediate mode after WATCH
            pipe.watch("k")
            assert "redis_version:" in pipe.info("server")
    finally:
        r.delete("k")
        r.close()


def test_info_stays_bytes_on_a_client_that_does_not_decode(real_server):
    r = _client(real_server)
    try:
        r.set_response_callback("INFO", lambda response, **options: response)
        assert b"redis_version:" in r.info("server")
    finally:
        r.close()


@pytest.fixture
def bad_errorstat(real_server):
    """An error reply whose name is not UTF-8, counted in INFO errorstats."""
    r = _client(real_server)
    r.config_resetstat()
    with pytest.raises(cpipe.ResponseError):
        r.eval(b"return redis.error_reply('\xff\xfeBAD oops')", 0)
    yield
    r.config_resetstat()
    r.close()


@needs_raw_info
def test_info_with_undecodable_bytes_replaces_them(real_server, bad_errorstat):
    r = _client(real_server, decode_responses=True)
    try:
        assert r.info("errorstats")["errorstat_\ufffd\ufffdBAD"] == {"count": 1}
        with r.pipeline() as pipe:
            pipe.info("errorstats")
            (info,) = pipe.execute()
        assert info["errorstat_\ufffd\ufffdBAD"] == {"count": 1}
        assert "redis_version" in r.info()
    finally:
        r.close()


def test_info_with_backslashreplace_names_the_bytes(real_server, bad_errorstat):
    r = _client(real_server, decode_responses=True, encoding_errors="backslashreplace")
    try:
        assert r.info("errorstats")["errorstat_\\xff\\xfeBAD"] == {"count": 1}
    finally:
        r.close()


@pytest.mark.parametrize("errors, text", [("backslashreplace", "a\\xffb"), ("replace", "a\ufffdb"),
                                          ("surrogateescape", "a\udcffb")])
def test_encoding_errors_applies_to_every_decoded_reply(real_server, errors, text):
    r = _client(real_server, decode_responses=True, encoding_errors=errors)
    raw = _client(real_server)
    try:
        raw.set("bad", b"a\xffb")
        raw.hset("badh", b"f\xff", b"a\xffb")
        assert r.get("bad") == text
        assert r.execute_command("GET", "bad") == text
        assert r.hgetall("badh") == {text.replace("a", "f", 1).replace("b", ""): text}
        assert r.pipeline().get("bad").dump("bad").get("bad").execute()[::2] == [text, text]
        with r.pipeline() as pipe:
            pipe.watch("bad")
            assert pipe.get("bad") == text
        assert r.connection_pool.get_encoder().encoding_errors == errors
        ps = r.pubsub()
        ps.subscribe("badch")
        assert ps.get_message(timeout=5)["type"] == "subscribe"
        raw.publish("badch", b"a\xffb")
        assert ps.get_message(timeout=5)["data"] == text
        ps.close()
    finally:
        raw.delete("bad", "badh")
        raw.close()
        r.close()


def test_encoding_errors_from_a_redis_py_pool(real_server):
    import redis

    pool = redis.ConnectionPool(host="127.0.0.1", port=real_server.port, decode_responses=True,
                                encoding_errors="replace")
    r = cpipe.Redis(connection_pool=pool)
    try:
        r.set("bad", b"\xff")
        assert r.get("bad") == "\ufffd"
    finally:
        r.delete("bad")
        r.close()


def test_strict_decoding_fails_only_the_undecodable_reply(real_server):
    r = _client(real_server, decode_responses=True)
    try:
        r.set("bad", b"\xff")
        with pytest.raises(UnicodeDecodeError):
            r.get("bad")
        assert r.set("good", "ok") and r.get("good") == "ok"
    finally:
        r.delete("bad", "good")
        r.close()


@pytest.mark.parametrize("value", ["no-such-handler", 3, None])
def test_encoding_errors_must_name_an_error_handler(value):
    from cpipe._options import InvalidOptionError

    with pytest.raises(InvalidOptionError, match="encoding_errors"):
        cpipe.Redis(port=1, decode_responses=True, encoding_errors=value)
