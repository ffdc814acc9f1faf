"""RESP3: cpipe's replies equal redis-py's under every protocol= setting.

For each command below, cpipe.Redis and redis.Redis (redis-py 8.1, with
hiredis when installed) run against the same real server with the same
protocol= (None: redis-py's default, RESP3 on the wire with RESP2-era
shapes; 2; 3: RESP3 shapes) and decode_responses, from the same data, and
must return equal values. Then: the quiet RESP2 fallback against a server
without HELLO, the protocol option's spellings, and what cpipe reports of
it to libraries (connection_kwargs).
"""
from __future__ import annotations

import asyncio
import math

import pytest
import redis
import redis.asyncio

import cpipe
import cpipe.asyncio as ca
from tests._servers import start_real_server

PROTOCOLS = [None, 2, 3]
IDS = ["protocol-None", "protocol-2", "protocol-3"]


def _takes_legacy_responses() -> bool:
    """redis-py 8.1 takes legacy_responses=; older releases refuse it (TypeError)."""
    try:
        redis.Redis(port=1, legacy_responses=True).close()  # connects lazily: nothing is sent
    except TypeError:
        return False
    return True


HAS_LEGACY_RESPONSES = _takes_legacy_responses()


def redis_py_wire(port: int, protocol=None, **kw) -> int:
    """The RESP version redis-py itself speaks with protocol= (None: its
    default, RESP3 from redis-py 8 on, RESP2 before), as the server reports
    it in CLIENT INFO: what cpipe must speak with the same setting."""
    r = redis.Redis(port=port, protocol=protocol, **kw)
    try:
        return int(r.client_info()["resp"])
    finally:
        r.close()


def _asyncio_kwargs(protocol, **kw):
    """protocol=None left out: redis-py 5.0's asyncio client sends
    `HELLO None` when given it explicitly."""
    if protocol is not None:
        kw["protocol"] = protocol
    return kw


def _seed(r: redis.Redis) -> None:
    r.flushall()
    r.set("s", "value")
    r.set("n", "10")
    r.set("f", "1.5")
    r.hset("h", mapping={"a": "1", "b": "2"})
    r.sadd("set", "x", "y")
    r.sadd("set2", "y", "z")
    r.zadd("z", {"a": 1, "b": 2.5, "c": -3, "inf": float("inf")})
    r.zadd("z2", {"a": 10, "d": 4})
    r.zadd("one", {"only": 7})
    r.rpush("l", "a", "b", "c", "b")
    r.xadd("st", {"f1": "v1", "f2": "v2"}, id="1-1")
    r.xadd("st", {"g": "w"}, id="2-1")
    r.xgroup_create("st", "grp", id="0")
    r.geoadd("geo", (13.361389, 38.115556, "Palermo"))
    r.set("lcs1", "ohmytext")
    r.set("lcs2", "mynewtext")


