"""Issue 7 item 10: a process forked after its parent started the Go engine
keeps working through redis-py's connection under cpipe's API (new clients,
inherited ones, pipelines, transactions, Pool futures, the gopipe functions,
cpipe.asyncio), with exactly one ForkFallbackWarning; errors are cpipe's;
fork_fallback=False keeps ForkError. Each child runs in a subprocess of its
own, bounded in time."""
from __future__ import annotations

import json

import pytest

import cpipe

from tests._servers import start_real_server
from tests.client._subproc import run_python

# Shared by the scripts below: a server port in argv[1]; the parent loads the
# engine (and uses every kind of client) before it forks.
_PRELUDE = r'''
import asyncio, json, os, sys, threading, time, warnings
import redis
import cpipe, cpipe.asyncio, cpipe._engine as engine

port = int(sys.argv[1])
admin = redis.Redis(host="127.0.0.1", port=port)
opts = dict(host="127.0.0.1", port=port, socket_timeout=5)

def show(value):
    """repr, but an exception as Class('message'): redis-py's own repr drops the message."""
    if isinstance(value, BaseException):
        return f"{type(value).__name__}({str(value)!r})"
    if type(value) is list:
        return "[" + ", ".join(show(v) for v in value) + "]"
    if type(value) is tuple:
        return "(" + ", ".join(show(v) for v in value) + ("," if len(value) == 1 else "") + ")"
    return repr(value)

def describe(fn):
    try:
        return ["ok", show(fn())]
    except BaseException as e:
        return ["raised", type(e).__module__ + "." + type(e).__name__, str(e)]

def fork_and_collect(child, deadline=60):
    """Run child() in an os.fork() child; returns what it returned (JSON)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            out = json.dumps(child())
        except BaseException as e:
            import traceback
            out = json.dumps({"crash": traceback.format_exc()})
        os.write(w, out.encode())
        os._exit(0)
    os.close(w)
    end = time.monotonic() + deadline
    while not os.waitpid(pid, os.WNOHANG)[0]:
        if time.monotonic() > end:
            os.kill(pid, 9)
            raise SystemExit("forked child hung")
        time.sleep(0.01)
    data = b""
    while chunk := os.read(r, 1 << 16):
        data += chunk
    return json.loads(data)

def fallback_warnings(caught):
    return [str(w.message) for w in caught if issubclass(w.category, cpipe.ForkFallbackWarning)]
'''

