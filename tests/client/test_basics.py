"""call(), execute_command() and reply types, against redis-py on the same server."""
from __future__ import annotations

import threading

import pytest
import redis

import cpipe


def test_redis_is_client():
    assert cpipe.Redis is cpipe.Client


def test_bulk_simple_int_nil(client):
    assert client.call("SET", "k", "v") == b"OK"           # simple string
    assert client.call("GET", "k") == b"v"                 # bulk string
    assert client.call("GET", "missing") is None           # nil bulk
    assert client.call("INCR", "n") == 1                   # integer
    assert client.call("INCRBY", "n", -5) == -4
    assert client.call("PING") == b"PONG"
    assert client.call("ECHO", "x y") == b"x y"
    assert client.call("EXISTS", "k", "missing") == 1


def test_reply_types_are_exact(client):
    client.call("RPUSH", "l", "a", "b", "c")
    assert type(client.call("LLEN", "l")) is int
    lst = client.call("LRANGE", "l", 0, -1)
    assert type(lst) is list and lst == [b"a", b"b", b"c"]
    assert all(type(x) is bytes for x in lst)
    assert client.call("LRANGE", "missing", 0, -1) == []   # empty array
    assert client.call("LPOP", "missing") is None


def test_large_integers(client):
    assert client.call("SET", "big", 2**63 - 1) == b"OK"
    assert client.call("GET", "big") == b"9223372036854775807"
    assert client.call("DECRBY", "big", 2**63 - 1) == 0
    assert client.call("DECR", "big") == -1
    # A Python int past 64 bits is sent as its decimal text.
    client.call("SET", "huge", 2**70)
    assert client.call("GET", "huge") == str(2**70).encode()
    for v in (-2**63, 2**63, -2**63 - 1, 0, -1, 10**30, -10**30):
        client.call("SET", "edge", v)
        assert client.call("GET", "edge") == str(v).encode()


def test_float_and_buffer_arguments(client):
    client.call("SET", "f", 0.1)
    assert client.call("GET", "f") == repr(0.1).encode()
    client.call("SET", "f2", 1e100)
    assert float(client.call("GET", "f2")) == 1e100
    client.call("SET", "ba", bytearray(b"\x00ab"))
    assert client.call("GET", "ba") == b"\x00ab"
    client.call("SET", "mv", memoryview(b"xyz\r\n"))
    assert client.call("GET", "mv") == b"xyz\r\n"
    assert client.call("INCRBYFLOAT", "fl", 2.5) == b"2.5"


def test_command_name_case_and_bytes(client):
    assert client.call(b"set", b"k", b"v") == b"OK"
    assert client.call("gEt", "k") == b"v"


def test_nested_arrays_via_transaction(client):
    # EXEC's reply nests every command's reply: arrays inside an array.
    client.call("RPUSH", "l", "a", "b")
    client.call("MULTI")
    client.call("LRANGE", "l", 0, -1)
    client.call("LRANGE", "missing", 0, -1)
    client.call("GET", "missing")
    client.call("INCR", "n")
    assert client.call("EXEC") == [[b"a", b"b"], [], None, 1]


def test_nested_arrays_eval(real_server, make_client):
    c = make_client(real_server)
    reply = c.call("EVAL", "return {1, {2, {'x', {}}}, 'y', {3}}", 0)
    assert reply == [1, [2, [b"x", []]], b"y", [3]]
    # Lua false becomes a nil inside the array
    assert c.call("EVAL", "return {1, false, 'a'}", 0) == [1, None, b"a"]
    assert c.call("EVAL", "return redis.status_reply('FINE')", 0) == b"FINE"
    reply = c.call("EVAL", "return {redis.error_reply('ERR inner'), 5}", 0)
    assert isinstance(reply[0], cpipe.ResponseError) and str(reply[0]) == "inner"
    assert reply[1] == 5
    assert c.call("PING") == b"PONG"