# name -> a call made on either client; each runs on freshly seeded data.
COMMANDS = {
    "get": lambda r: r.get("s"),
    "get missing": lambda r: r.get("missing"),
    "set": lambda r: r.set("k", "v"),
    "set get": lambda r: r.set("s", "new", get=True),
    "mget": lambda r: r.mget("s", "missing", "n"),
    "incr": lambda r: r.incr("n"),
    "incrbyfloat": lambda r: r.incrbyfloat("f", 2.25),
    "hget": lambda r: r.hget("h", "a"),
    "hset": lambda r: r.hset("h", "c", "3"),
    "hgetall": lambda r: r.hgetall("h"),
    "hgetall empty": lambda r: r.hgetall("missing"),
    "hincrbyfloat": lambda r: r.hincrbyfloat("h", "a", 0.5),
    "hrandfield withvalues": lambda r: sorted(r.hrandfield("h", 5, withvalues=True)),
    "smembers": lambda r: r.smembers("set"),
    "sinter": lambda r: r.sinter("set", "set2"),
    "sismember": lambda r: r.sismember("set", "x"),
    "smismember": lambda r: r.smismember("set", ["x", "q"]),
    "zrange": lambda r: r.zrange("z", 0, -1),
    "zrange withscores": lambda r: r.zrange("z", 0, -1, withscores=True),
    "zrange withscores cast": lambda r: r.zrange("z", 0, 1, withscores=True, score_cast_func=int),
    "zrevrange withscores": lambda r: r.zrevrange("z", 0, -1, withscores=True),
    "zrangebyscore withscores": lambda r: r.zrangebyscore("z", "-inf", "+inf", withscores=True),
    "zscore": lambda r: r.zscore("z", "b"),
    "zscore inf": lambda r: r.zscore("z", "inf"),
    "zscore missing": lambda r: r.zscore("z", "nope"),
    "zmscore": lambda r: r.zmscore("z", ["a", "nope"]),
    "zincrby": lambda r: r.zincrby("z", 0.5, "a"),
    "zpopmin": lambda r: r.zpopmin("z", 2),
    "zpopmax": lambda r: r.zpopmax("z"),
    "zunion withscores": lambda r: r.zunion(["z", "z2"], withscores=True),
    "zinter": lambda r: r.zinter(["z", "z2"]),
    "zrank": lambda r: r.zrank("z", "b"),
    "zscan": lambda r: r.zscan("z"),
    "zrandmember withscores": lambda r: r.zrandmember("one", 1, withscores=True),
    "lrange": lambda r: r.lrange("l", 0, -1),
    "lpos": lambda r: r.lpos("l", "b"),
    "lpos count": lambda r: r.lpos("l", "b", count=0),
    "lpop count": lambda r: r.lpop("l", 2),
    "blpop": lambda r: r.blpop(["l"], timeout=1),
    "xrange": lambda r: r.xrange("st"),
    "xrevrange": lambda r: r.xrevrange("st", count=1),
    "xread": lambda r: r.xread({"st": "0"}),
    "xreadgroup": lambda r: r.xreadgroup("grp", "c1", {"st": ">"}, count=1),
    "xinfo stream": lambda r: {k: v for k, v in r.xinfo_stream("st").items() if k not in ("radix-tree-keys", "radix-tree-nodes")},
    "xinfo groups": lambda r: r.xinfo_groups("st"),
    "xpending": lambda r: r.xpending("st", "grp"),
    "config get": lambda r: r.config_get("maxmemory*"),
    "command count": lambda r: r.command_count() > 100,
    "command info": lambda r: r.execute_command("COMMAND INFO", "get"),
    "command getkeys": lambda r: r.command_getkeys("SET", "k", "v"),
    "info keyspace": lambda r: r.info("keyspace"),
    "memory doctor": lambda r: r.execute_command("MEMORY DOCTOR")[:20],  # a verbatim string in RESP3
    "client info": lambda r: sorted(r.client_info()),
    "type": lambda r: r.type("h"),
    "object encoding": lambda r: r.object("encoding", "h"),
    "exists": lambda r: r.exists("s", "h", "missing"),
    "geopos": lambda r: r.geopos("geo", "Palermo", "nowhere"),
    "geosearch withdist": lambda r: r.geosearch("geo", longitude=13.36, latitude=38.11, radius=10, unit="km", withdist=True),
    "lcs idx": lambda r: r.lcs("lcs1", "lcs2", idx=True, withmatchlen=True),
    "acl getuser": lambda r: r.acl_getuser("default"),
    "client trackinginfo": lambda r: r.client_trackinginfo(),
    "eval int": lambda r: r.eval("return 7", 0),
    "eval string": lambda r: r.eval("return 'str'", 0),
    "eval table": lambda r: r.eval("return {1, 'two', {3}}", 0),
    "eval nil": lambda r: r.eval("return nil", 0),
    "eval error table": lambda r: r.eval("return {1, redis.error_reply('E inner')}", 0),
    "eval resp3 double": lambda r: r.eval("redis.setresp(3); return {double=2.5}", 0),
    "eval resp3 map": lambda r: r.eval("redis.setresp(3); return {map={a=1, b={2, 3}}}", 0),
    "eval resp3 set": lambda r: r.eval("redis.setresp(3); return {set={x=true}}", 0),
    "eval resp3 true": lambda r: r.eval("redis.setresp(3); return true", 0),
    "eval resp3 false": lambda r: r.eval("redis.setresp(3); return false", 0),
    "eval resp3 hgetall": lambda r: r.eval("redis.setresp(3); return redis.call('HGETALL', KEYS[1])", 1, "h"),
}

