"""A live reshard under writing threads: no write lost, no redirect visible.

`redis-cli --cluster reshard` moves 1500 slots (and their keys, by MIGRATE)
from the primary with the most slots to the one with the fewest while 8
threads write unique keys through ONE client. Keys in a slot being moved
answer -ASK, keys in a moved slot -MOVED (the client's map is stale): the
client must follow both without the caller noticing, so any exception fails
the test. Afterwards every acknowledged write is read back, straight from
the node that owns its slot now (not through the client under test).
"""
from __future__ import annotations

import threading
import time
import uuid

import redis
from redis.crc import key_slot

from tests.cluster._cluster import Cluster, admin, reshard
from tests.cluster.conftest import connect

THREADS = 8
SLOTS_TO_MOVE = 1000
MAX_WRITES_PER_THREAD = 6_000
# Hard stop for the writers and the reshard together.
MAX_SECONDS = 90.0
# The writers go on this long after the reshard ends, so the last moves are
# met with a stale slot map (MOVED) as well.
AFTER_SECONDS = 0.5
PIPELINE_SIZE = 50


def _source_and_target(cluster: Cluster) -> tuple[int, int, list[tuple[int, int]]]:
    primaries = cluster.primaries()
    count = {p: sum(e - s + 1 for s, e in ranges) for p, ranges in primaries.items()}
    source = max(count, key=count.get)
    target = min(count, key=count.get)
    return source, target, primaries[source]


def _slots_to_move(ranges: list[tuple[int, int]]) -> set[int]:
    # redis-cli takes a source's slots in ascending order.
    slots = sorted(s for start, end in ranges for s in range(start, end + 1))
    return set(slots[:SLOTS_TO_MOVE])


def _read_back_from_owners(cluster: Cluster, written: dict[bytes, bytes]) -> dict[bytes, object]:
    """Each key's value as the primary that owns its slot now answers a plain GET."""
    owner_of_slot = {}
    for start, end, primary, _ in cluster.topology():
        owner_of_slot.update(dict.fromkeys(range(start, end + 1), primary))
    by_owner: dict[int, list[bytes]] = {}
    for key in written:
        by_owner.setdefault(owner_of_slot[key_slot(key)], []).append(key)
    got: dict[bytes, object] = {}
    for port, keys in by_owner.items():
        r = redis.Redis(host="127.0.0.1", port=port, protocol=2, socket_timeout=10)
        try:
            for i in range(0, len(keys), 1000):
                chunk = keys[i:i + 1000]
                pipe = r.pipeline(transaction=False)
                for k in chunk:
                    pipe.get(k)
                got.update(zip(chunk, pipe.execute(raise_on_error=False)))
        finally:
            r.close()
    return got


def _run_during_reshard(cluster: Cluster, client, write_batch) -> tuple[dict, list, set, float, float]:
    """Run THREADS writers calling `write_batch(t, i)` (it returns the
    {key: value} it got acknowledged) while the reshard runs."""
    source, target, ranges = _source_and_target(cluster)
    moving = _slots_to_move(ranges)
    acked: list[dict[bytes, bytes]] = [{} for _ in range(THREADS)]
    errors: list[BaseException] = []
    stop = threading.Event()
    deadline = time.monotonic() + MAX_SECONDS

    def writer(t: int) -> None:
        i = 0
        while not stop.is_set() and i < MAX_WRITES_PER_THREAD and time.monotonic() < deadline:
            try:
                got = write_batch(t, i)
            except BaseException as e:  # noqa: BLE001 - every error is a finding here
                errors.append(e)
                return
            acked[t].update(got)
            i += max(1, len(got))

    threads = [threading.Thread(target=writer, args=(t,), daemon=True) for t in range(THREADS)]
    for th in threads:
        th.start()
    time.sleep(0.3)  # the writers are going before the first slot moves
    started = time.monotonic()
    proc = reshard(cluster, source, target, SLOTS_TO_MOVE)
    try:
        out, _ = proc.communicate(timeout=MAX_SECONDS)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    ended = time.monotonic()
    time.sleep(AFTER_SECONDS)
    stop.set()
    for th in threads:
        th.join(30)
    assert not any(th.is_alive() for th in threads), "a writer is stuck"
    assert proc.returncode == 0, f"redis-cli --cluster reshard failed:\n{out[-3000:]}"
    assert ended - started < MAX_SECONDS
    cluster.wait_settled()
    topo = cluster.topology()
    owners = {p for start, end, p, _ in topo for s in moving if start <= s <= end}
    assert owners == {target}, f"the moved slots are served by {owners}, not {target}"
    written = {k: v for part in acked for k, v in part.items()}
    return written, errors, moving, started, ended


