"""from_url, AUTH (constructor and URL), db selection, client_name, and that
they are replayed on every reconnect."""
from __future__ import annotations

import time

import pytest
import redis

import cpipe
from cpipe._redis_options import options_from_url as parse_url
from tests._servers import start_real_server

PASSWORD = "s3cret:/@pass"  # characters that need URL quoting


@pytest.fixture(scope="module")
def auth_server():
    srv = start_real_server("--requirepass", PASSWORD)
    r = redis.Redis(host="127.0.0.1", port=srv.port, password=PASSWORD)
    r.execute_command("ACL", "SETUSER", "alice", "on", ">alicepw", "~*", "&*", "+@all")
    r.close()
    yield srv
    srv.stop()


def _quoted(s: str) -> str:
    from urllib.parse import quote
    return quote(s, safe="")


# -- parsing ---------------------------------------------------------------

def test_parse_url_forms():
    assert parse_url("redis://127.0.0.1") == {"host": "127.0.0.1"}
    assert parse_url("redis://127.0.0.1:7000/3") == {"host": "127.0.0.1", "port": 7000, "db": 3}
    assert parse_url("redis://:pw@localhost:1/0") == {"host": "localhost", "port": 1, "db": 0, "password": "pw"}
    assert parse_url(f"redis://user:{_quoted(PASSWORD)}@h:2") == {
        "host": "h", "port": 2, "username": "user", "password": PASSWORD}
    assert parse_url("redis://h/?db=5&socket_timeout=1.5&client_name=me&decode_responses=true") == {
        "host": "h", "db": 5, "socket_timeout": 1.5, "client_name": "me", "decode_responses": True}
    assert parse_url("unix:///tmp/redis.sock?db=2") == {"unix_socket_path": "/tmp/redis.sock", "db": 2}


@pytest.mark.parametrize("url", ["http://localhost", "localhost:6379"])  # rediss://: tests/tls
def test_unsupported_scheme(url):
    with pytest.raises(ValueError, match="scheme"):
        cpipe.from_url(url)


def test_invalid_db_in_url():
    with pytest.raises(ValueError, match="database"):
        cpipe.from_url("redis://127.0.0.1:6379/notanumber")


def test_invalid_constructor_options():
    with pytest.raises(cpipe.DataError):
        cpipe.Client(host="127.0.0.1", port=0)
    with pytest.raises(cpipe.DataError):
        cpipe.Client(host="127.0.0.1", port=70000)
    with pytest.raises(cpipe.DataError):
        cpipe.Client(host="127.0.0.1", db=-1)


def test_from_url_connects(server):
    c = cpipe.from_url(f"redis://127.0.0.1:{server.port}")
    try:
        assert isinstance(c, cpipe.Client)
        assert c.call("PING") == b"PONG"
    finally:
        c.close()
    c = cpipe.Client.from_url(f"redis://127.0.0.1:{server.port}/0?decode_responses=yes")
    try:
        assert c.call("PING") == "PONG"
    finally:
        c.close()


def test_from_url_kwargs_fill_in_what_the_url_does_not_say(server):
    # redis-py's rule: what the URL says wins; kwargs add the rest.
    c = cpipe.from_url(f"redis://127.0.0.1:{server.port}/0", port=1, decode_responses=True)
    try:
        assert c.port == server.port
        assert c.call("ECHO", "x") == "x"
    finally:
        c.close()


def test_redis_py_query_options_are_read_as_redis_py_reads_them(server):
    c = cpipe.from_url(f"redis://127.0.0.1:{server.port}/0?health_check_interval=5&socket_timeout=2"
                       "&autopipeline=yes&max_queued=100")
    try:
        assert c.autopipeline is True and c._socket_timeout == 2.0
        assert c.connection_pool.connection_kwargs["socket_timeout"] == 2.0
        assert c.ping() is True
    finally:
        c.close()
    with pytest.raises(ValueError, match="no_such_option"):
        cpipe.from_url(f"redis://127.0.0.1:{server.port}/0?no_such_option=1")


