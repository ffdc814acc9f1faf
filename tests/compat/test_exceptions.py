"""Issue 8, "redis-py's exceptions": the classes cpipe raises are redis-py's,
and an error reply becomes the class and message redis-py gives for it.

Each error kind is produced on a real server and read through every cpipe
path (Client.call, a pipeline with raise_on_error=False, a Pool.submit
future, cpipe.asyncio) and through redis.Redis(protocol=2) on the same
server: type(e) and str(e) must be the same. Kinds a real server cannot
produce on demand (LOADING, the cluster codes redis-py maps) come from a
fake server that answers with each entry of redis-py's own table.
"""
from __future__ import annotations

import asyncio
import threading
import time

import pytest
import redis
import redis.exceptions

import cpipe
import cpipe.asyncio as ca
from tests._servers import start_real_server
from tests.client._fake import FakeServer

SHARED = [
    "RedisError", "ConnectionError", "TimeoutError", "AuthenticationError", "ResponseError",
    "DataError", "ExecAbortError", "NoScriptError", "ReadOnlyError", "OutOfMemoryError",
    "NoPermissionError", "BusyLoadingError", "WatchError", "ModuleError",
    "AuthenticationWrongNumberOfArgsError", "AskError", "MovedError", "TryAgainError",
    "ClusterDownError", "ClusterCrossSlotError", "MasterDownError",
]


@pytest.mark.parametrize("name", SHARED)
def test_class_is_redis_pys(name):
    assert getattr(cpipe, name) is getattr(redis.exceptions, name)
    assert name in cpipe.__all__


def test_cpipe_only_classes_subclass_redis_pys():
    assert issubclass(cpipe.ProtocolError, redis.exceptions.ConnectionError)
    assert issubclass(cpipe.ForkError, redis.exceptions.RedisError)
    for name in cpipe.__all__:
        getattr(cpipe, name)  # every exported name imports


def test_every_class_redis_pys_parser_maps_is_exported():
    """The classes an error reply can become are all reachable as cpipe.X."""
    from redis._parsers.base import BaseParser

    mapped = set()
    for entry in BaseParser.EXCEPTION_CLASSES.values():
        mapped |= set(entry.values()) if isinstance(entry, dict) else {entry}
    exported = {getattr(cpipe, n) for n in cpipe.__all__}
    # Classes only newer redis-py releases have cannot be a stable cpipe.X.
    newer = {c for c in mapped if c.__name__ in ("ExternalAuthProviderError", "NoSuchFieldsetError")}
    assert mapped - newer <= exported


# -- outcomes: (type, message) of what each client raises --------------------

def _raised(fn):
    try:
        fn()
    except Exception as e:  # noqa: BLE001 - the outcome is what is compared
        return type(e), str(e)
    pytest.fail("no exception raised")


def redis_py_outcome(port, args, **opts):
    r = redis.Redis(host="127.0.0.1", port=port, socket_timeout=10, **{"protocol": 2, **opts})
    try:
        return _raised(lambda: r.execute_command(*args))
    finally:
        r.close()


def cpipe_outcomes(port, args, paths=("call", "pipeline", "pool", "asyncio"), in_place=True, **opts):
    """What each cpipe path gives for one command: {path: (type, message)}.

    An error reply is in place in a pipeline's replies; a failure to connect
    (in_place=False) is raised by execute().
    """
    out = {}
    if "call" in paths:
        c = cpipe.Client(host="127.0.0.1", port=port, socket_timeout=10, **opts)
        try:
            out["call"] = _raised(lambda: c.call(*args))
            if "pipeline" in paths and not in_place:
                p = c.pipeline(transaction=False)
                p.execute_command(*args)
                out["pipeline"] = _raised(lambda: p.execute(raise_on_error=False))
            elif "pipeline" in paths:
                p = c.pipeline(transaction=False)
                p.execute_command(*args)
                p.execute_command("PING")  # the error stays in place among other replies
                replies = p.execute(raise_on_error=False)
                assert len(replies) == 2 and isinstance(replies[0], Exception), replies
                out["pipeline"] = type(replies[0]), str(replies[0])
        finally:
            c.close()
    if "pool" in paths:
        pool = cpipe.Pool(host="127.0.0.1", port=port, size=2, socket_timeout=10, **opts)
        try:
            out["pool"] = _raised(lambda: pool.submit(*args).result(10))
        finally:
            pool.close()
    if "asyncio" in paths:
        async def main():
            c = ca.Client(host="127.0.0.1", port=port, socket_timeout=10, **opts)
            try:
                return await c.call(*args)
            finally:
                await c.aclose()

        out["asyncio"] = _raised(lambda: asyncio.run(asyncio.wait_for(main(), 30)))
    return out