CASES = sorted(COMMANDS)


def _comparable(value):
    """Exceptions in a reply (an error inside an array) compare by type and text."""
    if isinstance(value, Exception):
        return type(value).__name__, str(value)
    if isinstance(value, list):
        return [_comparable(v) for v in value]
    return value


def _outcome(fn, r):
    try:
        return "ok", _comparable(fn(r))
    except redis.exceptions.RedisError as e:
        return type(e).__name__, str(e)


@pytest.fixture(scope="module")
def resp_server():
    srv = start_real_server()
    yield srv
    srv.stop()


@pytest.fixture(scope="module", params=PROTOCOLS, ids=IDS)
def protocol(request):
    return request.param


@pytest.fixture(scope="module", params=[False, True], ids=["bytes", "decoded"])
def decode(request):
    return request.param


@pytest.fixture(scope="module")
def pair(resp_server, protocol, decode):
    kw = {"host": "127.0.0.1", "port": resp_server.port, "protocol": protocol, "decode_responses": decode,
          "socket_timeout": 10}
    ours, theirs, ctl = cpipe.Redis(**kw), redis.Redis(**kw), redis.Redis(port=resp_server.port, protocol=2)
    yield ours, theirs, ctl
    for c in (ours, theirs, ctl):
        c.close()


@pytest.mark.parametrize("name", CASES)
def test_same_reply_as_redis_py(pair, name):
    ours, theirs, ctl = pair
    fn = COMMANDS[name]
    _seed(ctl)
    want = _outcome(fn, theirs)
    _seed(ctl)
    got = _outcome(fn, ours)
    assert got == want
    assert type(got[1]) is type(want[1])


def test_reply_types_per_protocol(pair, protocol):
    """Spot checks of what the shapes are, so a change in both clients shows."""
    ours, _, ctl = pair
    _seed(ctl)
    assert isinstance(ours.zscore("z", "b"), float)
    assert ours.hgetall("h") in ({b"a": b"1", b"b": b"2"}, {"a": "1", "b": "2"})
    withscores = ours.zrange("z", 0, 0, withscores=True)
    if protocol == 3:
        assert isinstance(withscores[0], list)  # RESP3 shapes: [member, score]
    else:
        assert isinstance(withscores[0], tuple)
    assert math.isinf(ours.zscore("z", "inf"))
    spoken = ours._native.protocol(ours._h)
    assert spoken == redis_py_wire(ctl.connection_pool.connection_kwargs["port"], protocol)


def test_big_number_is_an_int(pair, protocol):
    """A RESP3 big number is an int, as redis-py's own RESP3 parser makes it
    (hiredis 3.x gives its digits as bytes instead); over RESP2 the server
    sends it as a bulk string."""
    ours, theirs, ctl = pair
    script = "redis.setresp(3); return {big_number='-123456789012345678901234567890'}"
    got = ours.eval(script, 0)
    if redis_py_wire(ctl.connection_pool.connection_kwargs["port"], protocol) == 2:
        assert got == theirs.eval(script, 0)
        return
    assert got == -123456789012345678901234567890 and type(got) is int
    from redis._parsers.resp3 import _RESP3Parser

    pool = redis.ConnectionPool(port=ctl.connection_pool.connection_kwargs["port"], protocol=protocol,
                                decode_responses=ours.decode_responses, parser_class=_RESP3Parser)
    pure = redis.Redis(connection_pool=pool)
    try:
        assert pure.eval(script, 0) == got
    finally:
        pure.close()


