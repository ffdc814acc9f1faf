"""Issue 7, item 1 (the refusal part): commands that change what a
connection sends back (the SUBSCRIBE family, MONITOR, CLIENT REPLY OFF|SKIP,
HELLO, RESET, QUIT) are refused with DataError before anything is sent, for
any spelling of the name, alone or anywhere in a pipeline, through every
path (Client.call, execute_command, pipelines, the gopipe queue,
Pool.submit, asyncio). The error names the API to use instead.

"Nothing was sent" is checked on a fake server that records every request
it reads (it speaks RESP2 only, so its clients ask for protocol=2 and send
no HELLO); that connections stay in step is checked on a real server.
"""
from __future__ import annotations

import asyncio
import threading

import pytest

import cpipe
import cpipe.asyncio as ca
from tests.asyncio_client._run import LOOP_KINDS, run
from tests.client._fake import FakeConn, FakeServer


class Str(str):
    pass


class Bytes(bytes):
    pass


def spellings(name: str) -> list:
    """Every way Python code can spell a command name."""
    return [name, name.lower(), name.capitalize(), name.encode(), name.lower().encode(),
            bytearray(name.encode()), memoryview(name.encode()), Str(name.lower()), Bytes(name.encode())]


# (command after its name, words the message must contain)
REFUSED = {
    "SUBSCRIBE": (("ch1", "ch2"), ["SUBSCRIBE", "client.pubsub()", "connection of its own"]),
    "PSUBSCRIBE": (("p*",), ["PSUBSCRIBE", "pubsub()"]),
    "SSUBSCRIBE": (("sh",), ["SSUBSCRIBE", "pubsub()"]),
    "UNSUBSCRIBE": ((), ["UNSUBSCRIBE", "pubsub()"]),
    "PUNSUBSCRIBE": (("p*",), ["PUNSUBSCRIBE", "pubsub()"]),
    "SUNSUBSCRIBE": ((), ["SUNSUBSCRIBE", "pubsub()"]),
    "MONITOR": ((), ["MONITOR", "monitor()"]),
    "HELLO": (("3",), ["HELLO", "protocol="]),
    "RESET": ((), ["RESET", "close()"]),
    "QUIT": ((), ["QUIT", "close()"]),
}
CLIENT_REPLY = [("CLIENT", "REPLY", "OFF"), ("client", "reply", "skip"), (b"Client", b"Reply", b"Off"),
                (b"CLIENT", memoryview(b"REPLY"), bytearray(b"SKIP"))]


def refused_commands() -> list:
    out = []
    for name, (rest, _) in REFUSED.items():
        out += [(s, *rest) for s in spellings(name)]
    return out + CLIENT_REPLY


def words_for(cmd: tuple) -> list:
    name = bytes(cmd[0]).decode() if not isinstance(cmd[0], str) else cmd[0]
    if name.upper() == "CLIENT":
        return ["CLIENT REPLY", "shared"]
    return REFUSED[name.upper()][1]


def _ids(cmds):
    return [f"{type(c[0]).__name__}-{bytes(c[0]).decode() if not isinstance(c[0], str) else c[0]}-{len(c)}" for c in cmds]


@pytest.fixture(params=LOOP_KINDS)
def loop_kind(request) -> str:
    return request.param


# -- a fake server that records what it reads ---------------------------------

class Recorder:
    def __init__(self) -> None:
        self.seen: list[list[bytes]] = []
        self.lock = threading.Lock()

    def __call__(self, index: int, conn: FakeConn) -> None:
        while True:
            reqs = conn.requests()
            if reqs is None:
                return
            with self.lock:
                self.seen += reqs
            conn.send(b"".join(conn.answer(r) for r in reqs))

    def names(self) -> list[bytes]:
        with self.lock:
            return [r[0].upper() for r in self.seen]


@pytest.fixture
def fake():
    rec = Recorder()
    with FakeServer(rec) as srv:
        srv.recorder = rec
        yield srv


def check_refused(exc: pytest.ExceptionInfo, cmd: tuple) -> None:
    msg = str(exc.value)
    for word in words_for(cmd):
        assert word in msg, (word, msg)


@pytest.mark.parametrize("cmd", refused_commands(), ids=_ids(refused_commands()))
def test_call_refuses_and_sends_nothing(fake, cmd):
    c = cpipe.Client(host="127.0.0.1", port=fake.port, socket_timeout=5, protocol=2)
    try:
        with pytest.raises(cpipe.DataError) as exc:
            c.call(*cmd)
        check_refused(exc, cmd)
        assert c.call("PING") == b"PONG"
        assert fake.recorder.names() == [b"PING"], "the refused command reached the server"
    finally:
        c.close()


@pytest.mark.parametrize("cmd", refused_commands(), ids=_ids(refused_commands()))
def test_pool_submit_and_call_refuse_and_send_nothing(fake, cmd):
    p = cpipe.Pool(host="127.0.0.1", port=fake.port, size=2, socket_timeout=5, protocol=2)
    try:
        with pytest.raises(cpipe.DataError) as exc:
            p.submit(*cmd)
        check_refused(exc, cmd)
        with pytest.raises(cpipe.DataError):
            p.call(*cmd)
        assert p.submit("PING").result(5) == b"PONG"
        assert p.flush(5)
        assert fake.recorder.names() == [b"PING"]
    finally:
        p.close()