_EVERYTHING = _PRELUDE + r'''
client = cpipe.Client(**opts)
pool = cpipe.Pool(size=3, **opts)
aclient = cpipe.asyncio.Client(**opts)
aclosed = cpipe.asyncio.Client(**opts)  # used, then closed, before the fork
cpipe.Connect("127.0.0.1", port, socket_timeout=5)
client.set("fb:parent", "from-parent")
assert pool.submit("PING").result(5) == b"PONG"
async def aping():
    return await aclient.ping()
assert asyncio.run(aping()) is True
async def used_then_closed():
    await aclosed.ping()
    await aclosed.aclose()
asyncio.run(used_then_closed())
assert engine.is_loaded()
parent_pid = os.getpid()

def child():
    out = {"pid_differs": os.getpid() != parent_pid}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        new = cpipe.Client(**opts)
        out["new_set_get"] = describe(lambda: (new.set("fb:new", "v1"), new.get("fb:new")))
        out["inherited_get"] = describe(lambda: client.get("fb:parent"))
        out["inherited_call"] = describe(lambda: client.call("ECHO", "raw"))
        out["execute_command"] = describe(lambda: client.execute_command("HSET", "fb:h", "f", "v"))
        out["hgetall"] = describe(lambda: client.hgetall("fb:h"))
        p = new.pipeline()
        p.set("fb:p", 1).incr("fb:p").lpush("fb:p", "x").get("fb:p")
        out["pipeline"] = describe(lambda: p.execute(raise_on_error=False))
        out["pipeline_raises"] = describe(lambda: new.pipeline().set("fb:q", 1).lpush("fb:q", 1).execute())
        out["transaction"] = describe(
            lambda: new.pipeline(transaction=True).set("fb:t", 5).incr("fb:t").get("fb:t").execute())
        out["gopipe_execute"] = describe(lambda: (cpipe.add_command("SET", "fb:g", "1"),
                                                  cpipe.add_command("GET", "fb:g"), cpipe.execute())[2])
        out["gopipe_hset_hget"] = describe(lambda: (cpipe.hset("fb:gh", "f", "v"), cpipe.hget("fb:gh", "f")))
        out["pool_submit"] = describe(lambda: pool.submit("ECHO", "sub").result(5))
        out["pool_submit_error"] = describe(lambda: pool.submit("LPUSH", "fb:p", "x").result(5))
        out["pool_phset_phget"] = describe(lambda: (pool.phset("fb:ph", "f", "v").result(5),
                                                    pool.phget("fb:ph", "f").result(5)))
        out["pool_flush"] = describe(lambda: pool.flush(5))
        out["pool_method"] = describe(lambda: pool.incrby("fb:n", 7))
        new_pool = cpipe.Pool(size=2, **opts)
        out["new_pool"] = describe(lambda: [f.result(5) for f in [new_pool.submit("ECHO", i) for i in range(5)]])
        cpipe.ConnectPool(host="127.0.0.1", port=port, pool=2, socket_timeout=5)
        out["gopipe_pool"] = describe(lambda: (cpipe.phset("fb:gp", "f", "v").result(5),
                                               cpipe.phget("fb:gp", "f").result(5)))
        out["unknown_command"] = describe(lambda: new.call("NO-SUCH-COMMAND"))
        out["decoded"] = describe(lambda: cpipe.Client(decode_responses=True, **opts).get("fb:parent"))
        named = cpipe.Client(db=2, client_name="fb-child", **opts)
        out["db_and_name"] = describe(lambda: (named.set("fb:db2", "two"), named.client_getname()))
        out["refused"] = describe(lambda: cpipe.Client(host="127.0.0.1", port=1).ping())
        short = cpipe.Client(host="127.0.0.1", port=port, socket_timeout=0.2)
        out["timeout"] = describe(lambda: short.blpop(["fb:never"], 2))
        out["bad_argument"] = describe(lambda: new.set("fb:bad", None))
        out["after_bad_argument"] = describe(lambda: new.get("fb:new"))

        async def on_asyncio():
            fresh = cpipe.asyncio.Client(**opts)
            res = [await fresh.set("fb:a", "1"), await fresh.incr("fb:a"), await fresh.get("fb:a")]
            async with fresh.pipeline() as ap:
                ap.hset("fb:ah", "f", "v").hgetall("fb:ah").lpush("fb:a", 1)
                res.append(show(await ap.execute(raise_on_error=False)))
            res.append(await aclient.get("fb:parent"))  # inherited from the parent
            res.append(sorted(await asyncio.gather(*[fresh.echo(str(i)) for i in range(20)])))
            await fresh.aclose()
            try:
                await fresh.ping()
            except cpipe.ConnectionError:
                res.append("closed")
            return res
        out["asyncio"] = describe(lambda: asyncio.run(asyncio.wait_for(on_asyncio(), 20)))

        async def asyncio_redis_py_layer():
            r = cpipe.asyncio.Redis(decode_responses=True, **opts)
            await r.set("fb:w", 1)
            res = {"dump_is_bytes": isinstance(await r.dump("fb:w"), bytes), "mget_empty": await r.mget([])}
            async with r.pipeline() as p:  # WATCH on a fallback connection of its own
                await p.watch("fb:w")
                current = int(await p.get("fb:w"))
                await aclient.set("fb:w", 50)  # the inherited client changes the watched key
                p.multi()
                p.set("fb:w", current + 1)
                try:
                    await p.execute()
                    res["conflict"] = "no WatchError"
                except cpipe.WatchError:
                    res["conflict"] = "WatchError"
            res["transaction"] = await r.transaction(
                lambda p: p.multi() or p.incr("fb:w").dump("fb:w").mget([]), "fb:w")
            res["transaction"][1] = type(res["transaction"][1]).__name__
            await r.aclose()
            try:
                await aclosed.ping()
                res["inherited_closed"] = "answered"
            except cpipe.ConnectionError:
                res["inherited_closed"] = "ConnectionError"
            return res
        out["asyncio_redis_py_layer"] = describe(lambda: asyncio.run(asyncio.wait_for(asyncio_redis_py_layer(), 20)))

        def threads():
            bad = []
            def work(t):
                for i in range(200):
                    client.set(f"fb:t{t}", i)
                    if client.get(f"fb:t{t}") != str(i).encode():
                        bad.append((t, i))
            ts = [threading.Thread(target=work, args=(t,)) for t in range(8)]
            [t.start() for t in ts]
            [t.join(30) for t in ts]
            return bad
        out["threads_wrong_replies"] = describe(threads)
        new.close()
        out["after_close"] = describe(lambda: new.get("fb:new"))
        out["pool_closed"] = describe(lambda: (new_pool.close(), new_pool.submit("PING"))[1])
    out["warnings"] = fallback_warnings(caught)
    out["strict_new"] = describe(lambda: cpipe.Client(fork_fallback=False, **opts))
    return out

result = fork_and_collect(child)
result["parent_sees"] = [admin.get("fb:new"), admin.get("fb:t"), redis.Redis(port=port, db=2).get("fb:db2")]
result["parent_sees"] = [v.decode() if v else v for v in result["parent_sees"]]
result["parent_still_works"] = [client.get("fb:new").decode(), pool.submit("ECHO", "p").result(5).decode()]
print(json.dumps(result))
'''


