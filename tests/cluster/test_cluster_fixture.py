"""The test cluster itself: 3 primaries with a replica each, all slots served."""
from __future__ import annotations

from tests.cluster._cluster import SLOTS


def test_three_primaries_with_one_replica_each(cluster):
    topo = cluster.topology()
    assert sum(end - start + 1 for start, end, _, _ in topo) == SLOTS
    primaries = {p for _, _, p, _ in topo}
    replicas = {r for *_, reps in topo for r in reps}
    assert len(primaries) == 3 and len(replicas) == 3
    assert primaries | replicas == {port for _, port in cluster.addrs}


def test_client_sees_every_primary(cluster_client, cluster):
    for i in range(200):
        cluster_client.set(f"fixture:{i}", i)
    per_primary = {}
    for i in range(200):
        slot = cluster_client.keyslot(f"fixture:{i}")
        per_primary.setdefault(cluster.primary_of_slot(slot), 0)
        per_primary[cluster.primary_of_slot(slot)] += 1
        assert cluster_client.get(f"fixture:{i}") in (str(i).encode(), str(i))
    assert set(per_primary) == set(cluster.primaries())
