"""Failovers under writing threads: writes resume, no reply goes astray.

Three ways a primary goes away while 4 threads SET/GET/INCR through ONE
client: a graceful `CLUSTER FAILOVER` on its replica, `kill -9`, and
`DEBUG SLEEP` longer than the node timeout (the node is alive but silent,
so the cluster promotes its replica and the old primary, on waking, finds
itself demoted). Each thread owns its keys and writes values naming the key,
so a reply that belongs to another command (another thread's GET, a SET's
+OK where an INCR's integer should be) is caught on the spot.

During the failover window a command may fail only the way redis-py fails
it (ConnectionError, TimeoutError, ClusterDownError, SlotNotCoveredError);
those are recorded, anything else fails the test. After the replica is
promoted and the cluster agrees, the writers must go on without a single
error, including on the slots of the node that went away. After a test the
old primary is brought back (as a replica), so the next test finds a
healthy cluster of 3 primaries with a replica each.
"""
from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

import pytest
import redis
import redis.exceptions as rexc
from redis.crc import key_slot

from tests.cluster._cluster import NODE_TIMEOUT_MS, Cluster, admin, wait_until
from tests.cluster.conftest import connect

THREADS = 4
MAX_OPS_PER_THREAD = 200_000
# Bounds: the whole run, the promotion, and the error-free run after it.
MAX_SECONDS = 60.0
PROMOTION_SECONDS = 20.0
CLEAN_RUN_SECONDS = 1.5
SOCKET_TIMEOUT = 2.0
# A replica's failover election state lives this long (Redis 7.0: auth
# retry time = 4 x node timeout). Asked for a manual failover within it,
# a replica that won an election before "wins" at once on that election's
# stale votes without a new configEpoch, is seen as a master for a few
# milliseconds, then loses the epoch conflict to its old primary and is a
# replica again; masters also refuse to vote twice for one shard within
# 2 x node timeout. So a failover waits this long after the last one.
ELECTION_WINDOW = 4 * NODE_TIMEOUT_MS / 1000 + 0.5
_last_failover = [0.0]  # monotonic time of this module's last promotion


def _wait_out_election_window() -> None:
    time.sleep(max(0.0, _last_failover[0] + ELECTION_WINDOW - time.monotonic()))


def _note_failover() -> None:
    _last_failover[0] = time.monotonic()


# How redis-py may fail a command while a primary is away.
ALLOWED_DURING_FAILOVER = (rexc.ConnectionError, rexc.TimeoutError,
                           rexc.ClusterDownError, rexc.SlotNotCoveredError)


@dataclass
class Load:
    client: object
    failed_slots: set[int]
    run: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    errors: list[tuple[float, str, str]] = field(default_factory=list)
    astray: list[tuple] = field(default_factory=list)
    unexpected: list[BaseException] = field(default_factory=list)
    lost: list[bytes] = field(default_factory=list)
    # Monotonic times of each successful SET on a slot of the failed primary.
    ok_on_failed_slots: list[float] = field(default_factory=list)
    ops: Counter = field(default_factory=Counter)
    # The longest SET+GET+INCR round a writer saw.
    slowest: float = 0.0

    def worker(self, t: int) -> None:
        deadline = time.monotonic() + MAX_SECONDS
        counter = f"c:{self.run}:{t}"
        c = self.client
        i = 0
        while not self.stop.is_set() and i < MAX_OPS_PER_THREAD and time.monotonic() < deadline:
            key = f"f:{self.run}:{t}:{i}".encode()
            value = key + b"=value"
            i += 1
            began = time.monotonic()
            try:
                got = c.set(key, value)
                if got is not True:
                    self.astray.append(("SET", key, got))
                    continue
                if key_slot(key) in self.failed_slots:
                    with self.lock:
                        self.ok_on_failed_slots.append(time.monotonic())
                got = c.get(key)
                if got is None:
                    # Acknowledged by a primary that died before its replica
                    # had it: Redis Cluster's asynchronous replication.
                    self.lost.append(key)
                elif got != value:
                    self.astray.append(("GET", key, got))
                n = c.incr(counter)
                if type(n) is not int or n < 1:
                    self.astray.append(("INCR", counter, n))
                self.ops[t] += 1
                self.slowest = max(self.slowest, time.monotonic() - began)
            except ALLOWED_DURING_FAILOVER as e:
                with self.lock:
                    self.errors.append((time.monotonic(), type(e).__name__, str(e)[:200]))
                time.sleep(0.02)
            except BaseException as e:  # noqa: BLE001 - anything else is a finding
                self.unexpected.append(e)
                return


def _pick_primary(cluster: Cluster) -> tuple[int, int, set[int]]:
    """A primary that has a replica, its replica, and its slots."""
    for port, ranges in sorted(cluster.primaries().items()):
        replicas = cluster.replicas_of(port)
        if replicas:
            slots = {s for a, b in ranges for s in range(a, b + 1)}
            return port, replicas[0], slots
    raise AssertionError("no primary with a replica")


