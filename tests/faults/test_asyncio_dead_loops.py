"""Issue 7 item 5: an asyncio event loop closed (or dropped) with commands in
flight is freed, with its completion queue, its wake-up pipe and the server
connections of the clients bound to it; such a client works again on a new
loop."""
from __future__ import annotations

import json

import pytest

from tests._servers import start_real_server
from tests.client._subproc import run_python

LOOPS = 20

# Runs in a fresh interpreter, so that nothing else's loops, fds or
# connections are counted. Prints one JSON line.
_SCRIPT = r'''
import asyncio, gc, json, os, sys, time, weakref
import redis
import cpipe.asyncio

port, loop_kind, keep_clients, loops = int(sys.argv[1]), sys.argv[2], sys.argv[3] == "keep", int(sys.argv[4])
if loop_kind == "uvloop":
    import uvloop
    new_loop = uvloop.new_event_loop
else:
    new_loop = asyncio.new_event_loop
admin = redis.Redis(host="127.0.0.1", port=port)

def fds():
    return len(os.listdir("/proc/self/fd"))

def connected():
    return admin.info("clients")["connected_clients"]

def settle(get, target, deadline=10.0):
    end = time.monotonic() + deadline
    while True:
        gc.collect()
        value = get()
        if value <= target or time.monotonic() > end:
            return value
        time.sleep(0.05)

def loop_with_commands_in_flight(client):
    loop = new_loop()
    async def start():
        asyncio.ensure_future(client.blpop([f"never:{id(loop)}"], 0))       # blocks on the server for good
        asyncio.ensure_future(client.call("BLPOP", f"never2:{id(loop)}", 0))
        asyncio.ensure_future(client.get("k"))
        pipe = client.pipeline()
        await pipe.watch("k")  # on a connection of its own, kept (never reset) past the loop
        watching.append(pipe)
        await asyncio.sleep(0.1)  # all four are with the engine now
        in_flight.append(connected())
    loop.run_until_complete(start())
    loop.close()  # not awaited, not cancelled
    return weakref.ref(loop)

in_flight = []  # server connections while each loop's commands were in flight
watching = []  # WATCH pipelines left watching when their loop closed

def fresh_client():
    return cpipe.asyncio.Client(host="127.0.0.1", port=port, socket_timeout=30)

# Warm up: the engine, the Go runtime and the loop machinery open their own fds once.
warm = fresh_client()
ref = loop_with_commands_in_flight(warm)
del warm
gc.collect()
base_fds, base_conns = settle(fds, 0, 0.5), settle(connected, 0, 0.5)
base_fds, base_conns = settle(fds, base_fds), settle(connected, base_conns)

kept, refs = [], []
for _ in range(loops):
    c = fresh_client()
    refs.append(loop_with_commands_in_flight(c))
    if keep_clients:
        kept.append(c)
    del c
gc.collect()
alive = sum(r() is not None for r in refs)
end_fds, end_conns = settle(fds, base_fds), settle(connected, base_conns)

# A kept client still works, on a new loop.
reused = None
if kept:
    async def again():
        return await kept[0].ping(), await kept[0].set("k", "v"), await kept[0].get("k")
    reused = list(asyncio.run(again()))
print(json.dumps({"alive": alive, "base_fds": base_fds, "end_fds": end_fds, "base_conns": base_conns,
                  "in_flight": in_flight[1:], "end_conns": end_conns, "reused": repr(reused)}))
'''


@pytest.fixture(scope="module")
def server():
    srv = start_real_server()
    yield srv
    srv.stop()


@pytest.mark.parametrize("loop_kind", ["asyncio", "uvloop"])
@pytest.mark.parametrize("clients", ["keep", "drop"])
def test_closed_loops_are_freed_with_their_fds_and_connections(server, loop_kind, clients):
    proc = run_python(_SCRIPT, str(server.port), loop_kind, clients, str(LOOPS), timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    # The commands really were in flight: a shared connection, two blocked ones and a WATCH one.
    assert len(r["in_flight"]) == LOOPS and min(r["in_flight"]) >= r["base_conns"] + 4, r
    assert r["alive"] == 0, f"{r['alive']} of {LOOPS} closed loops still alive: {r}"
    assert r["end_fds"] == r["base_fds"], f"open fds: {r['base_fds']} before, {r['end_fds']} after: {r}"
    assert r["end_conns"] == r["base_conns"], f"server connections: {r}"
    if clients == "keep":
        assert r["reused"] == "[True, True, b'v']", r