def test_pipeline_and_transaction(pair):
    ours, theirs, ctl = pair

    def run(r, transaction):
        p = r.pipeline(transaction=transaction)
        p.hgetall("h").zrange("z", 0, -1, withscores=True).incrbyfloat("f", 1).smembers("set")
        p.zscore("z", "a").get("missing").hset("h", "c", "3").xrange("st").config_get("maxmemory")
        p.eval("redis.setresp(3); return {map={k='v'}}", 0).lpos("l", "b", count=0)
        return p.execute()

    for transaction in (True, False):
        _seed(ctl)
        want = run(theirs, transaction)
        _seed(ctl)
        assert run(ours, transaction) == want


def test_watch_transaction(pair):
    ours, theirs, ctl = pair

    def run(r):
        with r.pipeline() as p:
            p.watch("h")
            before = p.hgetall("h")
            p.multi()
            p.hgetall("h").zrange("z", 0, 0, withscores=True)
            return before, p.execute()

    _seed(ctl)
    want = run(theirs)
    _seed(ctl)
    assert run(ours) == want


def test_error_in_a_resp3_reply_is_in_place(pair):
    ours, theirs, ctl = pair
    _seed(ctl)
    p = ours.pipeline(transaction=False)
    p.get("s").hgetall("s").get("s")
    replies = p.execute(raise_on_error=False)
    assert isinstance(replies[1], redis.exceptions.ResponseError) and "WRONGTYPE" in str(replies[1])
    assert replies[0] == replies[2]


def test_asyncio_same_replies(resp_server, protocol, decode):
    kw = _asyncio_kwargs(protocol, host="127.0.0.1", port=resp_server.port, decode_responses=decode)
    names = ["hgetall", "zrange withscores", "zscore", "smembers", "xinfo groups", "config get", "eval resp3 map",
             "incrbyfloat", "get missing", "blpop"]
    ctl = redis.Redis(port=resp_server.port, protocol=2)

    async def run(r, name):
        call = {
            "hgetall": lambda: r.hgetall("h"),
            "zrange withscores": lambda: r.zrange("z", 0, -1, withscores=True),
            "zscore": lambda: r.zscore("z", "b"),
            "smembers": lambda: r.smembers("set"),
            "xinfo groups": lambda: r.xinfo_groups("st"),
            "config get": lambda: r.config_get("maxmemory*"),
            "eval resp3 map": lambda: r.eval("redis.setresp(3); return {map={a=1}}", 0),
            "incrbyfloat": lambda: r.incrbyfloat("f", 2.25),
            "get missing": lambda: r.get("missing"),
            "blpop": lambda: r.blpop(["l"], timeout=1),
        }[name]
        return await call()

    async def both():
        ours, theirs = ca.Redis(**kw), redis.asyncio.Redis(**kw)
        try:
            for name in names:
                _seed(ctl)
                want = await run(theirs, name)
                _seed(ctl)
                got = await run(ours, name)
                assert got == want, name
            _seed(ctl)
            want = await theirs.pipeline().hgetall("h").zrange("z", 0, -1, withscores=True).execute()
            _seed(ctl)
            assert await ours.pipeline().hgetall("h").zrange("z", 0, -1, withscores=True).execute() == want
        finally:
            await ours.aclose()
            await theirs.aclose()

    try:
        asyncio.run(asyncio.wait_for(both(), 60))
    finally:
        ctl.close()


# -- the quiet fallback --------------------------------------------------------

@pytest.fixture(scope="module")
def no_hello_server():
    """redis-server 7.0 with HELLO renamed away: 'unknown command', as an old server answers."""
    srv = start_real_server("--rename-command", "HELLO", "")
    yield srv
    srv.stop()


