"""A real Redis Cluster for the tests: 3 primaries, each with 1 replica.

Every node is a `redis-server --cluster-enabled yes` in a temporary
directory of its own (it rewrites its nodes.conf there), on a free loopback
port with an explicit `--cluster-port`: the default bus port (port + 10000)
may be past 65535 for an ephemeral port, or taken. The node timeout is 2 s
so a killed primary's replica is promoted within a few seconds.
The nodes are joined by `redis-cli --cluster create`; nothing here is
skipped: a missing redis-cli or redis-server fails the session loudly.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field

import redis

from tests._servers import ServerProcess, free_port, real_server_binary, wait_for_port

HOST = "127.0.0.1"
NODE_TIMEOUT_MS = 2000
# How long the cluster may take to agree on its slots after create, a
# reshard or a failover.
SETTLE_SECONDS = 30.0
SLOTS = 16384


def redis_cli_binary() -> str:
    path = shutil.which("redis-cli")
    if not path:
        raise RuntimeError("redis-cli is not on PATH: the cluster tests need it "
                           "(apt-get install redis-tools, or the redis-server package)")
    return path


def admin(port: int, timeout: float = 5.0) -> redis.Redis:
    """A plain (non-cluster) redis-py connection to one node, for CLUSTER commands."""
    return redis.Redis(host=HOST, port=port, protocol=2, socket_timeout=timeout,
                       decode_responses=True)


def wait_until(what: str, cond, timeout: float = SETTLE_SECONDS, every: float = 0.1):
    """Poll `cond` until it is truthy; Redis and OS errors count as "not yet"."""
    deadline = time.monotonic() + timeout
    last_err: BaseException | None = None
    while True:
        try:
            value = cond()
            if value:
                return value
        except (redis.RedisError, OSError) as e:
            last_err = e
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {what} (last error: {last_err!r})")
        time.sleep(every)


@dataclass
class Cluster:
    nodes: list[ServerProcess] = field(default_factory=list)

    @property
    def addrs(self) -> list[tuple[str, int]]:
        return [(HOST, n.port) for n in self.nodes]

    def alive(self) -> list[ServerProcess]:
        return [n for n in self.nodes if n.proc.poll() is None]

    def node(self, port: int) -> ServerProcess:
        return next(n for n in self.nodes if n.port == port)

    def any_alive_port(self) -> int:
        return self.alive()[0].port

    def node_id(self, port: int) -> str:
        with admin(port) as r:
            return r.execute_command("CLUSTER", "MYID")

    def topology(self, via: int | None = None) -> list[tuple[int, int, int, tuple[int, ...]]]:
        """Sorted (start, end, primary port, replica ports) as one node sees CLUSTER SLOTS."""
        with admin(via or self.any_alive_port()) as r:
            rows = r.execute_command("CLUSTER", "SLOTS")
        out = []
        for row in rows:
            start, end, primary, *replicas = row
            out.append((int(start), int(end), int(primary[1]), tuple(sorted(int(x[1]) for x in replicas))))
        return sorted(out)

    def primaries(self) -> dict[int, list[tuple[int, int]]]:
        """Primary port -> its slot ranges."""
        out: dict[int, list[tuple[int, int]]] = {}
        for start, end, primary, _ in self.topology():
            out.setdefault(primary, []).append((start, end))
        return out

    def primary_of_slot(self, slot: int) -> int:
        for start, end, primary, _ in self.topology():
            if start <= slot <= end:
                return primary
        raise AssertionError(f"slot {slot} is not served")

    def replicas_of(self, primary_port: int) -> list[int]:
        for _, _, primary, replicas in self.topology():
            if primary == primary_port:
                return list(replicas)
        return []

    def is_settled(self, replicas: int = 1) -> bool:
        """Every live node says cluster_state:ok, all 16384 slots are served,
        every node reports the same slot map, and (if asked) every primary
        has `replicas` replicas that are in sync."""
        views = []
        for n in self.alive():
            with admin(n.port) as r:
                info = r.execute_command("CLUSTER", "INFO")
                if "cluster_state:ok" not in info:
                    return False
            views.append(self.topology(via=n.port))
        if not views or any(v != views[0] for v in views):
            return False
        covered = sum(end - start + 1 for start, end, _, _ in views[0])
        if covered != SLOTS:
            return False
        if replicas and any(len(reps) < replicas for *_, reps in views[0]):
            return False
        for *_, reps in views[0]:
            for port in reps:
                with admin(port) as r:
                    if r.info("replication").get("master_link_status") != "up":
                        return False
        return True

    def wait_settled(self, replicas: int = 1, timeout: float = SETTLE_SECONDS) -> None:
        wait_until("the cluster is ok and every node agrees on the slots",
                   lambda: self.is_settled(replicas), timeout=timeout)

    def flushall(self) -> None:
        for primary in self.primaries():
            with admin(primary) as r:
                r.flushall()

    def stop(self) -> None:
        for n in self.nodes:
            n.stop()


def _start_node() -> ServerProcess:
    port, bus = free_port(), free_port()
    while bus == port:
        bus = free_port()
    workdir = tempfile.mkdtemp(prefix="cpipe-cluster-")
    args = [
        real_server_binary(), "--port", str(port), "--bind", HOST,
        "--cluster-enabled", "yes", "--cluster-port", str(bus),
        "--cluster-config-file", os.path.join(workdir, "nodes.conf"),
        "--cluster-node-timeout", str(NODE_TIMEOUT_MS),
        # Replicas stay with their own primary: a test that kills a primary
        # knows which replica takes over.
        "--cluster-allow-replica-migration", "no",
        "--save", "", "--appendonly", "no", "--dir", workdir,
        "--protected-mode", "no",
        # The failover tests silence a primary with DEBUG SLEEP.
        "--enable-debug-command", "local",
    ]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    srv = ServerProcess(port=port, proc=proc, args=args, workdir=workdir)
    try:
        wait_for_port(HOST, port)
    except BaseException:
        srv.stop()
        raise
    return srv


def start_cluster(primaries: int = 3, replicas: int = 1) -> Cluster:
    cli = redis_cli_binary()
    cluster = Cluster()
    try:
        for _ in range(primaries * (1 + replicas)):
            cluster.nodes.append(_start_node())
        cmd = [cli, "--cluster", "create", *(f"{HOST}:{n.port}" for n in cluster.nodes),
               "--cluster-replicas", str(replicas), "--cluster-yes"]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            raise RuntimeError(f"redis-cli --cluster create failed ({done.returncode}):\n"
                               f"{done.stdout}\n{done.stderr}")
        cluster.wait_settled(replicas)
    except BaseException:
        cluster.stop()
        raise
    return cluster


def reshard(cluster: Cluster, from_port: int, to_port: int, slots: int,
            timeout: float = 120.0) -> subprocess.Popen:
    """Start `redis-cli --cluster reshard` moving `slots` slots (with their
    keys) from one primary to another; the caller waits on the process."""
    cmd = [redis_cli_binary(), "--cluster", "reshard", f"{HOST}:{from_port}",
           "--cluster-from", cluster.node_id(from_port),
           "--cluster-to", cluster.node_id(to_port),
           "--cluster-slots", str(slots), "--cluster-yes",
           # Small batches: more MIGRATE rounds, so more keys are seen
           # mid-migration (ASK) by the writers.
           "--cluster-pipeline", "10"]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
