"""Failovers under a master_for client that keeps writing.

A failover (SENTINEL FAILOVER, then the master killed) happens while
threads write numbered keys through one cpipe master_for client. The
client must move to the new master by itself, within a bounded wait; no
command may get another command's reply; and no write reported
successful may be lost.

"Reported successful" is what Redis can promise with asynchronous
replication: a SET whose WAIT 1 in the same pipeline said the replica had
it. A SET the old master acknowledged after the replica was promoted is
lost by Redis itself, whatever the client, so those are only checked for
their replies.
"""
from __future__ import annotations

import threading
import time

import pytest
import redis
import redis.sentinel

import cpipe
from tests.sentinel._topology import SERVICE, settled, wait_until

# Bounds of each phase, seconds.
FAILOVER_WITHIN = 30.0
RESUME_WITHIN = 30.0


class Writer(threading.Thread):
    """Writes prefix<i> = i and checks every reply it gets is its own."""

    def __init__(self, client, prefix: str, confirm: bool) -> None:
        super().__init__(daemon=True)
        self.client, self.prefix, self.confirm = client, prefix, confirm
        self.stop = threading.Event()
        self.ok: list[tuple[float, int, int]] = []  # (when, i, replicas that acknowledged; -1: not asked)
        self.errors: list[tuple[float, str]] = []
        self.wrong: list[str] = []  # replies that were not this command's

    def run(self) -> None:
        i = 0
        while not self.stop.is_set():
            i += 1
            key = f"{self.prefix}{i}"
            try:
                if self.confirm:
                    with self.client.pipeline(transaction=False) as p:
                        p.set(key, i).get(key).wait(1, 300)
                        ok, got, acked = p.execute()
                else:
                    # Two round trips, maybe on two servers (the SET's may be
                    # lost in the failover): ECHO checks the reply is ours.
                    ok, got, acked = self.client.set(key, i), self.client.echo(str(i)), -1
            except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as e:
                self.errors.append((time.monotonic(), repr(e)))
                time.sleep(0.02)
                continue
            except Exception as e:  # noqa: BLE001 - anything else is a wrong answer
                self.wrong.append(f"{key}: {e!r}")
                continue
            if ok is not True or got != str(i).encode() or not isinstance(acked, int):
                self.wrong.append(f"{key}: {(ok, got, acked)!r}")
                continue
            self.ok.append((time.monotonic(), i, acked))

    def since(self, t: float) -> list[int]:
        return [i for when, i, _ in self.ok if when > t]


def discover(topology) -> int:
    s = redis.sentinel.Sentinel(topology.sentinel_addrs, socket_timeout=2)
    return s.discover_master(SERVICE)[1]


def node(port: int) -> redis.Redis:
    return redis.Redis(port=port, protocol=2, socket_timeout=5)


def check_nothing_confirmed_lost(writers, master: int) -> None:
    r = node(master)
    try:
        for w in writers:
            confirmed = [i for _, i, acked in w.ok if acked >= 1]
            if not confirmed:
                continue
            values = r.mget([f"{w.prefix}{i}" for i in confirmed])
            lost = [i for i, v in zip(confirmed, values) if v != str(i).encode()]
            assert not lost, f"{len(lost)} confirmed writes of {w.prefix} are not on the new master: {lost[:10]}"
    finally:
        r.close()


@pytest.fixture(scope="module")
def client(topology):
    s = cpipe.Sentinel(topology.sentinel_addrs, socket_timeout=2, socket_connect_timeout=1)
    c = s.master_for(SERVICE, socket_timeout=2, socket_connect_timeout=1, client_name="cpipe-failover",
                     autopipeline=True)
    yield c
    c.close()


def run_writers(client, tag: str) -> list[Writer]:
    writers = [Writer(client, f"{tag}:c:", confirm=True), Writer(client, f"{tag}:p:", confirm=False),
               Writer(client, f"{tag}:q:", confirm=False)]
    for w in writers:
        w.start()
    wait_until("the writers write", lambda: all(len(w.ok) >= 20 for w in writers), timeout=15)
    return writers


def stop_writers(writers) -> None:
    for w in writers:
        w.stop.set()
    for w in writers:
        w.join(10)
        assert not w.is_alive()


def test_sentinel_failover_while_writing(topology, client):
    old = discover(topology)
    assert client.config_get("port")["port"] == str(old)
    writers = run_writers(client, "f1")
    try:
        sentinel = node(topology.sentinels[0].port)
        assert sentinel.execute_command("SENTINEL FAILOVER", SERVICE)
        new = wait_until("the failover", lambda: (p := discover(topology)) != old and p, timeout=FAILOVER_WITHIN)
        switched = time.monotonic()
        # Writes resume on the new master by themselves.
        wait_until("writes land on the new master",
                   lambda: all(len(w.since(switched)) >= 20 for w in writers), timeout=RESUME_WITHIN)
        r = node(new)
        for w in writers:
            i = w.since(switched)[-1]
            assert r.get(f"{w.prefix}{i}") == str(i).encode()
        r.close()
    finally:
        stop_writers(writers)
    for w in writers:
        assert w.wrong == [], w.wrong[:5]
    check_nothing_confirmed_lost(writers, new)
    assert client.config_get("port")["port"] == str(new)
    assert client.info("replication")["role"] == "master"


def test_switch_master_moves_idle_connections(topology, client):
    """+switch-master alone fails the connections to the old master: an idle
    client's connection leaves the old master before any command is sent."""
    wait_until("the topology settles", lambda: settled(topology))
    old = discover(topology)
    assert client.ping() is True  # connected to the master now
    r = node(old)
    named = lambda: [c for c in r.client_list() if c.get("name") == "cpipe-failover"]  # noqa: E731
    assert named()
    assert node(topology.sentinels[1].port).execute_command("SENTINEL FAILOVER", SERVICE)
    wait_until("the failover", lambda: discover(topology) != old, timeout=FAILOVER_WITHIN)
    # No command meanwhile. Sentinel itself kills the normal clients of the
    # old master when it demotes it (CLIENT KILL TYPE normal, some seconds
    # later): the connection must be gone while the old master is still one.
    def left_before_demotion() -> bool:
        if named():
            return False
        role = r.execute_command("ROLE")[0]  # asked after: still master means it left first
        assert role == b"master", "the connection stayed until Sentinel demoted the old master"
        return True

    wait_until("the idle connection left the old master", left_before_demotion, timeout=10, every=0.02)
    r.close()
    assert client.set("after-switch", "1") is True
    assert client.config_get("port")["port"] == str(discover(topology))


def test_master_lost_while_writing(topology, client):
    """The master dies: its connections fail, the next connects ask Sentinel
    again, and once the sentinels have failed over, writes resume."""
    wait_until("the topology settles", lambda: settled(topology))
    old = discover(topology)
    writers = run_writers(client, "f2")
    try:
        victim = topology.servers()[old]
        victim.proc.kill()
        victim.proc.wait(10)
        new = wait_until("the automatic failover", lambda: (p := discover(topology)) != old and p,
                         timeout=FAILOVER_WITHIN)
        switched = time.monotonic()
        wait_until("writes land on the new master",
                   lambda: all(len(w.since(switched)) >= 20 for w in writers), timeout=RESUME_WITHIN)
    finally:
        stop_writers(writers)
    for w in writers:
        assert w.wrong == [], w.wrong[:5]
        assert w.errors, "the loss of the master was not seen"
    check_nothing_confirmed_lost(writers, new)
    assert client.config_get("port")["port"] == str(new)
