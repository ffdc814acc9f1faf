"""A Sentinel setup for the tests: one primary, one replica, three sentinels.

Each sentinel runs from a conf file of its own in a temporary directory
(Sentinel rewrites it), monitors `mymaster` (quorum 2, down after 1 s,
failover timeout 5 s) and `solo`, a master without replicas that the
READONLY tests demote by hand. Everything listens on free loopback ports
and is killed by `stop()`.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field

import redis

from tests._servers import ServerProcess, free_port, real_server_binary, start_real_server, wait_for_port

SERVICE = "mymaster"
SOLO = "solo"
# How long the topology may take to settle (sentinels discovering each
# other and the replica), and a failover to complete.
SETTLE_SECONDS = 30.0


@dataclass
class Topology:
    primary: ServerProcess
    replica: ServerProcess
    solo: ServerProcess
    sentinels: list[ServerProcess] = field(default_factory=list)

    @property
    def sentinel_addrs(self) -> list[tuple[str, int]]:
        return [("127.0.0.1", s.port) for s in self.sentinels]

    def servers(self) -> dict[int, ServerProcess]:
        return {s.port: s for s in (self.primary, self.replica)}

    def stop(self) -> None:
        for s in (*self.sentinels, self.primary, self.replica, self.solo):
            s.stop()


def _start_sentinel(monitors: list[tuple[str, int, int]]) -> ServerProcess:
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="cpipe-sentinel-")
    conf = os.path.join(workdir, "sentinel.conf")
    lines = [f"port {port}", "bind 127.0.0.1", f"dir {workdir}", "protected-mode no"]
    for name, master_port, quorum in monitors:
        lines += [
            f"sentinel monitor {name} 127.0.0.1 {master_port} {quorum}",
            f"sentinel down-after-milliseconds {name} 1000",
            f"sentinel failover-timeout {name} 5000",
            f"sentinel parallel-syncs {name} 1",
        ]
    with open(conf, "w") as f:
        f.write("\n".join(lines) + "\n")
    args = [real_server_binary(), conf, "--sentinel"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_port("127.0.0.1", port)
    return ServerProcess(port=port, proc=proc, args=args, workdir=workdir)


def wait_until(what: str, cond, timeout: float = SETTLE_SECONDS, every: float = 0.1):
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = cond()
            if value:
                return value
        except redis.RedisError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {what}")
        time.sleep(every)


def settled(topo: Topology, service: str = SERVICE, replicas: int = 1) -> bool:
    """Every sentinel sees the master up, the other two sentinels, and the replicas up."""
    for s in topo.sentinels:
        r = redis.Redis(port=s.port, protocol=2, socket_timeout=2)
        try:
            m = r.sentinel_master(service)
            if not m["is_master"] or m["is_sdown"] or m["is_odown"] or m["num-other-sentinels"] < 2:
                return False
            if replicas:
                alive = [x for x in r.sentinel_slaves(service)
                         if not x["is_sdown"] and not x["is_odown"] and x.get("master-link-status") == "ok"]
                if len(alive) < replicas:
                    return False
        finally:
            r.close()
    return True


def start_topology() -> Topology:
    primary = start_real_server()
    replica = start_real_server("--replicaof", "127.0.0.1", str(primary.port))
    solo = start_real_server()
    topo = Topology(primary, replica, solo)
    try:
        for _ in range(3):
            topo.sentinels.append(_start_sentinel([(SERVICE, primary.port, 2), (SOLO, solo.port, 2)]))
        wait_until("the sentinels know mymaster, its replica and each other", lambda: settled(topo))
        wait_until("the sentinels know solo", lambda: settled(topo, SOLO, replicas=0))
    except BaseException:
        topo.stop()
        raise
    return topo


def master_port(topo: Topology) -> int:
    """The master's port as redis-py's Sentinel says."""
    s = redis.sentinel.Sentinel(topo.sentinel_addrs, socket_timeout=2)
    try:
        return s.discover_master(SERVICE)[1]
    finally:
        s.close() if hasattr(s, "close") else None


def shutil_rm(path: str) -> None:
    shutil.rmtree(path, ignore_errors=True)