def _is_primary(port: int) -> bool:
    with admin(port, timeout=1) as r:
        return r.execute_command("ROLE")[0] == "master"


def _run_failover(cluster: Cluster, cls, make_it_fail) -> Load:
    """Writers on, `make_it_fail(primary, replica)`, wait for the replica's
    promotion and an agreeing cluster, then an error-free run; returns the
    load's records after checking what holds for every kind of failover."""
    cluster.wait_settled()
    _wait_out_election_window()
    primary, replica, slots = _pick_primary(cluster)
    client = connect(cls, cluster, socket_timeout=SOCKET_TIMEOUT, socket_connect_timeout=SOCKET_TIMEOUT)
    load = Load(client, slots)
    threads = [threading.Thread(target=load.worker, args=(t,), daemon=True) for t in range(THREADS)]
    try:
        for th in threads:
            th.start()
        time.sleep(0.5)
        assert load.ok_on_failed_slots, "no write reached the primary before the failover"
        failed_at = time.monotonic()
        make_it_fail(primary, replica)
        wait_until(f"replica {replica} promoted", lambda: _is_primary(replica), timeout=PROMOTION_SECONDS)
        _note_failover()
        wait_until("the cluster agrees after the failover",
                   lambda: cluster.is_settled(replicas=0), timeout=PROMOTION_SECONDS)
        promoted_at = time.monotonic()
        # The writers get a moment to meet the new map, then must run clean.
        time.sleep(1.0)
        clean_from = time.monotonic()
        ops_before = sum(load.ops.values())
        ok_before = len(load.ok_on_failed_slots)
        time.sleep(CLEAN_RUN_SECONDS)
        load.stop.set()
        for th in threads:
            th.join(30)
        assert not any(th.is_alive() for th in threads), "a writer is stuck"
    finally:
        load.stop.set()
        client.close()

    assert load.unexpected == [], f"errors redis-py would not surface: {load.unexpected[:5]!r}"
    assert load.astray == [], f"replies that belong to other commands: {load.astray[:5]!r}"
    late = [e for e in load.errors if e[0] >= clean_from]
    assert late == [], f"errors after the cluster had recovered: {late[:5]}"
    assert sum(load.ops.values()) - ops_before >= 50, "the writers did not resume"
    assert len(load.ok_on_failed_slots) > ok_before, "no write reached the promoted replica's slots"
    # Writes on the failed slots resumed at the first success after the last
    # error (the kill is not seen at once: writes in flight may still succeed).
    last_error = max((e[0] for e in load.errors), default=failed_at)
    resumed = min(t for t in load.ok_on_failed_slots if t > last_error)
    assert resumed - failed_at < PROMOTION_SECONDS + 5
    assert promoted_at - failed_at < PROMOTION_SECONDS
    kinds = Counter(name for _, name, _ in load.errors)
    print(f"failover: {len(load.errors)} recorded errors {dict(kinds)}, {len(load.lost)} lost writes, "
          f"first write on the failed slots {resumed - failed_at:.2f}s after, ops {sum(load.ops.values())}, "
          f"slowest round {load.slowest:.2f}s")
    return load


def _bring_back(cluster: Cluster, port: int) -> None:
    """Start a killed node again from its nodes.conf: it rejoins as a replica."""
    node = cluster.node(port)
    if node.proc.poll() is not None:
        node.restart()
    cluster.wait_settled(replicas=1, timeout=60)


def test_graceful_cluster_failover_loses_nothing(fresh_cluster, cluster_client_class):
    def cluster_failover(primary: int, replica: int) -> None:
        with admin(replica) as r:
            assert r.execute_command("CLUSTER", "FAILOVER") == "OK"

    load = _run_failover(fresh_cluster, cluster_client_class, cluster_failover)
    # A manual failover waits for the replica to catch up: nothing is lost,
    # and the primary only paused its clients, so nothing was refused either.
    assert load.lost == []
    assert [e for e in load.errors if e[1] != "TimeoutError"] == [], load.errors[:5]
    fresh_cluster.wait_settled(replicas=1, timeout=60)


def test_primary_killed_writes_resume(fresh_cluster, cluster_client_class):
    killed: list[int] = []

    def kill_9(primary: int, replica: int) -> None:
        node = fresh_cluster.node(primary)
        node.proc.kill()  # SIGKILL
        node.proc.wait(10)
        killed.append(primary)

    try:
        load = _run_failover(fresh_cluster, cluster_client_class, kill_9)
        # The dead primary's slots failed for a while: a client that never
        # noticed would not have been sending to them. It shows as errors, or,
        # for a client that retries through the failover (redis-py 8.2's
        # RedisCluster does), as a round that waited for the promotion, which
        # takes the node timeout at least.
        assert load.errors or load.slowest >= NODE_TIMEOUT_MS / 1000 * 0.9, \
            f"no error and no wait in the failover window (slowest round {load.slowest:.2f}s): was the primary killed?"
    finally:
        for port in killed:
            _bring_back(fresh_cluster, port)


