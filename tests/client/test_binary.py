"""Binary safety, unicode, and argument validation (DataError, nothing sent)."""
from __future__ import annotations

import pytest

import cpipe

ALL_BYTES = bytes(range(256))


def test_every_byte_value_in_keys_and_values(client):
    pipe = client.pipeline(transaction=False)
    for i in range(256):
        b = bytes([i])
        pipe.add_command("SET", b"k" + b + b"\r\n" + b, b + b"\r\n$-1\r\n" + b)
    assert pipe.execute() == [b"OK"] * 256
    for i in range(256):
        b = bytes([i])
        assert client.call("GET", b"k" + b + b"\r\n" + b) == b + b"\r\n$-1\r\n" + b
    keys = client.call("KEYS", "*")
    assert sorted(keys) == sorted(b"k" + bytes([i]) + b"\r\n" + bytes([i]) for i in range(256))


def test_all_bytes_in_one_key_and_value(client):
    assert client.call("SET", ALL_BYTES, ALL_BYTES * 4) == b"OK"
    assert client.call("GET", ALL_BYTES) == ALL_BYTES * 4
    assert client.call("STRLEN", ALL_BYTES) == 1024
    client.call("HSET", "h", ALL_BYTES, ALL_BYTES[::-1])
    raw = client.call("HGETALL", "h")  # the wire's shape: a RESP3 map or a RESP2 array
    if client._native.protocol(client._h) == 3:
        assert raw == {ALL_BYTES: ALL_BYTES[::-1]}
    else:
        assert raw == [ALL_BYTES, ALL_BYTES[::-1]]
    assert client.hgetall("h") == {ALL_BYTES: ALL_BYTES[::-1]}


def test_resp_lookalike_values(client):
    # Values that look like RESP framing must come back untouched.
    tricky = [b"+OK\r\n", b"-ERR x\r\n", b":1\r\n", b"$-1\r\n", b"*-1\r\n", b"\r\n\r\n", b"\r", b"\n", b"\x00"]
    for i, v in enumerate(tricky):
        client.call("SET", f"t{i}", v)
    assert client.call("MGET", *[f"t{i}" for i in range(len(tricky))]) == tricky


def test_empty_values_and_keys(client):
    assert client.call("SET", "e", b"") == b"OK"
    assert client.call("GET", "e") == b""        # empty, not None
    assert client.call("STRLEN", "e") == 0
    assert client.call("SET", "", "empty key") == b"OK"
    assert client.call("GET", "") == b"empty key"
    assert client.call("SET", "es", "") == b"OK"
    assert client.call("GET", "es") == b""
    client.call("RPUSH", "l", b"", b"", b"x")
    assert client.call("LRANGE", "l", 0, -1) == [b"", b"", b"x"]
    assert client.call("GET", "missing") is None


def test_empty_value_decoded(server, make_client):
    c = make_client(server, decode_responses=True)
    c.call("SET", "e", "")
    assert c.call("GET", "e") == ""
    assert c.call("GET", "missing-e") is None