@pytest.fixture(scope="module")
def server():
    srv = start_real_server()
    yield srv
    srv.stop()


def _run(script: str, port: int) -> dict:
    proc = run_python(script, str(port), timeout=120)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert "crash" not in result, result.get("crash")
    return result


@pytest.fixture(scope="module")
def child(server):
    return _run(_EVERYTHING, server.port)


def test_child_really_is_forked(child):
    assert child["pid_differs"] is True


@pytest.mark.parametrize("name,expected", [
    ("new_set_get", ["ok", "(True, b'v1')"]),
    ("inherited_get", ["ok", "b'from-parent'"]),
    ("inherited_call", ["ok", "b'raw'"]),
    ("execute_command", ["ok", "1"]),
    ("hgetall", ["ok", "{b'f': b'v'}"]),
    ("transaction", ["ok", "[True, 6, b'6']"]),
    ("gopipe_execute", ["ok", "[b'OK', b'1']"]),
    ("gopipe_hset_hget", ["ok", "(1, b'v')"]),
    ("pool_submit", ["ok", "b'sub'"]),
    ("pool_phset_phget", ["ok", "(1, b'v')"]),
    ("pool_flush", ["ok", "True"]),
    ("pool_method", ["ok", "7"]),
    ("new_pool", ["ok", "[b'0', b'1', b'2', b'3', b'4']"]),
    ("gopipe_pool", ["ok", "(1, b'v')"]),
    ("decoded", ["ok", "'from-parent'"]),
    ("db_and_name", ["ok", "(True, 'fb-child')"]),
    ("after_bad_argument", ["ok", "b'v1'"]),
    ("threads_wrong_replies", ["ok", "[]"]),
])
def test_works_in_forked_child(child, name, expected):
    assert child[name] == expected


def test_pipeline_replies_in_order_with_errors_in_place(child):
    kind, text = child["pipeline"]
    assert kind == "ok"
    assert text.startswith("[True, 2, ResponseError('WRONGTYPE") and text.endswith(", b'2']"), text
    assert child["pipeline_raises"][:2] == ["raised", "redis.exceptions.ResponseError"]
    assert "Command # 2 (LPUSH fb:q 1) of pipeline caused error: WRONGTYPE" in child["pipeline_raises"][2]


def test_errors_are_redis_py_classes(child):
    assert child["pool_submit_error"][:2] == ["raised", "redis.exceptions.ResponseError"]
    assert child["unknown_command"][:2] == ["raised", "redis.exceptions.ResponseError"]
    assert "unknown command" in child["unknown_command"][2]
    assert child["refused"][:2] == ["raised", "redis.exceptions.ConnectionError"]
    assert child["timeout"][:2] == ["raised", "redis.exceptions.TimeoutError"]
    assert child["bad_argument"][:2] == ["raised", "redis.exceptions.DataError"]
    assert child["after_close"][:2] == ["raised", "redis.exceptions.ConnectionError"]
    assert child["pool_closed"][:2] == ["raised", "redis.exceptions.ConnectionError"]


def test_asyncio_in_forked_child(child):
    kind, text = child["asyncio"]
    assert kind == "ok", child["asyncio"]
    assert text.startswith("[True, 2, b'2', \"[1, {b'f': b'v'}, ResponseError('WRONGTYPE"), text
    assert "b'from-parent'" in text and "'closed'" in text
    assert str(sorted(str(i).encode() for i in range(20))) in text


def test_asyncio_redis_py_layer_in_forked_child(child):
    """WATCH, NEVER_DECODE and EMPTY_RESPONSE on the fallback's asyncio connections."""
    kind, text = child["asyncio_redis_py_layer"]
    assert kind == "ok", child["asyncio_redis_py_layer"]
    assert text == repr({"dump_is_bytes": True, "mget_empty": [], "conflict": "WatchError",
                         "transaction": [51, "bytes", []], "inherited_closed": "ConnectionError"}), text


def test_exactly_one_warning_naming_cause_cost_and_fix(child):
    assert len(child["warnings"]) == 1, child["warnings"]
    text = child["warnings"][0]
    for needed in ("fork", "Go runtime", "redis-py", "slower", "spawn", "--preload", "fork_fallback=False"):
        assert needed in text, (needed, text)
    assert issubclass(cpipe.ForkFallbackWarning, RuntimeWarning)


def test_strict_option_keeps_fork_error(child):
    assert child["strict_new"][:2] == ["raised", "cpipe.errors.ForkError"]


def test_parent_sees_child_writes_and_still_works(child):
    assert child["parent_sees"] == ["v1", "6", "two"]  # new client, transaction, db=2
    assert child["parent_still_works"] == ["v1", "p"]