def test_primary_silent_past_node_timeout_writes_resume(fresh_cluster, cluster_client_class):
    sleepers: list[threading.Thread] = []
    slept: list[object] = []

    def debug_sleep(primary: int, replica: int) -> None:
        def sleep() -> None:
            r = redis.Redis(host="127.0.0.1", port=primary, protocol=2, socket_timeout=30)
            try:
                slept.append(r.execute_command("DEBUG", "SLEEP", "6"))
            finally:
                r.close()

        th = threading.Thread(target=sleep, daemon=True)
        th.start()
        sleepers.append(th)

    try:
        load = _run_failover(fresh_cluster, cluster_client_class, debug_sleep)
        # Commands sent to the silent node time out after SOCKET_TIMEOUT (the
        # client may retry them on the new primary, as redis-py does, or
        # surface the TimeoutError); the timed-out connection must be dropped,
        # never read again for a later command (a reply astray, checked above).
        assert load.errors or load.slowest >= SOCKET_TIMEOUT * 0.9, \
            f"the writers never met the silent primary (slowest round {load.slowest:.2f}s)"
    finally:
        for th in sleepers:
            th.join(30)
        fresh_cluster.wait_settled(replicas=1, timeout=60)
    assert slept == [b"OK"], f"DEBUG SLEEP did not run: {slept}"


def _shard_roles(cluster: Cluster, slot: int) -> tuple[int, int] | None:
    """(primary, replica) of slot's shard as the nodes say now, or None while
    they do not agree: the primary every node's map names for the slot,
    which ROLE confirms is a master, and a replica whose ROLE names that
    primary with its link up. The map alone can be a step behind a
    failover: after earlier tests have moved primaries around, a node it
    lists as the replica may already be (or again be) a master."""
    if not cluster.is_settled(replicas=1):
        return None
    primary = cluster.primary_of_slot(slot)
    with admin(primary, timeout=1) as r:
        if r.execute_command("ROLE")[0] != "master":
            return None
    for port in cluster.replicas_of(primary):
        with admin(port, timeout=1) as r:
            role = r.execute_command("ROLE")  # ['slave', host, port, state, offset]
        if role[0] == "slave" and int(role[2]) == primary and role[3] == "connected":
            return primary, port
    return None


def _roles(cluster: Cluster) -> dict[int, str]:
    """Each live node's ROLE, for a failure's message."""
    out = {}
    for n in cluster.alive():
        try:
            with admin(n.port, timeout=1) as r:
                role = r.execute_command("ROLE")
            out[n.port] = role[0] if role[0] == "master" else f"replica of {role[2]} ({role[3]})"
        except redis.RedisError as e:
            out[n.port] = repr(e)
    return out


@pytest.mark.parametrize("rounds", [2])
def test_failover_back_and_forth_one_client(fresh_cluster, cluster_client_class, rounds):
    """One client lives through two graceful failovers of the same shard
    (there and back) with every key still readable, no refresh by hand.
    Each round reads the shard's primary and replica from the live
    topology (ROLE on the nodes themselves), not from the round before."""
    fresh_cluster.wait_settled()
    _, _, slots = _pick_primary(fresh_cluster)
    slot = min(slots)  # names the shard across its failovers
    client = connect(cluster_client_class, fresh_cluster, socket_timeout=SOCKET_TIMEOUT)
    run = uuid.uuid4().hex[:8]
    try:
        keys = {f"bf:{run}:{i}".encode(): str(i).encode() for i in range(300)}
        for k, v in keys.items():
            assert client.set(k, v) is True
        for n in range(rounds):
            primary, replica = wait_until(f"round {n}: slot {slot}'s primary and replica agreed on",
                                          lambda: _shard_roles(fresh_cluster, slot), timeout=60)
            if n == 0:
                first_primary = primary
            _wait_out_election_window()
            with admin(replica) as r:
                assert r.execute_command("CLUSTER", "FAILOVER") == "OK", _roles(fresh_cluster)
            # Promoted, the old primary its replica, and every node's map says
            # so (a promotion that is undone a moment later does not count).
            wait_until(f"round {n}: replica {replica} promoted over {primary}",
                       lambda: _shard_roles(fresh_cluster, slot) == (replica, primary), timeout=60)
            _note_failover()
            assert {k: client.get(k) for k in keys} == keys
        # There and back: the shard's primary is the one it started with.
        assert fresh_cluster.primary_of_slot(slot) == (first_primary if rounds % 2 == 0 else replica)
    finally:
        client.close()
