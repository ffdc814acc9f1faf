"""Issue 7, item 11: the bridge must not trust what Python code can change
under it. Commands are walked in one pass holding strong references, so an
argument whose __str__/__repr__ mutates the command or the pipeline cannot
crash the process; a pipeline handed over as an iterator is encoded and
classified (blocking or not) in that same pass; and one undecodable reply
in a sync pipeline is returned in place, as the asyncio pipeline does.

The mutation reproducers run in a child interpreter, so a crash is a failed
test rather than a dead pytest.
"""
from __future__ import annotations

import asyncio

import pytest

import cpipe
import cpipe.asyncio as ca
from tests.asyncio_client._run import run
from tests.client._subproc import run_python

# Each snippet builds `cmds` (a pipeline) whose encoding runs Python code
# that frees what the bridge is walking, then sends it through `how`. The
# bridge must send the commands as they were when the call began: every
# pipeline here is valid then, so each gets one real reply per command.
MUTATIONS = {
    "int-str-clears-command": """
        class Evil(int):
            def __str__(self):
                cmd.clear()
                churn()
                return "7"
        cmd = ["MSET", "mut:k1", Evil(1)] + [fresh(i) for i in range(40)]
        cmds = [cmd]
    """,
    "int-str-clears-pipeline": """
        class Evil(int):
            def __str__(self):
                cmds.clear()
                churn()
                return "7"
        cmds = [("SET", "mut:k1", Evil(1))] + [["SET", f"mut:k{i}", fresh(i)] for i in range(40)]
    """,
    "float-repr-replaces-command": """
        class Evil(float):
            def __repr__(self):
                cmd[:] = [fresh(i) for i in range(3)]
                churn()
                return "1.5"
        cmd = ["RPUSH", "mut:l", Evil(1.0)] + [fresh(i) for i in range(40)]
        cmds = [cmd, ["GET", "mut:k1"]]
    """,
    "int-str-grows-command": """
        class Evil(int):
            def __str__(self):
                cmd.extend(fresh(i) for i in range(5000))
                churn()
                return "7"
        cmd = ["RPUSH", "mut:l2", Evil(1)] + [fresh(i) for i in range(3)]
        cmds = [cmd]
    """,
}

CHILD = """
import gc, sys
import cpipe
port, how = int(sys.argv[1]), sys.argv[2]

def fresh(i):
    # made at run time, so only the command holds it
    return bytes([65 + i % 26]) * (200 + i)

def churn():
    # Frees what was dropped and reuses its memory with 0xff bytes: a
    # borrowed pointer into it is then a wild pointer.
    global keep
    gc.collect()
    keep = [b"\\xff" * n for n in range(16, 600) for _ in range(20)]

{setup}

expected = len(cmds)
replies = None
try:
    if how == "execute_many":
        c = cpipe.Client(host="127.0.0.1", port=port, socket_timeout=5)
        replies = c._exec_many(cmds)
    elif how == "asyncio":
        import asyncio, cpipe.asyncio as ca
        async def main():
            r = ca.Client(host="127.0.0.1", port=port, socket_timeout=5)
            try:
                return await r._run_many(cmds)
            finally:
                await r.aclose()
        replies = asyncio.run(main())
except cpipe.DataError as e:
    print("DataError:", e)
    raise SystemExit(3)
bad = [r for r in replies if isinstance(r, Exception)]
print("survived", len(replies) == expected and not bad, repr(replies)[:200])
"""


@pytest.mark.parametrize("how", ["execute_many", "asyncio"])
@pytest.mark.parametrize("name", list(MUTATIONS))
def test_mutation_during_encoding_does_not_crash(real_server, name, how):
    import textwrap

    code = CHILD.replace("{setup}", textwrap.dedent(MUTATIONS[name]))
    proc = run_python(code, str(real_server.port), how, timeout=60)
    assert proc.returncode == 0, f"child died (rc {proc.returncode}): {proc.stderr[-2000:]}"
    assert "survived True" in proc.stdout, proc.stdout + proc.stderr