@pytest.mark.parametrize("protocol", [None, 3], ids=["protocol-None", "protocol-3"])
@pytest.mark.parametrize("first", ["command", "hot", "pipeline", "watch"])
def test_fallback_to_resp2(no_hello_server, protocol, first):
    """The server refuses HELLO 3: cpipe speaks RESP2, quietly, with redis-py's
    RESP2 shapes from the very first reply, whatever the first call is."""
    ctl = redis.Redis(port=no_hello_server.port, protocol=2)
    _seed(ctl)
    c = cpipe.Redis(port=no_hello_server.port, protocol=protocol)
    try:
        if first == "command":
            assert c.zrange("z", 0, 0, withscores=True) == ctl.zrange("z", 0, 0, withscores=True)
        elif first == "hot":
            assert c.hgetall("h") == {b"a": b"1", b"b": b"2"}
        elif first == "pipeline":
            assert c.pipeline().hgetall("h").zrange("z", 0, 0, withscores=True).execute() == \
                ctl.pipeline().hgetall("h").zrange("z", 0, 0, withscores=True).execute()
        else:
            with c.pipeline() as p:
                p.watch("h")
                p.multi()
                p.hgetall("h")
                assert p.execute() == [{b"a": b"1", b"b": b"2"}]
        assert c._native.protocol(c._h) in (0, 2)  # 0: only the WATCH connection connected yet
        assert c.hgetall("h") == ctl.hgetall("h")
        assert c.zrange("z", 0, -1, withscores=True) == ctl.zrange("z", 0, -1, withscores=True)
        assert c.smembers("set") == ctl.smembers("set")
        assert c.xinfo_groups("st") == ctl.xinfo_groups("st")
        assert c._native.protocol(c._h) == 2
        assert c._config.protocol == 2  # later handles (WATCH connections, a reconnect) ask for RESP2 at once
        c.connection_pool.disconnect()  # a new handle: no HELLO sent again, replies still right
        assert c.hgetall("h") == ctl.hgetall("h")
        # redis-py itself fails to connect there: that is the difference.
        if protocol == 3:
            with pytest.raises(redis.exceptions.ResponseError):
                redis.Redis(port=no_hello_server.port, protocol=3).ping()
    finally:
        c.close()
        ctl.close()


def test_fallback_keeps_user_callbacks(no_hello_server):
    c = cpipe.Redis(port=no_hello_server.port)
    c.set_response_callback("HGETALL", lambda r: ("mine", r))
    try:
        c.flushall()
        c.hset("h", "a", "1")
        assert c.hgetall("h") == ("mine", [b"a", b"1"])  # the user's callback stays, fed RESP2's reply
    finally:
        c.close()


def test_fallback_asyncio(no_hello_server):
    async def main():
        c = ca.Redis(port=no_hello_server.port)
        try:
            await c.flushall()
            await c.hset("h", "a", "1")
            first = await c.hgetall("h")
            again = await c.hgetall("h")
            return first, again, c._native.protocol(c._h)
        finally:
            await c.aclose()

    first, again, spoken = asyncio.run(asyncio.wait_for(main(), 30))
    assert first == again == {b"a": b"1"} and spoken == 2


# -- authentication with RESP3 -------------------------------------------------

@pytest.fixture(scope="module")
def auth_server():
    srv = start_real_server("--requirepass", "s3cret")
    yield srv
    srv.stop()


@pytest.mark.parametrize("protocol", PROTOCOLS, ids=IDS)
def test_wrong_password_is_authentication_error(auth_server, protocol):
    c = cpipe.Redis(port=auth_server.port, password="wrong", protocol=protocol)
    try:
        with pytest.raises(redis.exceptions.AuthenticationError):
            c.ping()
    finally:
        c.close()