def test_nested_arrays_xrange_and_command_info(real_server, make_client):
    c = make_client(real_server, protocol=2)  # RESP2's shapes, compared with a RESP2 connection's
    c.call("DEL", "st")
    c.call("XADD", "st", "1-1", "f1", "v1", "f2", "v2")
    c.call("XADD", "st", "2-1", "f", b"\x00\xff")
    assert c.call("XRANGE", "st", "-", "+") == [
        [b"1-1", [b"f1", b"v1", b"f2", b"v2"]],
        [b"2-1", [b"f", b"\x00\xff"]],
    ]
    info = c.call("COMMAND", "INFO", "get", "nosuchcommand")
    assert isinstance(info, list) and len(info) == 2
    entry = info[0]
    assert entry[0] == b"get" and entry[1] == 2 and isinstance(entry[2], list)
    assert b"readonly" in entry[2]
    assert info[1] is None
    # the same structure redis-py's parser sees, element for element
    # (a bare Connection: its API is the same in redis-py 5 and 8)
    conn = redis.Connection(host="127.0.0.1", port=real_server.port, protocol=2)
    try:
        conn.send_command("COMMAND", "INFO", "get", "nosuchcommand")
        assert conn.read_response() == info
        conn.send_command("XRANGE", "st", "-", "+")
        assert conn.read_response() == c.call("XRANGE", "st", "-", "+")
    finally:
        conn.disconnect()


def test_decode_responses(server, make_client):
    c = make_client(server, decode_responses=True)
    c.call("FLUSHALL")
    assert c.call("SET", "k", "välue ✓") == "OK"
    assert c.call("GET", "k") == "välue ✓"
    assert c.call("PING") == "PONG"
    assert c.call("INCR", "n") == 1
    assert c.call("GET", "missing") is None
    c.call("RPUSH", "l", "ä", "b")
    assert c.call("LRANGE", "l", 0, -1) == ["ä", "b"]


def test_decode_responses_other_encoding(server, make_client):
    c = make_client(server, decode_responses=True, encoding="latin-1")
    c.call("SET", "k", b"\xe9\xff")
    assert c.call("GET", "k") == "\xe9\xff"


def test_decode_error_keeps_connection_in_step(server, make_client):
    c = make_client(server, decode_responses=True)
    raw = make_client(server)
    raw.call("SET", "bad", b"\xff\xfe")
    raw.call("SET", "good", "ok")
    with pytest.raises(UnicodeDecodeError):
        c.call("GET", "bad")
    assert c.call("GET", "good") == "ok"
    assert c.call("ECHO", "after") == "after"


ERROR_CASES = [
    ("INCR", "str"),                 # not an integer
    ("LPUSH", "str", "x"),           # WRONGTYPE
    ("NOSUCHCOMMAND", "a", "b"),     # unknown command
    ("GET",),                        # wrong number of arguments
    ("SET", "k", "v", "EX", "-1"),   # invalid expire time
    ("INCRBYFLOAT", "str", "abc"),   # not a valid float
]


@pytest.mark.parametrize("args", ERROR_CASES, ids=lambda a: " ".join(a))
def test_error_reply_matches_redis_py(client, redis_py, args):
    client.call("SET", "str", "text")
    with pytest.raises(redis.ResponseError) as expected:
        redis_py.execute_command(*args)
    with pytest.raises(cpipe.ResponseError) as got:
        client.call(*args)
    assert str(got.value) == str(expected.value)
    assert type(got.value).__name__ == type(expected.value).__name__
    # the connection stays usable and in step
    assert client.call("ECHO", "next") == b"next"
    assert client.call("GET", "str") == b"text"


def test_error_reply_decode_responses(server, make_client):
    c = make_client(server, decode_responses=True)
    c.call("SET", "str", "text")
    with pytest.raises(cpipe.ResponseError, match="not an integer"):
        c.call("INCR", "str")
    assert c.call("GET", "str") == "text"


