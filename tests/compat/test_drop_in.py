"""cpipe.Redis as a redis.Redis: the pool facade, redis-py's options, and the
reply options redis-py's methods pass (NEVER_DECODE, EMPTY_RESPONSE)."""
from __future__ import annotations

import pytest
import redis

import cpipe


@pytest.fixture
def r(real_server):
    c = cpipe.Redis(host="127.0.0.1", port=real_server.port, socket_timeout=10)
    c.flushall()
    yield c
    c.close()


def test_is_a_redis_py_client(r):
    assert isinstance(r, redis.Redis)
    assert isinstance(r.pipeline(), redis.client.Pipeline)
    assert cpipe.Client is cpipe.Redis
    assert isinstance(cpipe.Pool(port=r.port, size=2), redis.Redis)
    # every command method of redis-py is there
    missing = [n for n in dir(redis.Redis) if not n.startswith("_") and not hasattr(r, n)]
    assert missing == []


def test_connection_pool_describes_the_engine(r, real_server):
    pool = r.connection_pool
    assert isinstance(pool, redis.ConnectionPool)
    kw = pool.connection_kwargs
    assert (kw["host"], kw["port"], kw["db"]) == ("127.0.0.1", real_server.port, 0)
    assert r.get_connection_kwargs() is kw
    assert pool.max_connections == 1
    assert r.get_encoder().encode("é") == "é".encode()
    with cpipe.Pool(port=real_server.port, size=3) as p:
        assert p.connection_pool.max_connections == 3


def test_disconnect_closes_the_engine_connections(r):
    before = r.client_id()
    r.connection_pool.disconnect()
    after = r.client_id()
    assert after != before
    assert r.ping() is True


def test_built_from_a_redis_py_connection_pool(real_server):
    pool = redis.ConnectionPool(host="127.0.0.1", port=real_server.port, db=3,
                                decode_responses=True, client_name="from-pool")
    c = cpipe.Redis(connection_pool=pool)
    try:
        c.set("k", "v")
        assert c.get("k") == "v"  # decode_responses from the pool
        assert c.client_getname() == "from-pool"
        assert redis.Redis(port=real_server.port, db=3).get("k") == b"v"
        assert pool._created_connections == 0  # the pool's own connections are never used
    finally:
        c.close()
    c = cpipe.Redis(connection_pool=redis.BlockingConnectionPool(port=real_server.port, max_connections=5))
    try:
        assert c.ping() is True
    finally:
        c.close()


def test_unix_socket_pool_and_from_pool(tmp_path):
    from tests._servers import start_real_server

    sock = str(tmp_path / "r.sock")
    srv = start_real_server("--unixsocket", sock, "--unixsocketperm", "700")
    try:
        pool = redis.ConnectionPool(connection_class=redis.UnixDomainSocketConnection, path=sock)
        c = cpipe.Redis.from_pool(pool)
        assert c.ping() is True and c.connection_pool.connection_kwargs["path"] == sock
        c.close()
    finally:
        srv.stop()


@pytest.mark.parametrize("options, needle", [
    ({"ssl": True, "ssl_ciphers": "HIGH"}, "ssl_ciphers"),
    ({"ssl": True, "ssl_certfile": "x"}, "ssl_certfile"),  # a file that cannot be loaded
    ({"ssl": "yes"}, "ssl must be True or False"),
    ({"protocol": 4}, "protocol must be 2, 3 or None"),
    ({"protocol": "resp3"}, "protocol must be 2, 3 or None"),
    ({"protocol": True}, "protocol must be 2, 3 or None"),
    ({"cache_config": object()}, "redis.cache.CacheConfig"),
    ({"encoding_errors": "no-such-handler"}, "not a codec error handler"),
    ({"legacy_responses": "no"}, "legacy_responses must be True or False"),
    ({"socket_keepalive_options": {1: 2}}, "keepalive"),
    ({"health_check_interval": -1}, "health_check_interval"),
])
def test_unsupported_options_are_refused_by_name(options, needle):
    with pytest.raises(cpipe.DataError, match=needle):
        cpipe.Redis(port=1, **options)


def test_unknown_option_is_a_type_error():
    with pytest.raises(TypeError, match="no_such_option"):
        cpipe.Redis(port=1, no_such_option=True)