@pytest.mark.parametrize("protocol", [None, 3], ids=["protocol-None", "protocol-3"])
def test_right_password_then_resp3(auth_server, protocol):
    c = cpipe.Redis(port=auth_server.port, password="s3cret", protocol=protocol, db=1, client_name="resp3-user")
    try:
        c.hset("h", "a", "1")
        assert c.hgetall("h") == {b"a": b"1"}
        r = redis.Redis(port=auth_server.port, password="s3cret", protocol=protocol, db=1, client_name="resp3-user")
        assert c.client_getname() == r.client_getname()  # bytes with protocol=3 (no str_if_bytes there)
        r.close()
        assert c._native.protocol(c._h) == redis_py_wire(auth_server.port, protocol, password="s3cret")
        assert int(c.client_info()["db"]) == 1
    finally:
        c.close()


def test_no_password_resp3_fails_at_connect_as_redis_py(auth_server):
    """With RESP3 the NOAUTH comes to HELLO, while connecting: redis-py 8.1
    raises AuthenticationError with the server's words; so does cpipe."""
    with pytest.raises(redis.exceptions.AuthenticationError) as theirs:
        redis.Redis(port=auth_server.port).get("k")
    c = cpipe.Redis(port=auth_server.port)
    try:
        with pytest.raises(redis.exceptions.AuthenticationError) as ours:
            c.get("k")
    finally:
        c.close()
    assert str(ours.value) == str(theirs.value)


# -- the option ----------------------------------------------------------------

@pytest.mark.parametrize("value", [None, 2, 3, "2", "3"])
def test_protocol_spellings(resp_server, value):
    c = cpipe.Redis(port=resp_server.port, protocol=value)
    r = redis.Redis(port=resp_server.port, protocol=value)
    try:
        assert c.ping() is True
        assert c._native.protocol(c._h) == redis_py_wire(resp_server.port, value)
        assert c.connection_pool.connection_kwargs["protocol"] == r.connection_pool.connection_kwargs["protocol"]
        if hasattr(r.connection_pool, "get_protocol"):  # redis-py 5.1 on
            assert c.connection_pool.get_protocol() == r.connection_pool.get_protocol()
        assert c.connection_pool.connection_kwargs.get("legacy_responses") == \
            r.connection_pool.connection_kwargs.get("legacy_responses")
    finally:
        c.close()
        r.close()


@pytest.mark.parametrize("query, protocol", [("?protocol=3", 3), ("?protocol=2", 2), ("", None)])
def test_protocol_in_url(resp_server, query, protocol):
    c = cpipe.Redis.from_url(f"redis://127.0.0.1:{resp_server.port}/0{query}")
    try:
        c.flushall()
        c.hset("h", "a", "1")
        assert c.hgetall("h") == {b"a": b"1"}
        assert c._native.protocol(c._h) == redis_py_wire(resp_server.port, protocol)
    finally:
        c.close()


@pytest.mark.parametrize("bad", [4, 1, "x", 3.5, True])
def test_bad_protocol_refused_before_connecting(bad):
    with pytest.raises(cpipe.DataError, match="protocol must be 2, 3 or None"):
        cpipe.Redis(port=1, protocol=bad)


@pytest.mark.parametrize("legacy", [True, False])
def test_legacy_responses(resp_server, legacy):
    if not HAS_LEGACY_RESPONSES:
        # Refused as this redis-py refuses it, rather than taken and ignored.
        for make in (cpipe.Redis, redis.Redis):
            with pytest.raises(TypeError, match="legacy_responses"):
                make(port=resp_server.port, legacy_responses=legacy)
        return
    for protocol in PROTOCOLS:
        kw = {"port": resp_server.port, "protocol": protocol, "legacy_responses": legacy}
        c, r = cpipe.Redis(**kw), redis.Redis(**kw)
        try:
            _seed(r)
            for name in ("zrange withscores", "zpopmin", "xread", "hrandfield withvalues", "acl getuser", "geopos"):
                want = _outcome(COMMANDS[name], r)
                _seed(r)
                assert _outcome(COMMANDS[name], c) == want, (protocol, name)
                _seed(r)
        finally:
            c.close()
            r.close()


def test_hello_command_is_refused():
    c = cpipe.Redis(port=1)
    with pytest.raises(cpipe.DataError, match="HELLO"):
        c.execute_command("HELLO", 3)