@pytest.mark.parametrize("position", [0, 1, 2])
@pytest.mark.parametrize("transaction", [False, True])
def test_pipeline_holding_one_refuses_all_of_it(fake, position, transaction):
    c = cpipe.Client(host="127.0.0.1", port=fake.port, socket_timeout=5, protocol=2)
    try:
        pipe = c.pipeline(transaction=transaction)
        cmds = [("SET", "a", "1"), ("GET", "a")]
        cmds.insert(position, (b"psubscribe", "news.*"))
        for cmd in cmds:
            pipe.execute_command(*cmd)
        with pytest.raises(cpipe.DataError) as exc:
            pipe.execute()
        assert "PSUBSCRIBE" in str(exc.value) and "pubsub()" in str(exc.value)
        assert "pipeline command" in str(exc.value)
        c.add_command("SET", "b", "2")
        c.add_command("Subscribe", "x")
        with pytest.raises(cpipe.DataError):
            c.execute()
        assert c.call("PING") == b"PONG"
        assert fake.recorder.names() == [b"PING"]
    finally:
        c.close()


def test_execute_command_refuses(fake):
    c = cpipe.Client(host="127.0.0.1", port=fake.port, socket_timeout=5, protocol=2)
    try:
        with pytest.raises(cpipe.DataError, match="CLIENT REPLY"):
            c.execute_command("CLIENT REPLY", "OFF")  # a two-word name is sent as two words
        with pytest.raises(cpipe.DataError, match="pubsub"):
            c.execute_command("SUBSCRIBE", "a", "b")
        assert c.call("PING") == b"PONG"
        assert fake.recorder.names() == [b"PING"]
    finally:
        c.close()


@pytest.mark.parametrize("cmd", [("SUBSCRIBE", "a"), (b"psubscribe", "a*"), ("MONITOR",),
                                 ("client", "reply", "off"), (bytearray(b"HELLO"), 3)])
def test_asyncio_refuses_and_sends_nothing(fake, cmd, loop_kind):
    async def main():
        r = ca.Client(host="127.0.0.1", port=fake.port, socket_timeout=5, protocol=2)
        try:
            with pytest.raises(cpipe.DataError):
                await r.call(*cmd)
            p = r.pipeline()
            p.set("a", "1")
            p.execute_command(*cmd)
            with pytest.raises(cpipe.DataError):
                await p.execute()
            assert await r.call("PING") == b"PONG"
        finally:
            await r.aclose()
        # A fresh client queues its first command until it has connected;
        # what follows is checked at once all the same.
        r = ca.Client(host="127.0.0.1", port=fake.port, socket_timeout=5, protocol=2)
        try:
            first = r.call("PING")
            with pytest.raises(cpipe.DataError):
                r.call(*cmd)
            assert await first == b"PONG"
        finally:
            await r.aclose()

    run(loop_kind, main(), timeout=30)
    assert fake.recorder.names() == [b"PING", b"PING"]


def test_allowed_neighbours_still_work(real_server):
    """CLIENT REPLY ON, CLIENT SETNAME, commands that merely start like a
    refused one: not refused."""
    c = cpipe.Client(host="127.0.0.1", port=real_server.port, socket_timeout=5)
    try:
        assert c.call("CLIENT", "REPLY", "ON") == b"OK"
        assert c.call("CLIENT", "SETNAME", "neighbour") == b"OK"
        assert c.call("PUBSUB", "CHANNELS") == []
        assert c.call("ECHO", "SUBSCRIBE") == b"SUBSCRIBE"
        assert c.call("SET", "QUIT", "HELLO") == b"OK"
        assert c.call("GET", "QUIT") == b"HELLO"
        c.delete("QUIT")
    finally:
        c.close()


def test_shared_pool_stays_in_step_after_refusals(real_server):
    """The reported failure: SUBSCRIBE on a shared Pool connection handed
    other threads each other's replies. Refused now, nobody's reply moves."""
    p = cpipe.Pool(host="127.0.0.1", port=real_server.port, size=2, socket_timeout=10)
    wrong: list = []

    def worker(n: int) -> None:
        for i in range(300):
            token = f"{n}:{i}"
            if i % 50 == 0:
                for cmd in (("SUBSCRIBE", "a", "b"), (b"psubscribe", "x*"), ("UNSUBSCRIBE",)):
                    try:
                        p.submit(*cmd)
                    except cpipe.DataError:
                        pass
            got = p.call("ECHO", token)
            if got != token.encode():
                wrong.append((token, got))

    try:
        threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not any(t.is_alive() for t in threads)
        assert wrong == []
        assert p.call("PUBSUB", "NUMPAT") == 0 and p.call("PUBSUB", "CHANNELS") == []
    finally:
        p.close()