def test_pool_from_url(server):
    p = cpipe.Pool.from_url(f"redis://127.0.0.1:{server.port}/0", size=3)
    try:
        assert isinstance(p, cpipe.Pool) and p.size == 3
        assert p.submit("PING").result(10) == b"PONG"
    finally:
        p.close()


# -- AUTH --------------------------------------------------------------------

def test_password_via_constructor(auth_server):
    with cpipe.Client(host="127.0.0.1", port=auth_server.port, password=PASSWORD) as c:
        assert c.call("PING") == b"PONG"
        assert c.call("ACL", "WHOAMI") == b"default"


def test_password_via_url(auth_server):
    with cpipe.from_url(f"redis://:{_quoted(PASSWORD)}@127.0.0.1:{auth_server.port}") as c:
        assert c.call("PING") == b"PONG"


def test_username_and_password(auth_server):
    with cpipe.Client(host="127.0.0.1", port=auth_server.port, username="alice", password="alicepw") as c:
        assert c.call("ACL", "WHOAMI") == b"alice"
    with cpipe.from_url(f"redis://alice:alicepw@127.0.0.1:{auth_server.port}/0") as c:
        assert c.call("ACL", "WHOAMI") == b"alice"


@pytest.mark.parametrize("options", [
    {"password": "wrong"},
    {"username": "alice", "password": "wrong"},
    {"username": "nobody", "password": PASSWORD},
], ids=["wrong-password", "wrong-user-password", "unknown-user"])
def test_wrong_credentials(auth_server, options):
    c = cpipe.Client(host="127.0.0.1", port=auth_server.port, **options)
    try:
        for _ in range(2):  # every attempt fails the same way, none hangs
            with pytest.raises(cpipe.AuthenticationError):
                c.call("PING")
        with pytest.raises(cpipe.AuthenticationError):
            c.pipeline(transaction=False).ping().execute()
    finally:
        c.close()


def test_wrong_password_via_url(auth_server):
    with cpipe.from_url(f"redis://:nope@127.0.0.1:{auth_server.port}") as c:
        with pytest.raises(cpipe.AuthenticationError):
            c.call("PING")


def test_no_password_on_protected_server(auth_server):
    with cpipe.Client(host="127.0.0.1", port=auth_server.port) as c:
        with pytest.raises(cpipe.AuthenticationError):  # NOAUTH, as redis-py maps it
            c.call("GET", "k")


def test_pool_with_wrong_password(auth_server):
    with cpipe.Pool(host="127.0.0.1", port=auth_server.port, size=2, password="wrong") as p:
        with pytest.raises(cpipe.AuthenticationError):
            p.call("PING")
        assert isinstance(p.submit("PING").exception(timeout=10), cpipe.AuthenticationError)


def test_auth_db_and_name_replayed_after_reconnect():
    srv = start_real_server("--requirepass", PASSWORD)
    try:
        c = cpipe.Client(host="127.0.0.1", port=srv.port, password=PASSWORD, db=3,
                         client_name="replayed")
        try:
            assert c.call("SET", "k", "v") == b"OK"
            srv.proc.kill()
            srv.proc.wait(10)
            with pytest.raises(cpipe.ConnectionError):
                c.call("PING")
            srv.restart()
            assert c.call("SET", "k2", "v2") == b"OK"          # authenticated again
            assert c.call("CLIENT", "GETNAME") == b"replayed"  # named again
            r = redis.Redis(host="127.0.0.1", port=srv.port, password=PASSWORD, db=3)
            try:
                assert r.get("k2") == b"v2"                      # and in db 3 again
            finally:
                r.close()
        finally:
            c.close()
    finally:
        srv.stop()


# -- db and client_name ---------------------------------------------------------

def _db_of_key(port: int, key: str) -> list[int]:
    r = redis.Redis(host="127.0.0.1", port=port)
    try:
        found = []
        for db in range(16):
            r.execute_command("SELECT", db)
            if r.exists(key):
                found.append(db)
        return found
    finally:
        r.close()