def _assert_no_write_lost(cluster: Cluster, client, written: dict, errors: list, moving: set) -> None:
    assert errors == [], f"the client surfaced {len(errors)} error(s) during the reshard: {errors[:5]!r}"
    in_moved = [k for k in written if key_slot(k) in moving]
    # The test is about keys that moved: there must be plenty of them.
    assert len(in_moved) >= 200, f"only {len(in_moved)} acknowledged keys in moved slots"
    got = _read_back_from_owners(cluster, written)
    wrong = {k: (v, got.get(k)) for k, v in written.items() if got.get(k) != v}
    assert not wrong, f"{len(wrong)} of {len(written)} acknowledged writes lost or wrong, e.g. {list(wrong.items())[:5]}"
    # And the client itself reads them back (its map must have caught up).
    sample = in_moved[:: max(1, len(in_moved) // 300)]
    for k in sample:
        assert client.get(k) == written[k]


def test_single_sets_during_reshard_lose_nothing(fresh_cluster, cluster_client_class):
    fresh_cluster.flushall()
    run = uuid.uuid4().hex[:8]
    client = connect(cluster_client_class, fresh_cluster)
    try:
        def one_set(t: int, i: int) -> dict[bytes, bytes]:
            key, value = f"k:{run}:{t}:{i}".encode(), f"v:{run}:{t}:{i}".encode()
            assert client.set(key, value) is True
            return {key: value}

        written, errors, moving, _, _ = _run_during_reshard(fresh_cluster, client, one_set)
        _assert_no_write_lost(fresh_cluster, client, written, errors, moving)
    finally:
        client.close()


def test_pipelines_during_reshard_lose_nothing(fresh_cluster, cluster_client_class):
    fresh_cluster.flushall()
    run = uuid.uuid4().hex[:8]
    client = connect(cluster_client_class, fresh_cluster)
    try:
        def pipelined_sets(t: int, i: int) -> dict[bytes, bytes]:
            batch = {f"p:{run}:{t}:{i + j}".encode(): f"v:{run}:{t}:{i + j}".encode()
                     for j in range(PIPELINE_SIZE)}
            pipe = client.pipeline()
            for k, v in batch.items():
                pipe.set(k, v)
            replies = pipe.execute()
            assert replies == [True] * PIPELINE_SIZE, replies
            return batch

        written, errors, moving, _, _ = _run_during_reshard(fresh_cluster, client, pipelined_sets)
        _assert_no_write_lost(fresh_cluster, client, written, errors, moving)
    finally:
        client.close()


def test_reshard_back_and_forth_keeps_values(fresh_cluster, cluster_client_class):
    """Keys written before a reshard are read through the same client after
    it, without a refresh by hand: the client learns the new owner from MOVED."""
    fresh_cluster.flushall()
    run = uuid.uuid4().hex[:8]
    client = connect(cluster_client_class, fresh_cluster)
    try:
        source, target, ranges = _source_and_target(fresh_cluster)
        moving = sorted(_slots_to_move(ranges))
        keys = {}
        for i in range(20_000):
            k = f"b:{run}:{i}".encode()
            if key_slot(k) in moving:
                keys[k] = f"{i}".encode()
                if len(keys) == 500:
                    break
        for k, v in keys.items():
            assert client.set(k, v) is True
        proc = reshard(fresh_cluster, source, target, SLOTS_TO_MOVE)
        out, _ = proc.communicate(timeout=MAX_SECONDS)
        assert proc.returncode == 0, out[-3000:]
        fresh_cluster.wait_settled()
        for k, v in keys.items():
            assert client.get(k) == v
        with admin(target) as r:
            assert r.execute_command("CLUSTER", "COUNTKEYSINSLOT", key_slot(next(iter(keys)))) >= 1
    finally:
        client.close()