def test_error_classes():
    assert issubclass(cpipe.ConnectionError, cpipe.RedisError)
    assert issubclass(cpipe.TimeoutError, cpipe.RedisError)
    assert issubclass(cpipe.ResponseError, cpipe.RedisError)
    assert issubclass(cpipe.DataError, cpipe.RedisError)
    assert issubclass(cpipe.AuthenticationError, cpipe.ConnectionError)
    assert issubclass(cpipe.ProtocolError, cpipe.ConnectionError)
    assert issubclass(cpipe.ForkError, cpipe.RedisError)
    assert issubclass(cpipe.ExecAbortError, cpipe.ResponseError)


def test_execute_command_applies_redis_py_conversions(client, redis_py):
    for c in (client, redis_py):
        assert c.execute_command("SET", "k", "v") is True
        assert c.execute_command("HSET", "h", "a", "1", "b", "2") == 2
        assert c.execute_command("HGETALL", "h") == {b"a": b"1", b"b": b"2"}
        assert c.execute_command("EXISTS", "k") == 1
        assert c.execute_command("PING") is True
        assert c.execute_command("GET", "missing") is None
        c.execute_command("DEL", "k", "h")
    with pytest.raises(cpipe.DataError):
        client.execute_command()


def test_command_methods(client):
    assert client.set("k", "v") is True
    assert client.get("k") == b"v"
    assert client.incr("n") == 1
    assert client.hset("h", mapping={"a": 1, "b": 2}) == 2
    assert client.hgetall("h") == {b"a": b"1", b"b": b"2"}
    assert client.delete("k", "h", "n") == 3
    assert client.ping() is True


def test_call_from_many_threads_shares_one_client(server, make_client):
    c = make_client(server)
    errors = []

    def worker(t):
        try:
            for i in range(300):
                key = f"t{t}:{i}"
                assert c.call("SET", key, i) == b"OK"
                assert c.call("GET", key) == str(i).encode()
                assert c.call("INCR", f"t{t}:n") == i + 1
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads)
    assert errors == []


def test_autopipelined_client_from_many_threads(server, make_client):
    c = make_client(server, autopipeline=True)
    errors = []

    def worker(t):
        try:
            for i in range(300):
                assert c.call("ECHO", f"{t}-{i}") == f"{t}-{i}".encode()
                assert c.call("INCR", f"ap{t}") == i + 1
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads)
    assert errors == []


REAL_ERROR_CASES = [
    ("EVALSHA", "a" * 40, 0),        # NOSCRIPT -> NoScriptError
    ("AUTH", "user", "wrong"),       # WRONGPASS -> AuthenticationError
    ("AUTH", "wrong"),               # no password configured -> AuthenticationError in redis-py
    ("EXEC",),
    ("SELECT", 99),
    ("XADD", "s", "0-0", "f", "v"),
]


@pytest.mark.parametrize("args", REAL_ERROR_CASES, ids=lambda a: " ".join(map(str, a))[:30])
def test_error_class_matches_redis_py(real_server, make_client, args):
    c = make_client(real_server)
    r = redis.Redis(host="127.0.0.1", port=real_server.port, protocol=2)
    try:
        with pytest.raises(redis.RedisError) as expected:
            r.execute_command(*args)
    finally:
        r.close()
    with pytest.raises(cpipe.RedisError) as got:
        c.call(*args)
    assert (type(got.value).__name__, str(got.value)) == (type(expected.value).__name__, str(expected.value))
    assert c.call("PING") == b"PONG"


def test_no_permission_error(real_server, make_client):
    r = redis.Redis(host="127.0.0.1", port=real_server.port)
    try:
        r.execute_command("ACL", "SETUSER", "getonly", "on", ">pw", "~*", "+get", "+ping")
    finally:
        r.close()
    c = make_client(real_server, username="getonly", password="pw")
    with pytest.raises(cpipe.ResponseError) as exc:
        c.call("SET", "k", "v")
    assert type(exc.value).__name__ == "NoPermissionError"
    assert "no permissions to run the 'set' command" in str(exc.value)
    assert c.call("PING") == b"PONG"