def test_db_via_constructor(real_server):
    with cpipe.Client(host="127.0.0.1", port=real_server.port, db=3) as c:
        c.call("DEL", "db-ctor")
        c.call("SET", "db-ctor", "x")
        assert c.call("CLIENT", "INFO").split(b" db=")[1].startswith(b"3 ")
        assert c.db == 3
    assert _db_of_key(real_server.port, "db-ctor") == [3]


def test_db_via_url(real_server):
    with cpipe.from_url(f"redis://127.0.0.1:{real_server.port}/3") as c:
        c.call("SET", "db-url", "x")
    with cpipe.from_url(f"redis://127.0.0.1:{real_server.port}?db=4") as c:
        c.call("SET", "db-query", "x")
    assert _db_of_key(real_server.port, "db-url") == [3]
    assert _db_of_key(real_server.port, "db-query") == [4]


def test_db_isolation(server):
    with cpipe.Client(host="127.0.0.1", port=server.port, db=5) as c5, \
            cpipe.Client(host="127.0.0.1", port=server.port, db=0) as c0:
        c5.call("SET", "iso", "five")
        c0.call("SET", "iso", "zero")
        assert c5.call("GET", "iso") == b"five"
        assert c0.call("GET", "iso") == b"zero"
        p = cpipe.Pool(host="127.0.0.1", port=server.port, size=3, db=5)
        try:
            assert [p.submit("GET", "iso").result(10) for _ in range(20)] == [b"five"] * 20
        finally:
            p.close()
        c5.call("DEL", "iso")
        c0.call("DEL", "iso")


def test_invalid_db_number(real_server):
    with cpipe.Client(host="127.0.0.1", port=real_server.port, db=999) as c:
        with pytest.raises(cpipe.RedisError, match="DB index is out of range"):
            c.call("PING")


def test_client_name(real_server):
    with cpipe.Client(host="127.0.0.1", port=real_server.port, client_name="cpipe-test") as c:
        assert c.call("CLIENT", "GETNAME") == b"cpipe-test"
        r = redis.Redis(host="127.0.0.1", port=real_server.port)
        try:
            assert "cpipe-test" in [cl["name"] for cl in r.client_list()]
        finally:
            r.close()
    with cpipe.from_url(f"redis://127.0.0.1:{real_server.port}/0?client_name=from-url") as c:
        assert c.call("CLIENT", "GETNAME") == b"from-url"
    with cpipe.Pool(host="127.0.0.1", port=real_server.port, size=2, client_name="pooled") as p:
        assert p.submit("CLIENT", "GETNAME").result(10) == b"pooled"


# -- other ways to reach the server ------------------------------------------------

def test_unix_socket_and_localhost(tmp_path):
    path = str(tmp_path / "redis.sock")
    srv = start_real_server("--unixsocket", path, "--unixsocketperm", "700")
    try:
        with cpipe.Client(unix_socket_path=path) as c:
            assert c.call("SET", "via-unix", "1") == b"OK"
            pipe = c.pipeline(transaction=False)
            for i in range(1000):
                pipe.add_command("INCR", "unix-n")
            assert pipe.execute()[-1] == 1000
        with cpipe.from_url(f"unix://{path}?db=2") as c:
            c.call("SET", "unix-db2", "x")
            assert c.call("CLIENT", "INFO").split(b" db=")[1].startswith(b"2 ")
        with cpipe.Pool(unix_socket_path=path, size=2) as p:
            assert p.submit("GET", "via-unix").result(10) == b"1"
        with cpipe.Client(host="localhost", port=srv.port) as c:
            assert c.call("GET", "via-unix") == b"1"
    finally:
        srv.stop()


def test_unix_socket_missing_path(tmp_path):
    with cpipe.Client(unix_socket_path=str(tmp_path / "nothing.sock")) as c:
        t = time.monotonic()
        with pytest.raises(cpipe.ConnectionError):
            c.call("PING")
        assert time.monotonic() - t < 1.0