def assert_same_as_redis_py(port, args, expected_class, in_place=True, **opts):
    want = redis_py_outcome(port, args, **opts)
    assert want[0] is expected_class, want  # the server really produced this kind
    got = cpipe_outcomes(port, args, in_place=in_place, **opts)
    assert got == {path: want for path in got}


# -- servers -------------------------------------------------------------------

@pytest.fixture(scope="module")
def auth_server():
    srv = start_real_server("--requirepass", "s3cret")
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def replica(real_server):
    srv = start_real_server("--replicaof", "127.0.0.1", str(real_server.port))
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def limited_user(real_server):
    r = redis.Redis(port=real_server.port)
    r.execute_command("ACL", "SETUSER", "cpipe-limited", "on", ">pw", "~*", "+ping", "+auth")
    yield {"username": "cpipe-limited", "password": "pw"}
    r.execute_command("ACL", "DELUSER", "cpipe-limited")
    r.close()


# -- error replies from real servers -------------------------------------------

def test_generic_err_prefix_stripped(real_server):
    assert_same_as_redis_py(real_server.port, ("NOSUCHCOMMAND", "x"), redis.exceptions.ResponseError)


def test_wrongtype_keeps_its_code(real_server):
    redis.Redis(port=real_server.port).lpush("exc:list", "a")
    assert_same_as_redis_py(real_server.port, ("GET", "exc:list"), redis.exceptions.ResponseError)


def test_noscript(real_server):
    assert_same_as_redis_py(real_server.port, ("EVALSHA", "0" * 40, "0"), redis.exceptions.NoScriptError)


def test_readonly_replica(replica):
    assert_same_as_redis_py(replica.port, ("SET", "exc:k", "v"), redis.exceptions.ReadOnlyError)


def test_noperm(real_server, limited_user):
    assert_same_as_redis_py(real_server.port, ("GET", "exc:k"), redis.exceptions.NoPermissionError,
                            **limited_user)


def test_noauth(auth_server):
    # RESP2: the command gets NOAUTH. (With RESP3, HELLO gets it while
    # connecting: tests/client/test_resp3.py.)
    assert_same_as_redis_py(auth_server.port, ("GET", "exc:k"), redis.exceptions.AuthenticationError, protocol=2)


def test_wrongpass_in_a_command(auth_server):
    assert_same_as_redis_py(auth_server.port, ("AUTH", "wrong"), redis.exceptions.AuthenticationError,
                            password="s3cret")


def test_wrongpass_while_connecting(auth_server):
    assert_same_as_redis_py(auth_server.port, ("PING",), redis.exceptions.AuthenticationError,
                            in_place=False, password="wrong")


def test_auth_without_a_password_configured(real_server):
    assert_same_as_redis_py(real_server.port, ("AUTH", "x"), redis.exceptions.AuthenticationError)


def test_auth_wrong_number_of_arguments(real_server):
    assert_same_as_redis_py(real_server.port, ("AUTH",),
                            redis.exceptions.AuthenticationWrongNumberOfArgsError)


def test_oom():
    srv = start_real_server("--maxmemory", "1")
    try:
        assert_same_as_redis_py(srv.port, ("SET", "exc:k", "v"), redis.exceptions.OutOfMemoryError)
    finally:
        srv.stop()


def test_module_errors():
    srv = start_real_server("--enable-module-command", "yes")
    try:
        assert_same_as_redis_py(srv.port, ("MODULE", "LOAD", "/nonexistent/cpipe.so"),
                                redis.exceptions.ModuleError)
        assert_same_as_redis_py(srv.port, ("MODULE", "UNLOAD", "cpipe-nosuch"),
                                redis.exceptions.ModuleError)
    finally:
        srv.stop()


def test_execabort_in_place(real_server):
    commands = [("MULTI",), ("SET", "exc:k"), ("EXEC",)]  # SET with too few arguments
    r = redis.Redis(port=real_server.port, protocol=2)
    rp = r.pipeline(transaction=False)
    for cmd in commands:
        rp.execute_command(*cmd)
    want = [(type(x), str(x)) if isinstance(x, Exception) else x for x in rp.execute(raise_on_error=False)]
    r.close()
    assert want[2][0] is redis.exceptions.ExecAbortError
    c = cpipe.Client(host="127.0.0.1", port=real_server.port, socket_timeout=10)
    try:
        p = c.pipeline(transaction=False)
        for cmd in commands:
            p.execute_command(*cmd)
        got = [(type(x), str(x)) if isinstance(x, Exception) else x for x in p.execute(raise_on_error=False)]
    finally:
        c.close()
    assert got[1:] == want[1:]  # the refused SET and the EXECABORT, in place