def test_redis_py_options_that_need_nothing_are_accepted(real_server):
    from redis.retry import Retry
    from redis.backoff import NoBackoff

    c = cpipe.Redis(port=real_server.port, health_check_interval=30, socket_keepalive=True,
                    single_connection_client=True, retry=Retry(NoBackoff(), 2), retry_on_timeout=True,
                    lib_name="x", lib_version="1", socket_read_size=65536, max_connections=10,
                    ssl_certfile=None, encoding_errors="strict", protocol=2)
    try:
        assert c.ping() is True
    finally:
        c.close()


def test_credential_provider(real_server):
    from redis.credentials import UsernamePasswordCredentialProvider

    admin = redis.Redis(port=real_server.port)
    admin.acl_setuser("carol", enabled=True, passwords=["+carolpw"], keys="*", commands=["+@all"])
    c = cpipe.Redis(port=real_server.port,
                    credential_provider=UsernamePasswordCredentialProvider("carol", "carolpw"))
    try:
        assert c.acl_whoami() == "carol"  # redis-py converts it
    finally:
        c.close()
        admin.acl_deluser("carol")


def test_never_decode(real_server):
    c = cpipe.Redis(port=real_server.port, decode_responses=True)
    try:
        c.set("k", "v")
        dumped = c.dump("k")  # redis-py's dump() asks for NEVER_DECODE
        assert isinstance(dumped, bytes)
        c.delete("k2")
        c.restore("k2", 0, dumped)
        assert c.get("k2") == "v"
        # in a pipeline, beside commands that are decoded
        for transaction in (False, True):
            replies = c.pipeline(transaction=transaction).get("k").dump("k").hset("h", "f", "é").hgetall("h").execute()
            assert replies == ["v", dumped, replies[2], {"f": "é"}]
    finally:
        c.close()


def test_empty_response(r):
    # mget of no keys: redis-py's method passes EMPTY_RESPONSE=[]
    assert r.mget([]) == []
    p = r.pipeline(transaction=False)
    assert p.mget([]) is p
    assert p.execute() == [[]]


def test_error_replies_are_redis_py_classes(r):
    with pytest.raises(redis.exceptions.NoScriptError):
        r.evalsha("0" * 40, 0)
    with pytest.raises(redis.exceptions.ResponseError, match="WRONGTYPE"):
        r.set("s", "x")
        r.lpush("s", 1)


def test_retry_is_honoured_when_asked_for(real_server):
    """A configured redis-py Retry runs the command again after a ConnectionError."""
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    from tests._servers import start_reference_server

    srv = start_reference_server("--enable-faults")
    try:
        calls = []

        class CountingRetry(Retry):
            def call_with_retry(self, do, fail, *args, **kwargs):
                calls.append(1)
                return super().call_with_retry(do, fail, *args, **kwargs)

        c = cpipe.Redis(port=srv.port, retry=CountingRetry(NoBackoff(), 2))
        plain = cpipe.Redis(port=srv.port)
        try:
            assert c.set("k", "v") is True
            c.execute_command("CPIPE.FAULT", "CLOSE-AFTER", "0")
            assert c.get("k") == b"v"  # failed once, then retried on a new connection
            assert calls == [1]
            plain.ping()
            plain.execute_command("CPIPE.FAULT", "CLOSE-AFTER", "0")
            with pytest.raises(redis.exceptions.ConnectionError):
                plain.get("k")  # no retry unless asked for
        finally:
            c.close()
            plain.close()
    finally:
        srv.stop()


def test_pubsub_and_monitor_run_on_connections_of_their_own(r):
    """Until the engine owns subscriptions, redis-py's PubSub and Monitor run
    on redis-py connections the pool facade opens with the engine's options."""
    p = r.pubsub()
    p.subscribe("ch")
    assert p.get_message(timeout=5)["type"] == "subscribe"
    assert r.publish("ch", "hi") == 1
    message = p.get_message(timeout=5)
    assert (message["type"], message["channel"], message["data"]) == ("message", b"ch", b"hi")
    p.close()
    with r.monitor() as m:
        r.set("seen", 1)
        assert "SET" in next(m.listen())["command"]
    assert r.get("seen") == b"1"  # the shared connection is still in step