_MULTIPROCESSING = _PRELUDE + r'''
import multiprocessing

client = cpipe.Client(**opts)
strict = cpipe.Client(fork_fallback=False, **opts)
pool = cpipe.Pool(size=2, **opts)
client.set("mp:parent", "p")
pool.submit("PING").result(5)

def work(q):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        own = cpipe.Pool(size=2, **opts)
        q.put({
            "inherited": describe(lambda: client.get("mp:parent")),
            "own_pool": describe(lambda: own.submit("INCR", "mp:n").result(5) > 0),
            "inherited_pool": describe(lambda: pool.set(f"mp:{os.getpid()}", 1)),
            "strict": describe(lambda: strict.get("mp:parent")),
            "warnings": len(fallback_warnings(caught)),
        })

ctx = multiprocessing.get_context("fork")
q = ctx.Queue()
procs = [ctx.Process(target=work, args=(q,)) for _ in range(3)]
[p.start() for p in procs]
results = [q.get(timeout=60) for _ in procs]
[p.join(30) for p in procs]
print(json.dumps({"results": results, "exitcodes": [p.exitcode for p in procs],
                  "n": int(admin.get("mp:n"))}))
'''


def test_multiprocessing_fork_workers(server):
    r = _run(_MULTIPROCESSING, server.port)
    assert r["exitcodes"] == [0, 0, 0]
    assert r["n"] == 3
    for one in r["results"]:
        assert one["inherited"] == ["ok", "b'p'"]
        assert one["own_pool"] == ["ok", "True"]
        assert one["inherited_pool"] == ["ok", "True"]
        assert one["strict"][:2] == ["raised", "cpipe.errors.ForkError"]
        assert one["warnings"] == 1


_LOCK_HELD = _PRELUDE + r'''
pool = cpipe.Pool(size=2, **opts)
assert pool.submit("PING").result(5) == b"PONG"
held, release = threading.Event(), threading.Event()
in_flight = pool.submit("BLPOP", "lock:never", 3)  # pending in the parent at the fork

def holder():  # holds the pool's lock across the fork; this thread is not in the child
    with pool._done:
        held.set()
        release.wait(30)

t = threading.Thread(target=holder)
t.start()
held.wait(10)

def child():
    warnings.simplefilter("ignore")
    return {"submit": describe(lambda: pool.submit("ECHO", "c").result(5)),
            "flush": describe(lambda: pool.flush(5)),
            "inherited_future": describe(lambda: in_flight.result(5)),
            "close": describe(lambda: pool.close())}

try:
    out = fork_and_collect(child)
finally:
    release.set()
    t.join(10)
out["parent"] = [pool.submit("ECHO", "parent").result(5).decode(), in_flight.result(10)]
print(json.dumps(out))
'''


def test_pool_locked_by_a_parent_thread_at_fork(server):
    r = _run(_LOCK_HELD, server.port)
    assert r["submit"] == ["ok", "b'c'"]
    assert r["flush"] == ["ok", "True"]
    assert r["inherited_future"][:2] == ["raised", "redis.exceptions.ConnectionError"]
    assert "parent" in r["inherited_future"][2]
    assert r["close"] == ["ok", "None"]
    assert r["parent"] == ["parent", None]


_CONNECTION_CAP = _PRELUDE + r'''
from cpipe._fallback import MAX_EXTRA_CONNECTIONS
client = cpipe.Client(**opts)
client.ping()

def child():
    warnings.simplefilter("ignore")
    def connected():
        return redis.Redis(host="127.0.0.1", port=port).info("clients")["connected_clients"]
    base = connected()
    results, peak = [], []
    def blocker():
        results.append(client.blpop(["cap:never"], 3))
    ts = [threading.Thread(target=blocker) for _ in range(MAX_EXTRA_CONNECTIONS + 10)]
    [t.start() for t in ts]
    end = time.monotonic() + 2.5  # while every blocker still blocks
    while time.monotonic() < end:
        peak.append(connected() - base)
        time.sleep(0.05)
    peak = [max(peak)]
    after = describe(lambda: client.echo("after"))  # waits for a connection, then runs
    [t.join(20) for t in ts]
    return {"peak": peak[0], "cap": 1 + MAX_EXTRA_CONNECTIONS, "results": results, "after": after}

print(json.dumps(fork_and_collect(child)))
'''


def test_fallback_connections_are_capped(server):
    """Blocking commands beyond size + MAX_EXTRA_CONNECTIONS wait for a
    connection instead of opening more; all of them, and a later command,
    still complete."""
    r = _run(_CONNECTION_CAP, server.port)
    assert r["cap"] <= r["peak"] <= r["cap"] + 1, r  # + the probe's own connection
    assert r["results"] == [None] * (r["cap"] + 9), r
    assert r["after"] == ["ok", "b'after'"]