def test_generator_pipeline_is_classified_as_blocking(real_server):
    """With socket_timeout=0.5, a BLPOP waiting 1.5 s is fine only if it is
    known to block (its read timeout is stretched): a generator pipeline
    must get the same treatment as a list."""
    c = cpipe.Client(host="127.0.0.1", port=real_server.port, socket_timeout=0.5)
    try:
        c.delete("gen:empty")
        cmds = [("SET", "gen:k", "v"), ("BLPOP", "gen:empty", 1.5)]
        assert c._exec_many(cmds) == [b"OK", None]
        assert c._exec_many(iter(cmds)) == [b"OK", None]
        assert c._exec_many(cmd for cmd in cmds) == [b"OK", None]
        assert c.call("ECHO", "in step") == b"in step"
    finally:
        c.close()


def test_generator_pipeline_through_asyncio(real_server):
    async def main():
        r = ca.Client(host="127.0.0.1", port=real_server.port, socket_timeout=0.5)
        try:
            await r.delete("gen:empty")
            cmds = [("SET", "gen:k", "v"), ("BLPOP", "gen:empty", 1.5)]
            assert await r._run_many(cmds) == [b"OK", None]
            assert await r._run_many(c for c in cmds) == [b"OK", None]
            assert await r.echo("in step") == b"in step"
        finally:
            await r.aclose()

    run("asyncio", main(), timeout=30)


@pytest.fixture
def undecodable(real_server):
    raw = cpipe.Client(host="127.0.0.1", port=real_server.port, socket_timeout=5)
    raw.call("SET", "dec:good1", "one")
    raw.call("SET", "dec:bad", b"\xff\xfe not utf-8")
    raw.call("SET", "dec:good2", "two")
    yield real_server
    raw.delete("dec:good1", "dec:bad", "dec:good2")
    raw.close()


def test_undecodable_reply_in_sync_pipeline_is_in_place(undecodable):
    c = cpipe.Client(host="127.0.0.1", port=undecodable.port, socket_timeout=5, decode_responses=True)
    try:
        pipe = c.pipeline(transaction=False)
        pipe.get("dec:good1").get("dec:bad").get("dec:good2")
        replies = pipe.execute(raise_on_error=False)
        assert replies[0] == "one" and replies[2] == "two", replies
        assert isinstance(replies[1], UnicodeDecodeError), replies
        # raise_on_error: the error is raised, after every reply was read.
        pipe.get("dec:bad").get("dec:good2")
        with pytest.raises(UnicodeDecodeError):
            pipe.execute()
        assert c.get("dec:good1") == "one"
        # gopipe queue and the raw native call follow the same rule
        c.add_command("GET", "dec:bad")
        c.add_command("GET", "dec:good2")
        out = c.execute()
        assert isinstance(out[0], UnicodeDecodeError) and out[1] == "two"
        with pytest.raises(UnicodeDecodeError):
            c.get("dec:bad")
        assert c.call("ECHO", "in step") == "in step"
    finally:
        c.close()


def test_sync_and_asyncio_pipelines_agree(undecodable):
    keys = ["dec:good1", "dec:bad", "dec:good2"]
    c = cpipe.Client(host="127.0.0.1", port=undecodable.port, socket_timeout=5, decode_responses=True)
    try:
        pipe = c.pipeline(transaction=False)
        for k in keys:
            pipe.get(k)
        sync_replies = pipe.execute(raise_on_error=False)
    finally:
        c.close()

    async def main():
        r = ca.Client(host="127.0.0.1", port=undecodable.port, socket_timeout=5, decode_responses=True)
        try:
            p = r.pipeline(transaction=False)
            for k in keys:
                p.get(k)
            return await p.execute(raise_on_error=False)
        finally:
            await r.aclose()

    async_replies = run("asyncio", main(), timeout=30)
    shape = [type(x) for x in sync_replies]
    assert shape == [type(x) for x in async_replies] == [str, UnicodeDecodeError, str]
    assert [x for x in sync_replies if isinstance(x, str)] == [x for x in async_replies if isinstance(x, str)]