def test_busy_script():
    srv = start_real_server("--busy-reply-threshold", "10")
    spinner = redis.Redis(port=srv.port, socket_timeout=30)
    t = threading.Thread(target=lambda: _raised(lambda: spinner.eval("while true do end", 0)), daemon=True)
    try:
        t.start()
        deadline = time.monotonic() + 10
        probe = redis.Redis(port=srv.port, protocol=2, socket_timeout=10, retry=None)
        while True:  # until the script has run past the threshold
            try:
                probe.ping()
            except redis.exceptions.ResponseError as e:
                assert str(e).startswith("BUSY"), e
                break
            assert time.monotonic() < deadline, "the script never made the server BUSY"
            time.sleep(0.02)
        probe.close()
        assert_same_as_redis_py(srv.port, ("GET", "exc:k"), redis.exceptions.ResponseError)
    finally:
        try:
            redis.Redis(port=srv.port, socket_timeout=10).script_kill()
        finally:
            t.join(10)
            spinner.close()
            srv.stop()


def test_max_number_of_clients():
    srv = start_real_server("--maxclients", "1")
    holder = redis.Redis(port=srv.port)
    try:
        holder.ping()  # takes the only slot
        # redis-py 8.2 names it MaxClientsReachedError (a ConnectionError);
        # earlier releases, ConnectionError. cpipe gives what the installed
        # redis-py's parser gives for the reply.
        from redis._parsers.base import BaseParser

        message = "max number of clients reached"
        want = (type(BaseParser.parse_error(f"ERR {message}")), message)
        assert issubclass(want[0], redis.exceptions.ConnectionError)
        # redis-py itself: up to 8.1 the reply's own error; 8.2 writes its next
        # connect command first and may see the closed socket instead.
        theirs = redis_py_outcome(srv.port, ("PING",), retry=None)
        assert issubclass(theirs[0], redis.exceptions.ConnectionError)
        # The server closes right after this reply, so a pipeline's next reply is lost.
        got = cpipe_outcomes(srv.port, ("PING",), paths=("call", "pool", "asyncio"))
        assert got == {path: want for path in got}
    finally:
        holder.close()
        srv.stop()


# -- every entry of redis-py's table, from a fake server -------------------------

def _table_replies():
    """One error line per entry of redis-py's (installed) reply-parser table."""
    from redis._parsers.base import BaseParser

    lines = []
    for code, entry in BaseParser.EXCEPTION_CLASSES.items():
        if isinstance(entry, dict):
            lines += [f"{code} {message}" for message in entry]
            lines.append(f"{code} something else")
        elif code in ("MOVED", "ASK"):
            lines.append(f"{code} 3999 127.0.0.1:6381")
        else:
            lines.append(f"{code} the {code.lower()} message")
    return lines + ["WRONGTYPE not in the table", "BUSY not in the table either"]


def _echo_error(index, conn):
    """GET <line> is answered with the error reply -<line>; anything else with +OK."""
    while True:
        reqs = conn.requests()
        if reqs is None:
            return
        conn.send(b"".join(b"-" + r[1] + b"\r\n" if r[0].upper() == b"GET" else b"+OK\r\n" for r in reqs))


@pytest.mark.parametrize("line", _table_replies())
def test_redis_pys_table_entry(line):
    with FakeServer(_echo_error) as fake:
        want = redis_py_outcome(fake.port, ("GET", line), retry=None)
        got = cpipe_outcomes(fake.port, ("GET", line))
    assert got == {path: want for path in got}


# -- except clauses ----------------------------------------------------------------

def test_except_redis_py_class_catches_cpipe_error(real_server):
    c = cpipe.Client(host="127.0.0.1", port=real_server.port, socket_timeout=10)
    try:
        with pytest.raises(redis.exceptions.ResponseError):
            c.call("NOSUCHCOMMAND")
        with pytest.raises(redis.exceptions.NoScriptError):
            c.call("EVALSHA", "0" * 40, "0")
    finally:
        c.close()
    with pytest.raises(redis.exceptions.ConnectionError):
        cpipe.Client(host="127.0.0.1", port=1, socket_timeout=2).call("PING")