def test_16_mib_value_round_trip(client):
    big = bytes(range(256)) * (16 * 1024 * 1024 // 256)
    assert len(big) == 16 * 1024 * 1024
    assert client.call("SET", "big", big) == b"OK"
    assert client.call("STRLEN", "big") == len(big)
    got = client.call("GET", "big")
    assert got == big
    # and in a pipeline, next to small replies
    pipe = client.pipeline(transaction=False)
    pipe.add_command("GET", "big").add_command("PING").add_command("GET", "big")
    a, pong, b = pipe.execute()
    assert a == big and b == big and pong == b"PONG"
    client.call("DEL", "big")


def test_unicode_in_and_out(server, make_client):
    text = "grüße 日本語 🎉 \u0000 \u2028"
    raw = make_client(server)
    dec = make_client(server, decode_responses=True)
    raw.call("SET", text, text)
    assert raw.call("GET", text) == text.encode("utf-8")
    assert dec.call("GET", text) == text
    assert dec.call("GET", text.encode("utf-8")) == text
    dec.call("HSET", "hu", "ключ", "значение")
    assert dec.hgetall("hu") == {"ключ": "значение"}
    assert raw.call("HGET", "hu", "ключ") == "значение".encode()


@pytest.mark.parametrize("bad", ["\ud800", "a\udfffb", "\udc80"])
def test_surrogates_are_data_error(client, bad):
    with pytest.raises(cpipe.DataError, match="argument 2"):
        client.call("SET", "sur", bad)
    assert client.call("EXISTS", "sur") == 0
    assert client.call("PING") == b"PONG"


BAD_ARGS = [
    (None, "NoneType"),
    (True, "bool"),
    (False, "bool"),
    ({"a": 1}, "dict"),
    (object(), "object"),
    ([1, 2], "list"),
    ((1,), "tuple"),
    ({1}, "set"),
]


@pytest.mark.parametrize("bad,typename", BAD_ARGS, ids=[t for _, t in BAD_ARGS])
def test_bad_argument_is_data_error_and_nothing_sent(client, bad, typename):
    client.call("SET", "present", "1")
    # MSET would write "first" before reaching the bad argument if anything was sent
    with pytest.raises(cpipe.DataError) as exc:
        client.call("MSET", "first", "1", "second", bad)
    msg = str(exc.value)
    assert "argument 4" in msg, msg
    assert typename in msg, msg
    assert "MSET" in msg, msg
    assert client.call("EXISTS", "first") == 0
    assert client.call("GET", "present") == b"1"
    assert client.call("ECHO", "still in step") == b"still in step"


@pytest.mark.parametrize("pos", [1, 2, 3])
def test_data_error_names_the_position(client, pos):
    args = ["SET", "k", "v", "EX"]
    args[pos] = None
    with pytest.raises(cpipe.DataError, match=f"argument {pos}\\b"):
        client.call(*args)
    assert client.call("EXISTS", "k") == 0


def test_bad_command_name_is_data_error(client):
    with pytest.raises(cpipe.DataError, match="argument 0"):
        client.call(None, "k")
    pipe = client.pipeline(transaction=False)
    pipe.add_command("SET", "a", "1")
    pipe.add_command()  # an empty command inside a batch
    with pytest.raises(cpipe.DataError, match="needs at least its name"):
        pipe.execute()
    assert client.call("EXISTS", "a") == 0
    assert client.call("PING") == b"PONG"


def test_call_without_arguments_is_data_error(client):
    # BUG: the bridge's argument-count check runs before the DataError path,
    # so call() raises TypeError('execute(handle, encoding, *command)').
    with pytest.raises(cpipe.DataError, match="needs at least its name"):
        client.call()
    assert client.call("PING") == b"PONG"


def test_bad_argument_in_pipeline_rejects_whole_pipeline(client):
    pipe = client.pipeline(transaction=False)
    pipe.add_command("SET", "a", "1")
    pipe.add_command("INCR", "counter")
    pipe.add_command("SET", "b", {"no": "dicts"})
    pipe.add_command("SET", "c", "3")
    with pytest.raises(cpipe.DataError) as exc:
        pipe.execute()
    msg = str(exc.value)
    assert "pipeline command 2" in msg and "argument 2" in msg and "dict" in msg, msg
    assert client.call("EXISTS", "a", "b", "c", "counter") == 0
    assert client.call("PING") == b"PONG"
    # the pipeline was emptied and can be reused
    pipe.add_command("SET", "a", "1")
    assert pipe.execute() == [b"OK"]


def test_bad_argument_in_transaction_rejects_everything(client):
    pipe = client.pipeline(transaction=True)
    pipe.set("a", "1")
    pipe.add_command("SET", "b", None)
    with pytest.raises(cpipe.DataError):
        pipe.execute()
    # no MULTI left open on the connection, nothing written
    assert client.call("EXISTS", "a", "b") == 0
    assert client.call("SET", "x", "y") == b"OK"
    assert client.call("GET", "x") == b"y"


def test_bad_argument_gopipe_execute(client):
    client.add_command("SET", "a", "1")
    client.add_command("SET", "b", object())
    with pytest.raises(cpipe.DataError):
        client.execute()
    assert client.call("EXISTS", "a", "b") == 0
    assert client.execute() == []


def test_surrogate_in_pipeline(client):
    pipe = client.pipeline(transaction=False)
    pipe.add_command("SET", "a", "1").add_command("SET", "b", "\ud83d")
    with pytest.raises(cpipe.DataError, match="pipeline command 1"):
        pipe.execute()
    assert client.call("EXISTS", "a") == 0


def test_command_methods_reject_bad_values(client):
    with pytest.raises(cpipe.DataError):
        client.set("k", None)
    with pytest.raises(cpipe.DataError):
        client.hset("h", "f", {"x": 1})
    assert client.call("EXISTS", "k", "h") == 0
